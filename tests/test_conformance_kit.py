"""The conformance kit judged on drivers whose faults are known.

The kit runs, as a plugin author runs it (plain pytest in a subprocess), against a correct driver
and against drivers broken in exactly one way each (``tests/broken_drivers``). It must pass the
first and fail each of the others on the check that names its fault — and only there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from cloudcat.driver import DriverOptions
from cloudcat.errors import ConfigError
from cloudcat.testing import mock
from cloudcat.testing.conformance import (
    CHECKS,
    REQUIREMENTS,
    DriverConformance,
    find_option_secrets,
    load_backend_file,
    requires,
)

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

from broken_drivers.platform import PASSWORD, CatalogMock  # noqa: E402

SUITE = textwrap.dedent("""
    import pytest

    from broken_drivers.drivers import (DeadlineIgnoredDriver, DuplicateIdsDriver, GoodDriver,
                                        LeakedPasswordDriver, PlainPasswordDriver, RawExceptionDriver,
                                        UndeclaredKindDriver, ZeroPriceDriver)
    from broken_drivers.eager import EagerImportDriver
    from broken_drivers.platform import CatalogMock
    from cloudcat.testing.conformance import DriverConformance, requires


    class Kit(DriverConformance):
        mock = CatalogMock
        sdk_modules = ["httpx"]
        sdk_package = "httpx"


    class TestGood(Kit):
        driver = GoodDriver


    class TestDuplicateIds(Kit):
        driver = DuplicateIdsDriver


    class TestZeroPrice(Kit):
        driver = ZeroPriceDriver


    class TestRawException(Kit):
        driver = RawExceptionDriver


    class TestDeadlineIgnored(Kit):
        driver = DeadlineIgnoredDriver


    class TestLeakedPassword(Kit):
        driver = LeakedPasswordDriver


    class TestUndeclaredKind(Kit):
        driver = UndeclaredKindDriver


    class TestEagerImport(Kit):
        driver = EagerImportDriver


    class TestPlainPassword(Kit):
        driver = PlainPasswordDriver


    class TestDeclarations(Kit):
        # how a suite declares what cannot run, and an author's own checks gated by `requires`
        driver = GoodDriver
        kit_level = 0  # every kit check is newer than this suite
        unsupported = {"secrets": "this endpoint's options hold no secret worth checking"}

        @requires("paging", "mock")
        def test_own_paging(self, fault_mock):
            assert fault_mock is not None

        @requires("flexible_compute")
        def test_own_flexible(self):
            pass

        @requires("secrets")
        def test_own_secrets(self):
            pass

        @requires("kind:{kind}")
        @pytest.mark.parametrize("kind", ["compute", "network"])
        def test_own_kind(self, kind):
            pass

        @requires("{no_such_parameter}")
        def test_own_bad_requirement(self):
            pass
""")

CLASSES = ["TestGood", "TestDuplicateIds", "TestZeroPrice", "TestRawException", "TestLeakedPassword",
           "TestUndeclaredKind", "TestEagerImport", "TestPlainPassword", "TestDeclarations", "TestDeadlineIgnored"]


@dataclass
class Outcome:
    """One kit test as pytest reported it."""

    outcome: str  # passed, failed, error, skipped
    message: str


def _parse_junit(path: Path) -> dict[str, dict[str, Outcome]]:
    """Outcomes by test class, then by test name."""
    results: dict[str, dict[str, Outcome]] = {}
    for case in ET.parse(path).iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = node.get("message") or ""
                break
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        results.setdefault(cls, {})[case.get("name", "")] = Outcome(outcome, message)
    return results


def _run_kit(workdir: Path, targets: dict[str, list[str]], timeout: float = 300.0,
             ) -> dict[str, dict[str, dict[str, Outcome]]]:
    """Run pytest once per target, concurrently; return each run's outcomes by class and test."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), str(TESTS),
                                                         os.environ.get("PYTHONPATH", "")])}
    procs = {}
    for name, args in targets.items():
        report = workdir / f"{name}.xml"
        procs[name] = (report, subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}", *args],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    results = {}
    for name, (report, proc) in procs.items():
        out, _ = proc.communicate(timeout=timeout)
        assert proc.returncode in (0, 1), f"pytest on {name} exited {proc.returncode}:\n{out[-3000:]}"
        results[name] = _parse_junit(report)
    return results


