"""Faults of the mocked vCenter and what the vsphere driver makes of them: latency, an expired
session (one new login), 503s, 429s, malformed SOAP and a vCenter that hangs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from cloudcat_vsphere.driver import VsphereDriver

from cloudcat.errors import (
    AuthenticationError,
    BackendTimeoutError,
    RateLimitedError,
    UnavailableError,
)
from cloudcat.models import Kind, Region
from cloudcat.testing import MockHandle, mock

PAR = Region(name="PAR-DC1")


@pytest.fixture
def vcenter() -> Iterator[MockHandle]:
    with mock("vsphere") as m:
        yield m


def driver(m: MockHandle, **options: object) -> VsphereDriver:
    return VsphereDriver({**m.backend["options"], "retries": 1, "backoff": 0.01, "cache_seconds": 0, **options})


def calls(m: MockHandle) -> dict[str, int]:
    with m.platform.lock:
        return dict(m.platform.state()["calls"])


def test_latency_is_paid_per_round_trip(vcenter: MockHandle) -> None:
    vcenter.server.set_faults(latency_ms=20)
    started = time.monotonic()
    with driver(vcenter) as d:
        storage = list(d.read(Kind.STORAGE, PAR))
    elapsed = time.monotonic() - started
    trips = len(vcenter.server.requests())
    assert {"vsanDatastore", "Silver - RAID-5"} <= {i.name for i in storage}
    assert elapsed >= trips * 0.02 and trips < 20


def test_expired_session_logs_in_once_more(vcenter: MockHandle) -> None:
    vcenter.server.set_faults(token_ttl=0.3)
    with driver(vcenter) as d:
        first = {i.name for i in d.read(Kind.NETWORK, PAR)}
        time.sleep(0.4)
        again = {i.name for i in d.read(Kind.NETWORK, PAR)}
        time.sleep(0.4)
        images = {i.name for i in d.read(Kind.IMAGE, PAR)}  # SOAP and the REST session both renewed
    assert first == again and "pg-prod-101" in first and "ubuntu-24.04-cl" in images
    assert calls(vcenter)["Login"] == 3


def test_refused_login(vcenter: MockHandle) -> None:
    password = vcenter.backend["options"]["password"]
    with driver(vcenter, password="not-the-password") as d, pytest.raises(AuthenticationError) as raised:
        d.check()
    assert "not-the-password" not in str(raised.value) and password not in repr(d)
    assert type(raised.value.__cause__).__name__ == "vim.fault.InvalidLogin"


def test_503_is_retried_then_unavailable(vcenter: MockHandle) -> None:
    vcenter.server.set_faults(error_rate=1.0)
    with driver(vcenter) as d, pytest.raises(UnavailableError) as raised:
        d.check()
    assert raised.value.__cause__ is not None
    assert len(vcenter.server.requests()) == 2  # the try and one retry


def test_429_keeps_retry_after(vcenter: MockHandle) -> None:
    vcenter.server.set_faults(throttle_rate=1.0, retry_after=1)
    with driver(vcenter, retries=0) as d, pytest.raises(RateLimitedError) as raised:
        d.check()
    assert raised.value.retry_after == 1.0


def test_429_on_a_soap_call_keeps_retry_after(vcenter: MockHandle) -> None:
    with driver(vcenter, retries=0) as d:
        d.check()  # connected; the next SOAP call is throttled
        vcenter.server.set_faults(throttle_rate=1.0, retry_after=2)
        with pytest.raises(RateLimitedError) as raised:
            list(d.read(Kind.STORAGE, PAR))
    assert raised.value.retry_after == 2.0


def test_malformed_soap_is_unavailable(vcenter: MockHandle) -> None:
    with driver(vcenter) as d:
        d.check()
        vcenter.server.set_faults(malformed_rate=1.0)
        with pytest.raises(UnavailableError) as raised:
            list(d.read(Kind.NETWORK, PAR))
    assert "malformed" in str(raised.value)


def test_hanging_vcenter_times_out(vcenter: MockHandle) -> None:
    vcenter.server.set_faults(latency_ms=5000)
    started = time.monotonic()
    with driver(vcenter, timeout=0.3) as d, pytest.raises(BackendTimeoutError):
        d.check()
    assert time.monotonic() - started < 2.0


def test_a_flaky_vcenter_still_answers(vcenter: MockHandle) -> None:
    vcenter.server.set_faults(error_rate=0.2, seed=7)
    with driver(vcenter, retries=8) as d:
        names = {i.name for i in d.read(Kind.STORAGE, PAR)}
    assert "vsanDatastore" in names
    assert vcenter.server.requests() and any(r.fault == "503" for r in vcenter.server.requests())


def test_planned_faults_on_soap_calls(vcenter: MockHandle) -> None:
    with driver(vcenter) as d:
        d.check()
        vcenter.faults.plan(method="POST", path="re:^/sdk$", status=503, times=1)
        vcenter.faults.plan(method="POST", path="/pbm/sdk", action="reset", times=1)
        storage = {i.name for i in d.read(Kind.STORAGE, PAR)}  # each retried once
        assert {"vsanDatastore", "Gold - RAID-1 FTT=2"} <= storage and not vcenter.faults.pending()
    # a vCenter that stops answering while SmartConnect-style negotiation reads the versions document
    vcenter.faults.plan(method="GET", path="vimServiceVersions.xml", action="hang", hang_s=20, times=1)
    started = time.monotonic()
    with driver(vcenter, timeout=0.5, retries=0) as d, pytest.raises(BackendTimeoutError):
        d.check()
    assert time.monotonic() - started < 8.0  # not the 20 s the hang lasts


def test_expired_sessions_are_renewed(vcenter: MockHandle) -> None:
    with driver(vcenter) as d:
        d.check()
        assert vcenter.faults.expire_tokens() == 1
        assert {"pg-prod-101"} <= {i.name for i in d.read(Kind.NETWORK, PAR)}
        vcenter.faults.expire_tokens()  # SPBM refuses the session cookie it is handed
        assert "Silver - RAID-5" in {i.name for i in d.read(Kind.STORAGE, PAR)}
    assert calls(vcenter)["Login"] == 3
