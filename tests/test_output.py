"""What cloudcat writes: CSV, JSON, YAML, value and tables, through the real command on a real
catalog, and the pure writers with varied input."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from export_catalog import HOSTILE_NAMES, cloudcat, make_catalog
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudcat.output import (
    OFFER_CSV_COLUMNS,
    escape_controls,
    neutralise_cell,
    render,
    render_table,
)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exports")
    config = make_catalog(root)
    cloudcat("refresh", "--config", str(config), cwd=root)
    return root


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_offers_csv_has_the_same_header_for_every_catalog(catalog: Path) -> None:
    every = _csv(cloudcat("offers", "-f", "csv", cwd=catalog).stdout)
    images = _csv(cloudcat("offers", "-f", "csv", "--kind", "image", cwd=catalog).stdout)
    nothing = _csv(cloudcat("offers", "-f", "csv", "--kind", "network", cwd=catalog).stdout)
    assert every[0] == images[0] == nothing[0] == list(OFFER_CSV_COLUMNS)
    assert len(nothing) == 1 and len(images) > 1 and all(len(row) == len(OFFER_CSV_COLUMNS) for row in every)
    assert "price" not in every[0] and "price.amount" not in every[0] and "price_amount" in every[0]


def test_offers_csv_reads_back_as_a_price_book(catalog: Path, tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(cloudcat("offers", "-f", "csv", "--csv-raw", cwd=catalog).stdout, encoding="utf-8")
    before = {o["id"]: o for o in json.loads(cloudcat("offers", "-f", "json", cwd=catalog).stdout)}
    assert sum(1 for o in before.values() if o["price"]) >= 10

    # the same backends, priced by the export alone
    config = make_catalog(tmp_path / "again", price_books=[str(export)])
    cloudcat("refresh", "--config", str(config), cwd=config.parent)
    after = {o["id"]: o for o in json.loads(cloudcat("offers", "-f", "json", cwd=config.parent).stdout)}
    assert after.keys() == before.keys()
    # control characters are escaped in every output: such a name is the one thing that does not come back
    unreadable = {i for i, o in before.items() if escape_controls(o["name"]) != o["name"]}
    assert len(unreadable) == 2
    for offer_id, offer in before.items():
        if offer_id in unreadable:
            continue
        assert after[offer_id]["price"] == offer["price"], offer_id
        assert after[offer_id]["labels"] == offer["labels"], offer_id
        flexible = offer["flexible"]
        if flexible:
            assert after[offer_id]["flexible"]["price_per_vcpu"] == flexible["price_per_vcpu"]


def test_csv_formula_cells_are_neutralised_unless_asked(catalog: Path) -> None:
    rows = _csv(cloudcat("offers", "-f", "csv", "--kind", "compute", cwd=catalog).stdout)
    names = [row[OFFER_CSV_COLUMNS.index("name")] for row in rows[1:]]
    assert "'=HYPERLINK(\"http://x.example\")" in names and "'+cmd|x" in names and "'@SUM(A1)" in names
    assert "'-2+3" in names
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row
                   if not cell.lstrip("+-").replace(".", "").isdigit())
    assert "red\\x1b[31mtext\\x1b[0m" in names and "gpj.\\u202eexe" in names  # control characters escaped
    raw = _csv(cloudcat("offers", "-f", "csv", "--csv-raw", "--kind", "compute", cwd=catalog).stdout)
    assert '=HYPERLINK("http://x.example")' in [row[OFFER_CSV_COLUMNS.index("name")] for row in raw[1:]]


def test_json_and_yaml_escape_controls_and_read_back_unchanged(catalog: Path) -> None:
    text = cloudcat("offers", "-f", "json", cwd=catalog).stdout
    assert "\x1b" not in text and "\u202e" not in text and "\\u001b" in text and "\\u202e" in text
    names = {o["name"] for o in json.loads(text)}
    assert set(HOSTILE_NAMES) <= names
    text = cloudcat("offers", "-f", "yaml", cwd=catalog).stdout
    assert "\x1b" not in text and "\u202e" not in text
    assert set(HOSTILE_NAMES) <= {o["name"] for o in yaml.safe_load(text)}


def test_table_prints_names_as_text(catalog: Path) -> None:
    run = cloudcat("offers", "-f", "table", "-c", "id", "-c", "name", "--kind", "compute", cwd=catalog)
    assert "[/x]" in run.stdout and "fe-brand/compute/eu-west-0/[deprecated] m1.small" in run.stdout
    assert "\x1b" not in run.stdout and "\u202e" not in run.stdout


def test_value_format_and_columns(catalog: Path) -> None:
    out = cloudcat("offers", "-f", "value", "-c", "id", "-c", "price.amount", "--kind", "storage", cwd=catalog)
    assert out.stdout.splitlines() == ["cav/storage/vdr/gold 0.12", "fe-brand/storage/eu-west-0/SSD 0.16"]
    picked = json.loads(cloudcat("offers", "-f", "json", "-c", "id", "-c", "price.amount", "--kind", "storage",
                                 cwd=catalog).stdout)
    assert picked == [{"id": "cav/storage/vdr/gold", "price.amount": "0.12"},
                      {"id": "fe-brand/storage/eu-west-0/SSD", "price.amount": "0.16"}]


def test_global_options_before_the_subcommand(catalog: Path, tmp_path: Path) -> None:
    config = str(catalog / "cloudcat.yaml")
    before = cloudcat("--config", config, "brands", "-f", "json", cwd=tmp_path).stdout
    after = cloudcat("brands", "--config", config, "-f", "json", cwd=tmp_path).stdout
    short = cloudcat("brands", "-c", config, "-f", "json", cwd=tmp_path).stdout  # -c FILE: still the config
    assert json.loads(before) == json.loads(after) == json.loads(short)
    assert {b["name"] for b in json.loads(before)} == {"fe-brand", "cav"}


def test_verbose_shows_each_backend_region_and_kind(catalog: Path) -> None:
    run = cloudcat("-v", "refresh", cwd=catalog)
    lines = run.stderr.splitlines()
    assert any("fe" in line and "compute in eu-west-0" in line for line in lines), run.stderr
    assert any("cav" in line and "storage in vdr" in line for line in lines), run.stderr
    quiet = cloudcat("refresh", cwd=catalog)
    assert not any(" in eu-west-0:" in line for line in quiet.stderr.splitlines())


def test_plan_money_is_rounded_to_the_cent_everywhere(catalog: Path) -> None:
    data = json.loads(cloudcat("plan", "--from", "fe-brand", "--to", "cav", "-f", "json", cwd=catalog).stdout)
    amounts = [line[k] for line in data["lines"] for k in ("monthly_before", "monthly_after", "difference")
               if line[k] is not None]
    amounts += [v for t in data["totals"].values() for v in t.values()]
    assert amounts and all(Decimal(a) == Decimal(a).quantize(Decimal("0.01")) for a in amounts)
    assert all(len(a.split(".")[1]) == 2 for a in amounts)
    rows = _csv(cloudcat("plan", "--from", "fe-brand", "--to", "cav", "-f", "csv", cwd=catalog).stdout)
    header = rows[0]
    cells = [row[header.index(k)] for row in rows[1:] for k in ("monthly_before", "monthly_after") if
             row[header.index(k)]]
    assert cells and all(len(c.split(".")[1]) == 2 for c in cells)
    assert any(row[header.index("source_name")].startswith("'=") for row in rows[1:])  # a formula, neutralised


# -- the writers -------------------------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@given(st.lists(st.fixed_dictionaries({"id": texts, "name": texts, "n": st.integers(), "tags": st.lists(texts,
                                                                                                           max_size=3)}),
                max_size=6))
def test_json_and_yaml_writers_round_trip(rows: list[dict[str, object]]) -> None:
    assert json.loads(render(rows, "json")) == rows
    assert (yaml.safe_load(render(rows, "yaml")) or []) == rows


@given(texts)
def test_escaped_text_holds_no_control(text: str) -> None:
    escaped = escape_controls(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E or
                   0x2066 <= ord(c) <= 0x2069 for c in escaped)
    cell = neutralise_cell(escaped)
    number = re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", cell)
    assert not cell.startswith(("=", "+", "-", "@")) or number


@settings(deadline=None)
@given(st.lists(st.lists(texts, min_size=3, max_size=3), min_size=1, max_size=5), st.integers(20, 160))
def test_tables_never_exceed_their_width(cells: list[list[str]], width: int) -> None:
    rows = [{"a": a, "b": b, "c": c} for a, b, c in cells]
    from rich.cells import cell_len

    out = render_table(rows, columns=[("a", "a"), ("b", "b"), ("c", "c")], width=width)
    assert all(cell_len(line) <= width for line in out.splitlines()), out


def test_markup_is_never_interpreted() -> None:
    out = render_table([{"id": "[deprecated] x", "name": "[/x] [bold]y[/bold]"}], width=80)
    assert "[deprecated] x" in out and "[/x] [bold]y[/bold]" in out


def test_numbers_are_not_formulas() -> None:
    assert neutralise_cell("-240.59") == "-240.59" and neutralise_cell("+1") == "+1"
    assert neutralise_cell("-1+2") == "'-1+2" and neutralise_cell("\tx") == "'\tx"


def test_documented_csv_columns_are_the_written_ones() -> None:
    page = (Path(__file__).parent.parent / "docs" / "exports.md").read_text(encoding="utf-8")
    block = page.split("<!-- offers-csv-columns -->")[1].split("```")[1].strip()
    assert block.split(",") == list(OFFER_CSV_COLUMNS)


def test_shell_completion_of_offer_ids_and_brands(catalog: Path) -> None:
    import os
    import subprocess

    from export_catalog import cloudcat_bin

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_CLOUDCAT_COMPLETE": "bash_complete", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
        out = subprocess.run([cloudcat_bin()], cwd=catalog, env=env, capture_output=True, text=True, timeout=60)
        return [line.split(",", 1)[1] for line in out.stdout.splitlines()]

    assert complete("cloudcat get fe-brand/compute/eu-west-0/s3") == ["fe-brand/compute/eu-west-0/s3.large.2"]
    assert complete("cloudcat plan --from c") == ["cav"]
    assert complete("cloudcat offers --brand ") == ["cav", "fe-brand"]


def test_an_implicit_refresh_shows_its_progress(tmp_path: Path) -> None:
    config = make_catalog(tmp_path)
    data = json.loads(config.read_text(encoding="utf-8"))
    config.write_text(json.dumps({**data, "max_age": 0}), encoding="utf-8")  # every snapshot is stale
    cloudcat("refresh", cwd=tmp_path)
    run = cloudcat("offers", "-f", "json", "--kind", "storage", cwd=tmp_path)
    assert len(json.loads(run.stdout)) == 2
    finished = sorted(line.split()[0] for line in run.stderr.splitlines() if line.split()[1:2] == ["ok"])
    assert finished == ["cav", "fe"], run.stderr
    offline = cloudcat("offers", "-f", "json", "--offline", cwd=tmp_path)
    assert offline.stderr == ""  # nothing read, nothing shown


def test_plan_page_says_where_its_data_comes_from(catalog: Path, tmp_path: Path) -> None:
    page = tmp_path / "plan.html"
    cloudcat("plan", "--from", "fe-brand", "--to", "cav", "-o", str(page), cwd=catalog)
    html = page.read_text(encoding="utf-8")
    footer = html[html.index('<footer id="provenance">'):]
    latest = json.loads(cloudcat("snapshots", "-f", "json", cwd=catalog).stdout)[-1]
    assert f"from snapshot {latest['id']}, stored " in footer
    assert "<bdi>fe</bdi>: 20" in footer and "<bdi>cav</bdi>: 20" in footer  # read times
    assert "fe-prices.csv" in footer and "cav-prices.yaml" in footer
