"""Mocked cloud endpoints: real loopback HTTP servers, one platform each.

A platform (OpenStack, Cloud Director…) subclasses :class:`MockPlatform`: it keeps its state on
the instance, answers requests in :meth:`MockPlatform.dispatch` (through a routing table of
:mod:`cloudcat.testing.routing`) and says, in :meth:`MockPlatform.backend`, how cloudcat's
driver reaches it. The bundled platforms are packages laid out as moto lays out a service:
``state`` (fixtures, state and rules), ``responses`` (wire format), ``urls`` (routing table).
:class:`MockServer` runs it on 127.0.0.1 in a thread (werkzeug's threaded WSGI server, with
persistent HTTP/1.1 connections: :mod:`cloudcat.testing.serving`) and adds what every platform
shares:

* faults on demand, in two kinds: random ones (:class:`Faults`: latency, a fraction of 503s,
  429s with ``Retry-After``, malformed bodies; token lifetime and page size are honoured by the
  platforms themselves) and a fault *plan* (:mod:`cloudcat.testing.faults`: "the next 2 GETs of
  the flavors list answer 429 with ``Retry-After: 1``", connection resets, hangs), plus "expire
  every token now", all driven from Python through :class:`FaultControl` (``m.faults``);
* control endpoints: ``GET /_cloudcat/state``, ``POST /_cloudcat/reset``, ``GET``/``POST``/``DELETE
  /_cloudcat/faults``, ``POST /_cloudcat/expire-tokens``, ``GET /_cloudcat/requests``;
* a request log (:class:`RequestRecord`), for tests that count what a client asked.

A platform renders injected faults in its own error format by overriding
:meth:`MockPlatform.fault_response`, and expires its tokens by overriding
:meth:`MockPlatform.expire_tokens`. Platforms register under the ``cloudcat.mocks`` entry-point
group; :func:`mock` starts one by name.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import http
import ipaddress
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from ..errors import ConfigError
from .faults import FaultAction, FaultPlan, FaultRule, parse_rule, retry_after_header, validation_message
from .serving import ABORT, CONNECTION, TRICKLE, ConnectionRegistry, client_gone, handler_for

__all__ = [
    "FaultControl",
    "FaultRule",
    "Faults",
    "MockHandle",
    "MockPlatform",
    "MockServer",
    "RequestRecord",
    "json_response",
    "load_fixture_file",
    "mock",
    "start_mock",
]

log = logging.getLogger("cloudcat.mock")
CONTROL_PREFIX = "/_cloudcat/"
#: The request each server thread is answering (see MockPlatform.current_request).
_CURRENT = threading.local()


class Faults(BaseModel):
    """Faults a mock injects. Rates are fractions of requests (0 to 1), drawn from a seeded RNG."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, le=60_000, description="Delay before each answer.")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Fraction answered 503.")
    throttle_rate: float = Field(default=0.0, ge=0, le=1, description="Fraction answered 429.")
    retry_after: int = Field(default=1, ge=0, description="Retry-After seconds on 429s (whole seconds: "
                                                          "HTTP's delay-seconds is an integer).")
    retry_after_date: bool = Field(default=False, description="Send Retry-After as an HTTP date instead.")
    malformed_rate: float = Field(default=0.0, ge=0, le=1, description="Fraction with a broken body.")
    token_ttl: float | None = Field(default=None, gt=0, description="Seconds a token lives.")
    page_limit: int | None = Field(default=None, ge=1, description="Largest page served.")
    fail_auth: bool = Field(default=False, description="Refuse every login.")
    seed: int | None = Field(default=None, description="Seed for the fault RNG (repeatable runs).")


@dataclass
class RequestRecord:
    """One request the mock received.

    ``status`` is 0 when no answer was sent (a ``reset`` or ``hang`` fault); ``fault`` names the
    injected fault (``"429"``, ``"503"``, ``"reset"``, ``"hang"``, ``"malformed"``,
    ``"token-expired"``, ``"trickle"``), ``None`` for the platform's own answer; ``client`` is the client's
    ``host:port``, one per connection (two requests with the same ``client`` shared a connection).
    """

    method: str
    path: str
    query: str
    status: int
    fault: str | None = None
    client: str = ""


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with the given status."""
    return Response(json.dumps(data), status=status, headers=dict(headers or {}),
                    content_type="application/json")


def load_fixture_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON fixture file; errors name the file."""
    from ..yamlfile import read_text

    p = Path(path)
    text = read_text(p, what="fixture")  # bounded, UTF-8 (or a clear error naming the file)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML/JSON: {getattr(exc, 'problem', exc)}", source=str(p),
                          line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise ConfigError("a fixture must be a mapping at top level", source=str(p))
    return data


