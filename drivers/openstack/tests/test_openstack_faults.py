"""Faults: the driver either returns the full data or raises a clear cloudcat error."""

from __future__ import annotations

import socket
import time
import urllib.request
from typing import Any

import pytest
from cloudcat_openstack.driver import OpenStackDriver

from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendNotFoundError,
    BackendTimeoutError,
    RateLimitedError,
    UnavailableError,
)
from cloudcat.models import Kind
from cloudcat.testing import mock

KINDS = (Kind.COMPUTE, Kind.IMAGE, Kind.STORAGE, Kind.NETWORK, Kind.LOCATION)


def snapshot(driver: OpenStackDriver) -> dict[tuple[str, str], list[str]]:
    """Every item, in full (fields, zones, lifecycle, prices, extras), per (region, kind)."""
    out = {}
    for region in driver.regions():
        for kind in KINDS:
            out[(region.name, kind.value)] = sorted(i.model_dump_json() for i in driver.items(kind, region.name))
    return out


@pytest.fixture(scope="module")
def reference() -> dict[tuple[str, str], list[str]]:
    with mock("openstack", "flexible-engine") as m:
        return snapshot(OpenStackDriver(m.backend["options"]))


def test_latency(reference: dict[tuple[str, str], list[str]]) -> None:
    with mock("openstack", "flexible-engine", latency_ms=30) as m:
        assert snapshot(OpenStackDriver(m.backend["options"])) == reference


def test_503s_are_retried(reference: dict[tuple[str, str], list[str]]) -> None:
    with mock("openstack", "flexible-engine", error_rate=0.15, seed=7) as m:
        assert snapshot(OpenStackDriver(m.backend["options"])) == reference
        assert m.platform.faults.error_rate == 0.15
        assert m.server._counters.faults.get("503", 0) > 0


def test_503s_beyond_retries_are_unavailable() -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver({**m.backend["options"], "retries": 0})
        driver.regions()
        m.server.set_faults(error_rate=1.0)
        with pytest.raises(UnavailableError) as info:
            list(driver.items(Kind.COMPUTE, "eu-west-0"))
        assert info.value.backend == "openstack"
        assert info.value.__cause__ is not None
        assert "compute" in str(info.value) and "eu-west-0" in str(info.value)


def test_429s_are_retried_honouring_retry_after(reference: dict[tuple[str, str], list[str]]) -> None:
    with mock("openstack", "flexible-engine", throttle_rate=0.15, retry_after=0, seed=3) as m:
        assert snapshot(OpenStackDriver(m.backend["options"])) == reference
        assert m.server._counters.faults.get("429", 0) > 0


def test_429s_beyond_retries_are_rate_limited_with_retry_after() -> None:
    with mock("openstack", "flexible-engine", throttle_rate=1.0, retry_after=1) as m:
        driver = OpenStackDriver({**m.backend["options"], "retries": 1})
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as info:
            driver.regions()
        assert time.monotonic() - started >= 1  # the Retry-After was waited for
        assert info.value.retry_after == 1.0
        assert isinstance(info.value.__cause__, Exception)


def test_a_retry_after_beyond_max_retry_after_is_not_waited_for() -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver({**m.backend["options"], "retries": 1, "max_retry_after": 1})
        list(driver.items(Kind.NETWORK, "eu-west-0"))  # endpoint discovered before the throttling
        m.server.set_faults(throttle_rate=1.0, retry_after=3600)
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as info:
            list(driver.items(Kind.NETWORK, "eu-west-0"))  # one request
        assert time.monotonic() - started < 5  # the hour-long Retry-After was not waited for
        assert info.value.retry_after == 3600
        assert isinstance(info.value.__cause__, Exception)
        assert [r.fault for r in m.server.requests()].count("429") == 1


def test_token_expiry_mid_refresh(reference: dict[tuple[str, str], list[str]]) -> None:
    with mock("openstack", "flexible-engine", token_ttl=1, latency_ms=50, page_limit=2) as m:
        driver = OpenStackDriver(m.backend["options"])
        started = time.monotonic()
        assert snapshot(driver) == reference
        assert time.monotonic() - started > 1.5  # the run outlived several tokens
        assert m.platform.state()["tokens_issued"] >= 2


def test_token_revoked_mid_refresh_is_renewed_on_401(reference: dict[tuple[str, str], list[str]]) -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver(m.backend["options"])
        list(driver.items(Kind.COMPUTE, "eu-west-0"))
        with urllib.request.urlopen(urllib.request.Request(m.url + "/_cloudcat/reset", method="POST")):
            pass  # every issued token is forgotten: the next call gets a 401
        assert snapshot(driver) == reference
        assert any(r.status == 401 for r in m.server.requests())
        assert m.platform.state()["tokens_issued"] == 1


def test_page_limit_one(reference: dict[tuple[str, str], list[str]]) -> None:
    with mock("openstack", "flexible-engine", page_limit=1) as m:
        assert snapshot(OpenStackDriver(m.backend["options"])) == reference
        image_pages = [r for r in m.server.requests() if r.path.endswith("/image/v2/images")]
        assert len(image_pages) >= 2 * len(reference[("eu-west-0", "image")])  # public + shared pages


