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
  ``retry_after`` of a :class:`RateLimitedError` up to ``max_retry_after``;
* :class:`Deadline`, :func:`within` and :func:`time_left`: the deadline of the backend a call
  works for, which the refresh sets around each of its tasks (a context variable, so the calls a
  driver runs side by side through :func:`cloudcat.driver.concurrently` carry it too);
* :func:`fit_session`: a ``requests`` session (a vendor SDK's too) whose calls
  end at that deadline: each socket timeout is capped at the time left, a body is read piece by
  piece checking it, and closing the session shuts the sockets of calls still under way, which
  wakes the threads blocked in them; :func:`close_idle` closes only the connections no call uses.

Nothing here imports an HTTP library at import time: callers pass status codes and header
values, so the same pieces serve an httpx client, a requests-based SDK or anything else;
:func:`fit_session` imports ``requests`` when called.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import email.utils
import functools
import logging
import math
import queue
import re
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import Field, field_validator

if TYPE_CHECKING:
    import requests
    from urllib3._base_connection import BaseHTTPConnection, BaseHTTPSConnection

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
    "Deadline",
    "HttpOptions",
    "RetryPolicy",
    "close_idle",
    "current_deadline",
    "error_for_status",
    "fit_session",
    "parse_retry_after",
    "time_left",
    "within",
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


# -- deadlines ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deadline:
    """When the calls made for one backend must end: at ``at`` (a :func:`time.monotonic` time), or
    as soon as ``cancelled`` is set (the refresh sets it once the backend is done with, so that
    calls still under way for it stop rather than retry)."""

    at: float
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False)

    def left(self) -> float:
        """Seconds left (``0.0`` once passed or cancelled)."""
        if self.cancelled.is_set():
            return 0.0
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        """Whether calls must stop now."""
        return self.left() <= 0.0


_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("cloudcat_deadline", default=None)


@contextlib.contextmanager
def within(deadline: Deadline | None) -> Iterator[None]:
    """Run the block's calls under ``deadline`` (``None``: none)."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> Deadline | None:
    """The deadline the calls of this thread (or context) run under, if any."""
    return _DEADLINE.get()


def time_left() -> float | None:
    """Seconds left before the current deadline, ``None`` when there is none."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline.left()


def _deadline_error() -> BackendTimeoutError:
    # not a requests exception: an SDK's retry loop (some retry timeouts) lets it through
    return BackendTimeoutError("deadline passed: the call was cut")


def _capped(timeout: Any, left: float) -> tuple[float | None, float | None] | Any:
    """A requests ``timeout`` (a number, a pair, urllib3's Timeout or ``None``), each part capped at ``left``."""
    if isinstance(timeout, tuple):
        connect, read = timeout
    elif hasattr(timeout, "connect_timeout") and hasattr(timeout, "read_timeout"):
        connect, read = timeout.connect_timeout, timeout.read_timeout
    else:
        connect = read = timeout
    return tuple(left if not isinstance(part, int | float) else min(float(part), left)
                 for part in (connect, read))


# -- requests sessions that end at the deadline --------------------------------------------------------
#: Connections each pool keeps per host: as many as a refresh runs calls at once at most (the
#: configuration's ``concurrency`` goes up to 256), so that no call's connection is thrown away
#: when it ends (urllib3 then says "connection pool is full") and opened again by the next call.
#: Only connections calls used at the same time are kept; idle ones close when a backend's tasks end.
POOL_SIZE = 256


def fit_session(session: requests.Session | None = None, *, pool_size: int = POOL_SIZE) -> requests.Session:
    """``session`` (a new one when ``None``) with an adapter whose calls end at the deadline.

    Mounted for ``http://`` and ``https://`` (replacing the adapters there, an SDK's included),
    it caps each socket timeout at :func:`time_left`, reads each body (unless the caller streams
    it) in pieces checking the deadline, and raises :class:`BackendTimeoutError` once the deadline
    has passed — not a ``requests`` exception, so an SDK does not retry it. Its pools keep at most
    ``pool_size`` connections per host. Closing the session (``session.close()``) shuts the sockets
    of calls still under way, which wakes the threads blocked in them; the session stays usable
    and reconnects on its next call.
    """
    import requests

    session = session if session is not None else requests.Session()
    adapter = _adapter_class()(pool_connections=pool_size, pool_maxsize=pool_size)
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    return session


def close_idle(session: requests.Session) -> None:
    """Close the connections of ``session`` that no call uses (they reopen when next taken);
    those under way go back to their pool as usual."""
    for adapter in set(session.adapters.values()):
        manager = getattr(adapter, "poolmanager", None)
        if manager is None:
            continue
        for key in manager.pools.keys():  # noqa: SIM118 - the container cannot be iterated
            pool = manager.pools.get(key)
            if pool is not None:
                _close_idle_in(getattr(pool, "pool", None))


