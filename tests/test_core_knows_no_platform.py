"""The core knows no platform: no backend-specific key, size name or SDK logger in ``src/cloudcat``.

Drivers map their platform's keys into the typed facts of the offer model (``family``,
``generation``, ``sale_status``, ``zone_status``); the planner, the catalog and the CLI read only
those. The demo's catalog data (``src/cloudcat/demo/data``) is data, not code, and may name
platform sizes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cloudcat

CORE = Path(cloudcat.__file__).resolve().parent
DATA_DIRS = (CORE / "demo" / "data",)

#: What only a driver may know: Huawei sale-status and ECS keys, Azure size names, Cloud Avenue
#: metadata, the Huawei ECS API's spec field, and OpenStack SDK loggers.
PLATFORM_KEYS = {
    "Huawei sale status": r"cond:operation",
    "Huawei ECS keys": r"ecs:",
    "Azure size names": r"Standard_",
    "Cloud Avenue VDC metadata": r"vdcServiceClass",
    "Huawei ECS v1 flavor specs": r"os_extra_specs",
    "keystoneauth logger": r"keystoneauth",
    "openstacksdk logger": r"getLogger\(\s*[\"']openstack",
}


def core_files(root: Path = CORE) -> list[Path]:
    """Every text file of the core package, the demo's data excepted."""
    data_dirs = tuple(root / d.relative_to(CORE) for d in DATA_DIRS)
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".typed")
                  and not any(p.is_relative_to(d) for d in data_dirs))


def hits(pattern: str, files: list[Path]) -> list[str]:
    """``file:line: text`` of every line of ``files`` matching ``pattern``."""
    found = []
    regex = re.compile(pattern)
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if regex.search(line):
                found.append(f"{path}:{number}: {line.strip()}")
    return found


def test_the_scan_covers_the_core_and_finds_a_planted_key(tmp_path: Path) -> None:
    files = core_files()
    names = {p.relative_to(CORE).as_posix() for p in files}
    assert {"planner/search.py", "planner/families.py", "catalog.py", "cli.py", "query.py"} <= names
    assert not any(name.startswith("demo/data/") for name in names)
    # a key planted in a copy of the layout is found, except in the demo's data
    (tmp_path / "planner").mkdir()
    (tmp_path / "planner" / "search.py").write_text('status = extras.get("cond:operation:az")\n')
    (tmp_path / "demo" / "data").mkdir(parents=True)
    (tmp_path / "demo" / "data" / "bleu.yaml").write_text("- {name: Standard_D2s_v5}\n")
    planted = core_files(tmp_path)
    assert hits(PLATFORM_KEYS["Huawei sale status"], planted) == [
        f"{tmp_path / 'planner' / 'search.py'}:1: status = extras.get(\"cond:operation:az\")"]
    assert hits(PLATFORM_KEYS["Azure size names"], planted) == []


@pytest.mark.parametrize("what", sorted(PLATFORM_KEYS))
def test_core_reads_no_platform_key(what: str) -> None:
    assert hits(PLATFORM_KEYS[what], core_files()) == []
