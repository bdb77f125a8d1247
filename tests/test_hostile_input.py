"""Hostile and broken input: files and options that once crashed cloudcat, ate gigabytes or leaked a
password. Each gets one ConfigError naming the file (and line and field where there is one), in
bounded time and memory, and the command exits 2."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudcat.config import Config, load_config
from cloudcat.errors import ConfigError
from cloudcat.prices import PriceBook
from cloudcat.records import read_records
from cloudcat.yamlfile import MAX_DEPTH, parse_yaml

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

MERGE_BOMB = "a0: &a0 {k0: 1, k1: 2, k2: 3}\n" + "".join(
    f"a{n}: &a{n} {{<<: [{', '.join([f'*a{n - 1}'] * 9)}], x{n}: 1}}\n" for n in range(1, 12))

CONFIG = """\
backends:
  s:
    driver: static
    options: {paths: [catalog.yaml]}
brands:
  b:
    display_name: B
    operator: O
    backend: s
"""


def cloudcat(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ})


def one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if "error" in x.lower()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def refused_quickly(text: str, source: str = "bomb.yaml") -> ConfigError:
    """Parse ``text``; it must be refused within a second and a few megabytes."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as info:
            parse_yaml(text, source=source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 5
    assert peak < 50 * 2**20, peak
    return info.value


# -- YAML: aliases, depth, values Python cannot hold ------------------------------------------------

def test_alias_bomb_is_refused_in_bounded_time_and_memory() -> None:
    err = refused_quickly(BOMB)
    assert err.source == "bomb.yaml" and err.line is not None
    assert "aliases expand this document" in str(err)


def test_merge_key_bomb_is_refused() -> None:
    err = refused_quickly(MERGE_BOMB)
    assert "aliases expand this document" in str(err)


def test_recursive_alias_is_refused() -> None:
    err = refused_quickly("a: &a [1, *a]\n")
    assert "recursive alias" in str(err) and err.line == 1


def test_deep_nesting_is_refused_with_its_line() -> None:
    err = refused_quickly("ok: 1\na: " + "[" * 5000 + "]" * 5000 + "\n")
    assert err.line == 2 and f"nested deeper than {MAX_DEPTH} levels" in str(err)
    err = refused_quickly("a: " + "{b: " * 5000 + "1" + "}" * 5000 + "\n")
    assert "nested deeper" in str(err)
    err = refused_quickly("".join(" " * n + f"k{n}:\n" for n in range(3000)) + " " * 3000 + "v\n")
    assert "nested deeper" in str(err) and err.line == MAX_DEPTH


def test_depth_built_from_aliases_is_refused() -> None:
    lines = ["l0: &l0 [[[[[[[[[[1]]]]]]]]]]"]
    lines += [f"l{n}: &l{n} [[[[[[[[[[*l{n - 1}]]]]]]]]]]" for n in range(1, 20)]
    err = refused_quickly("\n".join(lines) + "\n")
    assert "once aliases are expanded" in str(err)


def test_shared_blocks_and_merge_keys_still_work() -> None:
    doc = parse_yaml("base: &base {driver: static, enabled: true}\n"
                     "a: {<<: *base, enabled: false}\nb: *base\nlist: [*base, *base]\n", source="x.yaml")
    assert doc.data["a"] == {"driver": "static", "enabled": False}
    assert doc.data["b"] == doc.data["list"][1] == {"driver": "static", "enabled": True}
    assert doc.line("a") == 2


@pytest.mark.parametrize(("value", "reason"), [
    ("2024-02-30", "day is out of range"),
    ("2024-13-01", "month must be in 1..12"),
    ("1" + "0" * 5000, "digits"),
])
def test_values_python_cannot_hold_are_config_errors(tmp_path: Path, value: str, reason: str) -> None:
    path = tmp_path / "cloudcat.yaml"
    path.write_text(CONFIG + f"    lifecycle:\n      launched: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert (err.source, err.line, err.field) == (str(path), 11, "brands.b.lifecycle.launched")
    assert reason in str(err)


def test_invalid_date_in_the_config_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "cloudcat.yaml").write_text(CONFIG + "    lifecycle: {launched: 2024-02-30}\n")
    line = one_line_error(cloudcat("offers", cwd=tmp_path), 2)
    assert "cloudcat.yaml:10: brands.b.lifecycle" in line and "2024-02-30" in line
    assert "unexpected" not in line


def test_alias_bomb_config_exits_2_quickly(tmp_path: Path) -> None:
    (tmp_path / "cloudcat.yaml").write_text(BOMB)
    start = time.perf_counter()
    line = one_line_error(cloudcat("offers", cwd=tmp_path), 2)
    assert time.perf_counter() - start < 60
    assert "cloudcat.yaml:" in line and "aliases expand" in line


# -- price books and static catalogs --------------------------------------------------------------

def test_invalid_date_in_a_yaml_price_book(tmp_path: Path) -> None:
    book = tmp_path / "prices.yaml"
    book.write_text("- backend: s\n  name: a\n  price: {amount: 1, currency: EUR, unit: hour}\n"
                    "- backend: s\n  name: b\n  price: {amount: 1, currency: EUR, unit: hour,"
                    " effective_from: 2024-02-30}\n")
    with pytest.raises(ConfigError) as info:
        PriceBook.load([book])
    assert (info.value.source, info.value.line) == (str(book), 6)
    assert info.value.field == "[1].price.effective_from"


def test_json_price_book_errors_carry_the_line(tmp_path: Path) -> None:
    book = tmp_path / "prices.json"
    rules = [{"backend": "s", "name": "a", "price": {"amount": 1, "currency": "EUR", "unit": "hour"}},
             {"backend": "s", "name": "b", "price": {"amount": -1, "currency": "EUR", "unit": "hour"}}]
    book.write_text(json.dumps({"note": {"items": []}, "items": rules}, indent=2))
    with pytest.raises(ConfigError) as info:
        PriceBook.load([book])
    text = book.read_text().splitlines()
    assert info.value.line is not None and text[info.value.line - 1].strip() == "{"
    assert '"b"' in "".join(text[info.value.line - 1:info.value.line + 3])
    # rules read well carry their line as their source
    book.write_text(json.dumps(rules[:1], indent=2))
    assert PriceBook.load([book]).rules[0].source == f"{book}:2"


def test_json_entry_lines_in_a_compact_and_a_keyed_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"items": "x", "other": [{"a": 1}],\n "items": [{"a": 1},\n\n {"b": "]\\n,"}, {"c": 2}]}')
    assert [line for _, line, _ in read_records(path)] == [2, 4, 4]
    path.write_text("[\n" + ",\n".join(json.dumps({"n": n}) for n in range(5)) + "\n]")
    assert [line for _, line, _ in read_records(path)] == [2, 3, 4, 5, 6]


