"""``cloudcat demo``: the two stories cloudcat exists for, on mocked clouds, in under a minute.

It starts the bundled mocked clouds on 127.0.0.1 — OpenStack (Cloudwatt and Flexible Engine
fixtures), Cloud Director (Cloud Avenue), Azure Resource Manager with retail prices (Bleu) and a
vCenter (a private vSphere cloud) — writes a configuration in a temporary folder, and runs the
client scripts of ``examples/`` unchanged against two versions of that configuration:

1. *Relabel*: the Cloudwatt brand moves from operator "Cloudwatt" to "Orange Cloud for
   Business" and gains an alias. Same script, same ids, new operator; ids under the alias resolve.
2. *Backend swap*: brand "Orange IaaS" moves from Flexible Engine (OpenStack) to Cloud Avenue
   (Cloud Director). The same script still gets a general-purpose 4 vCPU / 16 GiB offer in
   France. Then the migration plans of a sample Flexible Engine inventory to each destination its
   customers are offered — Cloud Avenue, Bleu — and to a vSphere private cloud, side by side.

No credentials, no network beyond loopback. Needs the ``cloudcat-openstack``, ``cloudcat-vcd``,
``cloudcat-libcloud`` and ``cloudcat-vsphere`` distributions.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import runpy
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DATA", "demo_config", "examples_dir", "run_demo", "run_example"]

DATA = Path(str(resources.files(__package__) / "data"))

Echo = Callable[[str], Any]


def examples_dir() -> Path:
    """Where the example client scripts are: shipped in the package, or the source checkout's."""
    shipped = Path(str(resources.files(__package__) / "examples"))
    if shipped.is_dir():
        return shipped
    checkout = Path(__file__).resolve().parents[3] / "examples"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("the example scripts are not installed with this cloudcat")


def run_example(script: str, args: list[str], config: Path) -> str:
    """Run an example script unchanged (as ``python examples/<script> args``) with
    ``CLOUDCAT_CONFIG=config``; return what it printed."""
    path = examples_dir() / script
    out = io.StringIO()
    saved_argv, saved_env = sys.argv, os.environ.get("CLOUDCAT_CONFIG")
    sys.argv = [str(path), *args]
    os.environ["CLOUDCAT_CONFIG"] = str(config)
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved_argv
        if saved_env is None:
            os.environ.pop("CLOUDCAT_CONFIG", None)
        else:
            os.environ["CLOUDCAT_CONFIG"] = saved_env
    return out.getvalue()


#: Fixed sizes of the demo's vSphere private cloud (vSphere has no flavors), priced by name in
#: ``prices-vsphere.yaml``; each cluster is also a flexible pool priced per vCPU and GiB.
VSPHERE_SIZES = [{"name": "std-2-4", "vcpus": 2, "memory_mib": 4096},
                 {"name": "std-4-16", "vcpus": 4, "memory_mib": 16384},
                 {"name": "std-8-32", "vcpus": 8, "memory_mib": 32768}]

#: The destinations the demo plans Flexible Engine onto, in the order shown.
DESTINATIONS = ("cloud-avenue", "bleu", "private-vsphere")


