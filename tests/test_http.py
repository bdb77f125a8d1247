"""The shared HTTP layer (``cloudcat.http``): Retry-After, status → error, retries, options; and the
default driver behaviour around it (region and country filled in, loggers quieted, ``secrets()``)."""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import ipaddress
import json
import logging
import select
import ssl
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from cloudcat.driver import (
    SIDE_THREADS,
    BaseDriver,
    Capabilities,
    Driver,
    OptionNameDeprecation,
    concurrently,
    quiet_driver_loggers,
)
from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendNotFoundError,
    BackendTimeoutError,
    ConfigError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
)
from cloudcat.http import (
    Deadline,
    HttpOptions,
    RetryPolicy,
    close_idle,
    error_for_status,
    fit_session,
    parse_retry_after,
    time_left,
    within,
)
from cloudcat.models import Item, Kind, Region
from cloudcat.testing import wait_until

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


# -- Retry-After -------------------------------------------------------------------------------
@given(st.integers(min_value=0, max_value=10**9))
def test_delay_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds)) == float(seconds)
    assert parse_retry_after(f"  {seconds}\t") == float(seconds)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=999))
def test_fractional_delay_seconds(whole: int, fraction: int) -> None:
    assert parse_retry_after(f"{whole}.{fraction:03d}") == pytest.approx(whole + fraction / 1000)


@given(st.integers(min_value=-10**6, max_value=10**7))
def test_http_dates_count_from_now(offset: int) -> None:
    when = NOW + dt.timedelta(seconds=offset)
    assert parse_retry_after(email.utils.format_datetime(when, usegmt=True), now=NOW) == max(0.0, float(offset))


@pytest.mark.parametrize("value", ["Sunday, 01-Mar-26 12:02:00 GMT", "Sun Mar  1 12:02:00 2026",
                                   "Sun, 01 Mar 2026 13:02:00 +0100"])
def test_obsolete_and_zoned_http_dates(value: str) -> None:
    assert parse_retry_after(value, now=NOW) == 120.0


def test_an_http_date_counts_from_the_current_time() -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=100)
    assert 90 <= (parse_retry_after(email.utils.format_datetime(soon, usegmt=True)) or 0) <= 100


@pytest.mark.parametrize("value", [None, "", "  ", "-1", "-0.5", "soon", "1e3", "inf", "nan", "0x10", "1,5",
                                   "Mon, 99 Foo 2026 99:99:99 GMT"])
def test_no_or_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


@given(st.text(max_size=40))
def test_any_header_value_gives_none_or_a_finite_wait(value: str) -> None:
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or 0 <= seconds < float("inf")


# -- status → error ----------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "error"), [
    (400, BackendError), (401, AuthenticationError), (403, PermissionDeniedError), (404, BackendNotFoundError),
    (405, BackendError), (408, BackendTimeoutError), (409, BackendError), (410, BackendNotFoundError),
    (429, RateLimitedError), (500, UnavailableError), (502, UnavailableError), (503, UnavailableError),
    (504, UnavailableError),
])
def test_status_to_error(status: int, error: type[BackendError]) -> None:
    found = error_for_status(status, f"GET /x: HTTP {status}", backend="acme")
    assert type(found) is error
    assert str(found) == f"acme: GET /x: HTTP {status}"
    assert found.backend == "acme"


@given(st.integers(min_value=400, max_value=599), st.none() | st.floats(min_value=0, max_value=1e6))
def test_every_error_status_is_a_backend_error(status: int, retry_after: float | None) -> None:
    found = error_for_status(status, "m", retry_after=retry_after)
    assert isinstance(found, BackendError)
    assert isinstance(found, UnavailableError) == (status >= 500)
    if status == 429:
        assert isinstance(found, RateLimitedError) and found.retry_after == retry_after


@given(st.integers(max_value=399))
def test_a_success_status_is_not_an_error(status: int) -> None:
    with pytest.raises(ValueError, match="not an error status"):
        error_for_status(status, "m")


# -- retries -----------------------------------------------------------------------------------
policies = st.builds(RetryPolicy, retries=st.integers(0, 10), backoff=st.floats(0, 5),
                     max_backoff=st.floats(0, 60), max_retry_after=st.floats(0, 120))