@pytest.mark.parametrize("name", ["deep.json", "deep.jsonl"])
def test_deep_json_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text('{"a": ' * 200_000 + "1" + "}" * 200_000 if name.endswith("l") else "[" * 200_000 + "]" * 200_000)
    with pytest.raises(ConfigError, match="nested deeper"):
        list(read_records(path))
    path.write_text('{"a": ' * 500 + "1" + "}" * 500)
    with pytest.raises(ConfigError, match="nested deeper"):
        list(read_records(path))


def test_extra_csv_cells_are_an_error_not_dropped(tmp_path: Path) -> None:
    book = tmp_path / "prices.csv"
    book.write_text("backend,name,price_amount,price_currency,price_unit\n"
                    "s,a,1,EUR,hour\n"
                    "s,b,1,EUR,hour,oops\n")
    with pytest.raises(ConfigError) as info:
        PriceBook.load([book])
    assert (info.value.source, info.value.line) == (str(book), 3)
    assert "6 cells, the header names 5 columns" in str(info.value)


def test_csv_header_naming_a_column_twice(tmp_path: Path) -> None:
    book = tmp_path / "prices.csv"
    book.write_text("backend,name,name\ns,a,b\n")
    with pytest.raises(ConfigError, match="'name' named twice"):
        PriceBook.load([book])


