"""Mocked cloud endpoints: real loopback HTTP servers, one platform each.

A platform (OpenStack, Cloud Director…) subclasses :class:`MockPlatform`: it keeps its state on
the instance, answers requests in :meth:`MockPlatform.dispatch` (through a routing table of
:mod:`cloudcat.testing.routing`) and says, in :meth:`MockPlatform.backend`, how cloudcat's
driver reaches it. The bundled platforms are packages laid out as moto lays out a service:
``state`` (fixtures, state and rules), ``responses`` (wire format), ``urls`` (routing table).
:class:`MockServer` runs it on 127.0.0.1 in a thread (werkzeug's threaded WSGI server) and adds
what every platform shares:

* faults on demand (:class:`Faults`): latency, a fraction of 503s, 429s with ``Retry-After``,
  malformed bodies; token lifetime and page size are honoured by the platforms themselves;
* control endpoints: ``GET /_cloudcat/state``, ``POST /_cloudcat/reset``,
  ``POST /_cloudcat/faults`` (JSON body: fields of :class:`Faults` to change);
* a request log, for tests that assert what a client asked.

Platforms register under the ``cloudcat.mocks`` entry-point group; :func:`mock` starts one by name.
"""

from __future__ import annotations

import abc
import contextlib
import ipaddress
import json
import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from ..errors import ConfigError