@given(policies, st.integers(1, 12))
def test_backoff_doubles_up_to_its_bound(policy: RetryPolicy, attempt: int) -> None:
    wait = policy.delay(UnavailableError("503"), attempt)
    if attempt > policy.retries:
        assert wait is None
    else:
        assert wait == min(policy.backoff * 2 ** (attempt - 1), policy.max_backoff)


@given(policies, st.integers(1, 12), st.floats(0, 1000))
def test_retry_after_is_honoured_up_to_its_bound(policy: RetryPolicy, attempt: int, retry_after: float) -> None:
    wait = policy.delay(RateLimitedError("429", retry_after=retry_after), attempt)
    if attempt > policy.retries or retry_after > policy.max_retry_after:
        assert wait is None
    else:
        assert wait == retry_after


@given(policies, st.sampled_from([AuthenticationError, PermissionDeniedError, BackendNotFoundError,
                                  BackendTimeoutError, BackendError]))
def test_other_errors_are_not_retried(policy: RetryPolicy, error: type[BackendError]) -> None:
    assert policy.delay(error("no"), 1) is None


@given(st.integers(0, 5), st.integers(0, 8))
def test_run_retries_a_bounded_number_of_times(retries: int, failures: int) -> None:
    policy = RetryPolicy(retries=retries, backoff=0.1, max_backoff=0.3)
    calls: list[int] = []
    slept: list[float] = []
    errors = [UnavailableError(f"try {n}") for n in range(failures)]

    def call() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise errors[len(calls) - 1]
        return "ok"

    if failures <= retries:
        assert policy.run(call, sleep=slept.append) == "ok"
        assert len(calls) == failures + 1
    else:
        with pytest.raises(UnavailableError) as info:
            policy.run(call, sleep=slept.append)
        assert info.value is errors[retries]  # the last error, unchanged
        assert len(calls) == retries + 1
    assert slept == [min(0.1 * 2 ** n, 0.3) for n in range(len(calls) - 1)]


def test_run_raises_other_errors_at_once() -> None:
    calls: list[int] = []

    def call() -> None:
        calls.append(1)
        raise AuthenticationError("refused")

    with pytest.raises(AuthenticationError):
        RetryPolicy(retries=5).run(call, sleep=lambda s: None)
    assert len(calls) == 1


def test_policy_from_options() -> None:
    options = HttpOptions(retries=2, backoff=0.5, max_backoff=4, max_retry_after=9)
    assert options.retry_policy() == RetryPolicy(retries=2, backoff=0.5, max_backoff=4, max_retry_after=9)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(retries=-1)


