"""Driver discovery (entry points, install hints, conflicts) and the mock server command, as a user
meets them on the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml


def cloudcat(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def fake_distribution(root: Path, name: str, entry_points: str) -> None:
    info = root / f"{name.replace('-', '_')}-9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 9.9\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_two_distributions_claiming_one_driver_name_is_a_clear_error(tmp_path: Path) -> None:
    fake_distribution(tmp_path, "acme-static", "[cloudcat.drivers]\nstatic = cloudcat_static:StaticDriver\n")
    proc = cloudcat("drivers", "--format", "json", env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "'static' is claimed by several distributions" in proc.stderr
    assert "acme-static 9.9" in proc.stderr and "cloudcat-static" in proc.stderr


def test_a_third_party_distribution_appears_in_drivers(tmp_path: Path) -> None:
    fake_distribution(tmp_path, "acme-files", "[cloudcat.drivers]\nacme = cloudcat_static:StaticDriver\n")
    proc = cloudcat("drivers", "--format", "json", env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    acme = next(d for d in json.loads(proc.stdout) if d["name"] == "acme")
    assert acme["distribution"] == "acme-files" and acme["version"] == "9.9"


def test_known_but_missing_driver_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the vcd distribution is installed here: hide its entry point, as in an environment without it
    from click.testing import CliRunner

    from cloudcat import registry
    from cloudcat.cli import cli

    scan = registry._scan
    monkeypatch.setattr(registry, "_scan", lambda group: {k: v for k, v in scan(group).items() if k != "vcd"})
    registry.refresh_entries()
    config = tmp_path / "cloudcat.yaml"
    config.write_text(yaml.safe_dump({"backends": {"cav": {"driver": "vcd", "options": {}}},
                                      "brands": {"x": {"backend": "cav"}}, "store": str(tmp_path / "c.db")}))
    try:
        result = CliRunner().invoke(cli, ["refresh", "--config", str(config)])
    finally:
        registry.refresh_entries()
    assert result.exit_code == 2  # a configuration problem: nothing is read
    assert "pip install cloudcat-vcd" in result.output
    assert f"{config}:" in result.output and "backends.cav.driver" in result.output


def test_install_hints_name_only_distributions_this_project_ships() -> None:
    from cloudcat.registry import KNOWN_DRIVERS

    root = Path(__file__).resolve().parents[1] / "drivers"
    shipped = {}
    for pyproject in root.glob("*/pyproject.toml"):
        text = pyproject.read_text(encoding="utf-8")
        name = text.split('name = "', 1)[1].split('"', 1)[0]
        shipped[name] = text
    for driver, distribution in KNOWN_DRIVERS.items():
        assert distribution in shipped, f"hint for {driver} names {distribution}, which is not under drivers/"
        assert f"{driver} = " in shipped[distribution], f"{distribution} does not register driver {driver}"


def test_unknown_driver_lists_the_installed_ones(tmp_path: Path) -> None:
    config = tmp_path / "cloudcat.yaml"
    config.write_text(yaml.safe_dump({"backends": {"b": {"driver": "nope", "options": {}}},
                                      "brands": {"x": {"backend": "b"}}, "store": str(tmp_path / "c.db")}))
    proc = cloudcat("refresh", "--config", str(config))
    assert proc.returncode == 2
    assert "no driver named 'nope' is installed" in proc.stderr and "static" in proc.stderr


def test_mock_serve_prints_json_first_then_serves_until_sigterm() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "mock", "serve", "openstack", "--fixture",
                             "flexible-engine", "--page-limit", "5", "--regions", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["url"].startswith("http://127.0.0.1:")
        assert first["backend"]["driver"] == "openstack" and first["backend"]["options"]["auth"]["auth_url"]
        import httpx

        state = httpx.get(first["url"] + "/_cloudcat/state", timeout=10).json()
        assert state["fault_settings"]["page_limit"] == 5 and len(state["regions"]) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_mock_refuses_a_non_loopback_address() -> None:
    started = time.monotonic()
    proc = cloudcat("mock", "serve", "openstack", "--host", "0.0.0.0")
    assert proc.returncode == 2 and "only loopback" in proc.stderr
    assert time.monotonic() - started < 60


def test_mock_list_names_the_installed_platforms() -> None:
    names = cloudcat("mock", "list").stdout.split()
    assert {"openstack", "vcd"} <= set(names)


def test_mock_reset_restores_state_and_the_starting_faults() -> None:
    import httpx

    from cloudcat.testing import mock

    with mock("openstack", "cloudwatt", latency_ms=1) as m:
        httpx.post(m.url + "/_cloudcat/faults", json={"error_rate": 1.0}, timeout=10).raise_for_status()
        assert httpx.get(m.url + "/identity/v3", timeout=10).status_code == 503
        httpx.post(m.url + "/_cloudcat/reset", timeout=10).raise_for_status()
        state = httpx.get(m.url + "/_cloudcat/state", timeout=10).json()
        assert state["fault_settings"]["error_rate"] == 0 and state["fault_settings"]["latency_ms"] == 1
        assert state["requests"] == 0
        assert httpx.get(m.url + "/identity/v3", timeout=10).status_code == 200
