"""Checks of the driver class itself: what it extends and declares, and that ``check()`` works."""

from __future__ import annotations

from collections.abc import Callable

from ...driver import BaseDriver, Capabilities, Driver, DriverOptions
from ...errors import CloudcatError
from .calls import fail, run_bounded
from .fixtures import KitFixtures

__all__ = ["DriverClassChecks"]


class DriverClassChecks(KitFixtures):
    """``test_driver_class``, ``test_check``."""

    def test_driver_class(self, driver_class: type[BaseDriver], make_driver: Callable[..., BaseDriver]) -> None:
        """The class extends BaseDriver, names itself, declares capabilities and typed options."""
        if not (isinstance(driver_class, type) and issubclass(driver_class, BaseDriver)):
            fail(f"{driver_class!r} does not extend cloudcat.driver.BaseDriver")
        if not driver_class.name:
            fail(f"{driver_class.__qualname__}.name is empty: set it to the registered driver name")
        if isinstance(self.driver, str) and driver_class.name != self.driver:
            fail(f"driver registered as {self.driver!r} names itself {driver_class.name!r}")
        if not isinstance(driver_class.capabilities, Capabilities):
            fail(f"{driver_class.__qualname__}.capabilities is not a cloudcat.driver.Capabilities")
        if not driver_class.capabilities.kinds:
            fail(f"{driver_class.__qualname__}.capabilities.kinds is empty: declare the kinds it lists")
        if not issubclass(driver_class.Options, DriverOptions):
            fail(f"{driver_class.__qualname__}.Options does not extend cloudcat.driver.DriverOptions")
        drv = make_driver()
        if not isinstance(drv, Driver):
            fail(f"{driver_class.__qualname__} instances do not satisfy cloudcat.driver.Driver")

    def test_check(self, make_driver: Callable[..., BaseDriver]) -> None:
        """``check()`` succeeds with working credentials."""
        drv = make_driver()
        try:
            run_bounded(drv.check, self.fault_deadline, "check()")
        except CloudcatError as exc:
            fail(f"check() failed against a healthy backend: {type(exc).__name__}: {exc}")
