"""The HTTP side of the default driver behaviour: options, status → error mapping, Retry-After and retries.

Every driver that speaks HTTP, directly or through a vendor SDK, shares these pieces instead of
writing its own:

* :class:`HttpOptions`: the options such a driver accepts (``timeout``, ``connect_timeout``,
  ``retries``, ``backoff``, ``max_backoff``, ``max_retry_after``, ``verify``); a driver's options
  model extends it;
* :func:`error_for_status`: the :mod:`cloudcat.errors` type of an HTTP error status (401
  :class:`AuthenticationError`, 403 :class:`PermissionDeniedError`, 404/410
  :class:`BackendNotFoundError`, 408 :class:`BackendTimeoutError`, 429 :class:`RateLimitedError`,
  5xx :class:`UnavailableError`, any other 4xx :class:`BackendError`);
* :func:`parse_retry_after`: a ``Retry-After`` header, as delay-seconds or as an HTTP date, in seconds;
* :class:`RetryPolicy`: bounded retries with exponential backoff around any call, honouring the
  ``retry_after`` of a :class:`RateLimitedError` up to ``max_retry_after``.

Nothing here imports an HTTP library: callers pass status codes and header values, so the same
pieces serve an httpx client, a requests-based SDK or anything else.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import Field, field_validator

from .driver import DriverOptions
from .errors import (
    AuthenticationError,
    BackendError,
    BackendNotFoundError,
    BackendTimeoutError,
    ConfigError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
)

__all__ = [
    "HttpOptions",
    "RetryPolicy",
    "error_for_status",
    "parse_retry_after",
]

log = logging.getLogger("cloudcat.http")

T = TypeVar("T")

_DELAY_SECONDS = re.compile(r"\d+(?:\.\d+)?")


class HttpOptions(DriverOptions):
    """Options every HTTP-speaking driver accepts (its own options model extends this one)."""

    connect_timeout: float | None = Field(
        default=None, gt=0, description="Seconds to wait for a connection; default: `timeout`.")
    retries: int = Field(default=3, ge=0, le=10,
                         description="Retries of a call answered 429 or 5xx, refused, or malformed.")
    backoff: float = Field(default=0.2, ge=0,
                           description="Seconds before the first retry; doubled at each further one.")
    max_backoff: float = Field(default=5.0, ge=0, description="Longest wait between two tries, in seconds.")
    max_retry_after: float = Field(
        default=30.0, ge=0,
        description="Longest Retry-After waited for, in seconds; a longer one fails the call at once.")
    verify: bool | str = Field(
        default=True, description="Verify TLS certificates: `true`, `false`, or the path of a CA bundle.")

    @field_validator("verify")
    @classmethod
    def _ca_bundle_exists(cls, value: bool | str) -> bool | str:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("give true, false or the path of a CA bundle")
            path = Path(value).expanduser()
            if not path.is_file():
                raise ValueError(f"no CA bundle at {value!r}")
            return str(path)
        return value

    def retry_policy(self) -> RetryPolicy:
        """The retry policy these options describe."""
        return RetryPolicy(retries=self.retries, backoff=self.backoff, max_backoff=self.max_backoff,
                           max_retry_after=self.max_retry_after)

    def ssl_verify(self) -> bool | ssl.SSLContext:
        """What to pass as an HTTP client's ``verify``: a bool, or a TLS context trusting the CA bundle.

        Raises :class:`ConfigError` naming the ``verify`` option when the bundle cannot be read.
        """
        if isinstance(self.verify, bool):
            return self.verify
        try:
            return ssl.create_default_context(cafile=self.verify)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot read the CA bundle {self.verify!r}: {exc}", field="verify") from exc


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value, or ``None`` when there is none.

    Accepts delay-seconds (``"120"``; fractions such as ``"0.5"`` too) and HTTP dates
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, and the obsolete RFC 850 and asctime forms), a date
    being counted from ``now`` (default: the current time; a past date gives ``0.0``). Anything
    else (a negative number, garbage) gives ``None``: the caller's backoff decides.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # the asctime form carries no zone; HTTP dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    current = now if now is not None else dt.datetime.now(dt.UTC)
    if current.tzinfo is None:
        current = current.replace(tzinfo=dt.UTC)
    return max(0.0, (when - current).total_seconds())


def error_for_status(status: int, message: str, *, backend: str | None = None,
                     retry_after: float | None = None) -> BackendError:
    """The cloudcat error for an HTTP error ``status`` (400 and up), with ``message``.

    ``retry_after`` (seconds, from :func:`parse_retry_after`) is kept on a
    :class:`RateLimitedError`. The caller raises the result ``from`` the original exception.
    """
    if status < 400:
        raise ValueError(f"HTTP {status} is not an error status")
    if status == 429:
        return RateLimitedError(message, backend=backend, retry_after=retry_after)
    error: type[BackendError] = {
        401: AuthenticationError, 403: PermissionDeniedError, 404: BackendNotFoundError,
        408: BackendTimeoutError, 410: BackendNotFoundError,
    }.get(status, UnavailableError if status >= 500 else BackendError)
    return error(message, backend=backend)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff, honouring Retry-After.

    A call failing with :class:`UnavailableError` (5xx, refused connection, malformed answer) is
    tried again after ``backoff`` seconds, then twice that, and so on up to ``max_backoff``. A
    :class:`RateLimitedError` is tried again after its ``retry_after`` (or the backoff when the
    backend gave none); a ``retry_after`` longer than ``max_retry_after`` is not waited for: the
    error is raised at once, with the backend's value. Every other error, timeouts included, is
    raised at once; after ``retries`` retries the last error is raised.
    """

    retries: int = 3
    backoff: float = 0.2
    max_backoff: float = 5.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if min(self.retries, self.backoff, self.max_backoff, self.max_retry_after) < 0:
            raise ValueError("retries, backoff, max_backoff and max_retry_after cannot be negative")

    def delay(self, error: BaseException, attempt: int) -> float | None:
        """Seconds to wait before trying again after ``error`` ended try number ``attempt``
        (1 for the first), or ``None`` when the error is to be raised."""
        if attempt > self.retries:
            return None
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        if isinstance(error, RateLimitedError | UnavailableError):
            return min(self.backoff * 2.0 ** min(attempt - 1, 64), self.max_backoff)
        return None

    def run(self, call: Callable[[], T], *, sleep: Callable[[float], object] = time.sleep) -> T:
        """``call()``, tried again as :meth:`delay` says; the last error is raised unchanged."""
        attempt = 1
        while True:
            try:
                return call()
            except BackendError as exc:
                wait = self.delay(exc, attempt)
                if wait is None:
                    raise
                log.info("%s; retry %d of %d in %.2f s", exc, attempt, self.retries, wait)
                sleep(wait)
                attempt += 1
