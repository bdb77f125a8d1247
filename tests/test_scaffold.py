"""``cloudcat plugin new``: a generated driver package installs, is listed, works in the CLI and
passes the conformance kit, in a throwaway virtualenv of its own."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudcat.cli import cli
from cloudcat.errors import ConfigError
from cloudcat.scaffold import new_plugin, plugin_names, render

MAIN = Path(__file__).resolve().parents[1]


# -- the templates and names -------------------------------------------------------------------


def test_render_sections_and_values() -> None:
    text = "a={{a}}\n{{#mock}}\nwith {{a}}\n{{/mock}}\n{{^mock}}\nwithout\n{{/mock}}\nend {{#mock}}m{{/mock}}\n"
    assert render(text, {"a": "1"}, {"mock": True}) == "a=1\nwith 1\nend m\n"
    assert render(text, {"a": "1"}, {"mock": False}) == "a=1\nwithout\nend \n"
    with pytest.raises(KeyError):
        render("{{missing}}", {}, {})


@pytest.mark.parametrize(("name", "dist", "package", "cls"), [
    ("acme", "cloudcat-acme", "cloudcat_acme", "Acme"),
    ("my-cloud", "cloudcat-my-cloud", "cloudcat_my_cloud", "MyCloud"),
    ("t_cloud2", "cloudcat-t-cloud2", "cloudcat_t_cloud2", "TCloud2"),
])
def test_plugin_names(name: str, dist: str, package: str, cls: str) -> None:
    names = plugin_names(name)
    assert (names.dist, names.package, names.Class) == (dist, package, cls)


@pytest.mark.parametrize("bad", ["Acme", "1cloud", "my cloud", "a--b", "static", "openstack", ""])
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        plugin_names(bad)
    assert err.value.field == "name"


def test_cli_creates_the_package_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["plugin", "new", "acme", "--dest", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "cloudcat-acme"
    assert f"created {root}" in result.output
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "src/cloudcat_acme/__init__.py",
                     "src/cloudcat_acme/driver.py", "src/cloudcat_acme/fixtures/catalog.json",
                     "src/cloudcat_acme/mock.py", "src/cloudcat_acme/py.typed", "tests/test_acme_conformance.py"]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'acme = "cloudcat_acme.driver:AcmeDriver"' in pyproject
    assert '[project.entry-points."cloudcat.mocks"]' in pyproject
    again = runner.invoke(cli, ["plugin", "new", "acme", "--dest", str(tmp_path)])
    assert again.exit_code == 2
    assert "already exists" in again.output
    bad = runner.invoke(cli, ["plugin", "new", "Bad Name", "--dest", str(tmp_path)])
    assert bad.exit_code == 2 and "invalid driver name" in bad.output


def test_no_mock_keeps_the_mock_in_tests(tmp_path: Path) -> None:
    root = new_plugin("my-cloud", tmp_path, with_mock=False)
    assert (root / "tests" / "mock_platform.py").is_file()
    assert (root / "tests" / "fixtures" / "catalog.json").is_file()
    assert not (root / "src" / "cloudcat_my_cloud" / "mock.py").exists()
    assert "cloudcat.mocks" not in (root / "pyproject.toml").read_text()
    assert "mock = MyCloudMock" in (root / "tests" / "test_my_cloud_conformance.py").read_text()


def test_generated_code_is_lint_clean(tmp_path: Path) -> None:
    new_plugin("acme", tmp_path)
    new_plugin("my-cloud", tmp_path, with_mock=False)
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is part of the dev dependencies"
    proc = subprocess.run([ruff, "check", "--no-cache", "--config", str(MAIN / "pyproject.toml"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- installed in a virtualenv of its own ----------------------------------------------------


def _run(cmd: list[str], *, cwd: Path | None = None, timeout: float = 300.0,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
                          env=env)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two generated plugins (with and without a shipped mock) installed next to the core."""
    uv = shutil.which("uv")
    assert uv, "uv (the project's tool) is needed to build the throwaway virtualenv"
    root = tmp_path_factory.mktemp("plugins")
    acme = new_plugin("acme", root)
    mycloud = new_plugin("my-cloud", root, with_mock=False)
    venv = root / "venv"
    _run([uv, "venv", "-q", "-p", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    install = [uv, "pip", "install", "-q", "-p", str(python), "-e", str(MAIN), "-e", f"{acme}[test]",
               "-e", str(mycloud)]
    proc = subprocess.run(install, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:  # no index reachable: everything needed is in uv's cache
        _run([*install, "--offline"], timeout=600)
    return {"root": root, "acme": acme, "mycloud": mycloud, "bin": venv / "bin"}


def _venv_env(plugin_env: dict[str, Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{plugin_env['bin']}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_installed_plugins_are_listed_with_distribution_and_version(plugin_env: dict[str, Path]) -> None:
    env = _venv_env(plugin_env)
    out = _run([str(plugin_env["bin"] / "cloudcat"), "drivers", "--format", "json"], env=env).stdout
    drivers = {d["name"]: d for d in json.loads(out)}
    assert drivers["acme"]["distribution"] == "cloudcat-acme"
    assert drivers["acme"]["version"] == "0.1.0"
    assert drivers["my-cloud"]["distribution"] == "cloudcat-my-cloud"
    assert sorted(drivers["acme"]["capabilities"]["kinds"]) == ["compute", "image", "location", "storage"]
    mocks = _run([str(plugin_env["bin"] / "python"), "-c",
                  "from cloudcat.registry import mock_names; print(' '.join(mock_names()))"], env=env).stdout
    assert "acme" in mocks.split()
    assert "my-cloud" not in mocks.split()


def test_installed_plugins_pass_the_kit(plugin_env: dict[str, Path]) -> None:
    env = _venv_env(plugin_env)
    outcomes: dict[str, dict[str, str]] = {}
    for plugin in ("acme", "mycloud"):
        # as the author runs it: plain pytest in the package's folder
        report = plugin_env["root"] / f"{plugin}-kit.xml"
        proc = subprocess.run(
            [str(plugin_env["bin"] / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
             f"--junitxml={report}"],
            cwd=plugin_env[plugin], capture_output=True, text=True, timeout=600, env=env, check=False)
        assert proc.returncode == 0, proc.stdout[-5000:]
        for case in ET.parse(report).iter("testcase"):
            cls = case.get("classname", "").rsplit(".", 1)[-1]
            state = next((t for t in ("failure", "error", "skipped") if case.find(t) is not None), "passed")
            outcomes.setdefault(cls, {})[case.get("name", "")] = state
    assert set(outcomes) == {"TestAcmeConformance", "TestMyCloudConformance"}
    for cls, tests in outcomes.items():
        ran = {name for name, state in tests.items() if state == "passed"}
        # the checks that need a mock, the entry points and the catalog all ran for real
        assert {"test_paging", "test_unavailable", "test_rate_limited", "test_authentication", "test_timeout",
                "test_token_renewal", "test_deadline",
                "test_secrets_errors", "test_lazy_import", "test_offers_validate", "test_offer_ids",
                "test_offer_ids_stable", "test_capability_declared[prices]"} <= ran, cls


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no output within {timeout} s")
    return proc.stdout.readline()


def test_installed_plugin_works_in_every_command(plugin_env: dict[str, Path]) -> None:
    """The generated mock served by ``cloudcat mock serve``, read by refresh, offers and get."""
    env = _venv_env(plugin_env)
    cloudcat = str(plugin_env["bin"] / "cloudcat")
    assert "acme" in _run([cloudcat, "mock", "list"], env=env).stdout.split()
    server = subprocess.Popen([cloudcat, "mock", "serve", "acme"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        started = json.loads(_first_line(server, 60))
        workdir = plugin_env["root"] / "cli"
        workdir.mkdir(exist_ok=True)
        config = workdir / "cloudcat.yaml"
        config.write_text(json.dumps({
            "backends": {"acme-mock": started["backend"]},
            "brands": {"acme-cloud": {"backend": "acme-mock", "operator": "Acme Operator"}},
            "store": str(workdir / "catalog.db")}))
        base = ["-c", str(config)]
        _run([cloudcat, "refresh", *base], env=env)
        offers = json.loads(_run([cloudcat, "offers", *base, "--kind", "compute", "--format", "json",
                                  "--sort", "id"], env=env).stdout)
        ids = [o["id"] for o in offers]
        assert ids == ["acme-cloud/compute/eu-central-1/s3.large.2", "acme-cloud/compute/eu-west-0/s3.large.2",
                       "acme-cloud/compute/eu-west-0/s3.medium.2", "acme-cloud/compute/eu-west-0/s3.xlarge.4"]
        priced = {o["id"]: o["price"] for o in offers}
        assert priced["acme-cloud/compute/eu-west-0/s3.medium.2"]["amount"] in ("0.0331", 0.0331)
        assert priced["acme-cloud/compute/eu-west-0/s3.large.2"] is None  # unknown, never 0
        got = json.loads(_run([cloudcat, "get", *base, "acme-cloud/compute/eu-west-0/s3.xlarge.4",
                               "--format", "json"], env=env).stdout)
        got = got[0] if isinstance(got, list) else got
        assert (got["vcpus"], got["memory_mib"], got["operator"], got["driver"]) == (4, 16384, "Acme Operator",
                                                                                     "acme")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
    assert server.returncode is not None
