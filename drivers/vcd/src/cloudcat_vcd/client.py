"""A small Cloud Director REST client: version negotiation, login, paging, errors and retries.

It speaks the two APIs a tenant reads its catalog through:

* the legacy API under ``/api`` (``/api/versions``, ``/api/query``, ``/api/vdc/{id}``), XML or JSON
  by ``Accept: application/*+json;version=X``;
* the OpenAPI under ``/cloudapi`` (sessions, compute policies, networks), JSON.

A listing asks for ``page_size`` records a page (128, the most either API serves); once the first
page tells how many there are, the others are read side by side (``max_parallel`` at a time, on
the side threads a refresh shares) and handed out in order, so a long listing costs two round
trips, not one per page.

Every failure becomes a :mod:`cloudcat.errors` type (:func:`cloudcat.http.error_for_status`) with
the endpoint in its message and the original exception as ``__cause__``. 429s (``Retry-After``
honoured up to ``max_retry_after``), 5xx, refused connections and malformed bodies are retried by
the options' :class:`cloudcat.http.RetryPolicy`; an expired session is renewed once per request.
Secrets (password, API token, bearer tokens) never reach a message or a log line.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import re
import ssl
import threading
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import certifi
import httpx

from cloudcat.driver import concurrently
from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    UnavailableError,
    redact,
)
from cloudcat.http import HttpOptions, error_for_status, parse_retry_after, time_left

from .versions import ApiVersion, NoCommonVersion, choose_version, parse_versions

__all__ = ["MAX_PAGES", "Credentials", "VcdClient"]

log = logging.getLogger("cloudcat.drivers.vcd")

#: A listing with more pages than this is treated as a broken server, not followed forever.
MAX_PAGES = 10_000
_INT = re.compile(r"^-?\d+$")


class _RedactingFilter(logging.Filter):
    """Removes the secrets of live clients from records of the HTTP libraries' loggers.

    httpcore logs response headers at DEBUG level, the access token among them. The filter runs
    in whichever thread logs, possibly while that thread holds a client's lock (a login in
    progress): so it takes no client's lock, only reads each client's secrets snapshot
    (:meth:`VcdClient.secrets` is lock-free), which keeps two clients from waiting on each other.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clients: weakref.WeakSet[VcdClient] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # a token header is logged before the client has read it, so it is known by its name
        cleaned = _TOKEN_HEADER.sub(r"\1***", message)
        cleaned = redact(cleaned, [s for client in list(self.clients) for s in client.secrets()])
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_TOKEN_HEADER = re.compile(
    r"""((?:x-vmware-vcloud-access-token|x-vcloud-authorization|authorization)['"]?\s*[,:=]\s*(?:b?['"])?)"""
    r"""(?:(?:bearer|basic)\s+)?[^'"\s,)]+""", re.IGNORECASE)


_FILTER = _RedactingFilter()
for _name in ("httpx", "httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy"):
    logging.getLogger(_name).addFilter(_FILTER)


@dataclass(frozen=True)
class Credentials:
    """How to log in: a user and password, or an API (refresh) token."""

    org: str
    username: str | None = None
    password: str | None = None
    api_token: str | None = None

    def secrets(self) -> list[str]:
        """The secret values."""
        return [s for s in (self.password, self.api_token) if s]


class _Expired(Exception):
    """The server refused the bearer token (HTTP 401) on a request that needs a session."""

    def __init__(self, token: str | None) -> None:
        super().__init__("session expired")
        self.token = token