# -- over a loopback socket, with a real client -------------------------------------------------
class _Script(BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, headers), then 200; a callable header
    value is called when the answer is sent."""

    def do_GET(self) -> None:
        server: Any = self.server
        with server.lock:
            server.seen.append(time.monotonic())
            status, headers = server.script.pop(0) if server.script else (200, {})
        body = b'{"ok": true}' if status == 200 else b'{"error": "slow down"}'
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value() if callable(value) else value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Script)
    server.script = []  # type: ignore[attr-defined]
    server.seen = []  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _get(client: httpx.Client, path: str) -> Any:
    """What a driver does: one exchange, an error status mapped to a cloudcat error."""
    response = client.get(path)
    if response.status_code >= 400:
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise error_for_status(response.status_code, f"GET {path}: HTTP {response.status_code}",
                                   backend="loop",
                                   retry_after=parse_retry_after(response.headers.get("Retry-After"))) from exc
    return response.json()


def test_retry_after_seconds_and_dates_are_waited_for(scripted: Any) -> None:
    def in_two_seconds() -> str:  # a date has whole seconds: one to two seconds from now
        return email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2), usegmt=True)

    scripted.script += [(429, {"Retry-After": "1"}), (503, {}), (429, {"Retry-After": in_two_seconds})]
    policy = HttpOptions(retries=3, backoff=0.05).retry_policy()
    with httpx.Client(base_url=f"http://127.0.0.1:{scripted.server_port}") as client:
        assert policy.run(lambda: _get(client, "/x")) == {"ok": True}
    seen = scripted.seen
    assert len(seen) == 4
    assert seen[1] - seen[0] >= 0.95                    # Retry-After: 1
    assert 0.04 <= seen[2] - seen[1] < 0.9              # the backoff after a 503
    assert seen[3] - seen[2] >= 0.9                     # an HTTP date one to two seconds away


def test_a_retry_after_beyond_the_bound_fails_at_once(scripted: Any) -> None:
    scripted.script += [(429, {"Retry-After": "3600"})]
    policy = HttpOptions(retries=3, max_retry_after=5).retry_policy()
    started = time.monotonic()
    with httpx.Client(base_url=f"http://127.0.0.1:{scripted.server_port}") as client, \
            pytest.raises(RateLimitedError) as info:
        policy.run(lambda: _get(client, "/x"))
    assert time.monotonic() - started < 2
    assert info.value.retry_after == 3600
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    assert len(scripted.seen) == 1


def test_persistent_throttling_ends_after_the_retries(scripted: Any) -> None:
    scripted.script += [(429, {"Retry-After": "0"})] * 10
    policy = HttpOptions(retries=2).retry_policy()
    with httpx.Client(base_url=f"http://127.0.0.1:{scripted.server_port}") as client, \
            pytest.raises(RateLimitedError) as info:
        policy.run(lambda: _get(client, "/x"))
    assert info.value.retry_after == 0
    assert len(scripted.seen) == 3


# -- options -------------------------------------------------------------------------------------
def test_option_defaults() -> None:
    options = HttpOptions()
    assert (options.timeout, options.connect_timeout, options.retries, options.max_retry_after) == (30, None, 3, 30)
    assert options.verify is True and options.ssl_verify() is True
    assert HttpOptions(verify=False).ssl_verify() is False


def test_verify_names_an_existing_ca_bundle(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no CA bundle at"):
        HttpOptions(verify=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="path of a CA bundle"):
        HttpOptions(verify=" ")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as info:
        HttpOptions(verify=str(garbage)).ssl_verify()
    assert info.value.field == "verify"


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudcat test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "ca.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_ca_bundle_is_trusted_over_tls(scripted: Any, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    scripted.socket = context.wrap_socket(scripted.socket, server_side=True)
    url = f"https://127.0.0.1:{scripted.server_port}"
    with httpx.Client(base_url=url, verify=HttpOptions(verify=str(cert)).ssl_verify()) as client:
        assert client.get("/x").json() == {"ok": True}
    with httpx.Client(base_url=url, verify=HttpOptions().ssl_verify()) as client, \
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get("/x")


def test_former_option_names_are_accepted_with_a_warning() -> None:
    from cloudcat_openstack.driver import OpenStackOptions

    with pytest.warns(OptionNameDeprecation, match="'retry_after_max' is deprecated"):
        assert OpenStackOptions.model_validate({"cloud": "c", "retry_after_max": 2}).max_retry_after == 2
    with pytest.warns(OptionNameDeprecation, match="'cacert' is deprecated"):
        assert OpenStackOptions.model_validate({"cloud": "c", "cacert": __file__}).verify == __file__
    with pytest.warns(OptionNameDeprecation), pytest.raises(ValueError, match="verify"):
        OpenStackOptions.model_validate({"cloud": "c", "cacert": __file__ + ".missing"})
    with pytest.warns(OptionNameDeprecation):
        assert OpenStackOptions.model_validate({"cloud": "c", "cacert": __file__, "verify": False}).verify is False
    with pytest.raises(ValueError, match="give 'max_retry_after' only"):
        OpenStackOptions.model_validate({"cloud": "c", "retry_after_max": 2, "max_retry_after": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert OpenStackOptions.model_validate({"cloud": "c", "max_retry_after": 2}).max_retry_after == 2


# -- the default driver behaviour ----------------------------------------------------------------
class _Tiny(BaseDriver):
    name = "tiny"
    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE, Kind.LOCATION}))
    quiet_loggers: ClassVar[dict[str, int]] = {"cloudcat-test.sdk": logging.WARNING,
                                               "cloudcat-test.pool": logging.ERROR}

    def list_regions(self) -> Sequence[Region]:
        return [Region(name="r1", country="FR", zones=["r1a"]), Region(name="r2")]

    def list_items(self, kind: Kind, region: str) -> Iterator[Item]:
        yield Item(kind=Kind.COMPUTE, name="bare", vcpus=1, memory_mib=1024)
        yield Item(kind=Kind.COMPUTE, name="own", region=region, country="DE", vcpus=1, memory_mib=1024)


def test_read_fills_region_and_country() -> None:
    driver = _Tiny()
    r1, r2 = driver.regions()
    bare, own = driver.read(Kind.COMPUTE, r1)
    assert (bare.region, bare.country) == ("r1", "FR")
    assert (own.region, own.country) == ("r1", "DE")  # what the driver said is kept
    bare, _ = driver.read(Kind.COMPUTE, r2)
    assert (bare.region, bare.country) == ("r2", None)
    locations = list(driver.read(Kind.LOCATION, r1))
    assert [(i.name, i.region, i.country) for i in locations] == [("r1", "r1", "FR"), ("r1/r1a", "r1", "FR")]


def test_the_protocol_asks_for_read_and_secrets() -> None:
    assert isinstance(_Tiny(), Driver)

    class NoSecrets:
        name = "x"
        capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE}))
        backend = "x"

        def regions(self) -> list[Region]:
            return []

        def items(self, kind: Kind, region: str) -> list[Item]:
            return []

        def read(self, kind: Kind, region: Region) -> list[Item]:
            return []

        def check(self) -> None:
            pass

        def close(self) -> None:
            pass

    assert not isinstance(NoSecrets(), Driver)


@pytest.fixture
def loggers() -> Iterator[dict[str, logging.Logger]]:
    found = {name: logging.getLogger(name) for name in _Tiny.quiet_loggers}
    yield found
    quiet_driver_loggers(None)
    for logger in found.values():
        logger.setLevel(logging.NOTSET)


def test_drivers_quiet_the_loggers_they_name(loggers: dict[str, logging.Logger]) -> None:
    _Tiny()
    assert all(lg.level == logging.NOTSET for lg in loggers.values())  # left alone until asked
    quiet_driver_loggers(logging.INFO)
    _Tiny()
    assert loggers["cloudcat-test.sdk"].level == logging.WARNING
    assert loggers["cloudcat-test.pool"].level == logging.ERROR
    quiet_driver_loggers(logging.CRITICAL)
    _Tiny()
    assert {lg.level for lg in loggers.values()} == {logging.CRITICAL}


# -- deadlines inside HTTP calls (requests sessions fitted by cloudcat.http) ------------------------
BODY = json.dumps([{"name": f"flavor-{i}", "vcpus": i} for i in range(400)]).encode()


class _Slow(BaseHTTPRequestHandler):
    """``/whole`` answers at once (``?gzip``: compressed, ``?chunked``: in chunks), ``/trickle``
    sends its body a byte every 0.1 s, ``/stall`` sends headers and then nothing; the server
    notes every request and when a client closed a connection it was answering on."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: Any = self.server
        server.requests.append((self.path, self.client_address))
        if "gather" in self.path:  # answers once every call of the round has arrived
            server.gathering.wait()
        body = gzip.compress(BODY) if "gzip" in self.path else BODY
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if "gzip" in self.path:
            self.send_header("Content-Encoding", "gzip")
        if "chunked" in self.path:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 1000):
                piece = body[start:start + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.startswith("/whole"):
            self.wfile.write(body)
            return
        self._hold(body if self.path.startswith("/trickle") else b"")

    def _hold(self, body: bytes) -> None:
        server: Any = self.server
        try:
            for i in range(600):
                if body:
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    server.sent += 1
                elif select.select([self.connection], [], [], 0)[0] and not self.connection.recv(1):
                    raise ConnectionResetError  # the client closed its side
                time.sleep(0.1)
        except OSError:
            server.closed.append(time.monotonic())
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # calls at once all connect (a backlog of 5 left some waiting seconds)


@pytest.fixture
def slow() -> Iterator[Any]:
    server = _Server(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    server.requests = []  # type: ignore[attr-defined]
    server.closed = []  # type: ignore[attr-defined]
    server.sent = 0  # type: ignore[attr-defined]
    server.gathering = threading.Barrier(CALLS_AT_ONCE, timeout=10)  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/trickle", "/stall"])
def test_a_body_held_past_the_deadline_is_cut_there(slow: Any, path: str) -> None:
    session = fit_session()
    start = time.monotonic()
    with within(Deadline(start + 0.6)), pytest.raises(BackendTimeoutError, match="deadline passed"):
        session.get(slow.url + path, timeout=30)
    assert time.monotonic() - start < 0.6 + 0.5
    # the server sees the connection closed (its next write fails), not 60 s later
    assert wait_until(lambda: slow.closed, 1.0)


def test_closing_the_session_wakes_a_call_under_way(slow: Any) -> None:
    session = fit_session()
    failures: list[BaseException] = []

    def call() -> None:
        try:
            session.get(slow.url + "/trickle", timeout=30)
        except BaseException as exc:
            failures.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert wait_until(lambda: slow.requests, 2)
    assert wait_until(lambda: slow.sent >= 2, 2)  # inside the body
    closed = time.monotonic()
    session.close()
    caller.join(2)
    assert not caller.is_alive()
    [failure] = failures  # what requests raises for a body cut short
    assert isinstance(failure, requests.exceptions.ChunkedEncodingError | requests.exceptions.ConnectionError)
    assert wait_until(lambda: slow.closed, 1.0) and slow.closed[0] - closed < 1.0
    assert session.get(slow.url + "/whole", timeout=5).content == BODY  # the session stays usable


def test_a_passed_or_cancelled_deadline_sends_nothing(slow: Any) -> None:
    session = fit_session()
    with within(Deadline(time.monotonic() - 1)), pytest.raises(BackendTimeoutError):
        session.get(slow.url + "/whole")
    done = Deadline(time.monotonic() + 60)
    done.cancelled.set()
    with within(done), pytest.raises(BackendTimeoutError):
        session.get(slow.url + "/whole")
    assert slow.requests == []


@pytest.mark.parametrize("query", ["", "?gzip", "?chunked", "?gzip&chunked"])
def test_bodies_read_under_a_deadline_are_whole_and_connections_reused(slow: Any, query: str) -> None:
    session = fit_session()
    with within(Deadline(time.monotonic() + 30)):
        answers = [session.get(slow.url + "/whole" + query, timeout=5) for _ in range(3)]
    assert [a.json()[-1] for a in answers] == [{"name": "flavor-399", "vcpus": 399}] * 3
    assert len({client for _, client in slow.requests}) == 1  # one kept-alive connection
    assert session.get(slow.url + "/whole" + query, timeout=5).content == BODY  # and without a deadline


def test_close_idle_closes_what_no_call_uses(slow: Any) -> None:
    session = fit_session()
    session.get(slow.url + "/whole", timeout=5)
    close_idle(session)
    session.get(slow.url + "/whole", timeout=5)
    assert len({client for _, client in slow.requests}) == 2  # the idle one was closed: a new connection


#: Calls at once in the tests of the pools: the default ``concurrency`` of a refresh.
CALLS_AT_ONCE = 32


def _calls_at_once(session: requests.Session, url: str) -> None:
    """``CALLS_AT_ONCE`` calls of ``url`` in as many threads, all under way at the same time."""
    failures: list[BaseException] = []

    def call() -> None:
        try:
            session.get(url, timeout=10).raise_for_status()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(CALLS_AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert failures == [] and not any(t.is_alive() for t in threads)


def test_calls_at_once_keep_their_connections(slow: Any, caplog: pytest.LogCaptureFixture) -> None:
    # as many calls at once as a refresh makes by default, twice: the second round finds every
    # connection of the first in the pool (a pool of 10 threw 22 of them away, and opened 22 again)
    session = fit_session()
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        for _ in range(2):
            _calls_at_once(session, slow.url + "/whole?gather")
    assert len(slow.requests) == 2 * CALLS_AT_ONCE
    assert len({client for _, client in slow.requests}) == CALLS_AT_ONCE
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_closing_idle_connections_among_calls_throws_none_away(slow: Any, caplog: pytest.LogCaptureFixture) -> None:
    # idle connections closed while calls take and give back others: closed where they wait, so
    # no call opens a connection the pool has no room for when it ends
    session = fit_session(pool_size=4)

    def calls() -> None:
        for _ in range(40):
            session.get(slow.url + "/whole", timeout=10)

    with caplog.at_level(logging.WARNING, logger="urllib3"):
        threads = [threading.Thread(target=calls) for _ in range(4)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            close_idle(session)
        for thread in threads:
            thread.join(15)
    assert len(slow.requests) == 160
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_a_driver_releases_its_sessions(slow: Any) -> None:
    driver = _Tiny()
    session = driver.http_session()
    session.get(slow.url + "/whole", timeout=5)
    driver.release_connections(idle=True)
    session.get(slow.url + "/whole", timeout=5)
    failures: list[BaseException] = []

    def call() -> None:
        try:
            session.get(slow.url + "/trickle", timeout=30)
        except requests.exceptions.RequestException as exc:
            failures.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert wait_until(lambda: len(slow.requests) == 3, 2)
    time.sleep(0.2)
    driver.release_connections()  # those under way too
    caller.join(2)
    assert not caller.is_alive() and failures
    assert wait_until(lambda: slow.closed, 1.0)
    # the idle connection was closed (the second call opened another, which the third reused)
    assert len({client for _, client in slow.requests}) == 2


# -- concurrently: a few shared threads, the caller's deadline ----------------------------------------
def test_concurrently_adds_a_bounded_number_of_threads_and_carries_the_deadline() -> None:
    peak: list[int] = []
    seen: list[float | None] = []
    lock = threading.Lock()

    def call(i: int) -> int:
        with lock:
            peak.append(sum(t.name == "cloudcat-side" for t in threading.enumerate()))
            seen.append(time_left())
        time.sleep(0.02)
        return i

    def task() -> list[int]:
        with within(Deadline(time.monotonic() + 60)):
            return concurrently(*(lambda i=i: call(i) for i in range(6)))

    results: list[list[int]] = []
    tasks = [threading.Thread(target=lambda: results.append(task())) for _ in range(8)]
    for t in tasks:
        t.start()
    for t in tasks:
        t.join(10)
    assert results == [list(range(6))] * 8  # each in its calls' order
    assert max(peak) <= SIDE_THREADS
    assert len(seen) == 48 and all(left is not None and left > 50 for left in seen)


def test_concurrently_raises_the_first_failure_once_all_ended() -> None:
    ended: list[int] = []

    def fail(i: int) -> None:
        time.sleep(0.05 * (3 - i))
        ended.append(i)
        raise ValueError(i)

    with pytest.raises(ValueError, match="0"):
        concurrently(*(lambda i=i: fail(i) for i in range(3)))
    assert sorted(ended) == [0, 1, 2]
    # nested calls never wait for a thread: they run in their caller when none is free
    assert concurrently(*(lambda: concurrently(*(lambda: 1 for _ in range(5))) for _ in range(5))) == [[1] * 5] * 5


def test_concurrently_runs_at_most_the_calls_asked_at_once() -> None:
    running: list[int] = []
    peak: list[int] = []
    started = [0]
    changed = threading.Condition()

    def call(i: int, calls: int, at_most: int) -> int:
        with changed:
            running.append(i)
            started[0] += 1
            peak.append(len(running))
            changed.notify_all()
            # each call stays until `at_most` run together (or every call has begun): more at
            # once would show in `peak`, fewer would keep them waiting
            assert changed.wait_for(lambda: len(running) >= at_most or started[0] == calls, 5), running
            running.remove(i)
            changed.notify_all()
        return i

    assert concurrently(*(lambda i=i: call(i, 12, 3) for i in range(12)), at_most=3) == list(range(12))
    assert max(peak) == 3  # three at once, never more
    started[0] = 0
    assert concurrently(*(lambda i=i: call(i, 4, 1) for i in range(4)), at_most=1) == list(range(4))
    assert peak[-4:] == [1, 1, 1, 1]


def test_concurrently_runs_every_call_when_no_thread_can_be_started(monkeypatch: pytest.MonkeyPatch) -> None:
    start = threading.Thread.start

    def refused(thread: threading.Thread) -> None:
        if thread.name == "cloudcat-side":
            raise RuntimeError("can't start new thread")  # what the system says at its thread limit
        start(thread)

    with monkeypatch.context() as patched:
        patched.setattr(threading.Thread, "start", refused)
        ran_on = concurrently(*(lambda: threading.current_thread().name for _ in range(5)))
    assert ran_on == [threading.current_thread().name] * 5  # the caller ran them all
    # the refused threads were not counted as running: every side thread can start again
    gate = threading.Barrier(SIDE_THREADS + 1, timeout=10)
    assert len(set(concurrently(*(lambda: (gate.wait(), threading.get_ident())[1]
                                  for _ in range(SIDE_THREADS + 1))))) == SIDE_THREADS + 1


def test_concurrently_starts_no_call_once_the_deadline_passed() -> None:
    ran: list[int] = []
    deadline = Deadline(time.monotonic() + 0.3)

    def call(i: int) -> int:
        ran.append(i)
        assert wait_until(deadline.passed, 5)  # the first call outlives the deadline
        return i

    with within(deadline), pytest.raises(BackendTimeoutError, match="not started"):
        concurrently(*(lambda i=i: call(i) for i in range(6)), at_most=1)  # one at a time
    assert ran == [0]  # the call begun before the deadline ran; no other did
    assert concurrently(lambda: 1, lambda: 2) == [1, 2]  # no deadline: every call runs


def test_concurrently_works_through_the_calls_while_one_of_them_is_slow() -> None:
    """A slow call holds one thread; the caller and the side threads share out the others (a
    thread given a fixed share would leave its calls waiting behind the slow one)."""
    others_done = threading.Event()
    done: list[int] = []
    lock = threading.Lock()

    def slow() -> bool:
        return others_done.wait(10)  # released once every other call ended, wherever it ran

    def quick(i: int) -> int:
        time.sleep(0.005)  # work that keeps a thread busy: no thread is free again at once
        with lock:
            done.append(i)
            if len(done) == 40:
                others_done.set()
        return i

    for slow_first in (True, False):
        done.clear()
        others_done.clear()
        calls = [lambda i=i: quick(i) for i in range(40)]
        calls.insert(0 if slow_first else 20, slow)
        results = concurrently(*calls)
        assert (results[0] if slow_first else results[20]) is True, "the slow call waited for calls queued behind it"
        assert sorted(done) == list(range(40))


def test_a_side_thread_freed_by_one_caller_helps_another() -> None:
    """Side threads are not handed to one caller for good: a thread done with one caller's calls
    takes the next caller's."""
    first_started = threading.Event()
    release_first = threading.Event()
    ran_on: list[str] = []

    def hold() -> None:
        first_started.set()
        release_first.wait(10)

    def first_caller() -> None:
        concurrently(lambda: release_first.wait(10), *[hold] * SIDE_THREADS)

    holder = threading.Thread(target=first_caller)
    holder.start()
    try:
        assert first_started.wait(5)
        assert wait_until(lambda: sum(t.name == "cloudcat-side" for t in threading.enumerate()) == SIDE_THREADS, 5)
        # every side thread is busy: the second caller starts alone, then gets help once they are freed

        def record(i: int) -> int:
            if i == 0:
                release_first.set()
                # while this call runs, the freed side threads take the calls after it
                assert wait_until(lambda: "cloudcat-side" in ran_on, 5), ran_on
            ran_on.append(threading.current_thread().name)
            return i

        assert concurrently(*(lambda i=i: record(i) for i in range(16))) == list(range(16))
    finally:
        release_first.set()
        holder.join(10)
    assert "cloudcat-side" in ran_on
