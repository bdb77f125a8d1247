"""Outside the repository: every distribution is built, installed with plain pip into a fresh
virtual environment (not editable), and cloudcat works from there — the demo, the version, the
driver listing and a test run against the installed copy. Installing a driver wheel resolves our
core distribution (cloudcat-catalog), never the unrelated ``cloudcat`` project on PyPI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ["static", "openstack", "vcd", "vsphere", "libcloud"]


def _run(args: list[str], *, timeout: float = 900, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    uv = shutil.which("uv")
    assert uv is not None, "uv builds the distributions (the README's set-up installs it)"
    _run([uv, "build", "--all-packages", "--out-dir", str(out)], cwd=ROOT)
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with every wheel installed by pip (the core with [all])."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    core = next(dist.glob("cloudcat_catalog-*.whl"))
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--find-links", str(dist),
          f"{core}[all]", "pytest", "hypothesis"])
    yield home


def test_wheels_carry_license_readme_and_only_their_package(dist: Path) -> None:
    wheels = {w.name.split("-")[0]: w for w in dist.glob("*.whl")}
    assert set(wheels) == {"cloudcat_catalog", *(f"cloudcat_{d}" for d in DRIVERS)}
    for name, wheel in wheels.items():
        with zipfile.ZipFile(wheel) as z:
            names = z.namelist()
            metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        assert any(n.endswith("licenses/LICENSE") for n in names), f"{name} has no LICENSE"
        assert "Description-Content-Type: text/markdown" in metadata, f"{name} has no long description"
        assert "Classifier: " in metadata
        packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        assert packages == {name.replace("_catalog", "")}, f"{name} carries {packages}"
        if name != "cloudcat_catalog":
            assert "Requires-Dist: cloudcat-catalog<0.3,>=0.2" in metadata
    with zipfile.ZipFile(wheels["cloudcat_catalog"]) as z:
        assert "cloudcat/demo/examples/brand_offers.py" in z.namelist()
    core_sdist = next(dist.glob("cloudcat_catalog-*.tar.gz"))
    with tarfile.open(core_sdist) as t:
        tops = {m.name.split("/")[1] for m in t.getmembers() if "/" in m.name}
    assert "drivers" not in tops and "bench" not in tops and "uv.lock" not in tops and "src" in tops


def test_installing_a_driver_wheel_never_resolves_the_other_cloudcat(dist: Path, tmp_path: Path) -> None:
    wheel = next(dist.glob("cloudcat_openstack-*.whl"))
    report = tmp_path / "report.json"
    venv.create(tmp_path / "venv", with_pip=True)
    _run([str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--quiet",
          "--disable-pip-version-check", "--find-links", str(dist), "--report", str(report), str(wheel)])
    names = {item["metadata"]["name"] for item in json.loads(report.read_text())["install"]}
    assert "cloudcat-catalog" in names and "cloudcat" not in names


def test_installed_copy_runs_the_demo_and_lists_drivers(installed: Path, tmp_path: Path) -> None:
    cloudcat = str(installed / "bin" / "cloudcat")
    assert _run([cloudcat, "--version"], cwd=tmp_path).stdout.strip() == "cloudcat, version 0.2.0"
    drivers = json.loads(_run([cloudcat, "drivers", "--format", "json"], cwd=tmp_path).stdout)
    assert {d["name"]: d["distribution"] for d in drivers} == {d: f"cloudcat-{d}" for d in DRIVERS}
    demo = _run([cloudcat, "demo"], cwd=tmp_path, timeout=600).stdout
    assert "demo completed" in demo and "same offer ids before and after: yes" in demo
    # the installed copy, not the checkout
    where = _run([str(installed / "bin" / "python"), "-c", "import cloudcat; print(cloudcat.__file__)"],
                 cwd=tmp_path).stdout
    assert str(installed) in where and str(ROOT) not in where


def test_a_test_runs_against_the_installed_copy(installed: Path, tmp_path: Path) -> None:
    for name in ("test_query.py", "offer_factories.py"):
        shutil.copy(ROOT / "tests" / name, tmp_path / name)
    proc = _run([str(installed / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "test_query.py"], cwd=tmp_path)
    assert " passed" in proc.stdout and "failed" not in proc.stdout