class VcdClient:
    """Thread-safe client for one Cloud Director org. Created lazily by the driver."""

    def __init__(self, url: str, credentials: Credentials, *, backend: str, http: HttpOptions | None = None,
                 api_version: str | None = None, page_size: int = 128, max_parallel: int = 8,
                 redact: Callable[[str], str] = lambda text: text) -> None:
        http = http or HttpOptions()
        self.url = url.rstrip("/")
        self.credentials = credentials
        self.backend = backend
        self.pinned = api_version
        self.retry = http.retry_policy()
        self.page_size = page_size
        self.max_parallel = max(1, max_parallel)
        self._redact = redact
        self._timeout = httpx.Timeout(http.timeout, connect=http.connect_timeout or http.timeout)
        self._http = httpx.Client(base_url=self.url, verify=_tls(http.ssl_verify()), timeout=self._timeout)
        self._lock = threading.RLock()
        self._version: ApiVersion | None = None
        self._token: str | None = None
        self._session: dict[str, Any] | None = None
        # secrets are read by the log filter from any thread: an immutable tuple swapped under its own
        # small lock, never under self._lock (see _RedactingFilter)
        self._secrets_lock = threading.Lock()
        self._issued: tuple[str, ...] = ()
        _FILTER.clients.add(self)

    # -- secrets ------------------------------------------------------------------------------
    def secrets(self) -> list[str]:
        """Credentials and every bearer token issued to this client (lock-free: a snapshot)."""
        return [*self.credentials.secrets(), *self._issued]

    def _remember(self, token: str) -> None:
        with self._secrets_lock:
            if token not in self._issued:
                self._issued = (*self._issued, token)

    def redact(self, text: str) -> str:
        """``text`` with every secret of this client removed."""
        return redact(self._redact(text), self.secrets())

    # -- version and session ------------------------------------------------------------------
    @property
    def version(self) -> ApiVersion:
        """The negotiated API version (negotiated on first use)."""
        with self._lock:
            if self._version is None:
                self._version = self._negotiate()
            return self._version

    def _negotiate(self) -> ApiVersion:
        def fetch() -> list[Any]:
            response = self._send("GET", "/api/versions", headers={"Accept": "application/*+xml"})
            try:
                return parse_versions(response.content)
            except (ET.ParseError, ValueError) as exc:
                raise UnavailableError(f"GET /api/versions: malformed SupportedVersions document ({exc})",
                                       backend=self.backend) from exc

        offered = self.retry.run(fetch)
        try:
            chosen = choose_version(offered, self.pinned)
        except NoCommonVersion as exc:
            raise BackendError(f"GET /api/versions: {exc}", backend=self.backend) from exc
        log.debug("%s: speaking Cloud Director API %s", self.backend, chosen)
        return chosen

    def _accept(self, kind: str = "application/*+json") -> str:
        return f"{kind};version={self.version}"

    def session_info(self) -> dict[str, Any]:
        """The current session (``org``, ``site``, ``roles``…), logging in when needed."""
        with self._lock:
            if self._session is None:
                self._session = self.get_json("/cloudapi/1.0.0/sessions/current")
            return self._session

    def _login(self, stale: str | None) -> str:
        """A bearer token; logs in again when the current one is ``stale`` (or missing)."""
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            creds = self.credentials
            _ = self.version  # negotiated first, so its own retries do not multiply with the login's
            login = self._login_api_token if creds.api_token else self._login_basic
            token: str = self.retry.run(login)
            self._token = token
            self._remember(token)
            return token

    def _login_basic(self) -> str:
        creds = self.credentials
        who = f"{creds.username}@{creds.org}"
        response = self._send("POST", "/cloudapi/1.0.0/sessions",
                              headers={"Accept": self._accept("application/json")},
                              basic=(who, creds.password or ""), what=f"login as {who}")
        token = str(response.headers.get("X-VMWARE-VCLOUD-ACCESS-TOKEN") or "")
        if not token:
            raise UnavailableError("POST /cloudapi/1.0.0/sessions: no X-VMWARE-VCLOUD-ACCESS-TOKEN header "
                                   "in the answer", backend=self.backend)
        self._remember(token)
        body = self._decode_json(response, "POST /cloudapi/1.0.0/sessions")
        self._session = body if isinstance(body, dict) else None
        return token

    def _login_api_token(self) -> str:
        org = self.credentials.org
        path = f"/oauth/tenant/{org}/token"
        response = self._send("POST", path, headers={"Accept": "application/json"},
                              data={"grant_type": "refresh_token",
                                    "refresh_token": self.credentials.api_token or ""},
                              what=f"API token login to org {org}")
        body = self._decode_json(response, f"POST {path}")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise UnavailableError(f"POST {path}: the answer has no access_token", backend=self.backend)
        self._remember(token)
        self._session = None
        return token

    def logout(self) -> None:
        """End the session (best effort) and close connections."""
        with self._lock:
            token, self._token = self._token, None
        if token is not None:
            with contextlib.suppress(httpx.HTTPError, BackendError):  # the session expires on its own
                self._http.delete("/cloudapi/1.0.0/sessions/current",
                                  headers={"Authorization": f"Bearer {token}", "Accept": self._accept()})
        self._http.close()

    def release_connections(self, *, idle: bool = False) -> None:
        """Close this client's connections; they reopen when next used, in the same session.
        With ``idle``, only those no request uses (a request about to take one opens another)."""
        for transport in (self._http._transport, *self._http._mounts.values()):
            pool = getattr(transport, "_pool", None)  # httpx's HTTPTransport over an httpcore pool
            if pool is None:
                continue
            if not idle:
                pool.close()
                continue
            for connection in list(pool.connections):
                if connection.is_idle():
                    connection.close()

    # -- requests -----------------------------------------------------------------------------
    def get_json(self, path: str, params: Mapping[str, Any] | None = None,
                 accept: str = "application/*+json") -> Any:
        """GET ``path`` and decode its JSON body."""
        what = f"GET {path}"
        return self._with_session(lambda token: self._decode_json(
            self._send("GET", path, params=params, token=token,
                       headers={"Accept": self._accept(accept)}), what))

    def get_xml(self, path: str, params: Mapping[str, Any] | None = None) -> ET.Element:
        """GET ``path`` and parse its XML body."""
        what = f"GET {path}"
        root: ET.Element = self._with_session(lambda token: self._decode_xml(
            self._send("GET", path, params=params, token=token,
                       headers={"Accept": self._accept("application/*+xml")}), what))
        return root

    def _with_session(self, call: Callable[[str], Any]) -> Any:
        """Run ``call`` with a bearer token; on a 401 log in again once and retry."""
        token = self._login(stale=None)
        try:
            return self.retry.run(lambda: call(token))
        except _Expired as expired:
            log.info("%s: session expired, logging in again", self.backend)
            fresh = self._login(stale=expired.token)
            try:
                return self.retry.run(lambda: call(fresh))
            except _Expired as again:
                raise AuthenticationError("the session was refused again right after a new login "
                                          "(HTTP 401)", backend=self.backend) from again

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None, token: str | None = None,
              basic: tuple[str, str] | None = None, data: Mapping[str, str] | None = None,
              what: str | None = None) -> httpx.Response:
        """One HTTP exchange, its failures mapped to cloudcat errors (401 → :class:`_Expired` when
        the request carried a session). Retries are the caller's."""
        what = what or f"{method} {path}"
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._exchange(method, path, params=params, headers=all_headers, basic=basic,
                                      data=data, what=what)
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"{what}: no answer within the timeout ({type(exc).__name__})",
                                      backend=self.backend) from exc
        except httpx.HTTPError as exc:
            raise UnavailableError(self.redact(f"{what}: {type(exc).__name__}: {exc}"),
                                   backend=self.backend) from exc
        log.debug("%s: %s %s -> %s", self.backend, method, self.redact(str(response.url.path)),
                  response.status_code)
        if response.status_code == 401 and token is not None:
            raise _Expired(token)
        if response.status_code >= 400:
            self._raise_for(response, what)
        return response

    def _exchange(self, method: str, path: str, *, params: Mapping[str, Any] | None,
                  headers: Mapping[str, str], basic: tuple[str, str] | None, data: Mapping[str, str] | None,
                  what: str) -> httpx.Response:
        """Send and read one answer within the backend's deadline (:func:`cloudcat.http.time_left`):
        each socket wait is capped at the time left and the body is read piece by piece, so a
        server trickling its answer is cut at the deadline."""
        left = time_left()
        if left is not None and left <= 0:
            raise BackendTimeoutError(f"{what}: the backend's deadline has passed", backend=self.backend)
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if left is not None:
            cap = self._timeout
            timeout = httpx.Timeout(min(cap.read or left, left), connect=min(cap.connect or left, left))
        request = self._http.build_request(method, path, params=dict(params or {}), headers=headers,
                                           data=data, timeout=timeout)
        response = self._http.send(request, auth=httpx.BasicAuth(*basic) if basic else None, stream=True)
        try:
            body = bytearray()
            for piece in response.iter_raw():
                body += piece
                if left is not None and time_left() == 0:
                    raise BackendTimeoutError(f"{what}: the answer was still coming at the backend's deadline",
                                              backend=self.backend)
        finally:
            response.close()
        return httpx.Response(response.status_code, headers=response.headers, content=bytes(body),
                              request=request, extensions=response.extensions)

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        detail = _error_detail(response)
        message = self.redact(f"{what}: HTTP {status}" + (f": {detail}" if detail else ""))
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            cause: Exception = exc
        else:  # pragma: no cover - raise_for_status raises for every status >= 400
            cause = RuntimeError(message)
        if status == 400 and "login" in what:  # Cloud Director answers a refused login 400 or 401
            raise AuthenticationError(message, backend=self.backend) from cause
        raise error_for_status(status, message, backend=self.backend,
                               retry_after=parse_retry_after(response.headers.get("Retry-After"))) from cause

    def _decode_json(self, response: httpx.Response, what: str) -> Any:
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise UnavailableError(f"{what}: malformed JSON answer ({exc})", backend=self.backend) from exc

    def _decode_xml(self, response: httpx.Response, what: str) -> ET.Element:
        try:
            return ET.fromstring(response.content)
        except ET.ParseError as exc:
            raise UnavailableError(f"{what}: malformed XML answer ({exc})", backend=self.backend) from exc

    # -- listings -----------------------------------------------------------------------------
    def openapi_list(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every value of an OpenAPI listing, all pages (``pageCount`` computed when missing)."""
        def page(number: int) -> tuple[list[dict[str, Any]], int]:
            body = self.get_json(path, {**(params or {}), "page": number, "pageSize": self.page_size},
                                 accept="application/json")
            values = body.get("values") if isinstance(body, dict) else None
            if not isinstance(values, list):
                raise UnavailableError(f"GET {path}: the answer has no 'values' list", backend=self.backend)
            count = 1
            if number == 1:
                count = self._page_count(path, body.get("pageCount"), body.get("resultTotal"),
                                         body.get("pageSize"), len(values))
            return [v for v in values if isinstance(v, dict)], count

        return self._pages(page)

    def query(self, kind: str, filter: str | None = None, fmt: str = "json") -> Iterator[dict[str, Any]]:
        """Every record of a typed query (``/api/query?type=…&format=records``), all pages.

        ``fmt`` picks the wire format (``json`` or ``xml``); records come back as dicts either way
        (XML attribute values converted to ``bool``/``int`` where they look like one).
        """
        def page(number: int) -> tuple[list[dict[str, Any]], int]:
            params: dict[str, Any] = {"type": kind, "format": "records", "page": number,
                                      "pageSize": self.page_size}
            if filter:
                params["filter"] = filter
            if fmt == "xml":
                root = self.get_xml("/api/query", params)
                records = [_xml_record(el) for el in root if el.tag.endswith("Record")]
                total, size = _as_int(root.get("total")), _as_int(root.get("pageSize"))
            else:
                body = self.get_json("/api/query", params)
                if not isinstance(body, dict) or not isinstance(body.get("record", []), list):
                    raise UnavailableError(f"GET /api/query?type={kind}: not a records container",
                                           backend=self.backend)
                records = [r for r in body.get("record") or [] if isinstance(r, dict)]
                total, size = _as_int(body.get("total")), _as_int(body.get("pageSize"))
            count = 1
            if number == 1:
                count = self._page_count(f"/api/query?type={kind}", None, total, size, len(records))
            return records, count

        return self._pages(page)

    def _pages(self, page: Callable[[int], tuple[list[dict[str, Any]], int]]) -> Iterator[dict[str, Any]]:
        """The records of every page: ``page(n)`` reads page ``n`` (and, for page 1, the page count).

        Pages after the first are read side by side, ``max_parallel`` at a time, on this thread
        and the side threads a refresh shares (:func:`cloudcat.driver.concurrently`), and handed
        out in order; an empty page ends the listing (a server that announced too many).
        """
        first, count = page(1)
        yield from first
        if not first or count < 2:
            return
        upcoming = iter(range(2, count + 1))
        while numbers := list(itertools.islice(upcoming, self.max_parallel)):
            for records, _ in concurrently(*(functools.partial(page, n) for n in numbers),
                                           at_most=self.max_parallel):
                if not records:
                    return
                yield from records

    def _page_count(self, what: str, page_count: Any, total: Any, size: Any, first: int) -> int:
        if isinstance(page_count, int) and page_count >= 0:
            count = page_count
        else:
            total_n, size_n = _as_int(total), _as_int(size) or first
            if total_n is None:
                return 1  # no paging information: the first page is all there is
            # integer arithmetic: a huge announced total must not overflow a float
            count = -(-total_n // size_n) if size_n and size_n > 0 else (0 if total_n == 0 else 1)
        if count > MAX_PAGES:
            raise UnavailableError(f"GET {what}: the server announces {count} pages (over {MAX_PAGES})",
                                   backend=self.backend)
        return count


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """The TLS context verifying against certifi's bundle, built once: loading the bundle takes
    a tenth of a second, and a context can be shared by clients and threads."""
    return ssl.create_default_context(cafile=certifi.where())


def _tls(verify: bool | ssl.SSLContext) -> bool | ssl.SSLContext:
    return _default_tls() if verify is True else verify


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value)
    return None


def _xml_record(el: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in el.attrib.items():
        if value in ("true", "false"):
            out[key] = value == "true"
        elif _INT.match(value):
            out[key] = int(value)
        else:
            out[key] = value
    return out


def _error_detail(response: httpx.Response) -> str:
    """The message of a Cloud Director error body (JSON or XML), else the start of the body."""
    text = response.text[:500]
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        if "message" in body or "minorErrorCode" in body:
            return f"{body.get('minorErrorCode', '')}: {body.get('message', '')}".strip(": ")
        if "error" in body:
            err = body["error"]
            if isinstance(err, dict):
                return str(err.get("message", err))
            return f"{err}: {body.get('error_description', '')}".strip(": ")
    try:
        root = ET.fromstring(response.content)
    except ET.ParseError:
        return " ".join(text.split())[:200]
    if root.tag.endswith("Error"):
        return f"{root.get('minorErrorCode', '')}: {root.get('message', '')}".strip(": ")
    return ""
