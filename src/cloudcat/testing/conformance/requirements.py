"""What each check needs, declared with :func:`requires`, and the gate that enforces it.

A check states its needs by name::

    @requires("paging", "mock")
    def test_paging(self, ...): ...

Before a check runs, the gate (an autouse fixture of every kit class) skips it, with a reason,

1. when the suite declares it ``unsupported`` (by check name, by ``check[param]``, or by the name of a
   requirement it has);
2. when it was added at a kit level above the suite's ``kit_level``;
3. at the first requirement that is not met, with that requirement's reason.

A requirement not met is therefore always a skip that says why, never a silent pass. The names a
check may require are those of :data:`REQUIREMENTS`; a name may take the test's parameters, as in
``requires("kind:{kind}")`` for a test parametrized over ``kind``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from ...driver import Capabilities
from ...models import Kind
from ..mockserver import MockHandle
from .backend_file import BACKEND_OPTION
from .calls import fail
from .fixtures import KitFixtures
from .levels import CHECKS

__all__ = ["REQUIREMENTS", "Requirement", "RequirementContext", "RequirementGate", "declared_requirements", "requires"]

F = TypeVar("F", bound=Callable[..., Any])

#: Where :func:`requires` records a test's requirements.
_REQUIRES_ATTRIBUTE = "__cloudcat_requires__"


@dataclass(frozen=True)
class RequirementContext:
    """What a requirement is judged on: the suite, the test's check name and parameters, and its fixtures."""

    suite: KitFixtures
    request: pytest.FixtureRequest
    check: str
    params: dict[str, Any]

    def fixture(self, name: str) -> Any:
        """The value of fixture ``name`` for this test (set up on first use)."""
        return self.request.getfixturevalue(name)

    @property
    def capabilities(self) -> Capabilities:
        """What the driver under test declares."""
        return self.suite._capabilities()


@dataclass(frozen=True)
class Requirement:
    """A named condition a check needs; :attr:`reason` is the skip reason when it is not met.

    ``reason`` may use ``{check}`` (the check's name) and ``{detail}`` (what :attr:`detail` says
    about this run).
    """

    name: str
    reason: str
    met: Callable[[RequirementContext], bool]
    detail: Callable[[RequirementContext], str] | None = None

    def skip_reason(self, ctx: RequirementContext) -> str:
        """The reason to report when the requirement is not met."""
        detail = self.detail(ctx) if self.detail else ""
        return self.reason.format(check=ctx.check, detail=detail)


def _has_mock(ctx: RequirementContext) -> bool:
    handle: MockHandle | None = ctx.fixture("mock_handle")
    return handle is not None


def _why_no_mock(ctx: RequirementContext) -> str:
    if ctx.suite.mock is None:
        return ": set `mock` on the test class"
    return f"; the kit is running against a real endpoint ({BACKEND_OPTION})"


def _declares(capability: str) -> Callable[[RequirementContext], bool]:
    return lambda ctx: bool(getattr(ctx.capabilities, capability))


def _declares_kind(kind: Kind) -> Callable[[RequirementContext], bool]:
    return lambda ctx: kind in ctx.capabilities.kinds


def _capability_requirements() -> Iterator[Requirement]:
    """One requirement per yes/no field of :class:`~cloudcat.driver.Capabilities` (``paging``, ``zones``…)."""
    for name, info in Capabilities.model_fields.items():
        if info.annotation is bool:
            yield Requirement(name, f"driver does not declare {name} (capabilities.{name})", _declares(name))


def _kind_requirements() -> Iterator[Requirement]:
    """``kind:<kind>`` for every kind: the driver declares that kind."""
    for kind in Kind:
        yield Requirement(f"kind:{kind.value}",
                          f"driver does not declare the {kind.value!r} kind (capabilities.kinds)",
                          _declares_kind(kind))


