"""OfferQuery: materializing flexible offers, matching, sorting (pure logic, hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from offer_factories import POOL, eur, offer
from pydantic import ValidationError

from cloudcat.errors import ConfigError
from cloudcat.models import FlexibleSizing, Gpu, Item, Kind, Lifecycle, LifecycleStatus, Offer, Price
from cloudcat.query import SORTS, OfferQuery, matches, materialize, run, select, sort_key

amounts = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)
prices = st.one_of(st.none(), st.builds(lambda a, c: Price(amount=a, currency=c, unit="hour"),
                                       amounts, st.sampled_from(["EUR", "USD"])))


@st.composite
def pools(draw: st.DrawFn) -> FlexibleSizing:
    vmin = draw(st.integers(1, 8))
    vmax = draw(st.integers(vmin, 64))
    step = draw(st.sampled_from([4, 256, 1024]))
    mmin = draw(st.integers(1, 8)) * 512
    mmax = draw(st.integers(mmin, 262144))
    priced = draw(st.booleans())
    return FlexibleSizing(
        vcpus_min=vmin, vcpus_max=vmax, memory_mib_min=mmin, memory_mib_max=mmax, memory_step_mib=step,
        price_per_vcpu=eur(str(draw(amounts)), "vcpu-hour") if priced else None,
        price_per_gib_memory=eur(str(draw(amounts)), "GiB-hour") if priced else None)


@st.composite
def offers(draw: st.DrawFn, name: str | None = None) -> Offer:
    kind = draw(st.sampled_from([Kind.COMPUTE, Kind.COMPUTE, Kind.IMAGE, Kind.STORAGE]))
    flexible = draw(pools()) if kind == Kind.COMPUTE and draw(st.integers(0, 3)) == 0 else None
    sized = kind == Kind.COMPUTE
    return offer(
        name or draw(st.text("abcdXYZé-.", min_size=1, max_size=8)),
        brand=draw(st.sampled_from(["acme", "orange"])), kind=kind,
        region=draw(st.sampled_from(["eu-west-0", "eu-west-1", None])),
        zone=draw(st.sampled_from([None, "eu-west-0a"])),
        zones=draw(st.lists(st.sampled_from(["eu-west-0a", "eu-west-0b"]), max_size=2)),
        display_name=draw(st.one_of(st.none(), st.text("abcXYZ ", max_size=8))),
        vcpus=(flexible.vcpus_max if flexible else draw(st.integers(1, 64))) if sized else None,
        memory_mib=(flexible.memory_mib_max if flexible else draw(st.integers(512, 262144)))
        if sized else None,
        gpu=Gpu(count=1) if sized and draw(st.booleans()) else None,
        flexible=flexible, price=draw(prices),
        labels=draw(st.lists(st.sampled_from(["hds", "secnumcloud", "gdpr-eu"]), max_size=3)),
        lifecycle=Lifecycle(status=draw(st.sampled_from(list(LifecycleStatus)))),
        backend=draw(st.sampled_from(["fe", "cav"])))


FILTERS: dict[str, st.SearchStrategy[Any]] = {
    "brand": st.lists(st.sampled_from(["acme", "orange"]), max_size=2),
    "kind": st.lists(st.sampled_from(list(Kind)), min_size=1, max_size=2),
    "region": st.lists(st.sampled_from(["eu-west-0", "eu-west-1"]), min_size=1),
    "zone": st.lists(st.sampled_from(["eu-west-0a", "eu-west-0b"]), min_size=1),
    "labels": st.lists(st.sampled_from(["HDS", "secnumcloud ", "gdpr-eu"]), max_size=2),
    "min_vcpus": st.integers(0, 70),
    "min_memory_mib": st.integers(0, 300000),
    "gpu": st.booleans(),
    "max_price": amounts,
    "currency": st.sampled_from(["eur", "USD"]),
    "lifecycle": st.lists(st.sampled_from(list(LifecycleStatus)), min_size=1),
    "text": st.text("abXé", min_size=1, max_size=2),
    "backend": st.lists(st.sampled_from(["fe", "cav"]), min_size=1),
}


@st.composite
def queries(draw: st.DrawFn) -> OfferQuery:
    # A few filters at a time, so that most queries select something.
    chosen = draw(st.lists(st.sampled_from(sorted(FILTERS)), max_size=3, unique=True))
    fields = {name: draw(FILTERS[name]) for name in chosen}
    return OfferQuery(sort=draw(st.sampled_from(SORTS)), limit=draw(st.one_of(st.none(), st.integers(0, 5))),
                      offset=draw(st.integers(0, 3)), **fields)


# -- the query model ----------------------------------------------------------------------------
def test_query_rejects_unknown_fields_and_sorts() -> None:
    with pytest.raises(ConfigError, match="unknown filter 'flavour'"):
        OfferQuery(flavour="x")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="did you mean 'min_vcpus'"):
        OfferQuery(min_vcpu=4)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="did you mean 'price'"):
        OfferQuery(sort="prize")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        OfferQuery(limit=-1)


def test_query_normalizes_labels_currency_country_and_os_family() -> None:
    q = OfferQuery(labels=[" HDS", "SecNumCloud"], currency="eur", country="fr", os_family="Ubuntu", kind="compute")
    assert q.get("labels") == ["hds", "secnumcloud"]
    assert q.get("currency") == ["EUR"]
    assert q.get("country") == ["FR"]
    assert q.get("os_family") == ["ubuntu"]
    assert q.get("kind") == ["compute"]


@pytest.mark.parametrize("bad", [{"labels": ["  "]}, {"text": " "}, {"kind": "flavor"}, {"min_vcpus": -1},
                                 {"min_vcpus": 2.5}, {"max_price": "NaN"}, {"max_price": "1e999999999"},
                                 {"gpu": "yes"}, {"lifecycle": "retired"}, {"min_iops": 2**70}])
def test_query_rejects_bad_values_naming_the_filter(bad: dict[str, Any]) -> None:
    name = next(iter(bad))
    with pytest.raises(ConfigError) as caught:
        OfferQuery(**bad)
    assert caught.value.field == name


# -- materialize: flexible vs fixed -------------------------------------------------------------
def test_flexible_is_sized_to_the_smallest_fitting_size_and_priced() -> None:
    flex = offer("pool", flexible=POOL, vcpus=32, memory_mib=131072)
    sized = materialize(flex, OfferQuery(min_vcpus=4, min_memory_mib=16000))
    assert sized is not None
    assert (sized.vcpus, sized.memory_mib) == (4, 16384)
    assert sized.price == eur("0.12")  # 4 * 0.01 + 16 GiB * 0.005
    assert sized.extras["sized_for"] == {"vcpus": 4, "memory_mib": 16384}
    assert flex.vcpus == 32 and flex.price is None and "sized_for" not in flex.extras  # original untouched


def test_flexible_without_size_filters_keeps_its_maximum_and_price() -> None:
    flex = offer("pool", flexible=POOL, vcpus=32, memory_mib=131072)
    assert materialize(flex, OfferQuery(region=["eu-west-0"])) is flex


def test_flexible_that_cannot_fit_is_dropped() -> None:
    flex = offer("pool", flexible=POOL, vcpus=32, memory_mib=131072)
    assert materialize(flex, OfferQuery(min_vcpus=33)) is None
    assert not matches(flex, OfferQuery(min_vcpus=33))
    assert matches(flex, OfferQuery(min_vcpus=32, min_memory_mib=131072))


def test_price_filter_applies_to_the_materialized_price() -> None:
    flex = offer("pool", flexible=POOL, vcpus=32, memory_mib=131072)
    assert matches(flex, OfferQuery(min_vcpus=4, min_memory_mib=16384, max_price=Decimal("0.12")))
    assert not matches(flex, OfferQuery(min_vcpus=8, min_memory_mib=16384, max_price=Decimal("0.12")))
    # without size filters the pool has no price, so a price bound excludes it
    assert not matches(flex, OfferQuery(max_price=Decimal(100)))


@given(pool=pools(), min_vcpus=st.one_of(st.none(), st.integers(0, 80)),
       min_memory=st.one_of(st.none(), st.integers(0, 300000)))
def test_materialize_picks_the_smallest_fitting_size(pool: FlexibleSizing, min_vcpus: int | None,
                                                     min_memory: int | None) -> None:
    assume(min_vcpus is not None or min_memory is not None)
    flex = offer("pool", flexible=pool, vcpus=pool.vcpus_max, memory_mib=pool.memory_mib_max)
    q = OfferQuery(min_vcpus=min_vcpus, min_memory_mib=min_memory)
    sized = materialize(flex, q)
    want_vcpus = max(pool.vcpus_min, min_vcpus or 0)
    want_memory = max(pool.memory_mib_min, min_memory or 0)
    fits = want_vcpus <= pool.vcpus_max and any(
        m % pool.memory_step_mib == 0 for m in range(want_memory, pool.memory_mib_max + 1))
    assert (sized is not None) == fits
    if sized is None:
        return
    assert sized.vcpus == want_vcpus
    assert sized.memory_mib is not None
    assert sized.memory_mib % pool.memory_step_mib == 0
    assert want_memory <= sized.memory_mib < want_memory + pool.memory_step_mib
    assert pool.fits(sized.vcpus, sized.memory_mib)
    assert sized.price == pool.price_for(sized.vcpus, sized.memory_mib)
    assert matches(flex, q)


@given(vcpus=st.integers(1, 64), memory=st.integers(512, 262144),
       min_vcpus=st.integers(0, 70), min_memory=st.integers(0, 300000))
def test_fixed_offers_are_never_resized(vcpus: int, memory: int, min_vcpus: int, min_memory: int) -> None:
    fixed = offer("s3.large.2", vcpus=vcpus, memory_mib=memory, price=eur("0.1"))
    q = OfferQuery(min_vcpus=min_vcpus, min_memory_mib=min_memory)
    assert materialize(fixed, q) is fixed
    assert matches(fixed, q) == (vcpus >= min_vcpus and memory >= min_memory)


# -- matches: each filter -----------------------------------------------------------------------
def test_each_filter() -> None:
    o = offer("s3.large.2", vcpus=2, memory_mib=8192, price=eur("0.1"), labels=["HDS", "SecNumCloud"],
              zones=["eu-west-0a"], display_name="General Purpose L", gpu=None)
    assert matches(o, OfferQuery())
    assert matches(o, OfferQuery(labels=["hds"])) and not matches(o, OfferQuery(labels=["hds", "iso27001"]))
    assert matches(o, OfferQuery(zone=["eu-west-0a"])) and not matches(o, OfferQuery(zone=["eu-west-0b"]))
    assert matches(o, OfferQuery(gpu=False)) and not matches(o, OfferQuery(gpu=True))
    assert matches(o, OfferQuery(max_price=Decimal("0.1")))
    assert not matches(o, OfferQuery(max_price=Decimal("0.0999")))
    assert matches(o, OfferQuery(currency="eur")) and not matches(o, OfferQuery(currency="USD"))
    assert matches(o, OfferQuery(text="PURPOSE")) and matches(o, OfferQuery(text="ACME/COMPUTE"))
    assert not matches(o, OfferQuery(text="xlarge"))
    assert matches(o, OfferQuery(brand=["acme"])) and not matches(o, OfferQuery(brand=[]))
    assert matches(o, OfferQuery(lifecycle=[LifecycleStatus.AVAILABLE]))
    assert not matches(o, OfferQuery(lifecycle=[LifecycleStatus.END_OF_SALE]))
    assert matches(o, OfferQuery(backend=["fe"])) and not matches(o, OfferQuery(backend=["cav"]))
    unpriced = offer("s3.xlarge.2", vcpus=4, memory_mib=16384)
    assert not matches(unpriced, OfferQuery(max_price=Decimal(1000)))
    assert not matches(unpriced, OfferQuery(currency="EUR"))
    image = offer("debian-12", kind=Kind.IMAGE)
    assert not matches(image, OfferQuery(min_vcpus=1))


@given(o=offers(), q=queries())
def test_select_agrees_with_matches_and_keeps_fixed_offers(o: Offer, q: OfferQuery) -> None:
    selected = select(o, q)
    assert (selected is not None) == matches(o, q)
    if selected is not None and o.flexible is None:
        assert selected is o


# -- sorting ------------------------------------------------------------------------------------
@given(st.lists(prices, max_size=12), st.sampled_from(["price", "-price"]))
def test_unknown_prices_sort_last_in_both_directions(price_list: list[Price | None], sort: str) -> None:
    items = [offer(f"o{i}", price=p) for i, p in enumerate(price_list)]
    ordered = sorted(items, key=lambda o: sort_key(o, sort))
    known = [o.price.amount for o in ordered if o.price is not None]
    unknown_from = len(known)
    assert all(o.price is None for o in ordered[unknown_from:])
    assert known == sorted(known, reverse=sort.startswith("-"))


@given(st.lists(offers(), max_size=10), st.sampled_from(SORTS))
def test_sort_keys_are_total_and_deterministic(items: list[Offer], sort: str) -> None:
    items = list({o.id: o for o in items}.values())  # ids are unique within a snapshot
    ordered = sorted(items, key=lambda o: sort_key(o, sort))
    assert sorted(reversed(items), key=lambda o: sort_key(o, sort)) == ordered
    field = sort.removeprefix("-")
    if field in ("vcpus", "memory_mib"):
        values = [getattr(o, field) for o in ordered if getattr(o, field) is not None]
        assert values == sorted(values, reverse=sort.startswith("-"))


def test_sort_key_rejects_unknown_sort() -> None:
    with pytest.raises(ValueError, match="unknown sort"):
        sort_key(offer("x"), "colour")


@settings(max_examples=150)
@given(items=st.lists(offers(), max_size=10), q=queries())
def test_run_is_filter_then_sort_then_slice(items: list[Offer], q: OfferQuery) -> None:
    got = run(items, q)
    expected = sorted((s for s in (select(o, q) for o in items) if s is not None),
                      key=lambda o: sort_key(o, q.sort))
    end = None if q.limit is None else q.offset + q.limit
    assert got == expected[q.offset:end]
    assert all(matches(o, q) for o in got)


def test_cheapest_fitting_offer_can_be_flexible() -> None:
    fixed_small = offer("s3.large.2", vcpus=2, memory_mib=8192, price=eur("0.05"))
    fixed_big = offer("s3.xlarge.4", vcpus=4, memory_mib=16384, price=eur("0.20"))
    flex = offer("pool", flexible=POOL, vcpus=32, memory_mib=131072)
    got = run([fixed_small, fixed_big, flex], OfferQuery(min_vcpus=4, min_memory_mib=16384, sort="price"))
    assert [o.name for o in got] == ["pool", "s3.xlarge.4"]
    assert got[0].price == eur("0.12")


@given(st.lists(st.text(max_size=4), max_size=3))
def test_item_labels_are_stripped_lowercased_deduplicated_and_sorted(labels: list[str]) -> None:
    # one label or several: the same rule (one label takes a shorter path)
    expected = sorted({label.strip().lower() for label in labels if label.strip()})
    assert Item(kind=Kind.COMPUTE, name="n", labels=labels).labels == expected
