"""Bad input, as users give it: one clear line naming the file, field or endpoint, the right exit
status, no traceback, no secret, and nothing already stored is lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudcat.errors import redact

DATA = Path(__file__).parent / "data"


def cloudcat(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ})


def one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("cloudcat: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(DATA / "fe.yaml", tmp_path / "fe.yaml")
    shutil.copy(DATA / "fe-prices.csv", tmp_path / "fe-prices.csv")
    return tmp_path


def config(workdir: Path, **extra: Any) -> Path:
    data: dict[str, Any] = {"backends": {"fe": {"driver": "static", "options": {"paths": ["fe.yaml"]}}},
                            "brands": {"fe": {"backend": "fe"}}, "price_books": ["fe-prices.csv"],
                            "store": "catalog.db"}
    data.update(extra)
    path = workdir / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("value", ["-1", "nan", "lots"])
def test_bad_max_price(workdir: Path, value: str) -> None:
    path = config(workdir)
    line = one_line_error(cloudcat("offers", "--config", str(path), "--max-price", value), 2)
    assert "max-price" in line.replace("_", "-")


def test_wrong_type_for_backends(workdir: Path) -> None:
    path = workdir / "cloudcat.yaml"
    path.write_text("backends: 3\n")
    line = one_line_error(cloudcat("offers", "--config", str(path)), 2)
    assert f"{path}:1" in line and "backends" in line


def test_unknown_driver_option_is_a_configuration_error_with_its_line(workdir: Path) -> None:
    path = workdir / "cloudcat.yaml"
    path.write_text("backends:\n  fe:\n    driver: static\n    options:\n      paths: [fe.yaml]\n      bogus: 1\n"
                    "brands:\n  fe: {backend: fe}\n")
    line = one_line_error(cloudcat("refresh", "--config", str(path)), 2)
    assert f"{path}:6" in line and "backends.fe.options.bogus" in line


def test_price_book_that_is_not_utf8(workdir: Path) -> None:
    (workdir / "fe-prices.csv").write_bytes("backend,name,price_amount\nfe,s3.large.2,0.07\xe9\n".encode("latin-1"))
    line = one_line_error(cloudcat("offers", "--config", str(config(workdir))), 2)
    assert "fe-prices.csv" in line and "UTF-8" in line


def test_price_book_with_a_byte_order_mark_is_read(workdir: Path) -> None:
    text = (workdir / "fe-prices.csv").read_text()
    (workdir / "fe-prices.csv").write_text("\ufeff" + text, encoding="utf-8")
    proc = cloudcat("offers", "--config", str(config(workdir)), "--format", "json", "--text", "s3.large.2")
    assert proc.returncode == 0, proc.stderr
    [offer] = [o for o in json.loads(proc.stdout) if o["name"] == "s3.large.2"]
    assert offer["price"]["amount"] == "0.0736"


def test_bad_price_book_row_names_file_and_line(workdir: Path) -> None:
    with (workdir / "fe-prices.csv").open("a") as f:
        f.write("fe,compute,s3.large.2,,0.07,EURO,hour,,,\n")
    line = one_line_error(cloudcat("offers", "--config", str(config(workdir))), 2)
    assert "fe-prices.csv:10" in line and "price.currency" in line


def test_unwritable_plan_output(workdir: Path) -> None:
    path = config(workdir, brands={"fe": {"backend": "fe"}, "other": {"backend": "fe"}})
    proc = cloudcat("plan", "--config", str(path), "--from", "fe", "--to", "other", "-o",
                    str(workdir / "no" / "such" / "plan.html"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "cannot write" in proc.stderr


def test_plan_output_format_follows_the_file_name(workdir: Path) -> None:
    path = config(workdir, brands={"fe": {"backend": "fe"}, "other": {"backend": "fe"}})
    out = workdir / "plan.html"
    assert cloudcat("plan", "--config", str(path), "--from", "fe", "--to", "other", "-o", str(out)).returncode == 0
    assert out.read_text().lstrip().lower().startswith("<!doctype html")


def test_unknown_backend_filter(workdir: Path) -> None:
    line = one_line_error(cloudcat("offers", "--config", str(config(workdir)), "--backend", "nope"), 2)
    assert "no backend named 'nope'" in line


def test_refresh_and_offline_exclude_each_other(workdir: Path) -> None:
    for command in (["get", "fe/compute/eu-west-0/s3.large.2"], ["offers"],
                    ["plan", "--from", "fe", "--to", "fe"]):
        proc = cloudcat(*command, "--config", str(config(workdir)), "--refresh", "--offline")
        assert proc.returncode == 2 and "exclude each other" in proc.stderr


def test_passwords_in_urls_are_redacted() -> None:
    text = "cannot reach http://admin:hunter2url@127.0.0.1:9/identity/v3 (and https://u:p4ss@h/x)"
    cleaned = redact(text, [])
    assert "hunter2url" not in cleaned and "p4ss" not in cleaned
    assert "http://admin:***@127.0.0.1:9/identity/v3" in cleaned


def test_password_in_an_auth_url_never_shows(workdir: Path) -> None:
    data = {"backends": {"os": {"driver": "openstack", "options": {"retries": 0, "timeout": 5, "auth": {
        "auth_url": "http://admin:hunter2url@127.0.0.1:9/identity/v3", "username": "u", "password": "pw-secret-1",
        "project_name": "p"}}}}, "brands": {"x": {"backend": "os"}}, "store": str(workdir / "c.db")}
    path = workdir / "os.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = cloudcat("--debug", "-v", "refresh", "--config", str(path))
    assert proc.returncode == 1
    for secret in ("hunter2url", "pw-secret-1"):
        assert secret not in proc.stdout + proc.stderr


def test_logical_offer_without_prices_resolves_to_the_closest_size(workdir: Path) -> None:
    import cloudcat as cc

    brands = {"fe": {"backend": "fe", "offers": [{"id": "gp-4-16", "min_vcpus": 4, "min_memory_mib": 16384}]}}
    with cc.open_catalog({"backends": {"fe": {"driver": "static", "options": {"paths": [str(workdir / "fe.yaml")]}}},
                          "brands": brands, "store": str(workdir / "c.db")}) as catalog:
        offer = catalog.get("fe/gp-4-16")
    assert offer.extras["resolved"]["offer"] in {"fe/compute/eu-west-0/s3.xlarge.4", "fe/compute/eu-west-0/s6.xlarge.4"}
    assert "no price known" in offer.extras["resolved"]["reason"]


def test_price_book_rule_for_an_unknown_backend(workdir: Path) -> None:
    with (workdir / "fe-prices.csv").open("a") as f:
        f.write("fee,compute,s3.large.2,,0.07,EUR,hour,,,\n")
    line = one_line_error(cloudcat("offers", "--config", str(config(workdir))), 2)
    assert "fe-prices.csv:10" in line and "backend 'fee'" in line
