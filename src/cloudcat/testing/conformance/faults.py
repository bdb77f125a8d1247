"""Checks of backend failures injected into the mock: each must surface as the right cloudcat error."""

from __future__ import annotations

import time
from collections.abc import Callable

from ...driver import BaseDriver
from ...errors import (
    AuthenticationError,
    BackendTimeoutError,
    CloudcatError,
    RateLimitedError,
    UnavailableError,
)
from ...http import Deadline, within
from ..mockserver import MockHandle
from .calls import describe, expect_error, fail, run_bounded, touch_backend
from .fixtures import KitFixtures
from .requirements import requires

__all__ = ["FaultChecks"]


class FaultChecks(KitFixtures):
    """``test_unavailable``, ``test_malformed``, ``test_rate_limited``, ``test_authentication``,
    ``test_token_renewal``, ``test_timeout``, ``test_deadline``: each needs a mock, whose faults it
    sets and the ``fault_mock`` fixture restores."""

    @requires("mock")
    def test_unavailable(self, fault_mock: MockHandle, make_driver: Callable[..., BaseDriver]) -> None:
        """Every request answered 503 → UnavailableError."""
        fault_mock.server.set_faults(error_rate=1.0)
        drv = make_driver()
        exc = expect_error(lambda: touch_backend(drv), UnavailableError,
                           "error_rate=1 (every request answered 503)", self.fault_deadline)
        if exc.__cause__ is None:
            fail("UnavailableError raised without the original exception as __cause__ "
                 "(raise ... from exc)")

    @requires("mock")
    def test_malformed(self, fault_mock: MockHandle, make_driver: Callable[..., BaseDriver]) -> None:
        """Every body cut in half → UnavailableError (malformed answer)."""
        fault_mock.server.set_faults(malformed_rate=1.0)
        drv = make_driver()
        expect_error(lambda: touch_backend(drv), UnavailableError,
                     "malformed_rate=1 (every body cut in half)", self.fault_deadline)

    @requires("mock")
    def test_rate_limited(self, fault_mock: MockHandle, make_driver: Callable[..., BaseDriver]) -> None:
        """Every request answered 429 with Retry-After → RateLimitedError carrying retry_after."""
        fault_mock.server.set_faults(throttle_rate=1.0, retry_after=self.retry_after)
        drv = make_driver()
        exc = expect_error(lambda: touch_backend(drv), RateLimitedError,
                           f"throttle_rate=1 (every request answered 429, Retry-After "
                           f"{self.retry_after:g})", self.fault_deadline)
        assert isinstance(exc, RateLimitedError)
        if exc.retry_after is None:
            fail("RateLimitedError.retry_after is None although the backend sent Retry-After")
        if abs(exc.retry_after - self.retry_after) > 1e-6:
            fail(f"RateLimitedError.retry_after is {exc.retry_after}, the backend sent "
                 f"{self.retry_after:g}")

    @requires("mock")
    def test_authentication(self, fault_mock: MockHandle, make_driver: Callable[..., BaseDriver]) -> None:
        """Every login refused → AuthenticationError from check() and from listings."""
        fault_mock.server.set_faults(fail_auth=True)
        drv = make_driver()
        expect_error(drv.check, AuthenticationError, "fail_auth (every login refused), check()",
                     self.fault_deadline)
        drv = make_driver()
        expect_error(lambda: touch_backend(drv), AuthenticationError,
                     "fail_auth (every login refused), a listing", self.fault_deadline)

    @requires("mock")
    def test_token_renewal(self, fault_mock: MockHandle, make_driver: Callable[..., BaseDriver]) -> None:
        """A driver whose token expired logs in again instead of failing."""
        fault_mock.server.set_faults(token_ttl=self.token_ttl)
        drv = make_driver()
        run_bounded(lambda: touch_backend(drv), self.fault_deadline, "a first read")
        expired_at = time.monotonic() + self.token_ttl
        while time.monotonic() < expired_at:  # wait until every token issued so far has expired
            time.sleep(min(0.05, max(0.0, expired_at - time.monotonic())))
        try:
            run_bounded(lambda: touch_backend(drv), self.fault_deadline, "a read after the token expired")
        except AuthenticationError as exc:
            fail(f"expired token not renewed: a read {self.token_ttl:g} s after login (token_ttl) raised "
                 f"AuthenticationError ({exc}); log in again on 401 and retry once")
        except CloudcatError as exc:
            fail(f"after the token expired the driver raised {type(exc).__name__} ({exc})")
        except Exception as exc:
            fail(f"raw exception: after the token expired the driver let {describe(exc)} ({exc}) escape")

    @requires("mock")
    def test_timeout(self, fault_mock: MockHandle, make_driver: Callable[..., BaseDriver]) -> None:
        """A backend slower than the ``timeout`` option → BackendTimeoutError, in bounded time."""
        fault_mock.server.set_faults(latency_ms=self.timeout_latency_ms)
        drv = make_driver(timeout=self.timeout_option)
        started = time.monotonic()
        expect_error(lambda: touch_backend(drv), BackendTimeoutError,
                     f"latency {self.timeout_latency_ms:g} ms with timeout={self.timeout_option:g} s",
                     self.fault_deadline)
        elapsed = time.monotonic() - started
        if elapsed >= self.timeout_latency_ms / 1000 * 3:
            fail(f"BackendTimeoutError came after {elapsed:.1f} s; the timeout of "
                 f"{self.timeout_option:g} s was not honoured")

    @requires("mock")
    def test_deadline(self, fault_mock: MockHandle, make_driver: Callable[..., BaseDriver]) -> None:
        """A backend slower than the deadline its calls run under (:func:`cloudcat.http.within`,
        which a refresh sets from ``backend_deadline``) → BackendTimeoutError at that deadline,
        however long the ``timeout`` option: every wait is capped at :func:`cloudcat.http.time_left`."""
        latency = self.deadline_latency_ms
        fault_mock.server.set_faults(latency_ms=latency)
        drv = make_driver(timeout=latency / 1000 * 2)  # the option alone would wait for each answer
        seconds = self.deadline_seconds

        def call() -> None:
            with within(Deadline(time.monotonic() + seconds)):
                touch_backend(drv)

        started = time.monotonic()
        expect_error(call, BackendTimeoutError, f"latency {latency:g} ms and a deadline of {seconds:g} s",
                     seconds + _DEADLINE_GRACE,
                     "the driver must end every backend call at the deadline it runs under (cap each wait at "
                     "cloudcat.http.time_left(), or make its HTTP session with BaseDriver.http_session)")
        elapsed = time.monotonic() - started
        if elapsed < seconds * 0.5:
            fail(f"BackendTimeoutError came after {elapsed:.2f} s, before the deadline of {seconds:g} s")


#: Seconds past the deadline a driver may take to give up (the error's way back, a close).
_DEADLINE_GRACE = 5.0
