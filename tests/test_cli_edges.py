"""The command line where users meet its edges: retention, misspelt files, the configuration a
flag names, columns, interrupts, closed pipes and outputs, huge numbers, hostile log text."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "tests" / "data" / "fe.yaml"


def cloudcat(*args: str, cwd: Path, env: dict[str, str] | None = None,
             stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "CLOUDCAT_CONFIG")}
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=120, cwd=cwd, env={**environ, **(env or {})})


def write(path: Path, config: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def static_config(tmp: Path, **extra: object) -> dict[str, object]:
    return {"backends": {"fe": {"driver": "static", "options": {"paths": [str(CATALOG)]}}},
            "brands": {"b": {"backend": "fe"}}, "store": str(tmp / "store.db"), **extra}


def snapshot_ids(tmp: Path, config: Path) -> list[int]:
    proc = cloudcat("--config", str(config), "snapshots", "-f", "json", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return [s["id"] for s in json.loads(proc.stdout)]


def test_prune_without_options_applies_the_configured_retention_and_refuses_without_one(tmp_path: Path) -> None:
    kept = write(tmp_path / "kept.yaml", static_config(tmp_path, retention={"keep_last": 5}))
    for _ in range(2):
        assert cloudcat("--config", str(kept), "refresh", cwd=tmp_path).returncode == 0
    # the configuration keeps five: nothing goes (it removed all but the latest)
    proc = cloudcat("--config", str(kept), "snapshots", "prune", cwd=tmp_path)
    assert (proc.returncode, proc.stdout.strip()) == (0, "removed 0 snapshot(s)"), proc.stderr
    assert snapshot_ids(tmp_path, kept) == [1, 2]

    bare = write(tmp_path / "bare.yaml", static_config(tmp_path))
    proc = cloudcat("--config", str(bare), "snapshots", "prune", cwd=tmp_path)
    assert proc.returncode == 2 and "no retention policy" in proc.stderr and "nothing removed" in proc.stderr
    assert snapshot_ids(tmp_path, bare) == [1, 2]
    # options given: they are the policy
    proc = cloudcat("--config", str(kept), "snapshots", "prune", "--keep-last", "1", cwd=tmp_path)
    assert (proc.returncode, proc.stdout.strip()) == (0, "removed 1 snapshot(s): 1"), proc.stderr


@pytest.mark.parametrize(("name", "text", "line"), [
    ("book.yaml", "# prices\nitemz:\n  - {backend: fe, name: s3.large.2, price: {amount: '1', currency: EUR, "
                  "unit: hour}}\n", 2),
    ("book.json", '{\n  "note": "EUR list of 2026",\n  "rules": []\n}\n', 2),
])
def test_a_price_book_with_an_unknown_top_level_key_is_an_error_naming_it(tmp_path: Path, name: str, text: str,
                                                                          line: int) -> None:
    # a misspelt `items:` read as a book of no rules would drop every price without a word
    (tmp_path / name).write_text(text)
    config = write(tmp_path / "c.yaml", static_config(tmp_path, price_books=[name]))
    proc = cloudcat("--config", str(config), "refresh", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    key = "itemz" if name.endswith(".yaml") else "note"
    assert f"{name}:{line}" in proc.stderr and f"unknown top-level key {key!r}" in proc.stderr, proc.stderr


def test_a_static_catalog_with_an_unknown_top_level_key_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "cat.yaml").write_text("regions: []\nitem:\n  - {kind: compute, name: a, region: r}\n")
    config = write(tmp_path / "c.yaml", {"backends": {"s": {"driver": "static", "options": {"paths": ["cat.yaml"]}}},
                                         "brands": {"b": {"backend": "s"}}, "store": str(tmp_path / "s.db")})
    proc = cloudcat("--config", str(config), "refresh", cwd=tmp_path)
    assert proc.returncode == 1 and "cat.yaml:2" in proc.stderr and "unknown top-level key 'item'" in proc.stderr


def test_an_explicit_config_wins_over_cloudcat_config(tmp_path: Path) -> None:
    config = write(tmp_path / "mine.yaml", static_config(tmp_path))
    env = {"CLOUDCAT_CONFIG": str(tmp_path / "elsewhere.yaml")}
    for args in (("--config", str(config), "offers"), ("offers", "--config", str(config))):
        proc = cloudcat(*args, "-f", "json", "-n", "1", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)) == 1
    # without one, the variable is read
    proc = cloudcat("offers", "-f", "json", cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "elsewhere.yaml" in proc.stderr


def test_a_column_named_as_a_json_key_is_that_key_in_json_and_csv(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", static_config(tmp_path))
    proc = cloudcat("--config", str(config), "offers", "-c", "id", "-c", "name", "-f", "csv", "-n", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()
    assert header == "id,name" and row.split(",")[0].endswith("/" + row.split(",")[1])
    rows = json.loads(cloudcat("--config", str(config), "offers", "--offline", "-c", "name", "-c", "display_name",
                               "-f", "json", cwd=tmp_path).stdout)
    assert rows and all(set(r) == {"name", "display_name"} for r in rows)
    # a table header still names its column ("vCPU" is vcpus)
    rows = json.loads(cloudcat("--config", str(config), "offers", "--offline", "-c", "vCPU", "-f", "json",
                               cwd=tmp_path).stdout)
    assert rows and all(set(r) == {"vcpus"} for r in rows)


def test_a_column_no_offer_has_is_a_usage_error(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", static_config(tmp_path))
    assert cloudcat("--config", str(config), "refresh", cwd=tmp_path).returncode == 0
    for fmt in ("json", "csv", "table"):
        proc = cloudcat("--config", str(config), "offers", "--offline", "-c", "id", "-c", "vcpu", "-f", fmt,
                        cwd=tmp_path)
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert "no offer column 'vcpu' (did you mean 'vcpus'?)" in proc.stderr
    # dotted columns are checked by their first part: what an offer's extras hold is free
    proc = cloudcat("--config", str(config), "offers", "--offline", "-c", "price.amount", "-c", "extras.flavor_id",
                    "-c", "sizing", "-c", "MiB", "-f", "json", "-n", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 2 and all(set(r) == {"price.amount", "extras.flavor_id", "sizing", "memory_mib"} for r in rows)


@pytest.mark.parametrize("args", [
    ("offers", "--limit", "99999999999999999999999"),
    ("offers", "--snapshot", "9223372036854775808"),
    ("offers", "--min-vcpus", "99999999999999999999"),
    ("diff", "1", "99999999999999999999"),
    ("snapshots", "prune", "--keep-last", "99999999999999999999"),
])
def test_numbers_no_store_can_hold_are_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    config = write(tmp_path / "c.yaml", static_config(tmp_path))
    proc = cloudcat("--config", str(config), *args, cwd=tmp_path)
    assert proc.returncode == 2 and "is not in the range" in proc.stderr, proc.stderr
    assert "unexpected" not in proc.stderr and not (tmp_path / "store.db").exists()


@pytest.mark.parametrize("fmt", ["json", "csv", "yaml", "value"])
def test_a_reader_that_stops_reading_is_no_error(tmp_path: Path, fmt: str) -> None:
    config = write(tmp_path / "c.yaml", static_config(tmp_path))
    assert cloudcat("--config", str(config), "refresh", cwd=tmp_path).returncode == 0
    environ = {k: v for k, v in os.environ.items() if k != "CLOUDCAT_CONFIG"}
    with subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "--config", str(config), "offers", "-f", fmt],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=environ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(1)
        proc.stdout.close()  # as `| head -c 1` does
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
    assert "Broken pipe" not in err and "error" not in err, err


def test_a_closed_standard_output_is_a_clear_error(tmp_path: Path) -> None:
    # as a shell starts it with `>&-`: Python then has no sys.stdout at all
    proc = subprocess.run(["sh", "-c", '"$0" -m cloudcat.cli drivers >&-', sys.executable],
                          stderr=subprocess.PIPE, text=True, timeout=60, cwd=tmp_path)
    assert (proc.returncode, proc.stderr.strip()) == (1, "cloudcat: error: standard output is closed")


@pytest.fixture
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; the event is set
    once a client connected."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()
    connected = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
            connected.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], connected
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def test_an_interrupt_stops_a_refresh_with_exit_130(tmp_path: Path,
                                                    silent_server: tuple[int, threading.Event]) -> None:
    port, connected = silent_server
    config = write(tmp_path / "c.yaml", {
        "backends": {"os": {"driver": "openstack", "options": {"auth": {
            "auth_url": f"http://127.0.0.1:{port}/v3", "username": "u", "password": "p",
            "project_name": "x", "user_domain_name": "Default", "project_domain_name": "Default"}}}},
        "brands": {"b": {"backend": "os"}}, "store": str(tmp_path / "s.db")})
    environ = {k: v for k, v in os.environ.items() if k != "CLOUDCAT_CONFIG"}
    with subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "--config", str(config), "refresh"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                          env=environ) as proc:
        assert proc.stderr is not None
        assert "refreshing" in proc.stderr.readline()
        assert connected.wait(60)  # the refresh is under way, waiting on the server
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "cloudcat: interrupted" in err and "Aborted!" not in err, err


def test_a_backend_error_holding_control_characters_is_logged_as_text(tmp_path: Path) -> None:
    # the file name a backend fails on (as a server's error text) carries CR LF and an escape
    # sequence: the warning shows them escaped, on one line, as the status table does
    name = "a\r\nforged: line\x1b[2J.yaml"
    (tmp_path / name).write_text("items: 5\n")
    config = write(tmp_path / "c.yaml", {
        "backends": {"s": {"driver": "static", "options": {"paths": [name]}},
                     "t": {"driver": "static", "options": {"paths": [str(CATALOG)]}}},
        "brands": {"b": {"backend": "t"}}, "store": str(tmp_path / "s.db")})
    proc = cloudcat("--config", str(config), "offers", "--refresh", "-f", "json", cwd=tmp_path)
    warning = [line for line in proc.stderr.splitlines() if "WARNING: backend s failed" in line]
    assert len(warning) == 1, proc.stderr
    assert "a\\x0d\\x0aforged: line\\x1b[2J.yaml" in warning[0]
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr


def test_other_libraries_warnings_show_with_debug_only() -> None:
    script = ("import logging, sys; from cloudcat import cli; cli._setup_logging(sys.argv[1] == 'debug', 0); "
              "logging.getLogger('urllib3.connectionpool').warning('Connection pool is full'); "
              "logging.getLogger('urllib3.connectionpool').error('pool broken'); "
              "logging.getLogger('cloudcat.refresh').warning('ours')")
    plain = subprocess.run([sys.executable, "-c", script, "plain"], capture_output=True, text=True, timeout=60)
    assert "Connection pool is full" not in plain.stderr
    assert "pool broken" in plain.stderr and "cloudcat: WARNING: ours" in plain.stderr
    debug = subprocess.run([sys.executable, "-c", script, "debug"], capture_output=True, text=True, timeout=60)
    assert "Connection pool is full" in debug.stderr


def test_reading_an_empty_store_file_writes_nothing_into_it(tmp_path: Path) -> None:
    # a placeholder made by `touch` (or a volume mount) is no store yet: reads leave it empty
    config = write(tmp_path / "c.yaml", static_config(tmp_path))
    (tmp_path / "store.db").touch()
    for args in (("snapshots", "-f", "json"), ("diff", "--last"), ("offers", "--offline", "-f", "json")):
        cloudcat("--config", str(config), *args, cwd=tmp_path)
        assert (tmp_path / "store.db").stat().st_size == 0, args
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "store.db"], args
    proc = cloudcat("--config", str(config), "refresh", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert snapshot_ids(tmp_path, config) == [1]


def test_a_mock_fixture_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_bytes(b"regions: \xff\n")
    proc = cloudcat("mock", "serve", "openstack", "--fixture", "bad.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "cloudcat: error: bad.yaml: not UTF-8 text (byte 9); save the file as UTF-8"


def test_snapshot_with_refresh_is_a_usage_error(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", static_config(tmp_path))
    proc = cloudcat("--config", str(config), "offers", "--snapshot", "1", "--refresh", cwd=tmp_path)
    assert proc.returncode == 2 and "--snapshot excludes --refresh" in proc.stderr
    assert not (tmp_path / "store.db").exists()


@pytest.mark.parametrize(("args", "message"), [
    (("--currency", "EURO"), "'EURO' is not an ISO 4217 currency code"),
    (("--country", "ZZ"), "'ZZ' is not an ISO 3166-1 alpha-2 country code"),
])
def test_a_currency_or_country_no_offer_can_have_is_a_usage_error(tmp_path: Path, args: tuple[str, str],
                                                                    message: str) -> None:
    # a typo read as a filter matching nothing gave an empty list, as if no offer were priced so
    config = write(tmp_path / "c.yaml", static_config(tmp_path))
    assert cloudcat("--config", str(config), "refresh", cwd=tmp_path).returncode == 0
    proc = cloudcat("--config", str(config), "offers", "--offline", *args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_a_country_is_matched_as_regions_store_it(tmp_path: Path) -> None:
    # regions keep ISO codes (UK is taken as GB): the filter reads its values the same way
    config = write(tmp_path / "c.yaml", static_config(tmp_path))
    assert cloudcat("--config", str(config), "refresh", cwd=tmp_path).returncode == 0
    fr = cloudcat("--config", str(config), "offers", "--offline", "--country", "fr", "-f", "json", cwd=tmp_path)
    assert fr.returncode == 0 and json.loads(fr.stdout)
    assert all(o["country"] == "FR" for o in json.loads(fr.stdout))