def test_csv_quoted_cells_span_lines_and_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('name,display_name\na,"two\nlines"\nb,x\n')
    assert [(line, row["name"]) for _, line, row in read_records(path)] == [(3, "a"), (4, "b")]


# -- CLI: filters and store locations ---------------------------------------------------------------

def _static_project(tmp_path: Path) -> Path:
    (tmp_path / "catalog.yaml").write_text(
        "items:\n  - {kind: compute, name: a, region: r, vcpus: 1, memory_mib: 1024, labels: [x]}\n")
    (tmp_path / "cloudcat.yaml").write_text(CONFIG + "store: ':memory:'\n")
    return tmp_path


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_whitespace_only_label_filter_is_refused(tmp_path: Path, value: str) -> None:
    project = _static_project(tmp_path)
    assert "b/" in cloudcat("offers", "-f", "value", "-c", "id", cwd=project).stdout
    line = one_line_error(cloudcat("offers", "--label", value, cwd=project), 2)
    assert "label" in line


def test_memory_store_in_a_config_creates_no_file(tmp_path: Path) -> None:
    project = _static_project(tmp_path)
    assert load_config(project / "cloudcat.yaml").store == ":memory:"
    proc = cloudcat("refresh", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in project.iterdir()) == ["catalog.yaml", "cloudcat.yaml"]


@pytest.mark.parametrize(("store", "reason"), [
    ("mysql://admin:hunter2secret@db/cat", "scheme 'mysql' is not supported"),
    ("postgresql://admin:hunter2secret@db:port/cat", "port"),
    ("sqlite://", "needs a path"),
])
def test_bad_store_locations_exit_2_without_the_password(tmp_path: Path, store: str, reason: str) -> None:
    project = _static_project(tmp_path)
    (project / "cloudcat.yaml").write_text(CONFIG + f"store: '{store}'\n")
    line = one_line_error(cloudcat("snapshots", cwd=project), 2)
    assert reason in line and "cloudcat.yaml:10: store" in line and "hunter2secret" not in line
    proc = cloudcat("--store", store, "snapshots", cwd=project)
    assert proc.returncode == 2 and reason in proc.stderr and "hunter2secret" not in proc.stderr


# -- secrets in URLs ------------------------------------------------------------------------------

def test_url_passwords_are_masked_in_config_reprs() -> None:
    config = load_config({
        "backends": {"os": {"driver": "openstack", "options": {
            "auth_url": "https://admin:hunter2secret@keystone.example:5000/v3",
            "endpoints": ["https://u:hunter2secret@a.example"]}}},
        "price_books": ["https://u:hunter2secret@files.example/prices.csv"],
        "store": "postgresql://cat:hunter2secret@db.example/cat"})
    for text in (repr(config), str(config), repr(config.backends["os"]), str(config.backends["os"])):
        assert "hunter2secret" not in text
        assert "admin:***@keystone.example" in text or "cat:***@db.example" in text
    assert config.store == "postgresql://cat:hunter2secret@db.example/cat"  # the value itself is kept


def test_url_password_in_a_config_error_is_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "cloudcat.yaml"
    path.write_text("backends:\n  os:\n    driver: openstack\n    optons: {auth_url: 'https://a:hunter2secret@k'}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "hunter2secret" not in str(info.value) and "did you mean 'options'" in str(info.value)


# -- fuzzing: anything gives a result or a ConfigError naming the file ----------------------------

YAMLISH = st.text(alphabet=st.sampled_from(list("abk:-[]{}&*!<>|'\",#? \n\t0123456789.eE+_@%`~\\")),
                  max_size=300)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["2024-02-30", "1e999", "nan", "${HOME}",
                                                           "$${X}", "30m", ":memory:", "x://a:b@c"]))
KEYS = st.sampled_from(["backends", "brands", "price_books", "store", "max_age", "driver", "options",
                        "backend", "display_name", "operator", "offers", "id", "path", "lifecycle",
                        "launched", "concurrency", "s", "b", "<<"])
