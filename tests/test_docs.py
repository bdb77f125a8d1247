"""The docs are tested: their Python examples run, generated pages are current, the error tree
matches the code."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

import cloudcat.errors
from cloudcat.reference import capability_matrix, configuration_reference

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", ["getting-started.md", "stories.md", "writing-a-driver.md", "mocks.md"])
def test_python_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = DOCS / page
    blocks = BLOCK.findall(path.read_text(encoding="utf-8"))
    assert blocks, f"{page} has no Python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for number, code in enumerate(blocks, start=1):
            try:
                exec(compile(code, f"{page} block {number}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"{page}: Python block {number} fails: {exc!r}") from exc


def test_generated_reference_pages_are_current() -> None:
    assert (DOCS / "configuration.md").read_text(encoding="utf-8") == configuration_reference(), \
        "run: uv run python -m cloudcat.reference docs"
    assert (DOCS / "capabilities.md").read_text(encoding="utf-8") == capability_matrix(), \
        "run: uv run python -m cloudcat.reference docs"


def test_error_tree_page_matches_the_code() -> None:
    doc = cloudcat.errors.__doc__ or ""
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    tree_in_code = re.findall(r"[├└]── (\w+)", doc)
    assert tree_in_code == re.findall(r"[├└]── (\w+)", page)
    for name in cloudcat.errors.__all__:
        if name.endswith("Error"):
            assert name in page, f"{name} missing from docs/errors.md"
