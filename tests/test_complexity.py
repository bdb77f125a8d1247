"""The core stays easy to change: no function in ``src/`` above cyclomatic complexity 15 (radon)."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_visit

SRC = Path(__file__).resolve().parents[1] / "src" / "cloudcat"
LIMIT = 15


def test_no_function_of_the_core_is_above_the_complexity_limit() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for block in cc_visit(path.read_text(encoding="utf-8")):
            if block.complexity > LIMIT:
                found.append(f"{path.relative_to(SRC)}:{block.lineno} {block.name} = {block.complexity}")
    assert not found, "above cyclomatic complexity 15:\n" + "\n".join(found)