def _build_registry() -> dict[str, Requirement]:
    requirements = [
        *_capability_requirements(),
        *_kind_requirements(),
        Requirement("undeclared_kind", "driver declares every kind: no undeclared kind to check",
                    lambda ctx: any(k not in ctx.capabilities.kinds for k in Kind)),
        Requirement("mock", "the {check} check needs a mock platform{detail}", _has_mock, _why_no_mock),
        Requirement("secrets", "driver options hold no secret (no SecretStr field, no password/token option)",
                    lambda ctx: bool(ctx.fixture("option_secrets"))),
        Requirement("sdk_module", "driver declares no SDK module (set `sdk_modules` on the test class)",
                    lambda ctx: bool(ctx.suite.sdk_modules)),
        Requirement("registered_name", "offer checks need the driver registered by name in the "
                                       "cloudcat.drivers entry-point group (set `driver = \"name\"`)",
                    lambda ctx: isinstance(ctx.suite.driver, str)),
    ]
    return {r.name: r for r in requirements}


#: Every requirement a check may declare, by name.
REQUIREMENTS: dict[str, Requirement] = _build_registry()


def requires(*names: str) -> Callable[[F], F]:
    """Declare what a check needs (names of :data:`REQUIREMENTS`, in the order they are judged).

    A name may take the test's parameters: ``requires("kind:{kind}")``, ``requires("{capability}")``.
    Unknown names are an error when the test module is imported (or, for a name with parameters,
    when the test runs), never a silent pass.
    """
    for name in names:
        if "{" not in name and name not in REQUIREMENTS:
            raise ValueError(f"requires({name!r}): unknown requirement; known: {', '.join(sorted(REQUIREMENTS))}")

    def declare(fn: F) -> F:
        setattr(fn, _REQUIRES_ATTRIBUTE, (*names, *getattr(fn, _REQUIRES_ATTRIBUTE, ())))
        return fn

    return declare


def declared_requirements(fn: object) -> tuple[str, ...]:
    """The requirement names a test declared with :func:`requires` (its parameters not yet filled in)."""
    return tuple(getattr(fn, _REQUIRES_ATTRIBUTE, ()))


def _resolve(template: str, ctx: RequirementContext) -> Requirement:
    try:
        name = template.format(**ctx.params)
    except (KeyError, IndexError) as exc:
        fail(f"requires({template!r}) on test_{ctx.check}: the test has no parameter {exc}")
    if name not in REQUIREMENTS:
        fail(f"requires({template!r}) on test_{ctx.check}: unknown requirement {name!r}")
    return REQUIREMENTS[name]


def _test_params(request: pytest.FixtureRequest) -> tuple[str | None, dict[str, Any]]:
    """The test's parameter id (``compute`` in ``test_declared_kind[compute]``) and its parameters."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None:
        return None, {}
    return callspec.id, dict(callspec.params)


class RequirementGate(KitFixtures):
    """The autouse fixture that skips a check the suite cannot run, saying why."""

    def _unsupported_reason(self, check: str, param: str | None, names: list[str]) -> str | None:
        """The suite's ``unsupported`` entry that covers this check, as a skip reason."""
        for key in ([f"{check}[{param}]"] if param else []) + [check, *names]:
            reason = self.unsupported.get(key)
            if reason:
                return f"{key}: {reason} (declared in `unsupported`)"
        return None

    def _level_reason(self, check: str) -> str | None:
        level = CHECKS.get(check)  # an author's own test has no level
        if level is not None and level > self.kit_level:
            return (f"{check} was added at kit level {level}; this suite is at kit_level "
                    f"{self.kit_level} (raise it to run the check)")
        return None

    @pytest.fixture(autouse=True)
    def kit_gate(self, request: pytest.FixtureRequest, mock_handle: MockHandle | None) -> None:
        """Skip this check, with the reason, when the suite declares it unsupported, when it is newer
        than the suite's ``kit_level``, or when one of its :func:`requires` is not met.

        It depends on ``mock_handle`` so that a suite skipped whole (a ``--cloudcat-backend`` file
        for another driver) is skipped for that reason first.
        """
        templates = declared_requirements(request.function)
        check = request.function.__name__.removeprefix("test_")
        if check not in CHECKS and not templates:
            return  # an author's own test, without declared requirements
        param, params = _test_params(request)
        ctx = RequirementContext(suite=self, request=request, check=check, params=params)
        needed = [_resolve(t, ctx) for t in templates]
        reason = (self._unsupported_reason(check, param, [r.name for r in needed])
                  or self._level_reason(check))
        if reason:
            pytest.skip(reason)
        for requirement in needed:
            if not requirement.met(ctx):
                pytest.skip(requirement.skip_reason(ctx))
