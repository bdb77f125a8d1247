"""The offer filters, declared once in cloudcat.filters: every filter reaches the CLI, the docs,
the JSON Schema and the type checker; the headline question works from Python and the shell."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import click
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_catalog import make_config, write_config

import cloudcat
from cloudcat.cli import cli
from cloudcat.errors import ConfigError
from cloudcat.filters import FILTERS, Flag, filters_schema, list_needle, list_text
from cloudcat.reference import filters_reference

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_every_filter_is_an_option_of_cloudcat_offers() -> None:
    command = cli.commands["offers"]
    assert isinstance(command, click.Command)
    options = {p.name: p for p in command.params if isinstance(p, click.Option)}
    for name, declared in FILTERS.items():
        assert name in options, f"filter {name} has no option on `cloudcat offers`"
        assert f"--{declared.option}" in options[name].opts
        if isinstance(declared, Flag):
            assert f"--no-{declared.option}" in options[name].secondary_opts


def test_every_filter_is_in_the_docs_and_the_schema() -> None:
    page = (ROOT / "docs" / "filters.md").read_text(encoding="utf-8")
    assert page == filters_reference(), "run: uv run python -m cloudcat.reference docs"
    schema = json.loads(run_cli("schema", "--model", "query").stdout)
    assert set(schema["properties"]) == set(FILTERS) == set(filters_schema()["properties"])
    for name in FILTERS:
        assert f"| `{name}` |" in page
    # a brand's logical offers take the same vocabulary in the configuration's schema
    config = json.loads(run_cli("schema", "--model", "config").stdout)
    logical = config["$defs"]["LogicalOfferConfig"]["properties"]
    assert set(FILTERS) <= set(logical)


def test_headline_question_from_python(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog:
        found = catalog.offers(kind="compute", country="FR", labels=["SecNumCloud"], min_vcpus=4, sort="price")
        assert found, "the Cloud Avenue pools are SecNumCloud and in France"
        assert all("secnumcloud" in o.labels and o.country == "FR" and (o.vcpus or 0) >= 4 for o in found)
        prices = [o.price.amount for o in found if o.price is not None]
        assert prices == sorted(prices)
        assert not catalog.offers(kind="compute", country="DE")
        # the same question through a typed query object
        query = cloudcat.OfferQuery(kind="compute", country="fr", labels="secnumcloud", min_vcpus=4, sort="price")
        assert [o.id for o in catalog.offers(query)] == [o.id for o in found]


def test_headline_question_from_the_shell(tmp_path: Path) -> None:
    config = write_config(tmp_path, make_config(tmp_path))
    proc = run_cli("offers", "--config", str(config), "--country", "FR", "--label", "secnumcloud",
                   "--min-vcpus", "4", "--sort", "price", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows and all("secnumcloud" in r["labels"] and r["vcpus"] >= 4 for r in rows)
    prices = [Decimal(r["price"]["amount"]) for r in rows if r["price"]]
    assert prices == sorted(prices)


def test_misspelt_filter_is_a_config_error_with_a_suggestion(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog:
        with pytest.raises(ConfigError, match="did you mean 'min_vcpus'"):
            catalog.offers(min_vcpu=4)  # type: ignore[call-arg]
        with pytest.raises(ConfigError, match="filter kind: 'flavor' is not one of"):
            catalog.offers(kind="flavor")


def test_misspelt_filter_is_a_type_error(tmp_path: Path) -> None:
    from mypy import api

    source = tmp_path / "client.py"
    source.write_text(textwrap.dedent("""
        import cloudcat

        with cloudcat.open_catalog() as catalog:
            catalog.offers(min_vcpus=4, country="FR", sort="price")
            catalog.offers(min_vcpu=4)
    """))
    out, _, status = api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(source)])
    assert status == 1, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "client.py:6:" in errors[0] and 'did you mean "min_vcpus"' in errors[0], out


def test_new_filters_reach_the_store(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog:
        compute = catalog.offers(kind="compute")
        assert sorted(o.name for o in catalog.offers(family="s3")) == ["s3.large.2", "s3.xlarge.4"]
        flexible = catalog.offers(kind="compute", flexible=True)
        assert flexible and {o.id for o in flexible} == {o.id for o in compute if o.flexible is not None}
        fixed = catalog.offers(kind="compute", flexible=False)
        assert len(fixed) + len(flexible) == len(compute)
        # compute that states no architecture is x86_64
        assert len(catalog.offers(kind="compute", architecture="x86_64")) == len(compute)
        assert catalog.offers(kind="compute", architecture="aarch64") == []
        assert [o.name for o in catalog.offers(kind="storage", min_iops=5000)] == ["SSD"]
        assert [o.name for o in catalog.offers(storage_class="SATA")] == ["SATA"]
        assert sorted(o.name for o in catalog.offers(os_family="UBUNTU")) == ["OBS Ubuntu 22.04", "UBUNTU_22.04"]
        any_label = catalog.offers(any_label=["secnumcloud", "hds"])
        assert {o.brand for o in any_label} == {"flexible-engine", "cloud-avenue"}


def test_logical_offer_with_an_unknown_filter_names_file_line_and_suggestion(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config["brands"]["cloud-avenue"]["offers"] = [{"id": "gp", "min_vcpu": 4}]
    path = write_config(tmp_path, config)
    with pytest.raises(ConfigError) as caught:
        cloudcat.open_catalog(path)
    message = str(caught.value)
    assert "cloudcat.yaml" in message and "did you mean 'min_vcpus'" in message
    assert caught.value.line is not None


def test_logical_offer_is_a_stored_query(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config["brands"]["cloud-avenue"]["offers"] = [
        {"id": "gp-4-16", "min_vcpus": 4, "min_memory_mib": 16384, "country": "fr", "labels": ["SecNumCloud"],
         "regions": ["vdr"]}]
    path = write_config(tmp_path, config)
    with cloudcat.open_catalog(path) as catalog:
        offer = catalog.get("cloud-avenue/gp-4-16")
        query = catalog.offers(brand="cloud-avenue", kind="compute", min_vcpus=4, min_memory_mib=16384,
                               country="FR", labels="secnumcloud", region="vdr", lifecycle="available",
                               sort="price")
    assert offer.extras["resolved"]["offer"] == query[0].id
    assert (offer.vcpus, offer.memory_mib) == (query[0].vcpus, query[0].memory_mib)
    assert yaml.safe_dump(offer.extras["resolved"]["reason"])  # a readable sentence


# A list field is one text column (labels, zones): a value's needle is found in a list's text
# exactly when the list holds the value, whatever separators or escapes the values contain.
_NASTY = st.text(alphabet="a01\x1e\x1f\\", min_size=0, max_size=5)


@given(values=st.lists(_NASTY, max_size=5), wanted=_NASTY)
def test_a_listed_value_is_found_exactly_when_it_is_in_the_list(values: list[str], wanted: str) -> None:
    text = list_text(values)
    assert (text is not None and list_needle(wanted) in text) == (wanted in values)


@settings(max_examples=40, deadline=None)
@given(lists=st.lists(st.lists(_NASTY.filter(str.strip), max_size=3), min_size=1, max_size=4),
       wanted=st.lists(_NASTY.filter(str.strip), min_size=1, max_size=2))
def test_labels_and_zones_filters_give_in_sql_what_they_give_in_memory(
        tmp_path_factory: pytest.TempPathFactory, lists: list[list[str]], wanted: list[str]) -> None:
    import datetime as dt

    from cloudcat.models import Offer
    from cloudcat.query import OfferQuery
    from cloudcat.store import Store

    offers = [Offer.model_validate({"kind": "compute", "name": f"f{n}", "region": "r", "labels": values,
                                    "zones": values, "id": f"b/compute/r/f{n}", "brand": "b", "backend": "x",
                                    "driver": "static", "read_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})
              for n, values in enumerate(lists)]
    with Store(tmp_path_factory.mktemp("lists") / "s.db") as store:
        store.write_snapshot(items=[], offers=offers, statuses=[], config_hash=None)
        for name in ("labels", "any_label", "zone"):
            q = OfferQuery(**{name: wanted})  # type: ignore[misc]
            want = q.get(name)
            expected = {o.id for o in offers if FILTERS[name].matches(o, want)}
            assert {o.id for o in store.query(q)} == expected, name


@settings(max_examples=40, deadline=None)
@given(names=st.lists(st.tuples(st.text(alphabet="aB/\x1f\x1e0", min_size=1, max_size=4),
                                st.none() | st.text(alphabet="aB/\x1f\x1e1", max_size=4),
                                st.text(alphabet="aB/\x1f", max_size=3)), min_size=1, max_size=4),
       wanted=st.text(alphabet="aB/\x1f\x1e01", min_size=1, max_size=3).filter(str.strip))
def test_the_text_filter_gives_in_sql_what_it_gives_in_memory(
        tmp_path_factory: pytest.TempPathFactory, names: list[tuple[str, str | None, str]], wanted: str) -> None:
    """The store keeps the name and display name for the text filter only when the id does not
    hold them already, and the separator and escape characters within them as escapes: what is
    found is the same."""
    import datetime as dt

    from cloudcat.models import Offer
    from cloudcat.query import OfferQuery
    from cloudcat.store import Store

    offers = [Offer.model_validate({"kind": "compute", "name": name.strip() or "n", "display_name": display,
                                    "region": "r", "id": f"b/{n}{tail}", "brand": "b", "backend": "x",
                                    "driver": "static", "read_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})
              for n, (name, display, tail) in enumerate(names)]
    with Store(tmp_path_factory.mktemp("text") / "s.db") as store:
        store.write_snapshot(items=[], offers=offers, statuses=[], config_hash=None)
        q = OfferQuery(text=wanted)
        expected = {o.id for o in offers if FILTERS["text"].matches(o, q.get("text"))}
        assert {o.id for o in store.query(q)} == expected
