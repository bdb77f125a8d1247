"""`cloudcat init`: a starting cloudcat.yaml from the user's clouds.yaml, which opens and refreshes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudcat.config import load_config
from cloudcat.errors import ConfigError
from cloudcat.init import clouds_yaml_places, find_clouds_yaml, read_cloud_names, write_starter_config


def cloudcat(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, **(env or {})})


def test_init_writes_a_config_that_refreshes_from_the_clouds_yaml_entries(tmp_path: Path, cloudcat_mock: Any) -> None:
    m = cloudcat_mock("openstack", "flexible-engine")
    clouds = {"clouds": {"fe-paris": m.platform.clouds_yaml_entry(), "other cloud/2": {"auth": {}}}}
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump(clouds))
    home = tmp_path / "home"
    env = {"HOME": str(home), "OS_CLIENT_CONFIG_FILE": ""}

    proc = cloudcat("init", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "2 cloud(s): fe-paris, other cloud/2" in proc.stdout
    config = load_config(tmp_path / "cloudcat.yaml")
    assert {n: (b.driver, b.options) for n, b in config.backends.items()} == {
        "fe-paris": ("openstack", {"cloud": "fe-paris"}), "other-cloud-2": ("openstack", {"cloud": "other cloud/2"})}
    assert {n: (b.display_name, b.backend) for n, b in config.brands.items()} == {
        "fe-paris": ("fe-paris", "fe-paris"), "other-cloud-2": ("other cloud/2", "other-cloud-2")}

    # the written file is used as it is: the mocked cloud is read through its clouds.yaml entry
    text = (tmp_path / "cloudcat.yaml").read_text()
    (tmp_path / "cloudcat.yaml").write_text(text.replace("other-cloud-2:\n    driver: openstack",
                                                         "other-cloud-2:\n    enabled: false\n    driver: openstack"))
    proc = cloudcat("--store", ":memory:", "offers", "-f", "value", "-c", "id", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("fe-paris/compute/") for line in proc.stdout.splitlines()), proc.stdout

    # never overwritten unless asked
    proc = cloudcat("init", cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "already exists (give --force" in proc.stderr
    assert "enabled: false" in (tmp_path / "cloudcat.yaml").read_text()
    proc = cloudcat("init", "--force", "-o", "cloudcat.yaml", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "enabled: false" not in (tmp_path / "cloudcat.yaml").read_text()


def test_clouds_yaml_is_found_where_openstack_clients_look(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "work"
    (home / ".config" / "openstack").mkdir(parents=True)
    cwd.mkdir()
    user = home / ".config" / "openstack" / "clouds.yaml"
    user.write_text("clouds: {a: {}}\n")
    assert find_clouds_yaml({}, cwd, home) == user
    (cwd / "clouds.yaml").write_text("clouds: {b: {}}\n")
    assert find_clouds_yaml({}, cwd, home) == cwd / "clouds.yaml"
    explicit = tmp_path / "mine.yaml"
    explicit.write_text("clouds: {c: {}}\n")
    assert find_clouds_yaml({"OS_CLIENT_CONFIG_FILE": str(explicit)}, cwd, home) == explicit
    assert clouds_yaml_places({}, cwd, home)[-1] == Path("/etc/openstack/clouds.yaml")
    system = tmp_path / "etc"
    system.mkdir()
    with pytest.raises(ConfigError, match=r"no clouds\.yaml found \(looked in .*nowhere/clouds\.yaml") as info:
        find_clouds_yaml({}, tmp_path / "nowhere", tmp_path / "nobody", system)
    assert str(system / "clouds.yaml") in str(info.value)
    (system / "clouds.yaml").write_text("clouds: {d: {}}\n")
    assert find_clouds_yaml({}, tmp_path / "nowhere", tmp_path / "nobody", system) == system / "clouds.yaml"


@pytest.mark.parametrize(("text", "message"), [
    ("clouds: []\n", "no cloud entries"),
    ("{}\n", "no cloud entries"),
    ("clouds: {a: {}\n", "invalid YAML"),
])
def test_bad_clouds_yaml_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        read_cloud_names(path)
    assert info.value.source == str(path)
    with pytest.raises(ConfigError):
        write_starter_config(tmp_path / "cloudcat.yaml", clouds_yaml=path)
    assert not (tmp_path / "cloudcat.yaml").exists()


def test_init_from_a_clouds_yaml_named_by_clouds_writes_backends_that_read_it(tmp_path: Path,
                                                                             cloudcat_mock: Any) -> None:
    # a clouds.yaml where OpenStack clients would not look: the backends must name it themselves
    m = cloudcat_mock("openstack", "flexible-engine")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {"fe-paris": m.platform.clouds_yaml_entry()}}))
    env = {"HOME": str(tmp_path / "home"), "OS_CLIENT_CONFIG_FILE": ""}

    proc = cloudcat("init", "--clouds", "creds/clouds.yaml", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    config = load_config(tmp_path / "cloudcat.yaml")
    assert config.backends["fe-paris"].options == {"cloud": "fe-paris",
                                                   "clouds_file": str((creds / "clouds.yaml").resolve())}
    # read from another folder too: the path written does not depend on where cloudcat runs
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = cloudcat("--config", str(tmp_path / "cloudcat.yaml"), "--store", ":memory:", "offers", "-f", "value",
                    "-c", "id", cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("fe-paris/compute/") for line in proc.stdout.splitlines()), proc.stdout
