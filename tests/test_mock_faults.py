"""The mocks' shared faults, as real clients see them over loopback sockets.

A fault plan ("the next 2 calls to the flavors list answer 429 with Retry-After 1"), connection
resets and hangs, token expiry and persistent connections, driven from Python (``m.faults``),
from the control endpoints and from ``cloudcat mock serve --fault``; retries counted exactly
from the mock's request record.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import openstack
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from keystoneauth1.exceptions import ConnectFailure
from werkzeug.wrappers import Request, Response

from cloudcat.models import Kind
from cloudcat.testing import (
    FaultRule,
    MockHandle,
    MockPlatform,
    RequestRecord,
    json_response,
    mock,
    parse_rule,
    start_mock,
    wait_until,
)

FLAVORS = "/compute/v2.1/flavors/detail"


# -- the rules -----------------------------------------------------------------------------------
def test_the_text_form_of_a_rule() -> None:
    rule = parse_rule("GET /compute/v2.1/flavors/detail 429 x2 retry-after=1")
    assert rule == FaultRule(method="GET", path=FLAVORS, status=429, times=2, retry_after=1)
    assert parse_rule("/api/query hang hang-s=5") == FaultRule(path="/api/query", action="hang", hang_s=5)
    assert parse_rule("post /v3/auth/tokens reset always").times is None
    assert parse_rule("* re:/flavors/[0-9]+$ 503 message='down for maintenance'").message == "down for maintenance"
    assert parse_rule("POST /sdk trickle always trickle-ms=200") == FaultRule(
        method="POST", path="/sdk", action="trickle", times=None, trickle_ms=200)


@pytest.mark.parametrize(("text", "problem"), [
    ("GET /x", "expected [METHOD] PATH ACTION"),
    ("GET /x teapot", "not 'teapot'"),
    ("GET /x 200", "status: Input should be greater than or equal to 400"),
    ("GET /x 429 x2 colour=red", "colour: Extra inputs are not permitted"),
    ("GET /x 429 twice", "unexpected 'twice'"),
    ("GET re:( 503", "bad regular expression"),
])
def test_a_wrong_rule_says_what_is_wrong_on_one_line(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_rule(text)
    assert problem in str(info.value) and "\n" not in str(info.value)


rules = st.builds(
    FaultRule, method=st.sampled_from(["*", "GET", "POST"]),
    path=st.sampled_from(["/compute/v2.1/flavors/detail", "flavors/*", "re:^/sdk$", "/a b/c"]),
    action=st.sampled_from(["status", "reset", "hang", "malformed"]), status=st.integers(400, 599),
    times=st.none() | st.integers(1, 5), skip=st.integers(0, 3), retry_after=st.none() | st.integers(0, 3600),
    retry_after_date=st.booleans(), hang_s=st.sampled_from([0.5, 30.0]),
    message=st.none() | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1))


@given(rules)
def test_a_rule_reads_back_from_its_text(rule: FaultRule) -> None:
    back = parse_rule(rule.text())
    assert back == rule or (rule.action != "status" and back == rule.model_copy(update={"status": 503}))


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("/compute/v2.1/flavors/detail", "/fr1/compute/v2.1/flavors/detail", True),
    ("/compute/v2.1/flavors/detail", "/compute/v2.1/flavors/detail/", True),
    ("flavors/detail", "/fr1/compute/v2.1/flavors/detail", True),
    ("/flavors/detail", "/fr1/compute/v2.1/myflavors/detail", False),
    ("/compute/v2.1/flavors/*", "/fr1/compute/v2.1/flavors/42", True),
    ("/compute/v2.1/flavors/detail", "/fr1/compute/v2.1/flavors/detail/extra", False),
    ("re:^/sdk$", "/sdk", True),
    ("re:^/sdk$", "/pbm/sdk", False),
    ("*", "/anything/at/all", True),
])
def test_paths_match_whole_or_at_their_end(pattern: str, path: str, hit: bool) -> None:
    assert FaultRule(path=pattern).matches("GET", path) is hit


# -- helpers -------------------------------------------------------------------------------------
def region_of(m: MockHandle) -> str:
    return str(m.platform.state()["regions"][0])


def sdk(m: MockHandle, **options: Any) -> Any:
    """openstacksdk, configured in code as a user would, on the mock."""
    return openstack.connect(auth=m.backend["options"]["auth"], auth_type="password", region_name=region_of(m),
                             load_yaml_config=False, load_envvars=False, **options)


def on(records: list[RequestRecord], suffix: str) -> list[RequestRecord]:
    return [r for r in records if r.path.endswith(suffix)]


@pytest.fixture
def cloud() -> Iterator[MockHandle]:
    with mock("openstack", "flexible-engine") as m:
        yield m


# -- OpenStack, through openstacksdk ---------------------------------------------------------------
def test_openstacksdk_retries_a_planned_429_exactly_as_often_as_planned(cloud: MockHandle) -> None:
    conn = sdk(cloud, status_code_retries=3)
    expected = sorted(f.name for f in conn.compute.flavors())
    start = len(cloud.requests)
    cloud.faults.plan(method="GET", path=FLAVORS, status=429, times=2, retry_after=0)
    assert sorted(f.name for f in conn.compute.flavors()) == expected
    served = cloud.requests[start:]
    assert [(r.status, r.fault) for r in served] == [(429, "429"), (429, "429"), (200, None)]
    assert not cloud.faults.pending() and cloud.faults.rules()[0]["fired"] == 2


def test_the_integer_retry_after_is_honoured_by_keystoneauth(cloud: MockHandle) -> None:
    conn = sdk(cloud, status_code_retries=1)
    list(conn.compute.flavors())
    cloud.faults.plan(f"GET {FLAVORS} 429 retry-after=1")
    started = time.monotonic()
    list(conn.compute.flavors())
    assert time.monotonic() - started >= 1.0  # keystoneauth's own first delay is 0.5 s


def test_a_plan_beyond_the_clients_retries_is_its_error(cloud: MockHandle) -> None:
    conn = sdk(cloud, status_code_retries=1)
    list(conn.compute.flavors())
    cloud.faults.plan(method="GET", path=FLAVORS, status=503, times=3)
    with pytest.raises(openstack.exceptions.HttpException) as info:
        list(conn.compute.flavors())
    assert info.value.status_code == 503
    assert [r.fault for r in on(cloud.requests, FLAVORS)][-2:] == ["503", "503"]
    assert cloud.faults.rules()[0]["left"] == 1


def test_expired_tokens_make_the_next_call_401_and_the_client_log_in_again(cloud: MockHandle) -> None:
    conn = sdk(cloud)
    list(conn.compute.flavors())
    assert cloud.faults.expire_tokens() == 1
    start = len(cloud.requests)
    list(conn.compute.flavors())
    assert [(r.method, r.path.rsplit("/", 3)[-2:], r.status, r.fault) for r in cloud.requests[start:]] == [
        ("GET", ["flavors", "detail"], 401, "token-expired"),
        ("POST", ["auth", "tokens"], 201, None),
        ("GET", ["flavors", "detail"], 200, None),
    ]


def test_a_reset_is_a_connection_error_that_keystoneauth_retries(cloud: MockHandle) -> None:
    conn = sdk(cloud, connect_retries=1)
    list(conn.compute.flavors())
    start = len(cloud.requests)
    cloud.faults.plan(f"GET {FLAVORS} reset")
    list(conn.compute.flavors())
    assert [(r.status, r.fault) for r in on(cloud.requests[start:], FLAVORS)] == [(0, "reset"), (200, None)]
    cloud.faults.plan(f"GET {FLAVORS} reset")
    with pytest.raises(ConnectFailure) as info:
        list(sdk(cloud, connect_retries=0).compute.flavors())
    assert "Connection reset by peer" in str(info.value)


def test_openstacksdk_keeps_one_connection(cloud: MockHandle) -> None:
    conn = sdk(cloud)
    for _ in range(3):
        list(conn.compute.flavors())
    assert len(cloud.requests) >= 5 and len({r.client for r in cloud.requests}) == 1


# -- below HTTP: resets, hangs, persistent connections, with httpx and requests -------------------
def test_a_reset_is_a_connection_reset_for_httpx(cloud: MockHandle) -> None:
    cloud.faults.plan("/identity/v3 reset")
    with pytest.raises(httpx.ReadError) as info:
        httpx.get(cloud.url + "/identity/v3")
    assert "reset" in str(info.value).lower() or isinstance(info.value.__cause__, ConnectionResetError)
    assert httpx.get(cloud.url + "/identity/v3").status_code == 200  # the next one is served
    assert [(r.status, r.fault) for r in cloud.requests] == [(0, "reset"), (200, None)]


def test_a_hang_is_a_timeout_for_the_client_and_ends_when_it_gives_up(cloud: MockHandle) -> None:
    cloud.faults.plan("GET /identity/v3 hang hang-s=30")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(cloud.url + "/identity/v3", timeout=0.3)
    deadline = time.monotonic() + 3
    while not cloud.requests and time.monotonic() < deadline:  # recorded when the mock lets go
        time.sleep(0.02)
    assert [(r.status, r.fault) for r in cloud.requests] == [(0, "hang")]
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("platform", ["openstack", "vsphere"])  # over HTTP, and over TLS
def test_a_hang_holds_a_request_with_a_body_too(platform: str) -> None:
    with mock(platform) as m:
        m.faults.plan("POST /sdk hang hang-s=30")
        with pytest.raises(httpx.ReadTimeout):  # held until the client gives up, not cut at once
            httpx.post(m.url.rstrip("/") + "/sdk", content=b"<soapenv:Envelope/>" * 50, timeout=0.5,
                       verify=ssl.create_default_context(cafile=m.backend["options"].get("verify")))
        assert wait_until(lambda: [(r.status, r.fault) for r in m.requests] == [(0, "hang")], 3), m.requests


def test_a_hang_is_bounded() -> None:
    with mock("openstack", "flexible-engine", fault_plan=["GET /identity/v3 hang hang-s=0.3"]) as m:
        started = time.monotonic()
        with pytest.raises(requests.ConnectionError):
            requests.get(m.url + "/identity/v3", timeout=10)
        assert 0.3 <= time.monotonic() - started < 5


def test_a_trickle_sends_the_whole_answer_a_byte_at_a_time(cloud: MockHandle) -> None:
    whole = httpx.get(cloud.url + "/identity/v3")
    cloud.faults.plan("GET /identity/v3 trickle trickle-ms=5")
    started = time.monotonic()
    # each read gets its byte well within the read timeout: the client waits for all of them
    trickled = httpx.get(cloud.url + "/identity/v3", timeout=1.0)
    took = time.monotonic() - started
    assert (trickled.status_code, trickled.json()) == (whole.status_code, whole.json())
    assert took >= len(whole.content) * 0.005
    assert [r.fault for r in cloud.requests] == [None, "trickle"]


def test_a_trickle_is_a_read_timeout_for_a_client_that_wants_each_byte_sooner(cloud: MockHandle) -> None:
    cloud.faults.plan("GET /identity/v3 trickle always trickle-ms=200")
    with pytest.raises(httpx.ReadTimeout):  # the client gives up between two bytes
        httpx.get(cloud.url + "/identity/v3", timeout=httpx.Timeout(5, read=0.1))


@pytest.mark.parametrize("rule", ["GET /identity/v3 hang hang-s=600", "GET /identity/v3 trickle always trickle-ms=200"])
def test_a_mock_holding_an_answer_still_stops(rule: str) -> None:
    m = start_mock("openstack", "flexible-engine", fault_plan=[rule])
    seen: list[BaseException] = []

    def wait() -> None:
        try:
            httpx.get(m.url + "/identity/v3", timeout=60)
        except httpx.HTTPError as exc:
            seen.append(exc)

    waiting = threading.Thread(target=wait)
    waiting.start()
    time.sleep(0.3)
    started = time.monotonic()
    m.stop()
    waiting.join(10)
    assert time.monotonic() - started < 3
    assert not waiting.is_alive() and seen  # no answer, or one cut short: the client knows


def test_connections_are_kept_alive(cloud: MockHandle) -> None:
    with httpx.Client(base_url=cloud.url) as client:
        first = client.get("/identity/v3")
        second = client.post("/identity/v3/no-such-thing", json={"a body": "left unread" * 1000})
        third = client.get("/identity/v3")
    assert first.headers["connection"] == "keep-alive" and first.status_code == third.status_code == 200
    assert second.is_client_error  # answered without reading the body, which the server drains
    assert len({r.client for r in cloud.requests}) == 1  # three requests, one connection


def test_a_client_asking_to_close_gets_a_closed_connection(cloud: MockHandle) -> None:
    with httpx.Client(base_url=cloud.url, headers={"Connection": "close"}) as client:
        answers = [client.get("/identity/v3") for _ in range(2)]
    assert all(a.headers["connection"] == "close" for a in answers)
    assert len({r.client for r in cloud.requests}) == 2


def test_a_planned_answer_cut_in_half_is_malformed(cloud: MockHandle) -> None:
    whole = httpx.get(cloud.url + "/identity/v3")
    cloud.faults.plan("/identity/v3 malformed")
    cut = httpx.get(cloud.url + "/identity/v3")
    assert cut.status_code == 200 and 0 < len(cut.content) < len(whole.content)
    with pytest.raises(json.JSONDecodeError):
        cut.json()


def test_retry_after_as_an_http_date(cloud: MockHandle) -> None:
    cloud.faults.plan(path="/identity/v3", status=503, retry_after=120, retry_after_date=True)
    answer = httpx.get(cloud.url + "/identity/v3")
    when = email.utils.parsedate_to_datetime(answer.headers["retry-after"])
    assert answer.status_code == 503
    assert 100 < (when - dt.datetime.now(dt.UTC)).total_seconds() <= 121


def test_random_throttling_sends_whole_seconds() -> None:
    with mock("openstack", "flexible-engine", throttle_rate=1.0, retry_after=2) as m:
        answer = httpx.get(m.url + "/identity/v3")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "2"
    with pytest.raises(ValueError):
        mock("openstack", retry_after=0.5).__enter__()


def test_skip_lets_requests_through_before_the_rule_fires(cloud: MockHandle) -> None:
    cloud.faults.plan(path="/identity/v3", status=503, skip=1, times=1)
    assert [httpx.get(cloud.url + "/identity/v3").status_code for _ in range(3)] == [200, 503, 200]


def test_clear_drops_the_plan_and_random_faults(cloud: MockHandle) -> None:
    cloud.faults.plan(path="/identity/v3", status=503, times=None)
    cloud.faults.set(error_rate=1.0, latency_ms=5)
    cloud.faults.clear()
    assert httpx.get(cloud.url + "/identity/v3").status_code == 200
    assert cloud.faults.rules() == [] and cloud.faults.settings.error_rate == 0


# -- control endpoints -------------------------------------------------------------------------------
def test_the_control_endpoints(cloud: MockHandle) -> None:
    control = cloud.url + "/_cloudcat"
    plan = {"plan": [f"GET {FLAVORS} 429 x2 retry-after=1", {"path": "/identity/v3", "action": "reset"}]}
    answer = httpx.post(control + "/faults", json=plan).json()
    assert [r["text"] for r in answer["plan"]] == [f"GET {FLAVORS} 429 x2 retry-after=1",
                                                   "* /identity/v3 reset x1"]
    assert httpx.get(control + "/state").json()["fault_plan"][0]["left"] == 2
    bad = httpx.post(control + "/faults", json={"plan": ["GET /x 200"], "latency_ms": 5})
    assert bad.status_code == 400 and "greater than or equal to 400" in bad.json()["error"]
    assert httpx.get(control + "/faults").json()["latency_ms"] == 0  # nothing changed
    assert httpx.delete(control + "/faults").json()["plan"] == []

    conn = sdk(cloud)
    list(conn.compute.flavors())
    assert httpx.post(control + "/expire-tokens").json() == {"expired": 1}
    list(conn.compute.flavors())
    served = httpx.get(control + "/requests").json()
    assert [r["fault"] for r in served].count("token-expired") == 1
    assert set(served[0]) == {"method", "path", "query", "status", "fault", "client"}


def test_reset_brings_back_the_plan_the_mock_started_with() -> None:
    with mock("openstack", "flexible-engine", fault_plan=["/identity/v3 503"]) as m:
        assert httpx.get(m.url + "/identity/v3").status_code == 503
        assert httpx.get(m.url + "/identity/v3").status_code == 200
        httpx.post(m.url + "/_cloudcat/reset")
        assert httpx.get(m.url + "/identity/v3").status_code == 503


def test_mock_serve_takes_fault_rules() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "mock", "serve", "openstack", "--fixture",
                             "flexible-engine", "--fault", f"GET {FLAVORS} 429 x2 retry-after=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        handle_url = first["url"]
        rules = httpx.get(handle_url + "/_cloudcat/faults").json()["plan"]
        assert [r["text"] for r in rules] == [f"GET {FLAVORS} 429 x2 retry-after=0"]
        auth = first["backend"]["options"]["auth"]
        conn = openstack.connect(auth=auth, auth_type="password", region_name="eu-west-0", load_yaml_config=False,
                                 load_envvars=False, status_code_retries=2)
        list(conn.compute.flavors())
        served = httpx.get(handle_url + "/_cloudcat/requests").json()
        assert [r["status"] for r in served if r["path"].endswith(FLAVORS)] == [429, 429, 200]
    finally:
        proc.terminate()
        proc.wait(10)


def test_mock_serve_refuses_a_wrong_rule() -> None:
    done = subprocess.run([sys.executable, "-m", "cloudcat.cli", "mock", "serve", "openstack", "--fault",
                           "GET /x teapot"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--fault" in done.stderr and "'teapot'" in done.stderr


# -- Cloud Director, through cloudcat's VCD driver (httpx) ---------------------------------------------
def test_the_vcd_driver_retries_a_planned_429_exactly() -> None:
    from cloudcat_vcd.driver import VcdDriver

    with mock("vcd") as m, VcdDriver({**m.backend["options"], "retries": 3, "backoff": 0, "cache_seconds": 0},
                                     backend="cav") as d:
        region = d.regions()[0].name
        start = len(m.requests)
        expected = sorted(i.name for i in d.items(Kind.COMPUTE, region))
        queries = [r.path for r in m.requests[start:]]
        first = queries[-1]
        start = len(m.requests)
        m.faults.plan(method="GET", path=first, status=429, times=2, retry_after=0)
        assert sorted(i.name for i in d.items(Kind.COMPUTE, region)) == expected
        served = m.requests[start:]
        assert sorted(r.path for r in served if r.fault is None) == sorted(queries)  # the same reads…
        assert [(r.path, r.status) for r in served if r.fault] == [(first, 429)] * 2  # …and two retries


def test_the_vcd_driver_logs_in_again_after_expire_tokens() -> None:
    from cloudcat_vcd.driver import VcdDriver

    with mock("vcd") as m, VcdDriver({**m.backend["options"], "cache_seconds": 0}, backend="cav") as d:
        region = d.regions()[0].name
        list(d.items(Kind.STORAGE, region))
        assert m.faults.expire_tokens() >= 1
        start = len(m.requests)
        list(d.items(Kind.STORAGE, region))
        served = m.requests[start:]
        assert served[0].status == 401  # the platform's own refusal, or the server's (fault "token-expired")
        assert [r.path for r in served].count("/cloudapi/1.0.0/sessions") == 1
        assert all(r.status < 400 for r in served[1:])


# -- vCenter, through pyvmomi and cloudcat's vSphere driver ---------------------------------------------
@pytest.fixture
def vcenter() -> Iterator[MockHandle]:
    with mock("vsphere") as m:
        yield m


def pyvmomi_session(m: MockHandle) -> Any:
    from pyVim.connect import SmartConnect

    o = m.backend["options"]
    return SmartConnect(host=o["host"], port=o["port"], user=o["user"], pwd=o["password"],
                        sslContext=ssl.create_default_context(cafile=o["verify"]))


def test_pyvmomi_sees_planned_faults_as_its_own_errors(vcenter: MockHandle) -> None:
    from pyVmomi import vim

    si = pyvmomi_session(vcenter)
    vcenter.faults.plan("POST re:^/sdk$ 503")
    with pytest.raises(http.client.HTTPException, match="503"):
        si.CurrentTime()
    vcenter.faults.plan("POST re:^/sdk$ reset")
    with pytest.raises(ConnectionError):  # over TLS: a reset, or the server hanging up (ragged EOF)
        si.CurrentTime()
    si.CurrentTime()
    assert vcenter.faults.expire_tokens() == 1  # the platform's own sessions
    with pytest.raises(vim.fault.NotAuthenticated):
        si.content.rootFolder.childEntity  # noqa: B018  # a property read, as pyvmomi code does
    assert [r.fault for r in vcenter.requests if r.fault] == ["503", "reset"]


def test_the_vsphere_driver_retries_a_planned_503_exactly(vcenter: MockHandle) -> None:
    from cloudcat_vsphere.driver import VsphereDriver

    options = {**vcenter.backend["options"], "retries": 2, "backoff": 0, "cache_seconds": 0}
    with VsphereDriver(options) as d:
        region = d.regions()[0].name
        start = len(vcenter.requests)
        expected = sorted(i.name for i in d.items(Kind.NETWORK, region))
        reads = sorted(r.path for r in vcenter.requests[start:])
        start = len(vcenter.requests)
        vcenter.faults.plan(method="POST", path="re:^/sdk$", status=503, times=2)
        assert sorted(i.name for i in d.items(Kind.NETWORK, region)) == expected
        served = vcenter.requests[start:]
        assert sorted(r.path for r in served if r.fault is None) == reads
        assert [(r.path, r.status) for r in served if r.fault] == [("/sdk", 503)] * 2


# -- Azure, through Apache Libcloud (cloudcat's libcloud driver) ---------------------------------------
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the mock's throwaway certificate
def test_libcloud_retries_a_planned_429_and_logs_in_again_after_expire_tokens() -> None:
    from cloudcat_libcloud.driver import LibcloudDriver

    with mock("azure") as m:
        d = LibcloudDriver({**m.backend["options"], "retries": 3, "backoff": 0})
        region = d.regions()[0].name
        start = len(m.requests)
        expected = sorted(i.name for i in d.items(Kind.COMPUTE, region))
        reads = [(r.method, r.path) for r in m.requests[start:]]
        sizes = on(m.requests[start:], "/vmSizes")[0].path

        m.faults.plan(method="GET", path="/vmSizes", status=429, times=2, retry_after=0)
        start = len(m.requests)
        assert sorted(i.name for i in d.items(Kind.COMPUTE, region)) == expected
        served = m.requests[start:]
        assert [(r.path, r.status) for r in served if r.fault] == [(sizes, 429)] * 2
        assert [(r.method, r.path) for r in served if r.fault is None] == reads

        assert m.faults.expire_tokens() == 1
        start = len(m.requests)
        assert sorted(i.name for i in d.items(Kind.COMPUTE, region)) == expected
        served = m.requests[start:]
        assert (served[0].path, served[0].status) == (sizes, 401)
        assert [r.path.endswith("/oauth2/token") for r in served].count(True) == 1
        assert all(r.status < 400 for r in served[1:])


# -- the hooks a platform overrides -----------------------------------------------------------------
class Kettle(MockPlatform):
    """A platform answering faults in its own form, from the request being answered."""

    name = "kettle"

    def reset(self) -> None:
        self.expired = 0

    def dispatch(self, request: Request) -> Response:
        return json_response({"path": request.path})

    def backend(self) -> dict[str, Any]:
        return {"driver": "kettle", "options": {"url": self.base_url}}

    def fault_response(self, status: int, message: str, headers: Mapping[str, str]) -> Response:
        request = self.current_request()
        assert request is not None
        return Response(f'<Error path="{request.path}" code="{status}">{message}</Error>', status=status,
                        headers=dict(headers), content_type="application/xml")

    def expire_tokens(self) -> int:
        self.expired += 1
        return 7


def test_a_platform_answers_faults_in_its_own_form() -> None:
    with mock(Kettle, fault_plan=["GET /brew 429 retry-after=3"]) as m:
        answer = httpx.get(m.url + "/brew")
        assert answer.status_code == 429 and answer.headers["retry-after"] == "3"
        assert answer.text == '<Error path="/brew" code="429">Too Many Requests (injected)</Error>'
        assert httpx.get(m.url + "/brew").json() == {"path": "/brew"}
        assert m.faults.expire_tokens() == 7 and isinstance(m.platform, Kettle) and m.platform.expired == 1
        assert m.client_settings() == {"url": m.url} and m.environment() == {}
    assert MockPlatform.current_request() is None


def test_head_answers_keep_the_length_and_the_connection(cloud: MockHandle) -> None:
    with httpx.Client(base_url=cloud.url) as client:
        whole = client.get("/identity/v3")
        head = client.head("/identity/v3")
        again = client.get("/identity/v3")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(whole.content)) and again.content == whole.content
    assert len({r.client for r in cloud.requests}) == 1


class Broken(Kettle):
    """A platform whose answer fails while it is sent."""

    name = "broken"

    def dispatch(self, request: Request) -> Response:
        if request.path == "/fine":
            return json_response({"fine": True})

        class Failing(Response):
            def __call__(self, environ: Any, start_response: Any) -> Any:
                raise RuntimeError("cannot render")

        return Failing("never sent")


def test_an_answer_failing_while_sent_is_a_500_and_the_mock_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    with mock(Broken) as m, httpx.Client(base_url=m.url) as client:
        assert client.get("/broken").status_code == 500
        assert client.get("/fine").json() == {"fine": True}
    assert "cannot render" in caplog.text