def test_malformed_bodies_full_data_or_clear_error(reference: dict[tuple[str, str], list[str]]) -> None:
    outcomes = []
    for seed in (1, 2, 3):
        with mock("openstack", "flexible-engine", malformed_rate=0.1, seed=seed) as m:
            try:
                outcomes.append(snapshot(OpenStackDriver(m.backend["options"])) == reference)
            except UnavailableError as exc:
                assert "malformed" in str(exc) or "answer" in str(exc)
                outcomes.append(False)
            assert m.server._counters.faults.get("malformed", 0) > 0
    assert any(outcomes)  # retries recover from broken bodies most of the time


def test_always_malformed_is_unavailable() -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver({**m.backend["options"], "retries": 1})
        driver.regions()
        m.server.set_faults(malformed_rate=1.0)
        with pytest.raises(UnavailableError, match="malformed") as info:
            list(driver.items(Kind.NETWORK, "eu-west-0"))
        assert info.value.__cause__ is not None


def test_fail_auth_and_bad_password() -> None:
    with mock("openstack", "flexible-engine", fail_auth=True) as m:
        with pytest.raises(AuthenticationError) as info:
            OpenStackDriver(m.backend["options"]).check()
        assert info.value.__cause__ is not None
    with mock("openstack", "flexible-engine") as m:
        options: dict[str, Any] = m.backend["options"]
        bad = {**options, "auth": {**options["auth"], "password": "not-the-password"}}
        with pytest.raises(AuthenticationError, match="credentials refused"):
            OpenStackDriver(bad).regions()


def test_timeout() -> None:
    with mock("openstack", "cloudwatt") as m:
        driver = OpenStackDriver({**m.backend["options"], "timeout": 0.3, "retries": 0})
        driver.regions()
        m.server.set_faults(latency_ms=1500)
        with pytest.raises(BackendTimeoutError, match=r"0\.3s"):
            list(driver.items(Kind.COMPUTE, "fr1"))


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    options = {"auth": {"auth_url": f"http://127.0.0.1:{port}/identity/v3", "username": "u",
                        "password": "p4ssw0rd", "project_name": "p", "user_domain_name": "Default",
                        "project_domain_name": "Default"}, "retries": 0}
    with pytest.raises(UnavailableError):
        OpenStackDriver(options).regions()


def test_unknown_region_is_not_found() -> None:
    with mock("openstack", "cloudwatt") as m, pytest.raises(BackendNotFoundError):
        list(OpenStackDriver(m.backend["options"]).items(Kind.COMPUTE, "fr9"))


def test_all_errors_are_backend_errors() -> None:
    for error in (AuthenticationError, RateLimitedError, UnavailableError, BackendTimeoutError):
        assert issubclass(error, BackendError)


def test_short_token_life_with_latency_logs_in_a_bounded_number_of_times(
        reference: dict[tuple[str, str], list[str]]) -> None:
    """A token is reused until it (nearly) expires and renewed once per 401: with 1 s tokens and
    100 ms of latency, about one login per second of refresh, not one per request."""
    with mock("openstack", "flexible-engine", token_ttl=1, latency_ms=100) as m:
        driver = OpenStackDriver(m.backend["options"])
        started = time.monotonic()
        assert snapshot(driver) == reference
        elapsed = time.monotonic() - started
        requests = len(m.server.requests())
        logins = m.platform.state()["tokens_issued"]
        assert logins <= elapsed + 4, (logins, elapsed, requests)
        assert logins < requests / 4


@pytest.mark.parametrize("seed", [1, 2])
def test_malformed_bodies_at_20_percent_are_resent_to_full_data(reference: dict[tuple[str, str], list[str]],
                                                                seed: int) -> None:
    """A cut-short JSON answer is sent again, one request at a time (as the Cloud Director
    driver does), so one broken page does not fail a whole listing."""
    with mock("openstack", "flexible-engine", malformed_rate=0.2, seed=seed) as m:
        assert snapshot(OpenStackDriver(m.backend["options"])) == reference
        assert m.server._counters.faults.get("malformed", 0) > 0


def test_password_in_a_url_is_not_shown() -> None:
    with mock("openstack", "flexible-engine", fail_auth=True) as m:
        options = m.backend["options"]
        auth = {**options["auth"], "auth_url": options["auth"]["auth_url"].replace("://", "://someone:hunter2@")}
        with pytest.raises(AuthenticationError) as info:
            OpenStackDriver({**options, "auth": auth}).check()
        assert "hunter2" not in str(info.value) and "***@" in str(info.value)


def test_tokens_expired_by_the_server_are_renewed_with_one_login(reference: dict[tuple[str, str], list[str]]) -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver(m.backend["options"])
        list(driver.items(Kind.COMPUTE, "eu-west-0"))
        assert m.server.expire_tokens() == 1  # the mock's own tokens, refused from now on (401)
        assert snapshot(driver) == reference
        assert m.platform.state()["tokens_issued"] == 2