__all__ = [
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


class Faults(BaseModel):
    """Faults a mock injects. Rates are fractions of requests (0 to 1), drawn from a seeded RNG."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, le=60_000, description="Delay before each answer.")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Fraction answered 503.")
    throttle_rate: float = Field(default=0.0, ge=0, le=1, description="Fraction answered 429.")
    retry_after: float = Field(default=1.0, ge=0, description="Retry-After seconds on 429s.")
    malformed_rate: float = Field(default=0.0, ge=0, le=1, description="Fraction with a broken body.")
    token_ttl: float | None = Field(default=None, gt=0, description="Seconds a token lives.")
    page_limit: int | None = Field(default=None, ge=1, description="Largest page served.")
    fail_auth: bool = Field(default=False, description="Refuse every login.")
    seed: int | None = Field(default=None, description="Seed for the fault RNG (repeatable runs).")


@dataclass
class RequestRecord:
    """One request the mock answered."""

    method: str
    path: str
    query: str
    status: int
    fault: str | None = None


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with the given status."""
    return Response(json.dumps(data), status=status, headers=dict(headers or {}),
                    content_type="application/json")


def load_fixture_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON fixture file; errors name the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read fixture: {exc.strerror}", source=str(p)) from None
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


@dataclass
class _Counters:
    requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    log: list[RequestRecord] = field(default_factory=list)


class MockServer:
    """Serve a :class:`MockPlatform` on loopback in a background thread.

    Refuses any host that is not a loopback address unless ``allow_remote=True``.
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    LOG_LIMIT = 10_000

    def __init__(self, platform: MockPlatform, *, host: str = "127.0.0.1", port: int = 0,
                 tls: bool = False, allow_remote: bool = False) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ConfigError(f"refusing to bind mock to {host!r}: only loopback addresses are "
                              "allowed unless explicitly asked (--allow-remote, or allow_remote=True)", field="host")
        self.platform = platform
        self.host = host
        self.port = port
        self.tls = tls
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._counters = _Counters()
        self._initial_faults = platform.faults.model_copy()
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
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True,
                                   ssl_context=ssl_context)
        self._server.daemon_threads = True  # type: ignore[attr-defined]  # ThreadedWSGIServer
        self.platform.base_url = self.url
        # a short poll interval: stop() waits for one poll, and tests stop many mocks
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mock-{self.platform.name}", daemon=True)
        self._thread.start()
        log.info("mock %s serving on %s", self.platform.name, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ----------------------------------------------------------------------
    def requests(self) -> list[RequestRecord]:
        """Requests answered so far (most recent last)."""
        with self._lock:
            return list(self._counters.log)

    def set_faults(self, **changes: Any) -> None:
        """Change faults while serving."""
        self.platform.faults = self.platform.faults.model_copy(
            update=Faults.model_validate({**self.platform.faults.model_dump(), **changes}).model_dump())
        if "seed" in changes:
            self._rng = random.Random(changes["seed"])

    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def _record(self, request: Request, status: int, fault: str | None) -> None:
        with self._lock:
            c = self._counters
            c.requests += 1
            if fault:
                c.faults[fault] = c.faults.get(fault, 0) + 1
            if len(c.log) < self.LOG_LIMIT:
                c.log.append(RequestRecord(request.method, request.path,
                                           request.query_string.decode("latin-1"), status, fault))

    def _control(self, request: Request) -> Response:
        action = request.path[len(CONTROL_PREFIX):].strip("/")
        if action == "state" and request.method == "GET":
            with self._lock:
                counters = {"requests": self._counters.requests, "faults": dict(self._counters.faults)}
            return json_response({"platform": self.platform.name, **counters,
                                  "fault_settings": self.platform.faults.model_dump(),
                                  **self.platform.state()})
        if action == "reset" and request.method == "POST":
            with self.platform.lock:
                self.platform.faults = self._initial_faults.model_copy()  # the faults it was started with
                self.platform.reset()
            with self._lock:
                self._counters = _Counters()
            return json_response({"reset": True})
        if action == "faults" and request.method == "POST":
            try:
                self.set_faults(**(request.get_json(force=True) or {}))
            except Exception as exc:  # a bad control request is the caller's error
                return json_response({"error": str(exc)}, status=400)
            return json_response(self.platform.faults.model_dump())
        return json_response({"error": f"unknown control endpoint {request.path}"}, status=404)

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX):
            response = self._control(request)
            return response(environ, start_response)
        faults = self.platform.faults
        fault: str | None = None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if faults.error_rate and self._draw() < faults.error_rate:
            fault = "503"
            response = json_response({"error": {"code": 503, "message": "Service Unavailable (injected)"}},
                                     status=503)
        elif faults.throttle_rate and self._draw() < faults.throttle_rate:
            fault = "429"
            response = json_response({"error": {"code": 429, "message": "Too Many Requests (injected)"}},
                                     status=429, headers={"Retry-After": _seconds(faults.retry_after)})
        else:
            try:
                response = self.platform.dispatch(request)
            except Exception:
                log.exception("mock %s failed on %s %s", self.platform.name, request.method, request.path)
                response = json_response({"error": {"code": 500, "message": "mock internal error"}},
                                         status=500)
            if (faults.malformed_rate and response.status_code < 300
                    and self._draw() < faults.malformed_rate):
                fault = "malformed"
                response = self.platform.malform(response)
        self._record(request, response.status_code, fault)
        return response(environ, start_response)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


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


def start_mock(name: str | type[MockPlatform], fixture: str | Path | Mapping[str, Any] | None = None, *,
               host: str = "127.0.0.1", port: int = 0, tls: bool | None = None, regions: int | None = None,
               allow_remote: bool = False, **faults: Any) -> MockHandle:
    """Start a mocked platform and return its handle; call ``handle.stop()`` when done.
    Same arguments as :func:`mock`, which is the context-manager form."""
    if isinstance(name, str):
        from ..registry import load_mock

        cls: type[MockPlatform] = load_mock(name)
    else:
        cls = name
    platform = cls(fixture, faults=Faults(**faults), regions=regions)
    use_tls = getattr(cls, "tls", False) if tls is None else tls
    server = MockServer(platform, host=host, port=port, tls=use_tls, allow_remote=allow_remote).start()
    return MockHandle(url=server.url, backend=platform.backend(), platform=platform, server=server)


@contextlib.contextmanager
def mock(name: str | type[MockPlatform], fixture: str | Path | Mapping[str, Any] | None = None, *,
         host: str = "127.0.0.1", port: int = 0, tls: bool | None = None, regions: int | None = None,
         allow_remote: bool = False, **faults: Any) -> Iterator[MockHandle]:
    """Start a mocked platform by registered name (or class) and yield a :class:`MockHandle`.

    Keyword arguments beyond the named ones are :class:`Faults` fields (``latency_ms=100``,
    ``error_rate=0.1``, ``page_limit=1``, ``token_ttl=2``…)::

        with cloudcat.testing.mock("static") as m:
            catalog = cloudcat.open_catalog({"backends": {"b": m.backend}, ...})
    """
    handle = start_mock(name, fixture, host=host, port=port, tls=tls, regions=regions, allow_remote=allow_remote,
                        **faults)
    try:
        yield handle
    finally:
        handle.stop()
