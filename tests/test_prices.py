"""Price books: which rules apply, in which order, and what applying them does.

The index (exact names hashed, patterns by their literal prefix) must find exactly what a scan
of every rule finds, in the documented order (patterns before exact names, then by effective
date, then file order); applying rules to an item's JSON data must do what applying them to the
item does.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudcat.errors import ConfigError
from cloudcat.models import FlexibleSizing, Item, Kind, Price
from cloudcat.prices import PriceBook, PriceRule
from cloudcat.records import unflatten

TODAY = dt.date(2026, 1, 1)
NAMES = ["s3.large.2", "s3.xlarge.4", "s6.large", "c6.2xlarge", "g1.xlarge", "ubuntu", "x"]
PATTERNS = ["s3.*", "s*", "*", "?6.*", "g1.[xy]large", "c6.2xlarge", "[!s]*", "s3.large.?", "s3.large.2*"]
LABELS = ["gpu", "Eco", "hds", "x"]


def _price(amount: int, since: str | None, unit: str = "hour") -> dict[str, Any]:
    return {"amount": str(amount), "currency": "EUR", "unit": unit, "effective_from": since}


#: what a rule is drawn from (the strategies are made once: drawing is what the tests spend on)
_DRAWN = st.fixed_dictionaries({
    "target": st.one_of(st.sampled_from(NAMES).map(lambda n: {"name": n}),
                        st.sampled_from(PATTERNS).map(lambda p: {"pattern": p})),
    "since": st.sampled_from([None, "2020-01-01", "2025-06-01", "2999-01-01"]),
    "backend": st.sampled_from([None, "fe", "cav"]),
    "brand": st.sampled_from([None, "a", "b"]),
    "kind": st.sampled_from([None, Kind.COMPUTE, Kind.STORAGE]),
    "region": st.sampled_from([None, "eu-*", "r1"]),
    "labels": st.lists(st.sampled_from(LABELS), max_size=2),
    "remove_labels": st.lists(st.sampled_from(LABELS), max_size=1),
    "gives": st.sets(st.sampled_from(["price", "price_per_vcpu", "display_name", "lifecycle"])),
})


def _rule(pos: int, drawn: dict[str, Any]) -> PriceRule:
    since, gives = drawn["since"], drawn["gives"]
    fields = {k: drawn[k] for k in ("backend", "brand", "kind", "region", "labels", "remove_labels")}
    fields["source"] = f"book.csv:{pos + 2}"
    if "price" in gives:
        fields["price"] = _price(pos, since)
    if "price_per_vcpu" in gives:
        fields["price_per_vcpu"] = _price(pos, since, "vcpu-hour")
    if "display_name" in gives:
        fields["display_name"] = f"rule {pos}"
    if "lifecycle" in gives:
        fields["lifecycle"] = {"status": "end-of-sale", "reason": f"rule {pos}"}
    return PriceRule(**drawn["target"], **fields)


books = st.lists(_DRAWN, max_size=25).map(lambda drawn: [_rule(pos, d) for pos, d in enumerate(drawn)])
items = st.builds(
    lambda kind, name, region, labels, flexible: Item(
        kind=kind, name=name, region=region, labels=labels,
        flexible=FlexibleSizing(vcpus_max=8, memory_mib_max=8192) if flexible and kind == Kind.COMPUTE else None),
    st.sampled_from([Kind.COMPUTE, Kind.STORAGE]), st.sampled_from(NAMES),
    st.sampled_from([None, "eu-west-0", "r1"]), st.lists(st.sampled_from(LABELS), max_size=2), st.booleans())
backends = st.sampled_from(["fe", "cav", "other"])
brands = st.sampled_from([None, "a", "b"])


def scanned(rules: list[PriceRule], backend: str, item: Item, brand: str | None) -> list[PriceRule]:
    """The rules that apply, found by checking every rule, in the documented order (a stable
    sort keeps file order among equals)."""
    found = [r for r in rules if r.matches(backend, item, brand)
             and ((since := r.effective_from()) is None or since <= TODAY)]
    return sorted(found, key=lambda r: (r.exact, r.effective_from() or dt.date.min))


def applied_in_order(rules: list[PriceRule], item: Item) -> Item:
    """``item`` with ``rules`` applied one after the other as the documentation says: fields a
    rule gives replace the item's, its labels are added and its removed labels taken away."""
    data = item.model_dump()
    labels = set(item.labels)
    for rule in rules:
        for field in ("price", "display_name", "lifecycle"):
            if getattr(rule, field) is not None:
                data[field] = getattr(rule, field).model_dump() if field != "display_name" else rule.display_name
        labels = (labels | {x.lower() for x in rule.labels}) - {x.lower() for x in rule.remove_labels}
        if data["flexible"] is not None and rule.price_per_vcpu is not None:
            data["flexible"]["price_per_vcpu"] = rule.price_per_vcpu.model_dump()
    data["labels"] = sorted(labels)
    return Item.model_validate(data)


