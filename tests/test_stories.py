"""The acceptance stories, end to end, the way a user runs them: the example client scripts and
the CLI in subprocesses, over real sockets, against the mocked OpenStack, Cloud Director, Azure
Resource Manager and vCenter."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudcat.demo import DATA, demo_config
from cloudcat.testing import MockHandle

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def clouds(cloudcat_mock: Callable[..., MockHandle]) -> dict[str, MockHandle]:
    return {"cw": cloudcat_mock("openstack", "cloudwatt"), "fe": cloudcat_mock("openstack", "flexible-engine"),
            "cav": cloudcat_mock("vcd", "cloud-avenue"), "bleu": cloudcat_mock("azure"),
            "vs": cloudcat_mock("vsphere")}


@pytest.fixture
def config(clouds: dict[str, MockHandle], tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield demo_config({k: v.backend for k, v in clouds.items()}, str(tmp_path / "catalog.db"))


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(args: list[str], config: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDCAT_CONFIG": str(config)}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=180)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def cli(*args: str, config: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["-m", "cloudcat.cli", *args], config, check=check)


def test_relabel_story(config: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path, config)
    before = run([str(EXAMPLES / "brand_offers.py"), "cloudwatt"], path).stdout.splitlines()
    assert len(before) > 20 and all(" Cloudwatt " in line for line in before)

    relabeled = copy.deepcopy(config)
    relabeled["brands"]["cloudwatt"].update(operator="Orange Cloud for Business", aliases=["ocb-openstack"])
    path = write(tmp_path, relabeled)
    after = run([str(EXAMPLES / "brand_offers.py"), "cloudwatt"], path).stdout.splitlines()
    assert [x.split()[0] for x in after] == [x.split()[0] for x in before]
    assert all("Orange Cloud for Business" in line for line in after)

    # an id written under the alias resolves, with a notice, to the current offer
    got = cli("get", "ocb-openstack/compute/fr1/n1.cw.standard-4", "--format", "json", config=path)
    offer = json.loads(got.stdout)
    assert offer["id"] == "cloudwatt/compute/fr1/n1.cw.standard-4"
    assert offer["operator"] == "Orange Cloud for Business"
    assert "alias of 'cloudwatt'" in got.stderr
    # a brand filter by alias selects the current brand
    listed = json.loads(cli("offers", "--brand", "ocb-openstack", "--kind", "compute", "--format", "json",
                            config=path).stdout)
    assert {o["brand"] for o in listed} == {"cloudwatt"} and len(listed) == len(after)


def test_backend_swap_story(config: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path, config)
    on_fe = run([str(EXAMPLES / "general_purpose_offer.py"), "orange-iaas/gp-4-16"], path).stdout
    assert "orange-iaas/gp-4-16: 4 vCPU / 16384 MiB in FR" in on_fe
    assert "on backend fe (openstack driver)" in on_fe

    swapped = copy.deepcopy(config)
    swapped["brands"]["orange-iaas"]["backend"] = "cav"
    path = write(tmp_path, swapped)
    on_cav = run([str(EXAMPLES / "general_purpose_offer.py"), "orange-iaas/gp-4-16"], path).stdout
    assert "orange-iaas/gp-4-16: 4 vCPU / 16384 MiB in FR" in on_cav
    assert "on backend cav (vcd driver)" in on_cav and "flexible pool" in on_cav

    # the same offers query, unchanged, now returns Cloud Director offers sized for it
    found = json.loads(cli("offers", "--brand", "orange-iaas", "--kind", "compute", "--min-vcpus", "4",
                           "--min-memory-mib", "16384", "--sort", "price", "--format", "json", config=path).stdout)
    assert found and {o["backend"] for o in found} == {"cav"}
    first = found[0]
    assert (first["vcpus"], first["memory_mib"]) == (4, 16384) and first["price"]["unit"] == "hour"


def test_migration_plan_json_contract_and_gaps(config: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path, config)
    proc = cli("plan", "--from", "flexible-engine", "--to", "cloud-avenue", "--inventory",
               str(DATA / "inventory-flexible-engine.csv"), "--format", "json", config=path)
    plan = json.loads(proc.stdout)
    assert set(plan["totals"]) == {"EUR"}
    lines = {line["item"]: line for line in plan["lines"]}
    for line in plan["lines"]:
        assert {"source", "quantity", "target", "alternatives", "monthly_before", "monthly_after", "currency",
                "gap_reason"} <= set(line)
        assert line["source"].startswith("flexible-engine/") or line["target"] is None
        assert (line["target"] is None) == (line["gap_reason"] is not None)
    assert lines["3d rendering"]["target"] is None and "GPU" in lines["3d rendering"]["gap_reason"]
    assert lines["legacy euleros"]["target"] is None and "euleros" in lines["legacy euleros"]["gap_reason"]
    web = lines["web front"]
    assert web["target"].startswith("cloud-avenue/compute/vdr/") and web["quantity"] == 10
    assert web["monthly_before"] is not None and web["monthly_after"] is not None

    html = tmp_path / "plan.html"
    cli("plan", "--from", "flexible-engine", "--to", "cloud-avenue", "--inventory",
        str(DATA / "inventory-flexible-engine.csv"), "--format", "html", "--output", str(html), config=path)
    page = html.read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "no GPU offer" in page
    # self-contained: nothing is fetched (an SVG namespace URI is a name, not a request)
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page.lower() and "@import" not in page and "url(" not in page

    csv_out = cli("plan", "--from", "FE-unknown", "--to", "cloud-avenue", config=path, check=False)
    assert csv_out.returncode == 2 and "no brand named 'FE-unknown'" in csv_out.stderr


def test_demo_runs_from_the_quickstart() -> None:
    proc = subprocess.run([sys.executable, "-m", "cloudcat.cli", "demo"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "same offer ids before and after: yes" in out
    assert "on backend fe (openstack driver)" in out and "on backend cav (vcd driver)" in out
    assert "no GPU offer" in out and "demo completed" in out
    # Flexible Engine planned onto each destination: Cloud Avenue, Bleu (through the libcloud driver on
    # the mocked Azure Resource Manager) and a vSphere private cloud, then side by side
    for destination in ("cloud-avenue", "bleu", "private-vsphere"):
        assert f"--to {destination} --inventory" in out
    side = out[out.index("side by side"):].splitlines()
    rows = {line.split()[0]: line for line in side[2:5]}
    assert set(rows) == {"cloud-avenue", "bleu", "private-vsphere"}
    assert all("EUR" in row for row in rows.values())
    assert "Standard_D4s_v5" in out  # a real Azure size name, read by libcloud from the mock
    assert "pool-Bronze" in out  # a vSphere cluster sized as a flexible pool


def test_flexible_engine_to_bleu_and_vsphere_side_by_side(config: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path, config)
    plans = {}
    for destination in ("cloud-avenue", "bleu", "private-vsphere"):
        proc = cli("plan", "--from", "flexible-engine", "--to", destination, "--inventory",
                   str(DATA / "inventory-flexible-engine.csv"), "--format", "json", config=path)
        plans[destination] = {line["item"]: line for line in json.loads(proc.stdout)["lines"]}
    bleu = plans["bleu"]["app servers"]
    assert bleu["target"].startswith("bleu/compute/france") and "Standard_" in bleu["target"]
    assert bleu["monthly_after"] is not None and bleu["currency_after"] == "EUR"  # Azure retail price in EUR
    vs = plans["private-vsphere"]["batch"]
    assert vs["target"].startswith("private-vsphere/compute/") and vs["target_vcpus"] == 8
    for lines in plans.values():  # the same inventory lines, each planned or a gap on every destination
        assert set(lines) == set(plans["cloud-avenue"])
        assert lines["3d rendering"]["target"] is None


def test_no_secret_in_logs_errors_output_or_snapshots(clouds: dict[str, MockHandle], config: dict[str, Any],
                                                      tmp_path: Path) -> None:
    path = write(tmp_path, config)
    proc = cli("--debug", "-v", "refresh", config=path)
    listing = cli("offers", "--format", "json", "--offline", config=path)
    broken = copy.deepcopy(config)
    broken["backends"]["fe"]["options"]["auth"]["password"] = "wrong-" + config["backends"]["fe"]["options"]["auth"][
        "password"]
    failed = cli("-v", "refresh", config=write(tmp_path, broken), check=False)
    assert failed.returncode == 3 and "fe" in failed.stderr

    secrets: set[str] = set()
    for name in ("cw", "fe"):
        options = config["backends"][name]["options"]["auth"]
        secrets.add(options["password"])
        state = clouds[name].platform.state_  # type: ignore[attr-defined]
        secrets.update(state.tokens)
    secrets.add(config["backends"]["cav"]["options"]["password"])
    secrets.add(config["backends"]["vs"]["options"]["password"])
    secrets.add(config["backends"]["bleu"]["options"]["secret"])
    secrets.update(clouds["cav"].platform.state_.sessions)  # type: ignore[attr-defined]
    secrets.add("wrong-" + config["backends"]["fe"]["options"]["auth"]["password"])
    assert len(secrets) > 4  # passwords and the tokens the mocks issued

    db = Path(config["store"]).read_bytes()
    with sqlite3.connect(config["store"]) as conn:
        dumped = "\n".join(conn.iterdump())
    texts = {"refresh output": proc.stdout + proc.stderr, "offers output": listing.stdout + listing.stderr,
             "failed refresh output": failed.stdout + failed.stderr, "snapshot dump": dumped}
    for secret in secrets:
        assert secret.encode() not in db, "secret in the store file"
        for where, text in texts.items():
            assert secret not in text, f"secret found in {where}"
