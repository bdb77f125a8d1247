"""History as a user meets it: retention from the configuration after each refresh, a second
refresh that waits or fails at once, and ``offers --as-of`` reading the snapshot of a past moment."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from test_catalog import make_config

import cloudcat


def cli(path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", "--config", str(path), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_retention_in_the_configuration_prunes_after_each_refresh(tmp_path: Path) -> None:
    path = write(tmp_path, make_config(tmp_path, retention={"keep_last": 2}))
    for _ in range(4):
        assert cli(path, "refresh").returncode == 0
    snaps = json.loads(cli(path, "snapshots", "--format", "json").stdout)
    assert [s["id"] for s in snaps] == [3, 4]  # the two newest, the latest among them
    assert json.loads(cli(path, "offers", "--offline", "--format", "json").stdout)


def test_a_second_refresh_waits_or_fails_at_once_with_the_documented_message(tmp_path: Path) -> None:
    path = write(tmp_path, make_config(tmp_path))
    assert cli(path, "refresh").returncode == 0
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cloudcat.open_catalog(path) as catalog, catalog.store.lock_refresh():
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        refused = cli(path, "refresh", "--no-wait")
        assert refused.returncode != 0 and "another refresh is running since" in refused.stderr
        started = time.monotonic()
        gave_up = cli(path, "refresh", "--wait", "1")
        assert gave_up.returncode != 0 and "another refresh is running since" in gave_up.stderr
        assert time.monotonic() - started >= 1
        # a reader never waits for the lock
        assert cli(path, "offers", "--offline", "--format", "json", "--limit", "1").returncode == 0
    finally:
        release.set()
        holder.join(30)
    assert cli(path, "refresh", "--no-wait").returncode == 0  # free again


def test_offers_as_of_reads_the_snapshot_of_that_moment(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    path = write(tmp_path, config)
    assert cli(path, "refresh").returncode == 0
    between = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    time.sleep(2.2)  # snapshot times are compared to the second given on the command line
    prices = tmp_path / "fe-prices.csv"
    prices.write_text(prices.read_text().replace("0.0736", "0.0999"))
    assert cli(path, "refresh").returncode == 0

    def price(*args: str) -> str:
        out = cli(path, "offers", "--offline", "--format", "json", "--text", "s3.large.2", *args)
        assert out.returncode == 0, out.stderr
        return str(json.loads(out.stdout)[0]["price"]["amount"])

    assert price() == "0.0999"
    assert price("--as-of", between.strftime("%Y-%m-%dT%H:%M:%S")) == "0.0736"
    assert price("--as-of", dt.date.today().isoformat()) == "0.0999"  # a date: the end of that day
    before = cli(path, "offers", "--offline", "--as-of", "2001-01-01")
    assert before.returncode == 2 and "no snapshot was stored by the end of 2001-01-01 (UTC)" in before.stderr


def test_as_of_midnight_is_that_moment_and_a_date_the_whole_day(tmp_path: Path) -> None:
    path = write(tmp_path, make_config(tmp_path))
    for _ in range(2):
        assert cli(path, "refresh").returncode == 0
    # the two snapshots as if stored at noon on two days (the store's own clock cannot be set)
    import sqlite3

    with sqlite3.connect(tmp_path / "catalog.db") as db:
        db.execute("UPDATE snapshots SET created_at = '2024-01-04T12:00:00+00:00' WHERE id = 1")
        db.execute("UPDATE snapshots SET created_at = '2024-01-05T12:00:00+00:00' WHERE id = 2")
    db.close()

    def snapshot_read(as_of: str) -> set[str]:
        out = cli(path, "offers", "--offline", "-f", "json", "-c", "id", "--as-of", as_of)
        assert out.returncode == 0, out.stderr
        return {o["id"] for o in json.loads(out.stdout)}

    def read_at(as_of: str) -> str:
        out = cli(path, "offers", "--offline", "-f", "json", "-n", "1", "--as-of", as_of)
        assert out.returncode == 0, out.stderr
        return str(json.loads(out.stdout)[0]["read_at"])

    assert read_at("2024-01-05T00:00:00") == read_at("2024-01-04T23:59:59") == read_at("2024-01-04")
    assert read_at("2024-01-05") == read_at("2024-01-05T12:00:00") != read_at("2024-01-05T00:00:00")
    assert snapshot_read("2024-01-05T00:00:00")
    bad = cli(path, "offers", "--offline", "--as-of", "2024-01-05 noon")
    assert bad.returncode == 2 and "is neither a date (YYYY-MM-DD) nor a time" in bad.stderr
