"""Calling a driver under a deadline, and reporting what it did as a kit failure.

Every call the kit makes to a driver goes through :func:`run_bounded`, so a driver that hangs
fails its check instead of hanging the test session.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import pytest

from ...driver import BaseDriver
from ...errors import CloudcatError

__all__ = ["describe", "exception_text", "expect_error", "fail", "run_bounded", "touch_backend"]

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Fail the current check with ``message`` only (the kit's own traceback says nothing useful)."""
    pytest.fail(message, pytrace=False)


_BOUND = "the driver must bound every backend call by its `timeout` option and give up retrying"


def run_bounded(fn: Callable[[], T], seconds: float, what: str, why: str = _BOUND) -> T:
    """Run ``fn`` in a thread; fail the check when it has not returned within ``seconds``
    (the message says ``why`` that is wrong)."""
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
        fail(f"{what} did not return within {seconds:g} s: {why}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def exception_text(exc: BaseException) -> str:
    """Everything a log or a traceback would show of ``exc`` and its causes."""
    return "".join(traceback.format_exception(exc))


def describe(exc: BaseException) -> str:
    """The exception's type, with its module: ``httpx.ReadTimeout``."""
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def expect_error(call: Callable[[], object], expected: type[CloudcatError], fault: str,
                 deadline: float, why: str = _BOUND) -> CloudcatError:
    """Run ``call`` under a fault; return the cloudcat error it raised, fail otherwise."""
    try:
        run_bounded(call, deadline, f"the driver, under {fault},", why)
    except expected as exc:
        return exc
    except CloudcatError as exc:
        fail(f"under {fault} the driver raised {type(exc).__name__} ({exc}); expected "
             f"{expected.__name__}")
    except Exception as exc:
        fail(f"raw exception: under {fault} the driver let {describe(exc)} ({exc}) escape; "
             f"backend failures must surface as cloudcat errors ({expected.__name__}), with "
             "the original kept as __cause__")
    fail(f"under {fault} the driver raised nothing; expected {expected.__name__} "
         "(does it talk to the mock?)")


def touch_backend(drv: BaseDriver) -> None:
    """The calls a catalog refresh makes: regions, then one listing per declared kind."""
    regions = list(drv.regions())
    for region in regions[:1]:
        for kind in sorted(drv.capabilities.kinds):
            list(drv.items(kind, region.name))