TREES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
                     max_leaves=30)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _loads_or_config_error(path: Path) -> None:
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.source == str(path), exc


@FUZZ
@given(text=YAMLISH)
def test_fuzz_config_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cloudcat.yaml"
    path.write_text(text)
    _loads_or_config_error(path)


@FUZZ
@given(tree=TREES)
def test_fuzz_config_structure(tmp_path: Path, tree: object) -> None:
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    _loads_or_config_error(path)


@FUZZ
@given(tree=TREES)
def test_fuzz_config_mapping(tree: object) -> None:
    if not isinstance(tree, dict):
        tree = {"backends": tree}
    with contextlib.suppress(ConfigError):
        assert isinstance(load_config(tree), Config)


ROWS = st.lists(st.dictionaries(st.sampled_from(["backend", "name", "pattern", "kind", "price", "price_amount",
                                                 "price_currency", "price_unit", "labels", "effective_from"]),
                                SCALARS | TREES, max_size=6), max_size=4)


@FUZZ
@given(suffix=st.sampled_from([".csv", ".json", ".jsonl", ".yaml"]), text=YAMLISH)
def test_fuzz_price_book_text(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"prices{suffix}"
    path.write_text(text)
    try:
        PriceBook.load([path])
    except ConfigError as exc:
        assert exc.source == str(path), exc


@FUZZ
@given(suffix=st.sampled_from([".csv", ".json", ".jsonl", ".yaml"]), rows=ROWS)
def test_fuzz_price_book_rows(tmp_path: Path, suffix: str, rows: list[dict[str, object]]) -> None:
    path = tmp_path / f"prices{suffix}"
    if suffix == ".csv":
        header = sorted({k for row in rows for k in row}) or ["name"]
        path.write_text("\n".join([",".join(header)] + [",".join(str(row.get(k, "")).replace(",", ";")
                                                                 for k in header) for row in rows]) + "\n")
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(row, default=str) for row in rows))
    elif suffix == ".json":
        path.write_text(json.dumps(rows, default=str, indent=1))
    else:
        path.write_text(yaml.safe_dump(rows))
    try:
        PriceBook.load([path])
    except ConfigError as exc:
        assert exc.source == str(path), exc


# -- the pytest plugin, loaded by every pytest run where cloudcat is installed ---------------------