@pytest.fixture(scope="module")
def kit_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Outcome]]:
    """The kit run once against every example driver."""
    workdir = tmp_path_factory.mktemp("kit")
    (workdir / "test_kit_suite.py").write_text(SUITE)
    results = _run_kit(workdir, {"all": ["test_kit_suite.py"]})["all"]
    assert sorted(results) == sorted(CLASSES)
    return results


def _failed(results: dict[str, Outcome]) -> dict[str, str]:
    return {name: o.message for name, o in results.items() if o.outcome in ("failed", "error")}


def test_kit_passes_a_correct_driver(kit_results: dict[str, dict[str, Outcome]]) -> None:
    good = kit_results["TestGood"]
    assert _failed(good) == {}
    passed = {n for n, o in good.items() if o.outcome == "passed"}
    # the checks that matter ran for real on the correct driver
    assert {"test_item_ids_unique", "test_prices", "test_paging", "test_unavailable", "test_malformed",
            "test_rate_limited", "test_authentication", "test_token_renewal", "test_timeout", "test_deadline",
            "test_secrets_errors", "test_secrets_logs", "test_secrets_repr", "test_secret_options", "test_lazy_import",
            "test_listing_stable", "test_declared_kind[compute]", "test_undeclared_kind[network]",
            "test_capability_declared[zones]", "test_capability_declared[lifecycle]"} <= passed


def test_undeclared_capabilities_are_skips_with_a_reason(kit_results: dict[str, dict[str, Outcome]]) -> None:
    good = kit_results["TestGood"]
    skipped = {n: o.message for n, o in good.items() if o.outcome == "skipped"}
    assert "driver does not declare the 'network' kind" in skipped["test_declared_kind[network]"]
    assert "driver does not declare flexible_compute" in skipped["test_capability_declared[flexible_compute]"]
    # a driver given as a class cannot be opened by name through the catalog: said, not hidden
    assert "registered by name" in skipped["test_offers_validate"]
    assert all(message for message in skipped.values())


def test_a_suite_declares_what_cannot_run(kit_results: dict[str, dict[str, Outcome]]) -> None:
    """`unsupported` may name a requirement: every check needing it is skipped with the suite's reason;
    a check newer than the suite's `kit_level` is skipped saying so."""
    results = kit_results["TestDeclarations"]
    kit_checks = {n: o for n, o in results.items() if not n.startswith("test_own_")}
    secret_checks = {n: o for n, o in kit_checks.items() if n.startswith("test_secret")}
    assert sorted(secret_checks) == ["test_secret_options", "test_secrets_errors", "test_secrets_logs",
                                     "test_secrets_repr"]
    for outcome in secret_checks.values():
        assert outcome.outcome == "skipped"
        assert ("secrets: this endpoint's options hold no secret worth checking (declared in `unsupported`)"
                in outcome.message)
    newer = {n: o for n, o in kit_checks.items() if n not in secret_checks}
    assert len(newer) > 20
    for outcome in newer.values():
        assert outcome.outcome == "skipped"
        assert re.search(r"was added at kit level \d+; this suite is at kit_level 0", outcome.message)


def test_requires_gates_an_authors_own_checks(kit_results: dict[str, dict[str, Outcome]]) -> None:
    results = kit_results["TestDeclarations"]
    assert results["test_own_paging"].outcome == "passed"
    assert results["test_own_kind[compute]"].outcome == "passed"
    skipped = {n: o.message for n, o in results.items() if o.outcome == "skipped"}
    assert "driver does not declare the 'network' kind" in skipped["test_own_kind[network]"]
    assert "driver does not declare flexible_compute" in skipped["test_own_flexible"]
    assert "declared in `unsupported`" in skipped["test_own_secrets"]
    # a requirement that cannot be judged is an error, not a pass
    failed = _failed(results)
    assert set(failed) == {"test_own_bad_requirement"}
    assert "the test has no parameter 'no_such_parameter'" in failed["test_own_bad_requirement"]