def as_json(item: Item) -> dict[str, Any]:
    return Item.model_validate(item.model_dump()).model_dump(mode="json")


def book_of(rules: list[PriceRule], how: str) -> PriceBook:
    """A book of ``rules``: made of the models, or read from a JSON Lines file of them (a book
    read keeps each rule as the data it checked, and makes models only when asked)."""
    if how == "made":
        return PriceBook(rules)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "book.jsonl"
        path.write_text("".join(rule.model_dump_json() + "\n" for rule in rules))
        return PriceBook.load([path])


@pytest.mark.parametrize("how", ["made", "read"])
@settings(max_examples=200, deadline=None)
@given(books, items, backends, brands)
def test_the_index_finds_what_a_scan_finds_in_the_documented_order(
        how: str, rules: list[PriceRule], item: Item, backend: str, brand: str | None) -> None:
    book = book_of(rules, how)
    assert book.matching(backend, item, brand=brand, today=TODAY) == scanned(rules, backend, item, brand)
    assert book.may_apply(backend, item.name) or not scanned(rules, backend, item, brand)


@pytest.mark.parametrize("how", ["made", "read"])
@settings(max_examples=200, deadline=None)
@given(books, items, backends, brands)
def test_applying_rules_to_an_item_or_to_its_data_gives_the_same_item(
        how: str, rules: list[PriceRule], item: Item, backend: str, brand: str | None) -> None:
    book = book_of(rules, how)
    expected = as_json(applied_in_order(scanned(rules, backend, item, brand), item))
    assert as_json(book.apply(backend, item, brand=brand, today=TODAY)) == expected
    data = book.apply_data(backend, item.model_dump(mode="json"), brand=brand, today=TODAY)
    assert as_json(Item.model_validate(data)) == expected


def test_rules_apply_the_same_the_second_time() -> None:
    """What a rule does is worked out once: applying it again, to another item, does the same."""
    book = PriceBook([PriceRule(backend="fe", pattern="s3.*", labels=["Eco"], price=Price.model_validate(
        _price(1, None)))])
    first = book.apply_data("fe", {"kind": "compute", "name": "s3.large", "labels": ["a"]}, today=TODAY)
    second = book.apply_data("fe", {"kind": "compute", "name": "s3.small", "labels": ["b"]}, today=TODAY)
    assert (first["labels"], second["labels"]) == (["a", "eco"], ["b", "eco"])
    assert first["price"] == second["price"] == Price.model_validate(_price(1, None))


def test_an_empty_book_leaves_items_as_they_are() -> None:
    item = Item(kind=Kind.COMPUTE, name="s3.large.2", region="r1", labels=["x"])
    data = item.model_dump(mode="json")
    assert PriceBook().apply("fe", item) is item
    assert PriceBook().apply_data("fe", data) is data and data == item.model_dump(mode="json")
    assert not PriceBook().may_apply("fe", "s3.large.2")


