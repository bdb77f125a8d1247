"""The OpenStack clients' own conventions, honoured: ``OS_CLOUD`` and the ``OS_*`` variables of an
openrc file when the backend names no ``cloud``/``auth``; every region read even when clouds.yaml
(or ``OS_REGION_NAME``) names one; a missing clouds.yaml entry is a configuration error (exit 2)
before anything is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudcat.testing import MockHandle, mock


@pytest.fixture(scope="module")
def fe() -> Iterator[MockHandle]:
    with mock("openstack", "flexible-engine") as handle:
        yield handle


def cli(tmp_path: Path, config: dict[str, Any], *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", "--config", str(path), *args],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path, env={**clean, **env})


def config(tmp_path: Path, options: dict[str, Any]) -> dict[str, Any]:
    return {"backends": {"fe": {"driver": "openstack", "options": options}},
            "brands": {"fe": {"backend": "fe"}}, "store": str(tmp_path / "catalog.db")}


def regions(proc: subprocess.CompletedProcess[str]) -> set[str]:
    assert proc.returncode == 0, proc.stderr
    return {o["region"] for o in json.loads(proc.stdout) if o["kind"] == "location"}


def write_clouds_yaml(tmp_path: Path, fe: MockHandle) -> Path:
    entry = fe.platform.clouds_yaml_entry(region="eu-west-0")  # type: ignore[attr-defined]
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"flexible-engine": entry}}))
    return path


def test_os_cloud_names_the_entry_and_every_region_is_read(tmp_path: Path, fe: MockHandle) -> None:
    clouds = write_clouds_yaml(tmp_path, fe)
    env = {"OS_CLOUD": "flexible-engine", "OS_CLIENT_CONFIG_FILE": str(clouds)}
    found = regions(cli(tmp_path, config(tmp_path, {}), "offers", "--refresh", "-f", "json", env=env))
    # the entry's region_name (eu-west-0) does not narrow the refresh
    assert found == {"eu-west-0", "eu-west-1"}
    narrowed = config(tmp_path, {"region_name": "eu-west-1"})
    narrowed["store"] = str(tmp_path / "narrowed.db")
    assert regions(cli(tmp_path, narrowed, "offers", "--refresh", "-f", "json", env=env)) == {"eu-west-1"}


def test_openrc_variables_are_read_when_nothing_else_is_given(tmp_path: Path, fe: MockHandle) -> None:
    env = fe.platform.os_environ(region="eu-west-0")  # type: ignore[attr-defined]
    proc = cli(tmp_path, config(tmp_path, {}), "offers", "--refresh", "-f", "json", env=env)
    assert regions(proc) == {"eu-west-0", "eu-west-1"}
    broken = {**env, "OS_PASSWORD": "not-" + env["OS_PASSWORD"]}
    failed = cli(tmp_path, config(tmp_path, {}), "-v", "refresh", env=broken)
    assert failed.returncode == 1 and "credentials refused" in failed.stderr
    assert broken["OS_PASSWORD"] not in failed.stdout + failed.stderr


def test_missing_clouds_yaml_entry_is_a_configuration_error(tmp_path: Path, fe: MockHandle) -> None:
    clouds = write_clouds_yaml(tmp_path, fe)
    proc = cli(tmp_path, config(tmp_path, {"cloud": "flexible-engin", "clouds_file": str(clouds)}), "refresh",
               env={})
    assert proc.returncode == 2, proc.stderr
    assert "did you mean 'flexible-engine'" in proc.stderr and "backends.fe.options.cloud" in proc.stderr


def test_no_credentials_at_all_says_what_to_give(tmp_path: Path) -> None:
    proc = cli(tmp_path, config(tmp_path, {}), "refresh", env={})
    assert proc.returncode == 2 and "OS_CLOUD" in proc.stderr