class MockPlatform(abc.ABC):
    """State and wire format of one mocked platform.

    ``fixture`` is a mapping, a path to a YAML/JSON file, or the name of a bundled fixture
    (a key of :attr:`fixtures`). State lives on the instance: two mocks never share it.
    """

    #: Registered name (``cloudcat mock serve NAME``).
    name: ClassVar[str] = ""
    #: Bundled fixtures by name; the first is the default.
    fixtures: ClassVar[dict[str, Path]] = {}

    def __init__(self, fixture: str | Path | Mapping[str, Any] | None = None, *,
                 faults: Faults | None = None, regions: int | None = None) -> None:
        self.faults = faults or Faults()
        self.regions_override = regions
        self.fixture = self._resolve_fixture(fixture)
        self.lock = threading.RLock()
        self.base_url = ""
        self.reset()

    def _resolve_fixture(self, fixture: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
        if isinstance(fixture, Mapping):
            return dict(fixture)
        if fixture is None:
            if not self.fixtures:
                return {}
            fixture = next(iter(self.fixtures))
        if isinstance(fixture, str) and fixture in self.fixtures:
            return load_fixture_file(self.fixtures[fixture])
        if not Path(fixture).exists():
            bundled = ", ".join(self.fixtures) or "none"
            raise ConfigError(f"no such fixture file, and no bundled {self.name} fixture by that name "
                              f"(bundled: {bundled})", source=str(fixture))
        return load_fixture_file(fixture)

    @abc.abstractmethod
    def reset(self) -> None:
        """(Re)build the state from :attr:`fixture`. Called at start and by ``/_cloudcat/reset``."""

    @abc.abstractmethod
    def dispatch(self, request: Request) -> Response:
        """Answer one request (faults already applied by the server)."""

    @abc.abstractmethod
    def backend(self) -> dict[str, Any]:
        """A ready-to-use backend entry for cloudcat's config: ``{"driver": …, "options": {…}}``."""

    def state(self) -> dict[str, Any]:
        """What ``GET /_cloudcat/state`` returns besides the request counters."""
        return {}

    def ssl_context(self) -> Any:
        """What the server hands werkzeug as ``ssl_context`` when it serves TLS: ``"adhoc"`` (a
        throwaway certificate nobody can verify) by default. A platform whose clients verify
        certificates returns an :class:`ssl.SSLContext` with its own, and a CA bundle in its backend."""
        return "adhoc"

    def malform(self, response: Response) -> Response:
        """Break a body the way a proxy or a buggy server would (cut in the middle)."""
        body = response.get_data()
        response.set_data(body[: max(1, len(body) // 2)])
        return response

    # -- hooks for the shared faults -------------------------------------------------------------
    #: Request headers that carry a token or a session id. When :meth:`expire_tokens` is not
    #: overridden, the server refuses the values it has seen in them (``Basic`` credentials excepted).
    credential_headers: ClassVar[tuple[str, ...]] = (
        "X-Auth-Token", "Authorization", "x-vcloud-authorization", "vmware-api-session-id")

    @staticmethod
    def current_request() -> Request | None:
        """The request being answered in this thread (for hooks such as :meth:`fault_response`,
        whose form may depend on the path or ``Accept``), or ``None`` outside a request."""
        request: Request | None = getattr(_CURRENT, "request", None)
        return request

    def fault_response(self, status: int, message: str, headers: Mapping[str, str]) -> Response:
        """The answer of an injected HTTP fault (429, 503, 401 for an expired token…).

        The default is a JSON error document, ``{"error": {"code", "title", "message"}}`` (the
        form of OpenStack's services). A platform whose clients parse errors overrides it to answer
        in its own form (an XML ``Error``, a SOAP fault, ARM's ``{"error": {"code", "message"}}``),
        reading :meth:`current_request` when the form depends on the request; it must keep
        ``status`` and ``headers`` (``Retry-After``).
        """
        title = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error"
        return json_response({"error": {"code": status, "title": title, "message": message}},
                             status=status, headers=headers)

    def expire_tokens(self) -> int | None:
        """Expire every token and session issued so far (``m.faults.expire_tokens()``); the next call
        with one is refused and the client must log in again. Called with :attr:`lock` held.

        Returns how many were expired, or ``None`` (the default) when the platform leaves it to the
        server: the server then refuses every credential it has seen in :attr:`credential_headers`
        with :meth:`fault_response` (401). A platform whose tokens are refused otherwise (a SOAP
        ``NotAuthenticated`` fault), or that issues tokens a client may hold unused, overrides this.
        """
        return None

    def client_settings(self) -> dict[str, Any]:
        """Connection settings in the form the platform's own clients take (a ``clouds.yaml`` entry,
        a client's constructor arguments…). The default is ``{"url": base_url}``; platforms override."""
        return {"url": self.base_url}

    def environment(self) -> dict[str, str]:
        """The environment variables the platform's clients and CLIs read to reach this mock
        (``OS_*``, ``GOVC_*``…). None by default; platforms override."""
        return {}


@dataclass
class _Counters:
    requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    log: list[RequestRecord] = field(default_factory=list)


#: The random faults :meth:`FaultControl.clear` turns off (the rest shape the platform: token
#: lifetime, page size, the RNG's seed).
_RANDOM_FAULTS = {"latency_ms": 0.0, "error_rate": 0.0, "throttle_rate": 0.0, "malformed_rate": 0.0,
                  "fail_auth": False}


class FaultControl:
    """Faults of a running mock, from Python: ``m.faults`` of a :class:`MockHandle`.

    ::

        m.faults.plan(method="GET", path="/compute/v2.1/flavors/detail", status=429, times=2, retry_after=1)
        m.faults.plan("POST /v3/auth/tokens reset")      # the text form of `cloudcat mock serve --fault`
        m.faults.expire_tokens()                        # every token issued so far is refused
        m.faults.set(latency_ms=50)                      # random faults (fields of Faults)
        m.faults.clear()                                 # no plan, no random faults
    """

    def __init__(self, server: MockServer) -> None:
        self._server = server

    @property
    def settings(self) -> Faults:
        """The random faults and platform settings in force."""
        return self._server.platform.faults

    def set(self, **changes: Any) -> Faults:
        """Change random faults and settings (fields of :class:`Faults`) while serving."""
        self._server.set_faults(**changes)
        return self.settings

    def plan(self, rule: str | FaultRule | None = None, /, *, method: str = "*", path: str = "*",
             status: int = 503, action: FaultAction = "status", times: int | None = 1, skip: int = 0,
             retry_after: int | None = None, retry_after_date: bool = False, hang_s: float = 30.0,
             message: str | None = None) -> FaultRule:
        """Add a rule to the fault plan and return it: a :class:`FaultRule`, its text form, or its
        fields as keywords. Rules fire in the order they were added; see :mod:`cloudcat.testing.faults`."""
        if rule is None:
            rule = FaultRule(method=method, path=path, status=status, action=action, times=times, skip=skip,
                             retry_after=retry_after, retry_after_date=retry_after_date, hang_s=hang_s,
                             message=message)
        return self._server.fault_plan.add(parse_rule(rule))

    def rules(self) -> list[dict[str, Any]]:
        """The plan's rules, each with ``fired`` and ``left`` (``None``: fires until cleared)."""
        return self._server.fault_plan.describe()

    def pending(self) -> bool:
        """Whether a rule of the plan can still fire."""
        return self._server.fault_plan.pending()

    def expire_tokens(self) -> int:
        """Expire every token and session issued so far: the next call with one is refused (401, or
        the platform's own refusal) and the client logs in again. Returns how many were expired."""
        return self._server.expire_tokens()

    def clear(self) -> None:
        """Drop the plan and turn the random faults off (latency, error, throttle and malformed
        rates, refused logins). Expired tokens stay expired; token lifetime and page size stay."""
        self._server.fault_plan.clear()
        self._server.set_faults(**_RANDOM_FAULTS)


class MockServer:
    """Serve a :class:`MockPlatform` on loopback in a background thread.

    Refuses any host that is not a loopback address unless ``allow_remote=True``.
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    LOG_LIMIT = 10_000

    def __init__(self, platform: MockPlatform, *, host: str = "127.0.0.1", port: int = 0,
                 tls: bool = False, allow_remote: bool = False,
                 fault_plan: Iterable[str | FaultRule] = ()) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ConfigError(f"refusing to bind mock to {host!r}: only loopback addresses are "
                              "allowed unless explicitly asked (--allow-remote, or allow_remote=True)", field="host")
        self.platform = platform
        self.host = host
        self.port = port
        self.tls = tls
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._connections = ConnectionRegistry()
        self._stopping = threading.Event()
        self._counters = _Counters()
        self._initial_faults = platform.faults.model_copy()
        self._initial_plan = [parse_rule(rule) for rule in fault_plan]
        self.fault_plan = FaultPlan()
        for rule in self._initial_plan:
            self.fault_plan.add(rule)
        #: Faults of this server from Python (plan, token expiry, random faults).
        self.faults = FaultControl(self)
        self._seen_credentials: set[str] = set()
        self._revoked: set[str] = set()
        self._rng = random.Random(platform.faults.seed)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError("mock server is not started")
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._server.server_port}"

    def start(self) -> MockServer:
        """Bind and serve in a daemon thread."""
        ssl_context: Any = self.platform.ssl_context() if self.tls else None
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._stopping.clear()
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True, ssl_context=ssl_context,
                                   request_handler=handler_for(self._connections))
        self._server.daemon_threads = True  # type: ignore[attr-defined]  # ThreadedWSGIServer
        self.platform.base_url = self.url
        # a short poll interval: stop() waits for one poll, and tests stop many mocks
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mock-{self.platform.name}", daemon=True)
        self._thread.start()
        log.info("mock %s serving on %s", self.platform.name, self.url)
        return self

    def stop(self) -> None:
        """Stop serving: end held requests (hangs, latency), close kept-alive connections and the socket."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._connections.close_all()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control from Python -------------------------------------------------------------------
    def requests(self) -> list[RequestRecord]:
        """Requests received so far (most recent last)."""
        with self._lock:
            return list(self._counters.log)

    def set_faults(self, **changes: Any) -> None:
        """Change random faults (fields of :class:`Faults`) while serving."""
        self.platform.faults = self.platform.faults.model_copy(
            update=Faults.model_validate({**self.platform.faults.model_dump(), **changes}).model_dump())
        if "seed" in changes:
            self._rng = random.Random(changes["seed"])

    def expire_tokens(self) -> int:
        """Expire every token issued so far (see :meth:`MockPlatform.expire_tokens`); how many."""
        with self.platform.lock:
            expired = self.platform.expire_tokens()
        if expired is not None:
            return expired
        with self._lock:
            expired = len(self._seen_credentials)
            self._revoked |= self._seen_credentials
            self._seen_credentials = set()
        return expired

    def reset(self) -> None:
        """Back to the start: the platform's state, the faults and plan it started with, no log."""
        with self.platform.lock:
            self.platform.faults = self._initial_faults.model_copy()
            self.platform.reset()
        self.fault_plan.clear()
        for rule in self._initial_plan:
            self.fault_plan.add(rule)
        with self._lock:
            self._counters = _Counters()
            self._seen_credentials = set()
            self._revoked = set()

    # -- control endpoints ---------------------------------------------------------------------
    def _control(self, request: Request) -> Response:
        action = request.path[len(CONTROL_PREFIX):].strip("/")
        handlers: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "state"): self._show_state,
            ("POST", "reset"): self._reset_endpoint,
            ("GET", "faults"): self._show_faults,
            ("POST", "faults"): self._change_faults,
            ("DELETE", "faults"): self._clear_faults,
            ("POST", "expire-tokens"): self._expire_endpoint,
            ("GET", "requests"): self._show_requests,
        }
        handler = handlers.get((request.method, action))
        if handler is None:
            return json_response({"error": f"unknown control endpoint {request.method} {request.path}"}, status=404)
        return handler(request)

    def _show_state(self, request: Request) -> Response:
        with self._lock:
            counters = {"requests": self._counters.requests, "faults": dict(self._counters.faults)}
        return json_response({"platform": self.platform.name, **counters,
                              "fault_settings": self.platform.faults.model_dump(),
                              "fault_plan": self.fault_plan.describe(), **self.platform.state()})

    def _reset_endpoint(self, request: Request) -> Response:
        self.reset()
        return json_response({"reset": True})

    def _show_faults(self, request: Request) -> Response:
        return json_response({**self.platform.faults.model_dump(), "plan": self.fault_plan.describe()})

    def _change_faults(self, request: Request) -> Response:
        """``POST /_cloudcat/faults``: a JSON object of :class:`Faults` fields and/or ``plan`` (a list
        of rules, as objects or text), or just a list of rules. Nothing changes when one is wrong."""
        try:
            body = json.loads(request.get_data() or b"{}") or {}
            if isinstance(body, list):
                body = {"plan": body}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object or a list of rules")
            rules = [parse_rule(rule) for rule in body.pop("plan", None) or []]
            Faults.model_validate({**self.platform.faults.model_dump(), **body})
        except ValidationError as exc:
            return json_response({"error": validation_message(exc)}, status=400)
        except ValueError as exc:  # a bad control request is the caller's error (JSON errors included)
            return json_response({"error": str(exc)}, status=400)
        self.set_faults(**body)
        for rule in rules:
            self.fault_plan.add(rule)
        return self._show_faults(request)

    def _clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return self._show_faults(request)

    def _expire_endpoint(self, request: Request) -> Response:
        return json_response({"expired": self.expire_tokens()})

    def _show_requests(self, request: Request) -> Response:
        return json_response([dataclasses.asdict(r) for r in self.requests()])

    # -- request handling ----------------------------------------------------------------------
    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def _record(self, request: Request, status: int, fault: str | None) -> None:
        client = f"{request.environ.get('REMOTE_ADDR', '')}:{request.environ.get('REMOTE_PORT', '')}"
        with self._lock:
            c = self._counters
            c.requests += 1
            if fault:
                c.faults[fault] = c.faults.get(fault, 0) + 1
            if len(c.log) < self.LOG_LIMIT:
                c.log.append(RequestRecord(request.method, request.path,
                                           request.query_string.decode("latin-1"), status, fault, client))

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        _CURRENT.request = request
        try:
            return self._serve(request, start_response)
        finally:
            _CURRENT.request = None

    def _serve(self, request: Request, start_response: Any) -> Any:
        environ = request.environ
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)(environ, start_response)
        if self.platform.faults.latency_ms:
            self._stopping.wait(self.platform.faults.latency_ms / 1000)
        fault, response = self._injected(request)
        if response is None and fault is None:
            fault, response = self._answer(request)
        self._record(request, response.status_code if response is not None else 0, fault)
        if response is None:
            return []  # the connection is dropped: see ABORT
        return response(environ, start_response)

    def _answer(self, request: Request) -> tuple[str | None, Response]:
        """The platform's answer, cut in half by the random ``malformed_rate``."""
        response = self._dispatch(request)
        rate = self.platform.faults.malformed_rate
        if rate and response.status_code < 300 and self._draw() < rate:
            return "malformed", self.platform.malform(response)
        return None, response

    def _dispatch(self, request: Request) -> Response:
        try:
            return self.platform.dispatch(request)
        except Exception:
            log.exception("mock %s failed on %s %s", self.platform.name, request.method, request.path)
            return json_response({"error": {"code": 500, "message": "mock internal error"}}, status=500)

    def _injected(self, request: Request) -> tuple[str | None, Response | None]:
        """The fault this request gets instead of the platform's answer: the plan's, an expired
        token's, then a random one. ``(None, None)`` when none; ``(fault, None)`` drops the connection."""
        rule = self.fault_plan.take(request.method, request.path)
        if rule is not None:
            return rule.label(), self._planned(request, rule)
        if self._expired_credential(request):
            return "token-expired", self.platform.fault_response(
                401, "The request you have made requires authentication (token expired).", {})
        faults = self.platform.faults
        if faults.error_rate and self._draw() < faults.error_rate:
            return "503", self._status_fault(503, None, None, faults.retry_after_date)
        if faults.throttle_rate and self._draw() < faults.throttle_rate:
            return "429", self._status_fault(429, None, faults.retry_after, faults.retry_after_date)
        return None, None

    def _planned(self, request: Request, rule: FaultRule) -> Response | None:
        if rule.action == "reset":
            request.environ[ABORT] = "reset"
            return None
        if rule.action == "hang":
            # the request's body is read first: bytes of it left unread would look like a client
            # that sent something more, which ends a hang (a POST's hang then ended at once)
            request.get_data()
            self._hang(request.environ, rule.hang_s)
            request.environ[ABORT] = "close"
            return None
        if rule.action == "trickle":
            request.environ[TRICKLE] = (rule.trickle_ms / 1000, self._stopping)
            return self._dispatch(request)
        if rule.action == "malformed":
            return self.platform.malform(self._dispatch(request))
        return self._status_fault(rule.status, rule.message, rule.retry_after, rule.retry_after_date)

    def _status_fault(self, status: int, message: str | None, retry_after: int | None,
                      as_date: bool) -> Response:
        headers = {} if retry_after is None else {"Retry-After": retry_after_header(retry_after, as_date=as_date)}
        phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error"
        return self.platform.fault_response(status, message or f"{phrase} (injected)", headers)

    def _hang(self, environ: dict[str, Any], seconds: float) -> None:
        """Hold a request until the client gives up, the server stops, or ``seconds`` pass."""
        conn = environ.get(CONNECTION)
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set() and not client_gone(conn):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._stopping.wait(min(0.05, left))

    def _expired_credential(self, request: Request) -> bool:
        values = {value for name in self.platform.credential_headers
                  if (value := request.headers.get(name)) and not value.lower().startswith("basic ")}
        if not values:
            return False
        with self._lock:
            if values & self._revoked:
                return True
            self._seen_credentials |= values
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class MockHandle:
    """A running mock: its URL, a ready backend entry, the platform state and the server."""

    url: str
    backend: dict[str, Any]
    platform: MockPlatform
    server: MockServer

    def stop(self) -> None:
        """Stop the server (for mocks started with :func:`start_mock`)."""
        self.server.stop()

    def first_line(self) -> dict[str, Any]:
        """The JSON object ``cloudcat mock serve`` prints first."""
        return {"url": self.url, "platform": self.platform.name, "backend": self.backend,
                "control": self.url + CONTROL_PREFIX}

    @property
    def faults(self) -> FaultControl:
        """The mock's faults: ``m.faults.plan(...)``, ``m.faults.expire_tokens()``, ``m.faults.clear()``."""
        return self.server.faults

    @property
    def requests(self) -> list[RequestRecord]:
        """Requests received so far, most recent last (a copy)."""
        return self.server.requests()

    def client_settings(self) -> dict[str, Any]:
        """Connection settings in the platform's own clients' form (:meth:`MockPlatform.client_settings`)."""
        return self.platform.client_settings()

    def environment(self) -> dict[str, str]:
        """Environment variables for the platform's clients (:meth:`MockPlatform.environment`)."""
        return self.platform.environment()


def start_mock(name: str | type[MockPlatform], fixture: str | Path | Mapping[str, Any] | None = None, *,
               host: str = "127.0.0.1", port: int = 0, tls: bool | None = None, regions: int | None = None,
               allow_remote: bool = False, fault_plan: Iterable[str | FaultRule] = (),
               **faults: Any) -> MockHandle:
    """Start a mocked platform and return its handle; call ``handle.stop()`` when done.
    Same arguments as :func:`mock`, which is the context-manager form."""
    if isinstance(name, str):
        from ..registry import load_mock

        cls: type[MockPlatform] = load_mock(name)
    else:
        cls = name
    platform = cls(fixture, faults=Faults(**faults), regions=regions)
    use_tls = getattr(cls, "tls", False) if tls is None else tls
    server = MockServer(platform, host=host, port=port, tls=use_tls, allow_remote=allow_remote,
                        fault_plan=fault_plan).start()
    return MockHandle(url=server.url, backend=platform.backend(), platform=platform, server=server)


@contextlib.contextmanager
def mock(name: str | type[MockPlatform], fixture: str | Path | Mapping[str, Any] | None = None, *,
         host: str = "127.0.0.1", port: int = 0, tls: bool | None = None, regions: int | None = None,
         allow_remote: bool = False, fault_plan: Iterable[str | FaultRule] = (),
         **faults: Any) -> Iterator[MockHandle]:
    """Start a mocked platform by registered name (or class) and yield a :class:`MockHandle`.

    ``fault_plan`` is a list of rules (:class:`FaultRule`, or their text form) the mock starts
    with, and comes back to on reset. Keyword arguments beyond the named ones are :class:`Faults`
    fields (``latency_ms=100``, ``error_rate=0.1``, ``page_limit=1``, ``token_ttl=2``…)::

        with cloudcat.testing.mock("static") as m:
            catalog = cloudcat.open_catalog({"backends": {"b": m.backend}, ...})
    """
    handle = start_mock(name, fixture, host=host, port=port, tls=tls, regions=regions, allow_remote=allow_remote,
                        fault_plan=fault_plan, **faults)
    try:
        yield handle
    finally:
        handle.stop()