def test_requires_refuses_an_unknown_requirement() -> None:
    with pytest.raises(ValueError, match="unknown requirement"):
        requires("pagination")
    assert {"paging", "zones", "prices", "lifecycle", "flexible_compute", "mock", "secrets",
            "sdk_module", "kind:compute"} <= set(REQUIREMENTS)
    assert all(requirement.reason for requirement in REQUIREMENTS.values())


def test_every_kit_check_has_a_level() -> None:
    """The gate (unsupported, kit level) applies to the checks listed in CHECKS: all of them."""
    checks = {name.removeprefix("test_") for name in dir(DriverConformance) if name.startswith("test_")}
    assert checks == set(CHECKS)


def test_option_secrets_are_named_by_the_option_holding_them() -> None:
    class Options(DriverOptions):
        url: str
        password: SecretStr
        api_key: str
        label: str
        token_ttl: int
        pending: str

    raw = {"url": "https://bob:hunter22@api.example:3600", "password": "s3cret-pw", "api_key": "key-123",
           "label": "visible", "token_ttl": 3600, "pending": "${NOT_EXPANDED}"}
    found = find_option_secrets(Options.model_validate(raw), raw, secret_options=["label"])
    assert found == {"password": "s3cret-pw", "api_key": "key-123", "url": "hunter22", "label": "visible"}


BROKEN = {
    "TestDuplicateIds": {"test_item_ids_unique": "duplicate ids",
                         "test_paging": "items repeated under page size 1"},
    "TestZeroPrice": {"test_prices": "unknown price reported as 0"},
    "TestRawException": {"test_unavailable": "raw exception", "test_malformed": "raw exception",
                         "test_rate_limited": "raw exception", "test_authentication": "raw exception",
                         "test_timeout": "raw exception", "test_token_renewal": "raw exception",
                         "test_deadline": "raw exception"},
    "TestLeakedPassword": {"test_secrets_errors": "leaked secret"},
    "TestDeadlineIgnored": {"test_deadline": "must end every backend call at the deadline"},
    "TestUndeclaredKind": {"test_declared_kind[compute]": "undeclared kind",
                           "test_undeclared_kind[image]": "undeclared kind"},
    "TestEagerImport": {"test_lazy_import": "eager import"},
    "TestPlainPassword": {"test_secret_options": "not typed pydantic.SecretStr",
                          "test_secrets_repr": "leaked secret"},
}


@pytest.mark.parametrize("cls", sorted(BROKEN))
def test_kit_fails_each_broken_driver_naming_the_problem(
        cls: str, kit_results: dict[str, dict[str, Outcome]]) -> None:
    failed = _failed(kit_results[cls])
    expected = BROKEN[cls]
    assert set(failed) == set(expected), f"{cls}: failures {sorted(failed)}"
    for test, phrase in expected.items():
        assert phrase in failed[test], f"{cls}.{test}: {failed[test]!r}"


def test_leak_report_does_not_repeat_the_secret(kit_results: dict[str, dict[str, Outcome]]) -> None:
    message = kit_results["TestLeakedPassword"]["test_secrets_errors"].message
    assert "'password'" in message
    assert PASSWORD not in message


def test_raw_exception_report_names_the_exception_type(kit_results: dict[str, dict[str, Outcome]]) -> None:
    failures = _failed(kit_results["TestRawException"])
    assert "httpx.HTTPStatusError" in failures["test_unavailable"]
    assert "JSONDecodeError" in failures["test_malformed"]
    assert "httpx.ReadTimeout" in failures["test_timeout"]


