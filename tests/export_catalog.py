"""A small catalog on disk for the output tests: two static backends (names a hostile tenant could
choose among them), their price books, a configuration, and a ``cloudcat`` runner."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

#: Offer names chosen by someone else: rich markup, a spreadsheet formula, terminal escapes, bidi override.
HOSTILE_NAMES = ["[deprecated] m1.small", "[/x]", '=HYPERLINK("http://x.example")', "+cmd|x",
                 "@SUM(A1)", "-2+3", "red\x1b[31mtext\x1b[0m", "gpj.\u202eexe"]


def fe_items(*, relabel: bool = False) -> dict[str, Any]:
    """The ``fe`` backend's static file; ``relabel`` drops a label and renames an offer."""
    items: list[dict[str, Any]] = [
        {"kind": "compute", "name": "s3.large.2", "region": "eu-west-0", "vcpus": 2, "memory_mib": 4096,
         "labels": ["secnumcloud"] if relabel else ["hds", "secnumcloud"],
         "display_name": "General purpose L" if relabel else "General purpose large"},
        {"kind": "compute", "name": "c6.2xlarge.2", "region": "eu-west-0", "vcpus": 8, "memory_mib": 16384},
        {"kind": "storage", "name": "SSD", "region": "eu-west-0", "storage_class": "SSD", "iops": 20000},
    ]
    items += [{"kind": "compute", "name": name, "region": "eu-west-0", "vcpus": 1, "memory_mib": 1024,
               "extras": {"note": name}} for name in HOSTILE_NAMES]
    return {"regions": [{"name": "eu-west-0", "country": "FR"}], "items": items}


FE_PRICES = """backend,kind,name,pattern,price_amount,price_currency,price_unit
fe,compute,s3.large.2,,0.0736,EUR,hour
fe,compute,c6.2xlarge.2,,0.3220,EUR,hour
fe,storage,SSD,,0.16,EUR,GiB-month
fe,compute,,*,0.0100,EUR,hour
"""


def make_catalog(root: Path, *, price_books: list[str] | None = None) -> Path:
    """Write the files under ``root``; the configuration's path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "fe.json").write_text(json.dumps(fe_items()), encoding="utf-8")
    shutil.copy(DATA / "cav.yaml", root / "cav.yaml")
    shutil.copy(DATA / "cav-prices.yaml", root / "cav-prices.yaml")
    (root / "fe-prices.csv").write_text(FE_PRICES, encoding="utf-8")
    config = {"backends": {"fe": {"driver": "static", "options": {"paths": ["fe.json"]}},
                           "cav": {"driver": "static", "options": {"paths": ["cav.yaml"]}}},
              "brands": {"fe-brand": {"backend": "fe", "operator": "Orange"},
                         "cav": {"backend": "cav", "operator": "Orange Business"}},
              "price_books": price_books if price_books is not None else ["fe-prices.csv", "cav-prices.yaml"],
              "store": "catalog.db"}
    path = root / "cloudcat.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def cloudcat_bin() -> str:
    """The ``cloudcat`` script of this environment."""
    found = Path(sys.executable).parent / "cloudcat"
    return str(found) if found.exists() else "cloudcat"


def cloudcat(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``cloudcat ARGS`` in ``cwd`` as a user would (piped)."""
    run = subprocess.run([cloudcat_bin(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert run.returncode == 0, run.stderr
    return run