def demo_config(backends: dict[str, Any], store: str) -> dict[str, Any]:
    """The demo's configuration, before the relabel and the swap. ``backends`` holds the mocks'
    backend entries: ``cw``, ``fe``, ``cav``, ``bleu`` and ``vs``."""
    fe = copy.deepcopy(backends["fe"])
    fe.setdefault("options", {})["countries"] = {"eu-west-0": "FR", "eu-west-1": "NL"}
    vs = copy.deepcopy(backends["vs"])
    vs.setdefault("options", {}).update({"sizes": VSPHERE_SIZES, "country": "FR"})
    return {
        "backends": {"cw": backends["cw"], "fe": fe, "cav": backends["cav"], "bleu": backends["bleu"], "vs": vs},
        "brands": {
            "cloudwatt": {"display_name": "Cloudwatt", "operator": "Cloudwatt", "backend": "cw"},
            "flexible-engine": {
                "display_name": "Flexible Engine", "operator": "Orange Business", "backend": "fe",
                "lifecycle": {"status": "end-of-sale", "successor": "cloud-avenue",
                              "reason": "closure announced; customers move to Cloud Avenue or Bleu"}},
            "cloud-avenue": {"display_name": "Cloud Avenue", "operator": "Orange Business", "backend": "cav"},
            "bleu": {"display_name": "Bleu", "operator": "Bleu (Capgemini and Orange)", "backend": "bleu"},
            "private-vsphere": {"display_name": "Private vSphere", "operator": "ACME IT", "backend": "vs"},
            "orange-iaas": {
                "display_name": "Orange IaaS", "operator": "Orange Business", "backend": "fe",
                "offers": [{"id": "gp-4-16", "name": "General purpose 4 vCPU / 16 GiB",
                            "min_vcpus": 4, "min_memory_mib": 16384, "country": "FR"}]},
        },
        "price_books": [str(DATA / "prices-cloudwatt.csv"), str(DATA / "prices-flexible-engine.csv"),
                        str(DATA / "prices-cloud-avenue.yaml"), str(DATA / "prices-vsphere.yaml")],
        "store": store,
    }


def _write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def _mocks() -> Iterator[dict[str, Any]]:
    from ..testing.mockserver import mock

    with mock("openstack", "cloudwatt") as cw, mock("openstack", "flexible-engine") as fe, \
            mock("vcd", "cloud-avenue") as cav, mock("azure") as bleu, mock("vsphere") as vs:
        yield {"cw": cw.backend, "fe": fe.backend, "cav": cav.backend, "bleu": bleu.backend, "vs": vs.backend,
               "urls": {"cloudwatt (OpenStack)": cw.url, "flexible engine (OpenStack)": fe.url,
                        "cloud avenue (Cloud Director)": cav.url, "bleu (Azure Resource Manager)": bleu.url,
                        "private cloud (vCenter)": vs.url}}


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.rstrip("\n").splitlines())


def _refresh(echo: Echo, path: Path) -> bool:
    """Read every backend once; whether all of them answered."""
    import cloudcat

    with cloudcat.open_catalog(path) as catalog:
        result = catalog.refresh()
        for s in result.statuses:
            echo(f"  read {s.backend:<6} {s.status:<6} {s.items:>4} items in {s.seconds:.2f}s")
        return result.exit_code == 0


def _relabel(echo: Echo, config: dict[str, Any], path: Path) -> tuple[bool, dict[str, Any]]:
    """Story 1: a brand changes operator and gains an alias; its offer ids stay. Returns (held, new config)."""
    import warnings

    import cloudcat

    echo("\n== 1. Relabel: Cloudwatt becomes a label of Orange Cloud for Business ==")
    echo("$ python examples/brand_offers.py cloudwatt        # operator: Cloudwatt")
    before = run_example("brand_offers.py", ["cloudwatt"], path)
    echo(_indent("\n".join(before.splitlines()[:4]) + f"\n… {len(before.splitlines())} offers"))
    relabeled = copy.deepcopy(config)
    relabeled["brands"]["cloudwatt"].update({
        "operator": "Orange Cloud for Business", "aliases": ["ocb-openstack"],
        "operator_history": [{"operator": "Cloudwatt"}, {"operator": "Orange Cloud for Business"}]})
    _write(path, relabeled)
    echo("(cloudcat.yaml: operator → Orange Cloud for Business, alias ocb-openstack; no refresh, no code change)")
    echo("$ python examples/brand_offers.py cloudwatt")
    after = run_example("brand_offers.py", ["cloudwatt"], path)
    echo(_indent("\n".join(after.splitlines()[:4]) + f"\n… {len(after.splitlines())} offers"))
    same_ids = [x.split()[0] for x in before.splitlines()] == [x.split()[0] for x in after.splitlines()]
    echo(f"same offer ids before and after: {'yes' if same_ids else 'NO'}")
    with cloudcat.open_catalog(path) as catalog:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            offer = catalog.get("ocb-openstack/compute/fr1/n1.cw.standard-4")
        echo(f"id under the alias: ocb-openstack/compute/fr1/n1.cw.standard-4 → {offer.id} ({offer.operator})")
    return same_ids and "Orange Cloud for Business" in after, relabeled


