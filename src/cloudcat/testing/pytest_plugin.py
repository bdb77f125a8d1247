"""cloudcat's pytest plugin: the ``cloudcat_mock`` fixture and the conformance kit's option.

::

    def test_my_app(cloudcat_mock):
        m = cloudcat_mock("openstack", fixture="tests/my-cloud.yaml", error_rate=0.1)
        run_my_app(m.url, m.backend)

    def test_my_app_retries(cloudcat_mock):
        m = cloudcat_mock("openstack", fault_plan=["GET /compute/v2.1/flavors/detail 429 x2 retry-after=1"])
        run_my_app(m.url, m.backend)
        assert [r.status for r in m.requests if r.path.endswith("/flavors/detail")] == [429, 429, 200]

``--cloudcat-backend FILE`` (YAML/JSON ``{driver, options}``) points the conformance kit
(:mod:`cloudcat.testing.conformance`) at a real endpoint instead of the driver's mock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the mock server (werkzeug, pydantic) is imported when the fixture is used
    from .mockserver import MockHandle


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--cloudcat-backend`` for the conformance kit."""
    group = parser.getgroup("cloudcat", "cloudcat driver conformance kit")
    group.addoption("--cloudcat-backend", dest="cloudcat_backend", metavar="FILE", default=None,
                    help="YAML/JSON file {driver, options}: run the conformance kit against this "
                         "backend instead of the driver's mock (${VAR} read from the environment)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the kit's ``test_undeclared_kind`` over the kinds the driver does not declare."""
    cls = metafunc.cls
    if cls is None or metafunc.function.__name__ != "test_undeclared_kind":
        return
    from .conformance import DriverConformance

    if not issubclass(cls, DriverConformance):
        return
    kinds = cls.undeclared_kinds()
    metafunc.parametrize("kind", kinds or [None], ids=[k.value for k in kinds] or ["none"])


@pytest.fixture
def cloudcat_mock() -> Iterator[Callable[..., MockHandle]]:
    """Factory: ``cloudcat_mock(name, fixture=None, **options)`` starts a mock, stopped after the test.
    Options are those of :func:`cloudcat.testing.mock` (``fault_plan=[...]``, :class:`Faults` fields)."""
    from .mockserver import mock

    with contextlib.ExitStack() as stack:

        def start(name: str, fixture: Any = None, **options: Any) -> MockHandle:
            return stack.enter_context(mock(name, fixture, **options))

        yield start
