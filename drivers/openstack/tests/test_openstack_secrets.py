"""No password, application-credential secret or token appears in errors, reprs, logs or items."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cloudcat_openstack.driver import OpenStackDriver

from cloudcat.errors import CloudcatError
from cloudcat.models import Kind
from cloudcat.testing import mock


def test_no_secret_anywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with mock("openstack", "flexible-engine", token_ttl=1, page_limit=4) as m:
        options: dict[str, Any] = m.backend["options"]
        password = options["auth"]["password"]
        app = m.platform.application_credential()  # type: ignore[attr-defined]
        drivers = [OpenStackDriver(options, backend="fe"), OpenStackDriver({"auth": app}, backend="fe-app")]
        for driver in drivers:
            texts.append(repr(driver))
            for region in driver.regions():
                for kind in Kind:
                    texts.extend(i.model_dump_json() for i in driver.items(kind, region.name))
            assert driver.secrets()  # tokens held are known, so they can be redacted
        # failures: wrong password, refused logins, 503s, throttling, broken bodies
        bad = {**options, "auth": {**options["auth"], "password": password + "-wrong"}}
        scenarios: list[tuple[dict[str, Any], dict[str, Any]]] = [
            (bad, {}), (options, {"fail_auth": True}), ({**options, "retries": 0}, {"error_rate": 1.0}),
            ({**options, "retries": 0}, {"throttle_rate": 1.0, "retry_after": 0}),
            ({**options, "retries": 0}, {"malformed_rate": 1.0})]
        for opts, faults in scenarios:
            m.server.set_faults(**{"fail_auth": False, "error_rate": 0, "throttle_rate": 0,
                                   "malformed_rate": 0, **faults})
            driver = OpenStackDriver(opts)
            with pytest.raises(CloudcatError) as info:
                for kind in Kind:
                    list(driver.items(kind, "eu-west-0"))
            texts += [str(info.value), repr(info.value), repr(driver)]
        tokens = list(m.platform.state_.tokens)  # type: ignore[attr-defined]
    assert len(tokens) >= 2
    secrets = [password, password + "-wrong", app["application_credential_secret"], *tokens]
    haystack = "\n".join(texts) + "\n" + caplog.text + "\n" + "\n".join(
        str(r.args) for r in caplog.records)
    assert "eu-west-0" in haystack  # the haystack is real
    for secret in secrets:
        assert secret not in haystack