def _close_idle_in(idle: queue.Queue[Any] | None) -> None:
    """Close the connections waiting in one urllib3 pool's queue where they wait (the pool opens
    a closed one again when it hands it out): the pool itself stays open, so a call about to
    take a connection from it never finds it closed. They are closed under the queue's lock and
    left in it: taken out and put back, a call that found the queue empty meanwhile would open
    a connection of its own, and the pool would find no room for it when the call ends."""
    if idle is None:
        return
    with idle.mutex:
        for connection in idle.queue:  # the deque (a LifoQueue: list) behind the queue
            if connection is not None:
                connection.close()


@functools.cache
def _adapter_class() -> type[requests.adapters.HTTPAdapter]:
    """The adapter class (built on first use: ``requests`` is imported only then)."""
    import requests.adapters
    import requests.exceptions
    import urllib3.exceptions
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.poolmanager import PoolManager

    class Live:
        """The connections a session opened (weakly held), to shut those under way on close."""

        def __init__(self) -> None:
            self._lock = threading.Lock()
            self._connections: weakref.WeakSet[Any] = weakref.WeakSet()

        def add(self, connection: Any) -> None:
            with self._lock:
                self._connections.add(connection)

        def shut(self) -> None:
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                sock = getattr(connection, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    class TrackedPool(HTTPConnectionPool):
        live: Live | None = None

        def _new_conn(self) -> BaseHTTPConnection:
            connection = super()._new_conn()
            if self.live is not None:
                self.live.add(connection)
            return connection

    class TrackedHttpsPool(HTTPSConnectionPool):
        live: Live | None = None

        def _new_conn(self) -> BaseHTTPSConnection:
            connection = super()._new_conn()
            if self.live is not None:
                self.live.add(connection)
            return connection

    class TrackingPoolManager(PoolManager):
        def __init__(self, live: Live, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.live = live
            self.pool_classes_by_scheme = {"http": TrackedPool, "https": TrackedHttpsPool}

        def _new_pool(self, scheme: str, host: str, port: int,
                      request_context: dict[str, Any] | None = None) -> HTTPConnectionPool:
            pool = super()._new_pool(scheme, host, port, request_context)
            if isinstance(pool, TrackedPool | TrackedHttpsPool):
                pool.live = self.live
            return pool

    class DeadlineAdapter(requests.adapters.HTTPAdapter):
        """See :func:`fit_session`."""

        def __init__(self, **kwargs: Any) -> None:
            self.live = Live()
            super().__init__(**kwargs)

        def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                             **pool_kwargs: Any) -> None:
            self._pool_connections = connections
            self._pool_maxsize = maxsize
            self._pool_block = block
            self.poolmanager = TrackingPoolManager(self.live, num_pools=connections, maxsize=maxsize,
                                                   block=block, **pool_kwargs)

        def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
                 verify: Any = True, cert: Any = None, proxies: dict[str, str] | None = None
                 ) -> requests.Response:
            deadline = current_deadline()
            if deadline is None:
                return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                    proxies=proxies)
            if deadline.passed():
                raise _deadline_error()
            read_timeout = _capped(timeout, math.inf)[1]
            try:
                response = super().send(request, stream=stream, timeout=_capped(timeout, deadline.left()),
                                        verify=verify, cert=cert, proxies=proxies)
            except requests.exceptions.RequestException as exc:
                if deadline.passed():
                    raise _deadline_error() from exc
                raise
            if not stream:
                self._read_body(response, deadline, read_timeout)
            return response

        @staticmethod
        def _read_body(response: requests.Response, deadline: Deadline, read_timeout: float | None) -> None:
            """Read the body piece by piece (at most one socket read each), each read's timeout capped
            at the time left; past the deadline the connection is closed and the call cut."""
            raw = response.raw
            pieces: list[bytes] = []
            try:
                while True:
                    left = deadline.left()
                    if left <= 0:
                        raise _deadline_error()
                    # the connection goes back to its pool (and may close) with the body's end
                    sock = getattr(raw.connection, "sock", None)
                    if sock is not None:
                        sock.settimeout(left if read_timeout is None else min(read_timeout, left))
                    piece = raw.read1(65536, decode_content=True)
                    if not piece:
                        break
                    pieces.append(piece)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                response.close()
                if deadline.passed():
                    raise _deadline_error() from exc
                if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
                    raise requests.exceptions.ReadTimeout(exc, request=response.request) from exc
                raise requests.exceptions.ConnectionError(exc, request=response.request) from exc
            except BackendTimeoutError:
                response.close()
                raise
            response._content = b"".join(pieces)
            response._content_consumed = True

        def close(self) -> None:
            self.live.shut()
            super().close()

    return DeadlineAdapter