def _swap_backend(echo: Echo, config: dict[str, Any], path: Path) -> bool:
    """Story 2: a brand moves to another platform; its logical offer follows. Whether it held."""
    echo("\n== 2. Backend swap: Orange IaaS moves from Flexible Engine (OpenStack) to Cloud Avenue "
         "(Cloud Director) ==")
    echo("$ python examples/general_purpose_offer.py orange-iaas/gp-4-16     # backend: fe (OpenStack)")
    on_fe = run_example("general_purpose_offer.py", ["orange-iaas/gp-4-16"], path)
    echo(_indent(on_fe))
    swapped = copy.deepcopy(config)
    swapped["brands"]["orange-iaas"]["backend"] = "cav"
    _write(path, swapped)
    echo("(cloudcat.yaml: orange-iaas backend fe → cav; no code change)")
    echo("$ python examples/general_purpose_offer.py orange-iaas/gp-4-16     # backend: cav (Cloud Director)")
    on_cav = run_example("general_purpose_offer.py", ["orange-iaas/gp-4-16"], path)
    echo(_indent(on_cav))
    return "backend fe" in on_fe and "backend cav" in on_cav


def _plan(echo: Echo, path: Path) -> bool:
    """The migration plans from Flexible Engine to each destination, then side by side; whether
    each has lines and the Cloud Avenue one shows its gaps."""
    import cloudcat

    from ..report import render_text

    with cloudcat.open_catalog(path) as catalog:
        plans = {to: catalog.plan_migration("flexible-engine", to, DATA / "inventory-flexible-engine.csv",
                                            offline=True)
                 for to in DESTINATIONS}
    for to, plan in plans.items():
        echo(f"$ cloudcat plan --from flexible-engine --to {to} --inventory inventory-flexible-engine.csv")
        echo(_indent(render_text(plan)))
    echo("== Flexible Engine → each destination, side by side ==")
    echo(_indent(_side_by_side(plans)))
    return all(plan.lines for plan in plans.values()) and bool(plans["cloud-avenue"].gaps)


def _side_by_side(plans: dict[str, Any]) -> str:
    """One row per destination: lines replaced, gaps, and — on the lines priced on both sides, in
    their currency — the monthly total before and after, and the difference."""
    rows = [f"{'destination':<16} {'replaced':>8} {'gaps':>5}  lines priced on both sides: before → after a month"]
    for to, plan in plans.items():
        replaced = [line for line in plan.lines if not line.is_gap]
        sums: dict[str, list[Any]] = {}
        for line in replaced:
            if line.difference is not None and line.currency:
                pair = sums.setdefault(line.currency, [0, 0, 0])
                pair[0] += 1
                pair[1] += line.monthly_before
                pair[2] += line.monthly_after
        totals = "; ".join(f"{n} lines {before:.2f} → {after:.2f} {currency} ({after - before:+.2f})"
                           for currency, (n, before, after) in sorted(sums.items()))
        rows.append(f"{to:<16} {len(replaced):>8} {len(plan.gaps):>5}  {totals or 'no price known'}")
    return "\n".join(rows)


def run_demo(echo: Echo = print, store: str | None = None, keep: bool = False) -> int:
    """Run both stories; return the exit status (0 when every step held)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cloudcat-demo-") as tmp, _mocks() as mocks:
        work = Path(tmp)
        echo("cloudcat demo: mocked clouds on loopback")
        for name, url in mocks["urls"].items():
            echo(f"  {name:<30} {url}")
        config = demo_config(mocks, store or str(work / "catalog.db"))
        path = _write(work / "cloudcat.yaml", config)
        read = _refresh(echo, path)
        relabeled, config = _relabel(echo, config, path)
        swapped = _swap_backend(echo, config, path)
        planned = _plan(echo, path)
        ok = read and relabeled and swapped and planned
        elapsed = time.monotonic() - started
        echo(f"\ndemo {'completed' if ok else 'FAILED'} in {elapsed:.1f}s")
        if keep:
            echo("mocks keep running; backends in " + str(path) + " — Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
    return 0 if ok else 1