def test_pytest_plugin_imports_nothing_heavy_until_a_fixture_is_used() -> None:
    code = ("import sys, cloudcat.testing.pytest_plugin\n"
            "heavy = [m for m in ('werkzeug', 'pydantic', 'cloudcat.testing.mockserver', 'cloudcat.config')"
            " if m in sys.modules]\n"
            "print(heavy)\n"
            "from cloudcat.testing import mock, FaultRule\n"
            "assert 'cloudcat.testing.mockserver' in sys.modules and callable(mock) and FaultRule\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"



def test_url_passwords_are_masked_in_every_drivers_options_repr() -> None:
    from cloudcat.registry import load_driver

    secret = "hunter2secret"
    cases = {
        "openstack": {"auth": {"auth_url": f"https://admin:{secret}@keystone.example/v3", "username": "u",
                               "password": "p", "project_name": "x"}},
        "vcd": {"url": f"https://admin:{secret}@vcd.example", "org": "o", "username": "u", "password": "p"},
        "vsphere": {"host": f"https://admin:{secret}@vc.example", "user": "u", "password": "p"},
        "libcloud": {"provider": "openstack", "key": f"https://admin:{secret}@x.example", "secret": "s"},
        "static": {"paths": [f"https://admin:{secret}@files.example/c.yaml"]},
    }
    for name, options in cases.items():
        driver = load_driver(name)(options)
        for text in (repr(driver), str(driver), repr(driver.options), str(driver.options)):
            assert secret not in text, (name, text)
            assert "admin:***@" in text, (name, text)


def test_url_passwords_are_masked_in_every_cloudcat_error() -> None:
    from cloudcat.errors import AuthenticationError, OfferNotFoundError, StoreError

    for exc in (ConfigError("cannot read https://u:hunter2secret@h/x", source="f.yaml", line=2),
                AuthenticationError("refused at https://u:hunter2secret@h", backend="b"),
                StoreError("postgresql://u:hunter2secret@db/x"), OfferNotFoundError("s3://k:hunter2secret@b")):
        assert "hunter2secret" not in str(exc) and "hunter2secret" not in repr(exc), exc
        assert ":***@" in str(exc)


# -- ISO codes -------------------------------------------------------------------------------------

def test_currencies_and_countries_are_iso_codes() -> None:
    from pydantic import ValidationError

    from cloudcat.iso import ISO_3166_ALPHA2, ISO_4217
    from cloudcat.models import Price, Region
    from cloudcat.testing.conformance.currencies import ISO_4217 as KIT_4217

    assert KIT_4217 is ISO_4217 and {"EUR", "USD", "CHF", "JPY"} <= ISO_4217
    assert {"FR", "DE", "US", "GB"} <= ISO_3166_ALPHA2 and len(ISO_3166_ALPHA2) == 249
    assert Price(amount=1, currency="eur", unit="hour").currency == "EUR"
    assert Region(name="r", country="fr").country == "FR" and Region(name="r", country="UK").country == "GB"
    with pytest.raises(ValidationError, match="'XYZ' is not an ISO 4217 currency code"):
        Price(amount=1, currency="XYZ", unit="hour")
    with pytest.raises(ValidationError, match="'ZZ' is not an ISO 3166-1 alpha-2 country code"):
        Region(name="r", country="ZZ")


def test_unknown_currency_in_a_price_book_names_file_line_and_field(tmp_path: Path) -> None:
    book = tmp_path / "prices.csv"
    book.write_text("backend,name,price_amount,price_currency,price_unit\ns,a,1,EUR,hour\ns,b,1,XYZ,hour\n")
    with pytest.raises(ConfigError) as info:
        PriceBook.load([book])
    assert (info.value.source, info.value.line, info.value.field) == (str(book), 3, "price.currency")
    assert "not an ISO 4217 currency code" in str(info.value)


def test_unknown_country_in_a_static_catalog_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text("regions:\n  - {name: r, country: ZZ}\n"
                                           "items:\n  - {kind: compute, name: a, region: r, vcpus: 1, memory_mib: 1}\n")
    (tmp_path / "cloudcat.yaml").write_text(CONFIG.replace("{path: catalog.yaml}", "{paths: [catalog.yaml]}"))
    proc = cloudcat("refresh", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # the only backend failed: nothing stored
    assert "Traceback" not in proc.stderr and "catalog.yaml:2: country" in proc.stderr
    assert "'ZZ' is not an ISO 3166-1 alpha-2 country code" in proc.stderr


@pytest.mark.parametrize("field", ["max_age", "backend_deadline", "refresh_deadline"])
@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_durations_are_finite(tmp_path: Path, field: str, value: str) -> None:
    path = tmp_path / "cloudcat.yaml"
    path.write_text(f"{field}: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.line, info.value.field) == (1, field)


def test_files_past_the_size_limit_are_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cloudcat.yamlfile

    monkeypatch.setattr(cloudcat.yamlfile, "MAX_FILE_BYTES", 2**20)
    path = tmp_path / "cloudcat.yaml"
    path.write_text("# " + "x" * 2**20 + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB") as info:
        load_config(path)
    assert info.value.source == str(path)
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_config("/dev/zero")
    path.write_text("store: ':memory:'\r\nmax_age: 30m\r\n")  # Windows line ends read as before
    assert load_config(path).max_age == 1800


def test_redacting_filter_survives_a_malformed_log_call() -> None:
    import io
    import logging

    from cloudcat.redaction import RedactingFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("cloudcat.test.malformed")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("GET %s %d", "https://u:hunter2secret@h/x")  # one argument short
    finally:
        log.removeHandler(handler)
    assert "hunter2secret" not in stream.getvalue() and "https://u:***@h/x" in stream.getvalue()