def test_an_exact_name_beats_a_pattern_and_the_later_rule_wins_among_equals() -> None:
    item = Item(kind=Kind.COMPUTE, name="s3.large.2", region="r1", labels=["std"])
    book = PriceBook([
        PriceRule(name="s3.large.2", price=_price(1, None), remove_labels=["x"]),
        PriceRule(pattern="s3.*", price=_price(2, None), labels=["x", "y"], display_name="first pattern"),
        PriceRule(pattern="s3.large.*", price=_price(3, None), display_name="later pattern"),
        PriceRule(name="s3.large.2", price=_price(4, "2999-01-01"), labels=["future"]),  # not yet
    ])
    for applied in (book.apply("fe", item, today=TODAY),
                    Item.model_validate(book.apply_data("fe", item.model_dump(mode="json"), today=TODAY))):
        assert applied.price is not None and applied.price.amount == 1
        assert applied.display_name == "later pattern"
        assert applied.labels == ["std", "y"]  # the exact rule, applied last, removes what a pattern added


# -- price book files ------------------------------------------------------------------------------
def test_flat_columns_map_onto_nested_fields_as_documented() -> None:
    row = {" name ": " s3.large ", "price_amount": "0.1", "price_currency": "EUR", "labels": "a; b|c",
           "flexible_price_per_vcpu_amount": "0.01", "flexible_price_per_gib_memory_unit": "GiB-hour",
           "flexible_price_per_core_amount": "9", "extras.os": "linux", "extra.tier": "gold",
           "lifecycle_status": "end-of-sale", "gpu_model": "", "empty": "  ", "zones": "z1|z2"}
    assert unflatten(row) == {
        "name": "s3.large", "price": {"amount": "0.1", "currency": "EUR"}, "labels": ["a", "b|c"],
        "flexible": {"price_per_vcpu": {"amount": "0.01"}, "price_per_gib_memory": {"unit": "GiB-hour"}},
        "extras": {"os": "linux", "tier": "gold"}, "lifecycle": {"status": "end-of-sale"}, "zones": ["z1", "z2"]}


def test_a_column_given_whole_and_by_its_parts_is_refused_in_either_order() -> None:
    for row in ({"price": "1", "price_amount": "1"}, {"price_amount": "1", "price": "1"},
                {"extras": "x", "extras.a": "1"}):
        with pytest.raises(ConfigError, match="is given both whole and by its parts"):
            unflatten(row)


def test_a_bad_row_of_a_csv_price_book_names_file_line_and_field(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("name,price_amount,price_currency,price_unit\ns3.large,0.1,EUR,hour\ns3.small,0.1,EUR,fortnight\n")
    with pytest.raises(ConfigError) as err:
        PriceBook.load([book])
    assert (err.value.source, err.value.line, err.value.field) == (str(book), 3, "price.unit")
    assert f"{book}:3" in str(err.value) and "price.unit" in str(err.value)


def test_the_backends_rules_name_each_come_with_the_first_rule_naming_it() -> None:
    book = PriceBook([PriceRule(pattern="*", labels=["x"], source="a.csv:2"),
                      PriceRule(backend="fe", name="s3", source="a.csv:3"),
                      PriceRule(backend="cav", pattern="v*", source="a.csv:4"),
                      PriceRule(backend="fe", name="s6", source="a.csv:5")])
    assert book.backends() == {"fe": "a.csv:3", "cav": "a.csv:4"}
    book.rules.append(PriceRule(backend="bleu", name="d2", source="b.csv:2"))  # the list is the book's
    assert book.backends()["bleu"] == "b.csv:2"
    found = book.matching("bleu", Item(kind=Kind.COMPUTE, name="d2"), today=TODAY)
    assert [(rule.pattern, rule.name) for rule in found] == [("*", None), (None, "d2")]
