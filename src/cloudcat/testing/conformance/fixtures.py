"""What a suite sets on its test class, and the fixtures every check builds on.

:class:`KitFixtures` holds the class attributes a plugin author sets (``driver``, ``mock``,
``sdk_modules``…), the fixtures an author may override (``backend_options``, ``mock_fixture``,
``mock_faults``) and those the checks use (``make_driver``, ``listing``, ``fault_mock``…).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from ...driver import BaseDriver, Capabilities
from ..mockserver import MockHandle, MockPlatform, mock
from .backend_file import BACKEND_OPTION, load_backend_file
from .calls import fail, run_bounded
from .levels import KIT_LEVEL
from .listing import Listing, read_listing

__all__ = ["KitFixtures"]


class KitFixtures:
    """The class attributes and fixtures of a conformance suite (see :class:`DriverConformance`)."""

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
    #: Deadline (seconds) the deadline check's calls run under, and the latency the mock then adds
    #: (the ``timeout`` option is set above that latency: only the deadline can end the calls).
    deadline_seconds: ClassVar[float] = 1.0
    deadline_latency_ms: ClassVar[float] = 20000.0
    #: Retry-After (seconds) the mock sends in the rate-limit check.
    retry_after: ClassVar[float] = 1.0
    #: Token lifetime (seconds) the mock is given in the token-renewal check.
    token_ttl: ClassVar[float] = 1.0

    # -- the driver under test ----------------------------------------------------------------
    @classmethod
    def _capabilities(cls) -> Capabilities:
        return cls._driver_class().capabilities

    @classmethod
    def _driver_name(cls) -> str:
        return cls.driver if isinstance(cls.driver, str) else cls.driver.name

    @classmethod
    def _driver_class(cls) -> type[BaseDriver]:
        if isinstance(cls.driver, str):
            from ...registry import load_driver

            return load_driver(cls.driver)
        return cls.driver

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
            fail("the kit has no backend: set `mock = \"<cloudcat.mocks name>\"` on the test class, "
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
            listing_cache[key] = run_bounded(lambda: read_listing(drv), self.fault_deadline * 4,
                                             "reading the backend")
        return listing_cache[key]