def test_backend_file_points_the_kit_at_another_endpoint(tmp_path: Path) -> None:
    """``--cloudcat-backend`` runs the same suite against an endpoint the kit did not start;
    fault injection is then a skip that says why."""
    (tmp_path / "test_kit_suite.py").write_text(SUITE)
    with mock(CatalogMock) as endpoint:
        options = {**endpoint.backend["options"], "password": "${KIT_TEST_PASSWORD}"}
        (tmp_path / "endpoint.yaml").write_text(
            f"driver: kit-good\noptions:\n  url: {options['url']}\n  username: {options['username']}\n"
            "  password: ${KIT_TEST_PASSWORD}\n")
        (tmp_path / "other.json").write_text('{"driver": "openstack", "options": {}}')
        os.environ["KIT_TEST_PASSWORD"] = PASSWORD
        try:
            results = _run_kit(tmp_path, {
                "endpoint": ["test_kit_suite.py::TestGood", "--cloudcat-backend", "endpoint.yaml"],
                "other": ["test_kit_suite.py::TestGood", "--cloudcat-backend", "other.json"],
            })
        finally:
            del os.environ["KIT_TEST_PASSWORD"]
        served = len(endpoint.server.requests())
    endpoint_results = results["endpoint"]["TestGood"]
    assert _failed(endpoint_results) == {}
    assert endpoint_results["test_items_validate"].outcome == "passed"
    assert endpoint_results["test_secrets_errors"].outcome == "passed"
    assert served > 0  # the suite read the endpoint named in the file
    for fault in ("test_unavailable", "test_rate_limited", "test_authentication", "test_timeout",
                  "test_paging"):
        assert endpoint_results[fault].outcome == "skipped"
        assert "real endpoint" in endpoint_results[fault].message
    other = results["other"]["TestGood"]
    assert {o.outcome for o in other.values()} == {"skipped"}
    assert all("is for driver 'openstack'" in o.message for o in other.values())


def test_backend_file_errors_name_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("driver: acme\noptions:\n  password: ${KIT_UNSET_VARIABLE}\n")
    monkeypatch.delenv("KIT_UNSET_VARIABLE", raising=False)
    with pytest.raises(ConfigError, match="KIT_UNSET_VARIABLE is not set") as err:
        load_backend_file(path)
    assert err.value.source == str(path) and err.value.field == "options.password"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="'driver'"):
        load_backend_file(path)
    monkeypatch.setenv("KIT_SET_VARIABLE", "tok-123")
    path.write_text('{"driver": "acme", "options": {"token": "${KIT_SET_VARIABLE}", "n": [1, "x${KIT_SET_VARIABLE}"]}}')
    assert load_backend_file(path) == {"driver": "acme",
                                       "options": {"token": "tok-123", "n": [1, "xtok-123"]}}


# -- the guide's example is a working driver ----------------------------------------------------

GUIDE = TESTS.parent / "docs" / "writing-a-driver.md"
_BLOCK = re.compile(r"(?:<!-- file: (?P<file>[\w.]+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.DOTALL)


def _guide_blocks() -> list[tuple[str | None, str, str]]:
    return [(m.group("file"), m.group("lang"), m.group("body")) for m in _BLOCK.finditer(GUIDE.read_text())]


def test_guide_snippets_parse() -> None:
    blocks = _guide_blocks()
    assert sum(1 for f, _, _ in blocks if f) >= 6
    for file, lang, body in blocks:
        if lang == "python" and file is None:
            compile(body, f"{GUIDE.name}:snippet", "exec")
        elif lang == "yaml":
            assert isinstance(yaml.safe_load(body), dict)
        elif lang == "json":
            json.loads(body)
        elif lang == "toml":
            tomllib.loads(body)


def test_guide_example_driver_passes_the_kit(tmp_path: Path) -> None:
    """The files the guide builds, written out and run through the kit as a plugin author would."""
    files: dict[str, str] = {}
    for file, _, body in _guide_blocks():
        if file:
            files[file] = files.get(file, "") + body + "\n"
    assert set(files) == {"acme_driver.py", "acme_mock.py", "acme_catalog.json", "test_acme_conformance.py"}
    for name, text in files.items():
        if name.endswith(".py"):
            compile(text, f"{GUIDE.name}:{name}", "exec")
        (tmp_path / name).write_text(text)
    results = _run_kit(tmp_path, {"guide": ["test_acme_conformance.py"]})["guide"]
    outcomes = results["TestAcmeConformance"]
    assert _failed(outcomes) == {}
    ran = {n for n, o in outcomes.items() if o.outcome == "passed"}
    assert {"test_paging", "test_unavailable", "test_malformed", "test_rate_limited", "test_authentication",
            "test_timeout", "test_deadline", "test_secrets_errors", "test_secret_options", "test_lazy_import",
            "test_capability_declared[zones]", "test_capability_declared[prices]"} <= ran
