"""The driver conformance kit: pytest classes a driver author subclasses.

::

    from cloudcat.testing.conformance import DriverConformance

    class TestAcme(DriverConformance):
        driver = "acme"        # registered name, or the driver class itself
        mock = "acme"          # a ``cloudcat.mocks`` platform the kit starts for the class
        sdk_modules = ["acme_sdk"]   # modules the driver must import lazily

Every check is gated by what the driver declares (:class:`cloudcat.driver.Capabilities`, the
class attributes above) and by what the target allows: a check whose requirement is not met is
reported as a *skip with its reason* ("driver does not declare paging"), never as a silent pass.
A declared capability that does not work is a failure.

What is checked: the driver class and its registration; regions; every declared kind (and that
undeclared kinds raise :class:`~cloudcat.errors.NotSupportedError`); every item against the model;
item ids unique and stable across two reads; unknown prices null (never 0), ISO 4217 currencies,
memory in MiB, vCPU >= 1; capabilities matching what items carry; complete listings under a page
size of 1; backend failures surfacing as cloudcat errors (unavailable, malformed, rate limited
with retry-after, authentication, expired tokens renewed, timeout honoured); secrets absent
from reprs, logs and errors; the driver module importable without its SDK; and, through
:func:`cloudcat.open_catalog`, offers that validate, with unique ids that begin with the brand
and stay stable across refreshes.

Fixtures an author may override: ``backend_options`` (the driver's options; by default the
mock's; ``--cloudcat-backend FILE`` takes precedence), and, class-scoped (override them as
``@pytest.fixture(scope="class")`` + ``@classmethod``), ``mock_fixture`` (the fixture catalog
the mock serves) and ``mock_faults`` (faults the mock starts with). The mock is started once
per test class; checks that inject faults restore them (and reset the platform) afterwards.

Pointing the same tests at a real endpoint::

    pytest tests/test_conformance.py --cloudcat-backend acme-prod.yaml

where the file (YAML or JSON) holds ``{driver: acme, options: {...}}``; ``${VAR}`` in option
strings is read from the environment, so secrets stay out of the file. Fault-injection checks
need a mock and are skipped, with that reason, against a real endpoint.

The kit is versioned by :data:`KIT_LEVEL` (see "Writing a driver", versioning policy): a check
added at a later level than the class's ``kit_level`` is skipped with a reason until the author
raises ``kit_level``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

import pytest
import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from ..driver import BaseDriver, Capabilities, Driver, DriverOptions
from ..errors import (
    AuthenticationError,
    BackendTimeoutError,
    CloudcatError,
    ConfigError,
    NotSupportedError,
    RateLimitedError,
    UnavailableError,
)
from ..models import Item, Kind, Offer, Price, Region
from .mockserver import MockHandle, MockPlatform, mock

__all__ = [
    "BACKEND_OPTION",
    "ISO_4217",
    "KIT_LEVEL",
    "DriverConformance",
    "Listing",
    "load_backend_file",
    "read_listing",
]

#: Current level of the kit. Raised (never lowered) when checks are added; see the versioning
#: policy in "Writing a driver".
KIT_LEVEL = 1

#: The pytest command-line option that points the kit at a real endpoint.
BACKEND_OPTION = "--cloudcat-backend"

#: Active ISO 4217 currency codes (and the common fund codes), for price checks.
_ISO_4217_TEXT = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_ISO_4217_TEXT.split())

#: Option names whose values are treated as secrets even when the driver forgot ``SecretStr``.
SECRET_NAME = re.compile(r"pass(word)?|secret|token|api_?key|credential|private_?key", re.IGNORECASE)

#: Every check of the kit, with the kit level that introduced it.
CHECKS: dict[str, int] = {name: 1 for name in (
    "driver_class", "check", "regions", "regions_option", "declared_kind", "undeclared_kind",
    "items_validate", "item_ids_unique", "listing_stable", "prices", "compute_sizes",
    "capability_declared", "capabilities_not_claimed", "paging", "unavailable", "malformed",
    "rate_limited", "authentication", "token_renewal", "timeout", "secrets_repr", "secrets_logs", "secrets_errors",
    "secret_options", "lazy_import", "offers_validate", "offer_ids", "offer_ids_stable",
)}

T = TypeVar("T")


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


# -- reading a backend ----------------------------------------------------------------------------


@dataclass
class Listing:
    """Everything a driver listed: its regions and the items of each (kind, region)."""

    regions: list[Region]
    items: dict[tuple[Kind, str], list[Item]] = field(default_factory=dict)

    def all_items(self) -> list[Item]:
        """Every item, in listing order."""
        return [item for items in self.items.values() for item in items]

    def by_id(self) -> dict[str, Item]:
        """Items by their backend-level id (``kind/region/name``); later duplicates win."""
        return {_item_id(i): i for i in self.all_items()}


def _item_id(item: Item) -> str:
    return f"{item.kind.value}/{item.region}/{item.name}"


def read_listing(driver: Driver, kinds: Sequence[Kind] | None = None) -> Listing:
    """Read every region and every declared kind (or ``kinds``) in each region."""
    regions = list(driver.regions())
    listing = Listing(regions=regions)
    wanted = sorted(kinds if kinds is not None else driver.capabilities.kinds)
    for region in regions:
        for kind in wanted:
            listing.items[(kind, region.name)] = list(driver.items(kind, region.name))
    return listing


def load_backend_file(path: str | Path) -> dict[str, Any]:
    """Read a ``--cloudcat-backend`` file: ``{driver, options}``; ``${VAR}`` comes from the environment."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read backend file: {exc.strerror}", source=str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML/JSON: {getattr(exc, 'problem', exc)}", source=str(p),
                          line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict) or not isinstance(data.get("driver"), str):
        raise ConfigError("expected a mapping with 'driver' (a name) and 'options'", source=str(p),
                          field="driver")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError("'options' must be a mapping", source=str(p), field="options")

    def expand(value: Any, where: str) -> Any:
        if isinstance(value, str):
            def env(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in os.environ:
                    raise ConfigError(f"environment variable {name} is not set", source=str(p),
                                      field=where)
                return os.environ[name]
            return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", env, value)
        if isinstance(value, dict):
            return {k: expand(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [expand(v, f"{where}[{n}]") for n, v in enumerate(value)]
        return value

    return {"driver": data["driver"], "options": expand(options, "options")}


def _run_bounded(fn: Callable[[], T], seconds: float, what: str) -> T:
    """Run ``fn`` in a thread; fail the test when it has not returned within ``seconds``."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="cloudcat-kit-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        _fail(f"{what} did not return within {seconds:g} s: the driver must bound every backend call "
              "by its `timeout` option and give up retrying")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _exception_text(exc: BaseException) -> str:
    """Everything a log or a traceback would show of ``exc`` and its causes."""
    return "".join(traceback.format_exception(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def _secret_fields(model: object, prefix: str = "") -> dict[str, str]:
    """``SecretStr`` values in an options model, at any depth, by dotted path."""
    found: dict[str, str] = {}
    if isinstance(model, SecretStr):
        found[prefix] = model.get_secret_value()
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            found.update(_secret_fields(getattr(model, name), f"{prefix}.{name}" if prefix else name))
    elif isinstance(model, Mapping):
        for key, value in model.items():
            found.update(_secret_fields(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(model, (list, tuple)):
        for n, value in enumerate(model):
            found.update(_secret_fields(value, f"{prefix}.{n}"))
    return found


def _named_values(options: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf of a raw options mapping, by dotted path."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(_named_values(value, path))
        else:
            out[path] = value
    return out


def _option_at(model: object, path: str) -> object:
    """The value at a dotted path of an options model (``None`` when absent)."""
    for part in path.split("."):
        model = model.get(part) if isinstance(model, Mapping) else getattr(model, part, None)
    return model


# -- the kit --------------------------------------------------------------------------------------


class DriverConformance:
    """Conformance tests for one driver. Subclass it in a ``Test*`` class and set :attr:`driver`.

    Class attributes (all optional except :attr:`driver`):

    * :attr:`driver`: the registered driver name, or the driver class;
    * :attr:`mock`: a ``cloudcat.mocks`` name or a :class:`MockPlatform` class; without it,
      override the ``backend_options`` fixture (fault-injection and paging checks are then
      skipped with their reason);
    * :attr:`sdk_modules` / :attr:`sdk_package`: the cloud SDK the driver imports lazily;
    * :attr:`secret_options`: option names that hold secrets (fields typed ``SecretStr`` and names
      like ``password`` or ``token`` are found without it);
    * :attr:`unsupported`: ``{check: reason}`` for checks that cannot apply, reported as skips
      (``check`` is a test name without ``test_``, optionally with its parameter:
      ``"capability_declared[flexible_compute]"``);
    * :attr:`kit_level`: the kit level the driver was written against;
    * :attr:`fault_deadline`, :attr:`timeout_option`, :attr:`timeout_latency_ms`: time bounds.
    """

    driver: ClassVar[str | type[BaseDriver]]
    mock: ClassVar[str | type[MockPlatform] | None] = None
    sdk_modules: ClassVar[Sequence[str]] = ()
    sdk_package: ClassVar[str | None] = None
    secret_options: ClassVar[Sequence[str]] = ()
    unsupported: ClassVar[Mapping[str, str]] = {}
    kit_level: ClassVar[int] = KIT_LEVEL
    brand: ClassVar[str] = "kit"
    #: Longest a driver may take to give up under a permanent fault (all retries included).
    fault_deadline: ClassVar[float] = 30.0
    #: ``timeout`` option used by the timeout check, and the latency the mock then adds.
    timeout_option: ClassVar[float] = 0.5
    timeout_latency_ms: ClassVar[float] = 3000.0
    #: Retry-After (seconds) the mock sends in the rate-limit check.
    retry_after: ClassVar[float] = 1.0
    #: Token lifetime (seconds) the mock is given in the token-renewal check.
    token_ttl: ClassVar[float] = 1.0

    # -- fixtures an author may override ------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def mock_faults(cls) -> dict[str, Any]:
        """Faults each test's mock starts with (``Faults`` fields). Default: none."""
        return {}

    @pytest.fixture(scope="class")
    @classmethod
    def mock_fixture(cls) -> Any:
        """Fixture catalog the mock serves: a bundled name, a path or a mapping. Default: the mock's own."""
        return None

    @pytest.fixture(scope="class")
    @classmethod
    def cloudcat_backend_file(cls, request: pytest.FixtureRequest) -> dict[str, Any] | None:
        """The ``--cloudcat-backend FILE`` target, or ``None`` when the kit runs on a mock."""
        try:
            path = request.config.getoption(BACKEND_OPTION)
        except ValueError:  # the cloudcat pytest plugin is disabled
            path = None
        if not path:
            return None
        data = load_backend_file(path)
        name = cls._driver_name()
        if name and data["driver"] != name:
            pytest.skip(f"{BACKEND_OPTION} {path} is for driver {data['driver']!r}, "
                        f"this suite tests {name!r}")
        return data

    @pytest.fixture(scope="class")
    @classmethod
    def mock_handle(cls, cloudcat_backend_file: dict[str, Any] | None, mock_fixture: Any,
                    mock_faults: dict[str, Any]) -> Iterator[MockHandle | None]:
        """The mock the class's tests share (``None`` without :attr:`mock` or with a real endpoint).

        Started once per test class; checks that inject faults restore them afterwards.
        """
        if cloudcat_backend_file is not None or cls.mock is None:
            yield None
            return
        with mock(cls.mock, mock_fixture, **mock_faults) as handle:
            yield handle

    @pytest.fixture
    def fault_mock(self, mock_handle: MockHandle | None) -> Iterator[MockHandle | None]:
        """The shared mock, for a check that changes its faults: they, and the platform state,
        are restored after the check."""
        if mock_handle is None:
            yield None
            return
        initial = mock_handle.platform.faults.model_dump()
        try:
            yield mock_handle
        finally:
            mock_handle.server.set_faults(**initial)
            with mock_handle.platform.lock:
                mock_handle.platform.reset()

    @pytest.fixture
    def backend_options(self, mock_handle: MockHandle | None) -> dict[str, Any]:
        """Options for the driver under test. Default: those of the running mock."""
        if mock_handle is None:
            _fail("the kit has no backend: set `mock = \"<cloudcat.mocks name>\"` on the test class, "
                  "override the `backend_options` fixture, or pass "
                  f"{BACKEND_OPTION} FILE")
        return dict(mock_handle.backend.get("options", {}))

    # -- fixtures the checks use --------------------------------------------------------------
    @pytest.fixture
    def driver_class(self) -> type[BaseDriver]:
        """The driver class under test."""
        return self._driver_class()

    @pytest.fixture
    def driver_options(self, cloudcat_backend_file: dict[str, Any] | None,
                       request: pytest.FixtureRequest) -> dict[str, Any]:
        """Options actually used: the ``--cloudcat-backend`` file's, else ``backend_options``."""
        if cloudcat_backend_file is not None:
            return dict(cloudcat_backend_file["options"])
        return dict(request.getfixturevalue("backend_options"))

    @pytest.fixture
    def make_driver(self, driver_class: type[BaseDriver],
                    driver_options: dict[str, Any]) -> Iterator[Callable[..., BaseDriver]]:
        """Factory: ``make_driver(**option_overrides)`` gives a fresh driver, closed after the test."""
        made: list[BaseDriver] = []

        def make(**overrides: Any) -> BaseDriver:
            drv = driver_class({**driver_options, **overrides}, backend=self.brand + "-backend")
            made.append(drv)
            return drv

        yield make
        for drv in made:
            with contextlib.suppress(Exception):
                drv.close()

    @pytest.fixture(scope="class")
    @classmethod
    def listing_cache(cls) -> dict[str, Listing]:
        """Listings already read by this class's tests, by driver and options."""
        return {}

    @pytest.fixture
    def listing(self, make_driver: Callable[..., BaseDriver], driver_class: type[BaseDriver],
                driver_options: dict[str, Any], listing_cache: dict[str, Listing]) -> Listing:
        """One complete read of the backend (every region, every declared kind), shared by the
        class's tests while the driver and options are the same."""
        key = f"{driver_class.__module__}.{driver_class.__qualname__}:" + json.dumps(
            driver_options, sort_keys=True, default=str)
        if key not in listing_cache:
            drv = make_driver()
            listing_cache[key] = _run_bounded(lambda: read_listing(drv), self.fault_deadline * 4,
                                              "reading the backend")
        return listing_cache[key]

    # -- gates ----------------------------------------------------------------------------------
    def _gate(self, check: str, param: str | None = None) -> None:
        for key in ([f"{check}[{param}]"] if param else []) + [check]:
            reason = self.unsupported.get(key)
            if reason:
                pytest.skip(f"{key}: {reason} (declared in `unsupported`)")
        level = CHECKS.get(check, 1)
        if level > self.kit_level:
            pytest.skip(f"{check} was added at kit level {level}; this suite is at kit_level "
                        f"{self.kit_level} (raise it to run the check)")

    def _needs_mock(self, handle: MockHandle | None, what: str) -> MockHandle:
        if handle is None:
            if self.mock is None:
                pytest.skip(f"{what} needs a mock platform: set `mock` on the test class")
            pytest.skip(f"{what} needs a mock platform; the kit is running against a real endpoint "
                        f"({BACKEND_OPTION})")
        return handle

    @classmethod
    def _capabilities(cls) -> Capabilities:
        return cls._driver_class().capabilities

    @classmethod
    def _driver_name(cls) -> str:
        return cls.driver if isinstance(cls.driver, str) else cls.driver.name

    @classmethod
    def _driver_class(cls) -> type[BaseDriver]:
        if isinstance(cls.driver, str):
            from ..registry import load_driver

            return load_driver(cls.driver)
        return cls.driver

    @staticmethod
    def _expect_error(call: Callable[[], object], expected: type[CloudcatError], fault: str,
                      deadline: float) -> CloudcatError:
        """Run ``call`` under a fault; return the cloudcat error it raised, fail otherwise."""
        try:
            _run_bounded(call, deadline, f"the driver, under {fault},")
        except expected as exc:
            return exc
        except CloudcatError as exc:
            _fail(f"under {fault} the driver raised {type(exc).__name__} ({exc}); expected "
                  f"{expected.__name__}")
        except Exception as exc:
            _fail(f"raw exception: under {fault} the driver let {_describe(exc)} ({exc}) escape; "
                  f"backend failures must surface as cloudcat errors ({expected.__name__}), with "
                  "the original kept as __cause__")
        _fail(f"under {fault} the driver raised nothing; expected {expected.__name__} "
              "(does it talk to the mock?)")

    @staticmethod
    def _touch_backend(drv: BaseDriver) -> None:
        """The calls a catalog refresh makes: regions, then one listing per declared kind."""
        regions = list(drv.regions())
        for region in regions[:1]:
            for kind in sorted(drv.capabilities.kinds):
                list(drv.items(kind, region.name))

    def _secrets(self, drv: BaseDriver, options: Mapping[str, Any]) -> dict[str, str]:
        """Secret values by the (dotted) option that holds them: ``SecretStr`` fields at any depth,
        and options named like secrets (or listed in :attr:`secret_options`)."""
        found = {path: value for path, value in _secret_fields(drv.options).items() if len(value) >= 3}
        for path, value in _named_values(options).items():
            leaf = path.rsplit(".", 1)[-1]
            if (path in self.secret_options or leaf in self.secret_options or SECRET_NAME.search(leaf)) \
                    and isinstance(value, str) and len(value) >= 3 and not value.startswith("${"):
                found.setdefault(path, value)
        return found

    @staticmethod
    def _leaks(text: str, secrets: Mapping[str, str]) -> list[str]:
        return sorted(name for name, value in secrets.items() if value in text)

    # -- the driver class -----------------------------------------------------------------------
    def test_driver_class(self, driver_class: type[BaseDriver], make_driver: Callable[..., BaseDriver]) -> None:
        """The class extends BaseDriver, names itself, declares capabilities and typed options."""
        self._gate("driver_class")
        if not (isinstance(driver_class, type) and issubclass(driver_class, BaseDriver)):
            _fail(f"{driver_class!r} does not extend cloudcat.driver.BaseDriver")
        if not driver_class.name:
            _fail(f"{driver_class.__qualname__}.name is empty: set it to the registered driver name")
        if isinstance(self.driver, str) and driver_class.name != self.driver:
            _fail(f"driver registered as {self.driver!r} names itself {driver_class.name!r}")
        if not isinstance(driver_class.capabilities, Capabilities):
            _fail(f"{driver_class.__qualname__}.capabilities is not a cloudcat.driver.Capabilities")
        if not driver_class.capabilities.kinds:
            _fail(f"{driver_class.__qualname__}.capabilities.kinds is empty: declare the kinds it lists")
        if not issubclass(driver_class.Options, DriverOptions):
            _fail(f"{driver_class.__qualname__}.Options does not extend cloudcat.driver.DriverOptions")
        drv = make_driver()
        if not isinstance(drv, Driver):
            _fail(f"{driver_class.__qualname__} instances do not satisfy cloudcat.driver.Driver")

    def test_check(self, make_driver: Callable[..., BaseDriver]) -> None:
        """``check()`` succeeds with working credentials."""
        self._gate("check")
        drv = make_driver()
        try:
            _run_bounded(drv.check, self.fault_deadline, "check()")
        except CloudcatError as exc:
            _fail(f"check() failed against a healthy backend: {type(exc).__name__}: {exc}")

    # -- regions and kinds ----------------------------------------------------------------------
    def test_regions(self, listing: Listing) -> None:
        """Regions are listed, valid, uniquely named, with unique zones."""
        self._gate("regions")
        if not listing.regions:
            _fail("the driver listed no region")
        for region in listing.regions:
            if not isinstance(region, Region):
                _fail(f"regions() returned {type(region).__name__}, not cloudcat.models.Region")
            try:
                Region.model_validate(region.model_dump())
            except ValidationError as exc:
                _fail(f"region {region.name!r} does not validate: {exc}")
            if region.country is not None and not re.fullmatch(r"[A-Z]{2}", region.country):
                _fail(f"region {region.name!r}: country {region.country!r} is not ISO 3166-1 alpha-2")
            dup_zones = [z for z, n in Counter(region.zones).items() if n > 1]
            if dup_zones:
                _fail(f"region {region.name!r} lists zone(s) {dup_zones} more than once")
        dups = [n for n, c in Counter(r.name for r in listing.regions).items() if c > 1]
        if dups:
            _fail(f"regions listed more than once: {dups}")

    def test_regions_option(self, listing: Listing, make_driver: Callable[..., BaseDriver]) -> None:
        """The ``regions`` option restricts the regions; an unknown one is a ConfigError naming it."""
        self._gate("regions_option")
        first = listing.regions[0].name if listing.regions else None
        if first is None:
            _fail("the driver listed no region")
        got = [r.name for r in make_driver(regions=[first]).regions()]
        if got != [first]:
            _fail(f"with options regions=[{first!r}] the driver listed {got}")
        with pytest.raises(ConfigError, match="no-such-region-kit"):
            make_driver(regions=["no-such-region-kit"]).regions()

    @pytest.mark.parametrize("kind", list(Kind), ids=[k.value for k in Kind])
    def test_declared_kind(self, kind: Kind, listing: Listing, mock_handle: MockHandle | None) -> None:
        """A declared kind lists items of that kind, in the region asked, in every region."""
        self._gate("declared_kind", kind.value)
        if kind not in self._capabilities().kinds:
            pytest.skip(f"driver does not declare the {kind.value!r} kind (capabilities.kinds)")
        total = 0
        for (k, region), items in listing.items.items():
            if k != kind:
                continue
            for item in items:
                total += 1
                if item.kind != kind:
                    _fail(f"undeclared kind: asked for {kind.value} items in {region}, the driver "
                          f"yielded a {item.kind.value!r} item ({item.name!r})")
                if item.region != region:
                    _fail(f"asked for {kind.value} items in {region!r}, got {item.name!r} in "
                          f"region {item.region!r}")
        if total == 0 and mock_handle is not None:
            _fail(f"driver declares the {kind.value!r} kind but listed no {kind.value} item in any "
                  "region of its mock; give the mock fixture at least one")

    @classmethod
    def undeclared_kinds(cls) -> list[Kind]:
        """Kinds the driver does not declare (``test_undeclared_kind`` is parametrized over them
        by cloudcat's pytest plugin)."""
        declared = cls._capabilities().kinds
        return [k for k in Kind if k not in declared]

    def test_undeclared_kind(self, kind: Kind | None, listing: Listing,
                             make_driver: Callable[..., BaseDriver]) -> None:
        """An undeclared kind raises NotSupportedError, and no listing yields it."""
        if kind is None:
            pytest.skip("driver declares every kind: no undeclared kind to check")
        self._gate("undeclared_kind", kind.value)
        stray = [i for i in listing.all_items() if i.kind == kind]
        if stray:
            _fail(f"undeclared kind: the driver yielded {len(stray)} {kind.value!r} item(s) "
                  f"(e.g. {stray[0].name!r}) but does not declare that kind in capabilities.kinds")
        region = listing.regions[0].name
        drv = make_driver()
        try:
            got = list(drv.items(kind, region))
        except NotSupportedError:
            return
        except Exception as exc:
            _fail(f"undeclared kind {kind.value!r}: items() raised {type(exc).__name__}, "
                  "expected NotSupportedError")
        _fail(f"undeclared kind {kind.value!r}: items() returned {len(got)} item(s) instead of raising "
              "NotSupportedError")

    # -- items ----------------------------------------------------------------------------------
    def test_items_validate(self, listing: Listing, mock_handle: MockHandle | None) -> None:
        """Every item is a cloudcat.models.Item that validates and serialises to JSON."""
        self._gate("items_validate")
        if not listing.all_items() and mock_handle is not None:
            _fail("the driver listed no item at all from its mock")
        for item in listing.all_items():
            if not isinstance(item, Item):
                _fail(f"items() yielded {type(item).__name__}, not cloudcat.models.Item")
            try:
                Item.model_validate_json(item.model_dump_json())
            except (ValidationError, ValueError, TypeError) as exc:
                _fail(f"item {_item_id(item)} does not validate against cloudcat.models.Item: {exc}")

    def test_item_ids_unique(self, listing: Listing) -> None:
        """No two items share kind, region and name (they would get the same offer id)."""
        self._gate("item_ids_unique")
        counts = Counter(_item_id(i) for i in listing.all_items())
        dups = sorted(f"{i} (x{n})" for i, n in counts.items() if n > 1)
        if dups:
            _fail(f"duplicate ids: {len(dups)} item id(s) listed more than once: {', '.join(dups[:5])}")

    def test_listing_stable(self, listing: Listing, make_driver: Callable[..., BaseDriver]) -> None:
        """Two reads by two driver instances give the same items."""
        self._gate("listing_stable")
        again = _run_bounded(lambda: read_listing(make_driver()), self.fault_deadline * 4,
                             "reading the backend again")
        first, second = listing.by_id(), again.by_id()
        if first.keys() != second.keys():
            gone = sorted(first.keys() - second.keys())[:5]
            new = sorted(second.keys() - first.keys())[:5]
            _fail(f"ids not stable: a second read lost {gone} and gained {new}")
        changed = [k for k in first if first[k] != second[k]]
        if changed:
            _fail(f"items changed between two reads of an unchanged backend: {changed[:5]}")
        if [r.name for r in listing.regions] != [r.name for r in again.regions]:
            _fail("regions changed between two reads of an unchanged backend")

    def test_prices(self, listing: Listing) -> None:
        """Unknown prices are null (never 0); currencies are ISO 4217; prices only when declared."""
        self._gate("prices")
        for item in listing.all_items():
            prices: list[tuple[str, Price]] = []
            if item.price is not None:
                prices.append(("price", item.price))
            if item.flexible is not None:
                for part in ("price_per_vcpu", "price_per_gib_memory"):
                    p = getattr(item.flexible, part)
                    if p is not None:
                        prices.append((f"flexible.{part}", p))
            for where, price in prices:
                if price.amount == Decimal(0) and not price.source:
                    _fail(f"unknown price reported as 0: item {_item_id(item)} has {where}.amount 0 "
                          "with no source; an unknown price must be null (None), never 0")
                if price.currency not in ISO_4217:
                    _fail(f"item {_item_id(item)}: {where}.currency {price.currency!r} is not an "
                          "ISO 4217 code")

    def test_compute_sizes(self, listing: Listing) -> None:
        """Compute items carry vCPU >= 1 and memory in MiB (>= 64), or a flexible sizing."""
        self._gate("compute_sizes")
        if Kind.COMPUTE not in self._capabilities().kinds:
            pytest.skip("driver does not declare the 'compute' kind (capabilities.kinds)")
        for item in listing.all_items():
            if item.kind != Kind.COMPUTE:
                continue
            where = f"compute item {_item_id(item)}"
            if item.flexible is None and (item.vcpus is None or item.memory_mib is None):
                _fail(f"{where} has no vcpus/memory_mib and no flexible sizing")
            if item.vcpus is not None and item.vcpus < 1:
                _fail(f"{where}: vcpus {item.vcpus} < 1")
            if item.memory_mib is not None and item.memory_mib < 64:
                _fail(f"{where}: memory_mib {item.memory_mib} is below 64: memory must be in MiB "
                      "(was GiB given?)")
            if item.flexible is not None and item.flexible.memory_mib_max < 64:
                _fail(f"{where}: flexible.memory_mib_max {item.flexible.memory_mib_max} is below 64: "
                      "memory must be in MiB")

    # -- capabilities ---------------------------------------------------------------------------
    _CARRIES: ClassVar[dict[str, Callable[[Item], bool]]] = {
        "zones": lambda i: bool(i.zone or (i.zones and i.kind != Kind.LOCATION)),
        "prices": lambda i: i.price is not None or (
            i.flexible is not None and (i.flexible.price_per_vcpu is not None
                                        or i.flexible.price_per_gib_memory is not None)),
        "lifecycle": lambda i: i.lifecycle.status.value != "available" or bool(
            i.lifecycle.end_of_sale or i.lifecycle.end_of_life or i.lifecycle.successor),
        "flexible_compute": lambda i: i.flexible is not None,
    }

    @pytest.mark.parametrize("capability", ["zones", "prices", "lifecycle", "flexible_compute"])
    def test_capability_declared(self, capability: str, listing: Listing,
                                 mock_handle: MockHandle | None) -> None:
        """A declared capability shows in the items read (from the mock)."""
        self._gate("capability_declared", capability)
        if not getattr(self._capabilities(), capability):
            pytest.skip(f"driver does not declare {capability} (capabilities.{capability})")
        carries = self._CARRIES[capability]
        if any(carries(i) for i in listing.all_items()):
            return
        if mock_handle is None:
            pytest.skip(f"no item read from this endpoint carries {capability}; cannot confirm "
                        f"capabilities.{capability} without a mock fixture that has some")
        _fail(f"driver declares capabilities.{capability} but no item read from its mock carries "
              f"{capability}")

    def test_capabilities_not_claimed(self, listing: Listing) -> None:
        """Items carry no zones, prices, lifecycle or flexible sizing the driver does not declare."""
        self._gate("capabilities_not_claimed")
        caps = self._capabilities()
        for capability, carries in self._CARRIES.items():
            if getattr(caps, capability):
                continue
            found = [i for i in listing.all_items() if carries(i)]
            if found:
                _fail(f"item {_item_id(found[0])} carries {capability} but the driver does not declare "
                      f"capabilities.{capability}")

    def test_paging(self, listing: Listing, fault_mock: MockHandle | None,
                    make_driver: Callable[..., BaseDriver]) -> None:
        """With a page size of 1, the listing is complete and identical."""
        self._gate("paging")
        if not self._capabilities().paging:
            pytest.skip("driver does not declare paging (capabilities.paging)")
        handle = self._needs_mock(fault_mock, "the paging check")
        before = len(handle.server.requests())
        _run_bounded(lambda: read_listing(make_driver()), self.fault_deadline * 4, "an unpaged read")
        unpaged_requests = len(handle.server.requests()) - before
        handle.server.set_faults(page_limit=1)
        before = len(handle.server.requests())
        paged = _run_bounded(lambda: read_listing(make_driver()), self.fault_deadline * 4,
                             "a read with page size 1")
        paged_requests = len(handle.server.requests()) - before
        full, one = listing.by_id(), paged.by_id()
        if full.keys() != one.keys():
            missing = sorted(full.keys() - one.keys())
            _fail(f"incomplete listing under page size 1: {len(missing)} item(s) missing, e.g. "
                  f"{missing[:5]}; the driver must follow every page")
        changed = [k for k in full if full[k] != one[k]]
        if changed:
            _fail(f"items differ under page size 1: {changed[:5]}")
        if len(one) != len(paged.all_items()):
            _fail("items repeated under page size 1 (a page read twice?)")
        multi = any(len(items) > 1 for items in listing.items.values())
        if multi and paged_requests <= unpaged_requests:
            _fail(f"the mock ignored page_limit=1 ({paged_requests} requests paged vs "
                  f"{unpaged_requests} unpaged): make the mock honour Faults.page_limit")

    # -- backend failures -----------------------------------------------------------------------
    def test_unavailable(self, fault_mock: MockHandle | None,
                         make_driver: Callable[..., BaseDriver]) -> None:
        """Every request answered 503 → UnavailableError."""
        self._gate("unavailable")
        handle = self._needs_mock(fault_mock, "the unavailable check")
        handle.server.set_faults(error_rate=1.0)
        drv = make_driver()
        exc = self._expect_error(lambda: self._touch_backend(drv), UnavailableError,
                                 "error_rate=1 (every request answered 503)", self.fault_deadline)
        if exc.__cause__ is None:
            _fail("UnavailableError raised without the original exception as __cause__ "
                  "(raise ... from exc)")

    def test_malformed(self, fault_mock: MockHandle | None,
                       make_driver: Callable[..., BaseDriver]) -> None:
        """Every body cut in half → UnavailableError (malformed answer)."""
        self._gate("malformed")
        handle = self._needs_mock(fault_mock, "the malformed-answer check")
        handle.server.set_faults(malformed_rate=1.0)
        drv = make_driver()
        self._expect_error(lambda: self._touch_backend(drv), UnavailableError,
                           "malformed_rate=1 (every body cut in half)", self.fault_deadline)

    def test_rate_limited(self, fault_mock: MockHandle | None,
                          make_driver: Callable[..., BaseDriver]) -> None:
        """Every request answered 429 with Retry-After → RateLimitedError carrying retry_after."""
        self._gate("rate_limited")
        handle = self._needs_mock(fault_mock, "the rate-limit check")
        handle.server.set_faults(throttle_rate=1.0, retry_after=self.retry_after)
        drv = make_driver()
        exc = self._expect_error(lambda: self._touch_backend(drv), RateLimitedError,
                                 f"throttle_rate=1 (every request answered 429, Retry-After "
                                 f"{self.retry_after:g})", self.fault_deadline)
        assert isinstance(exc, RateLimitedError)
        if exc.retry_after is None:
            _fail("RateLimitedError.retry_after is None although the backend sent Retry-After")
        if abs(exc.retry_after - self.retry_after) > 1e-6:
            _fail(f"RateLimitedError.retry_after is {exc.retry_after}, the backend sent "
                  f"{self.retry_after:g}")

    def test_authentication(self, fault_mock: MockHandle | None,
                            make_driver: Callable[..., BaseDriver]) -> None:
        """Every login refused → AuthenticationError from check() and from listings."""
        self._gate("authentication")
        handle = self._needs_mock(fault_mock, "the authentication check")
        handle.server.set_faults(fail_auth=True)
        drv = make_driver()
        self._expect_error(drv.check, AuthenticationError, "fail_auth (every login refused), check()",
                           self.fault_deadline)
        drv = make_driver()
        self._expect_error(lambda: self._touch_backend(drv), AuthenticationError,
                           "fail_auth (every login refused), a listing", self.fault_deadline)

    def test_token_renewal(self, fault_mock: MockHandle | None,
                           make_driver: Callable[..., BaseDriver]) -> None:
        """A driver whose token expired logs in again instead of failing."""
        self._gate("token_renewal")
        handle = self._needs_mock(fault_mock, "the token-renewal check")
        handle.server.set_faults(token_ttl=self.token_ttl)
        drv = make_driver()
        _run_bounded(lambda: self._touch_backend(drv), self.fault_deadline, "a first read")
        expired_at = time.monotonic() + self.token_ttl
        while time.monotonic() < expired_at:  # wait until every token issued so far has expired
            time.sleep(min(0.05, max(0.0, expired_at - time.monotonic())))
        try:
            _run_bounded(lambda: self._touch_backend(drv), self.fault_deadline,
                         "a read after the token expired")
        except AuthenticationError as exc:
            _fail(f"expired token not renewed: a read {self.token_ttl:g} s after login (token_ttl) raised "
                  f"AuthenticationError ({exc}); log in again on 401 and retry once")
        except CloudcatError as exc:
            _fail(f"after the token expired the driver raised {type(exc).__name__} ({exc})")
        except Exception as exc:
            _fail(f"raw exception: after the token expired the driver let {_describe(exc)} ({exc}) escape")

    def test_timeout(self, fault_mock: MockHandle | None,
                     make_driver: Callable[..., BaseDriver]) -> None:
        """A backend slower than the ``timeout`` option → BackendTimeoutError, in bounded time."""
        self._gate("timeout")
        handle = self._needs_mock(fault_mock, "the timeout check")
        handle.server.set_faults(latency_ms=self.timeout_latency_ms)
        drv = make_driver(timeout=self.timeout_option)
        started = time.monotonic()
        self._expect_error(lambda: self._touch_backend(drv), BackendTimeoutError,
                           f"latency {self.timeout_latency_ms:g} ms with timeout={self.timeout_option:g} s",
                           self.fault_deadline)
        elapsed = time.monotonic() - started
        if elapsed >= self.timeout_latency_ms / 1000 * 3:
            _fail(f"BackendTimeoutError came after {elapsed:.1f} s; the timeout of "
                  f"{self.timeout_option:g} s was not honoured")

    # -- secrets --------------------------------------------------------------------------------
    def _secrets_or_skip(self, make_driver: Callable[..., BaseDriver],
                         driver_options: Mapping[str, Any]) -> tuple[BaseDriver, dict[str, str]]:
        drv = make_driver()
        secrets = self._secrets(drv, driver_options)
        if not secrets:
            pytest.skip("driver options hold no secret (no SecretStr field, no password/token option)")
        return drv, secrets

    def test_secret_options(self, make_driver: Callable[..., BaseDriver],
                            driver_options: dict[str, Any]) -> None:
        """Options that hold secrets are typed SecretStr."""
        self._gate("secret_options")
        drv, secrets = self._secrets_or_skip(make_driver, driver_options)
        plain = [n for n in secrets if not isinstance(_option_at(drv.options, n), SecretStr)]
        if plain:
            _fail(f"option(s) {plain} hold secrets but are not typed pydantic.SecretStr in "
                  f"{type(drv.options).__qualname__}")

    def test_secrets_repr(self, make_driver: Callable[..., BaseDriver],
                          driver_options: dict[str, Any]) -> None:
        """Secrets appear in no repr or str of the driver or its options."""
        self._gate("secrets_repr")
        drv, secrets = self._secrets_or_skip(make_driver, driver_options)
        for what, text in (("repr(driver)", repr(drv)), ("str(driver)", str(drv)),
                           ("repr(driver.options)", repr(drv.options)),
                           ("driver.options.model_dump_json()", drv.options.model_dump_json())):
            leaked = self._leaks(text, secrets)
            if leaked:
                _fail(f"leaked secret: the value of option(s) {leaked} appears in {what}")

    def _fault_scenarios(self, handle: MockHandle | None) -> list[tuple[str, dict[str, Any]]]:
        if handle is None:
            return []
        return [("fail_auth", {"fail_auth": True}), ("error_rate=1", {"error_rate": 1.0}),
                ("throttle_rate=1", {"throttle_rate": 1.0})]

    def _run_scenarios(self, handle: MockHandle | None, make_driver: Callable[..., BaseDriver],
                       ) -> Iterator[tuple[str, BaseException | None]]:
        """Run a healthy read, each fault scenario and a bad option; yield what each raised."""
        def attempt(what: str, call: Callable[[], object]) -> tuple[str, BaseException | None]:
            try:
                _run_bounded(call, self.fault_deadline, what)
            except Exception as exc:
                return what, exc
            return what, None

        yield attempt("a healthy read", lambda: self._touch_backend(make_driver()))
        yield attempt("an unknown region", lambda: make_driver(regions=["no-such-region-kit"]).regions())
        for name, faults in self._fault_scenarios(handle):
            assert handle is not None
            handle.server.set_faults(**faults)
            yield attempt(name, lambda: self._touch_backend(make_driver()))
            yield attempt(f"{name}, check()", lambda: make_driver().check())
            handle.server.set_faults(fail_auth=False, error_rate=0.0, throttle_rate=0.0)

    def test_secrets_logs(self, make_driver: Callable[..., BaseDriver], driver_options: dict[str, Any],
                          fault_mock: MockHandle | None, caplog: pytest.LogCaptureFixture) -> None:
        """Secrets appear in no log record (DEBUG and up), healthy or failing."""
        self._gate("secrets_logs")
        _drv, secrets = self._secrets_or_skip(make_driver, driver_options)
        with caplog.at_level(logging.DEBUG):
            for _ in self._run_scenarios(fault_mock, make_driver):
                pass
        for record in caplog.records:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += _exception_text(record.exc_info[1])
            leaked = self._leaks(text, secrets)
            if leaked:
                _fail(f"leaked secret: the value of option(s) {leaked} appears in a log record of "
                      f"{record.name!r} at {record.levelname}")

    def test_secrets_errors(self, make_driver: Callable[..., BaseDriver], driver_options: dict[str, Any],
                            fault_mock: MockHandle | None) -> None:
        """Secrets appear in no error message (nor in the causes it chains)."""
        self._gate("secrets_errors")
        _drv, secrets = self._secrets_or_skip(make_driver, driver_options)
        seen = 0
        for what, exc in self._run_scenarios(fault_mock, make_driver):
            if exc is None:
                continue
            seen += 1
            leaked = self._leaks(_exception_text(exc), secrets)
            if leaked:
                _fail(f"leaked secret: the value of option(s) {leaked} appears in the "
                      f"{type(exc).__name__} raised under {what}")
        if seen == 0:
            _fail("no scenario raised an error, so none could be checked for secrets")

    # -- lazy import ----------------------------------------------------------------------------
    def test_lazy_import(self, driver_class: type[BaseDriver], driver_options: dict[str, Any]) -> None:
        """The driver module imports with its SDK missing; using it raises MissingDependencyError."""
        self._gate("lazy_import")
        if not self.sdk_modules:
            pytest.skip("driver declares no SDK module (set `sdk_modules` on the test class)")
        script = textwrap.dedent("""
            import importlib, json, sys
            spec = json.loads(sys.stdin.read())
            for name in spec["blocked"]:
                sys.modules[name] = None
            try:
                module = importlib.import_module(spec["module"])
            except ImportError as exc:
                print(json.dumps({"stage": "import", "error": type(exc).__name__, "message": str(exc)}))
                raise SystemExit(0)
            cls = getattr(module, spec["cls"])
            from cloudcat.errors import MissingDependencyError
            try:
                driver = cls(spec["options"], backend="kit")
                list(driver.regions())
                driver.check()
            except MissingDependencyError as exc:
                print(json.dumps({"stage": "use", "error": "MissingDependencyError",
                                  "message": str(exc), "package": exc.package}))
            except Exception as exc:
                print(json.dumps({"stage": "use", "error": type(exc).__name__, "message": str(exc)}))
            else:
                print(json.dumps({"stage": "use", "error": None}))
        """)
        spec = {"blocked": list(self.sdk_modules), "module": driver_class.__module__,
                "cls": driver_class.__qualname__, "options": driver_options}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.run([sys.executable, "-c", script], input=json.dumps(spec, default=str),
                              capture_output=True, text=True, timeout=120, env=env, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            _fail(f"the lazy-import probe failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        outcome = json.loads(lines[-1])
        blocked = ", ".join(self.sdk_modules)
        if outcome["stage"] == "import":
            _fail(f"eager import: module {driver_class.__module__} cannot be imported without "
                  f"{blocked} ({outcome['message']}); import the SDK on first use "
                  "(cloudcat.driver.import_sdk)")
        if outcome["error"] != "MissingDependencyError":
            _fail(f"with {blocked} missing, using the driver raised {outcome['error']} "
                  f"({outcome.get('message')}); expected MissingDependencyError saying what to install")
        if "install" not in outcome["message"]:
            _fail(f"MissingDependencyError does not say what to install: {outcome['message']!r}")
        if self.sdk_package and self.sdk_package not in outcome["message"]:
            _fail(f"MissingDependencyError does not name the package {self.sdk_package!r}: "
                  f"{outcome['message']!r}")

    # -- offers, through the catalog ------------------------------------------------------------
    @pytest.fixture
    def catalog_config(self, driver_class: type[BaseDriver], driver_options: dict[str, Any],
                       tmp_path: Path) -> dict[str, Any]:
        """The catalog configuration the offer checks open: one backend, one brand."""
        return {"backends": {"b": {"driver": self._driver_name(), "options": driver_options}},
                "brands": {self.brand: {"backend": "b", "operator": "Kit Operator"}},
                "store": str(tmp_path / "c.db")}

    @contextlib.contextmanager
    def _catalog(self, config: dict[str, Any]) -> Iterator[Any]:
        from cloudcat import open_catalog

        if not isinstance(self.driver, str):
            pytest.skip("offer checks need the driver registered by name in the cloudcat.drivers "
                        "entry-point group (set `driver = \"name\"`)")
        catalog = open_catalog(config)
        try:
            yield catalog
        finally:
            catalog.close()

    def _refresh(self, catalog: Any) -> list[Offer]:
        result = _run_bounded(catalog.refresh, self.fault_deadline * 4, "catalog.refresh()")
        failed = [s for s in result.statuses if s.status != "ok"]
        if failed:
            _fail(f"catalog refresh failed for backend {failed[0].backend}: {failed[0].error}")
        return list(catalog.offers(snapshot=result.snapshot.id))

    def test_offers_validate(self, catalog_config: dict[str, Any]) -> None:
        """Offers composed from the items validate against cloudcat.models.Offer."""
        self._gate("offers_validate")
        with self._catalog(catalog_config) as catalog:
            offers = self._refresh(catalog)
        if not offers:
            _fail("the catalog composed no offer from the driver's items")
        for offer in offers:
            try:
                Offer.model_validate_json(offer.model_dump_json())
            except ValidationError as exc:
                _fail(f"offer {offer.id} does not validate against cloudcat.models.Offer: {exc}")
            if offer.read_at.tzinfo is None or offer.read_at.utcoffset() != dt.timedelta(0):
                _fail(f"offer {offer.id}: read_at {offer.read_at} is not UTC")

    def test_offer_ids(self, catalog_config: dict[str, Any]) -> None:
        """Offer ids are unique and begin with the brand."""
        self._gate("offer_ids")
        with self._catalog(catalog_config) as catalog:
            offers = self._refresh(catalog)
        dups = sorted(i for i, n in Counter(o.id for o in offers).items() if n > 1)
        if dups:
            _fail(f"duplicate ids: offer id(s) {dups[:5]} appear more than once")
        bad = [o.id for o in offers if not o.id.startswith(self.brand + "/")]
        if bad:
            _fail(f"offer id(s) {bad[:5]} do not begin with the brand {self.brand!r}")

    def test_offer_ids_stable(self, catalog_config: dict[str, Any]) -> None:
        """Two refreshes of an unchanged backend give the same offer ids."""
        self._gate("offer_ids_stable")
        with self._catalog(catalog_config) as catalog:
            first = {o.id: o.model_dump(exclude={"read_at"}) for o in self._refresh(catalog)}
            second = {o.id: o.model_dump(exclude={"read_at"}) for o in self._refresh(catalog)}
        if first.keys() != second.keys():
            _fail(f"ids not stable across two refreshes: lost {sorted(first.keys() - second.keys())[:5]}, "
                  f"gained {sorted(second.keys() - first.keys())[:5]}")
        changed = sorted(i for i in first if first[i] != second[i])
        if changed:
            _fail(f"offers changed between two refreshes of an unchanged backend: {changed[:5]}")
