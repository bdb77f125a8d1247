"""The README's test command on a machine that lacks what PyPI cannot bring: it says exactly what
to install before any test runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_missing_system_tools_are_named_before_any_test_runs(tmp_path: Path) -> None:
    # a PATH holding only the interpreter: no browser, no tmux (PostgreSQL may still be found in
    # /usr/lib/postgresql, where Debian puts it)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bin_dir)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0",
                           "tests/test_query.py"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "sudo apt-get install -y" in out and "chromium" in out and "tmux" in out
    assert " passed" not in out  # nothing ran
