"""What cloudcat prints on a real 80-column terminal (tmux): no row wraps, ids are whole, names
are shown as written (never as markup or terminal control)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from export_catalog import cloudcat, cloudcat_bin, fe_items, make_catalog

WIDTH = 80


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog with two snapshots: the second drops a label and renames an offer."""
    root = tmp_path_factory.mktemp("terminal")
    config = make_catalog(root)
    cloudcat("refresh", "--config", str(config), cwd=root)
    (root / "fe.json").write_text(json.dumps(fe_items(relabel=True)), encoding="utf-8")
    cloudcat("refresh", "--config", str(config), cwd=root)
    return root


@pytest.fixture(scope="module")
def tmux() -> Iterator[list[str]]:
    binary = shutil.which("tmux")
    assert binary, "tmux is needed: apt-get install -y tmux"
    command = [binary, "-L", f"cloudcat-{uuid.uuid4().hex[:8]}", "-f", "/dev/null"]
    # a session that outlives the tests' own, so that the server does not exit between them
    subprocess.run([*command, "new-session", "-d", "-s", "keep", "sleep", "3600"], check=True)
    yield command
    subprocess.run([*command, "kill-server"], capture_output=True, check=False)


def run_in_terminal(tmux: list[str], cwd: Path, *args: str) -> tuple[list[str], list[str]]:
    """Run ``cloudcat ARGS`` in an 80-column tmux pane; the screen's lines as shown, and joined
    where tmux wrapped them."""
    name = uuid.uuid4().hex[:8]
    quoted = " ".join(f"'{a}'" for a in [cloudcat_bin(), *args])
    script = f"cd '{cwd}' && {quoted} 2>&1; echo __END__; sleep 120"
    subprocess.run([*tmux, "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", "150",
                    "-e", "TERM=xterm-256color", "sh", "-c", script], check=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            shown = _capture(tmux, name)
            if "__END__" in shown or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "__END__" in shown, f"cloudcat {' '.join(args)} did not finish: {shown}"
        joined = _capture(tmux, name, "-J")
    finally:
        subprocess.run([*tmux, "kill-session", "-t", name], capture_output=True, check=False)
    screen = shown.split("__END__")[0].rstrip("\n").split("\n")
    return screen, joined.split("__END__")[0].rstrip("\n").split("\n")


def _capture(tmux: list[str], name: str, *flags: str) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p", *flags, "-t", name], capture_output=True, text=True,
                          check=True).stdout


COMMANDS = [
    ("offers",), ("offers", "-n", "3"), ("drivers",), ("brands",), ("snapshots",), ("diff", "--last"),
    ("plan", "--from", "fe-brand", "--to", "cav"), ("get", "fe-brand/compute/eu-west-0/s3.large.2"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_no_row_wraps_in_80_columns(tmux: list[str], catalog: Path, args: tuple[str, ...]) -> None:
    screen, joined = run_in_terminal(tmux, catalog, *args, "--config", str(catalog / "cloudcat.yaml"))
    assert screen == joined, "a row wrapped:\n" + "\n".join(screen)
    assert len(screen) > 2 and not any("error" in line for line in screen), screen


def test_offers_table_shows_whole_ids_and_names_as_written(tmux: list[str], catalog: Path) -> None:
    screen, _ = run_in_terminal(tmux, catalog, "--config", str(catalog / "cloudcat.yaml"), "offers",
                                "--kind", "compute", "-c", "id", "-c", "name")
    text = "\n".join(screen)
    assert "fe-brand/compute/eu-west-0/[deprecated] m1.small" in text  # markup-like text kept, id whole
    assert "[/x]" in text
    # the escape sequence and the bidi override show as text, they do not act on the terminal
    assert "red\\x1b[31mtext\\x1b[0m" in text and "gpj.\\u202eexe" in text
    assert "c6.2xlarge.2" in text and "fe-brand/compute/eu-west-0/s3.large.2" in text


def test_diff_reports_removed_label_and_relabel(tmux: list[str], catalog: Path) -> None:
    screen, _ = run_in_terminal(tmux, catalog, "diff", "--last", "--config", str(catalog / "cloudcat.yaml"))
    text = "\n".join(screen)
    assert "fe-brand/compute/eu-west-0/s3.large.2" in text
    assert "labels" in text and "display_name" in text
    data = json.loads(cloudcat("diff", "--last", "-f", "json", "--config", "cloudcat.yaml", cwd=catalog).stdout)
    changed = {(c["id"], c["field"]): (c["before"], c["after"]) for c in data["changed"]}
    key = "fe-brand/compute/eu-west-0/s3.large.2"
    assert changed[(key, "labels")] == (["hds", "secnumcloud"], ["secnumcloud"])
    assert changed[(key, "display_name")] == ("General purpose large", "General purpose L")
