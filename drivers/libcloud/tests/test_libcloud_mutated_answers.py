"""Answers of an unexpected shape never leave the libcloud driver as raw exceptions.

A mocked Azure (the login, Azure Resource Manager, the Retail Prices API) and a mocked OpenStack
(Keystone, Nova, Glance) whose JSON answers have one field removed or replaced wherever it appears
(by ``null``, text, a negative number, numbers of 2**63 and beyond, ``NaN`` and ``inf``, names with
control characters, a list or an object where something else was), or the whole body replaced or
cut short. Unmodified Apache Libcloud (and ``requests``) read them over loopback sockets. Whatever
the driver reads, it maps the answer (a size or an image it cannot map is dropped with a warning
naming the call, the request and the field), or raises a :class:`~cloudcat.errors.BackendError`
naming the call and the request, never ``AttributeError``, ``TypeError``, ``KeyError``,
``ValueError``, ``OverflowError`` or a pydantic ``ValidationError``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cloudcat_libcloud.driver import LibcloudDriver
from cloudcat_libcloud.mock import AzureMock
from cloudcat_openstack.mock import OpenStackMock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Request, Response

from cloudcat import open_catalog
from cloudcat.errors import BackendError
from cloudcat.models import Item, Kind
from cloudcat.testing import MockHandle, mock

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

#: The field is removed instead of replaced.
MISSING = "<missing>"
#: The body is cut in the middle.
TRUNCATED = "<truncated>"

#: (the platform, a part of the request path, a field of its JSON answer or ``(body)``, what the answer feeds)
FIELDS: list[tuple[str, str, str, Kind]] = [
    ("azure", "/oauth2/token", "access_token", Kind.LOCATION),
    ("azure", "/oauth2/token", "expires_on", Kind.LOCATION),
    ("azure", "/oauth2/token", "(body)", Kind.LOCATION),
    ("azure", "/providers/microsoft.compute?", "resourceTypes", Kind.LOCATION),
    ("azure", "/providers/microsoft.compute?", "resourceType", Kind.LOCATION),
    ("azure", "/providers/microsoft.compute?", "locations", Kind.LOCATION),
    ("azure", "/providers/microsoft.compute?", "(body)", Kind.LOCATION),
    ("azure", "/vmsizes", "value", Kind.COMPUTE),
    ("azure", "/vmsizes", "name", Kind.COMPUTE),
    ("azure", "/vmsizes", "numberOfCores", Kind.COMPUTE),
    ("azure", "/vmsizes", "memoryInMB", Kind.COMPUTE),
    ("azure", "/vmsizes", "osDiskSizeInMB", Kind.COMPUTE),
    ("azure", "/vmsizes", "resourceDiskSizeInMB", Kind.COMPUTE),
    ("azure", "/vmsizes", "(body)", Kind.COMPUTE),
    ("azure", "/versions", "name", Kind.IMAGE),
    ("azure", "/versions", "id", Kind.IMAGE),
    ("azure", "/versions", "location", Kind.IMAGE),
    ("azure", "/versions", "(body)", Kind.IMAGE),
    ("azure", "/api/retail/prices", "Items", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "retailPrice", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "unitOfMeasure", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "currencyCode", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "armSkuName", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "effectiveStartDate", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "type", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "skuName", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "productName", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "reservationTerm", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "meterId", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "NextPageLink", Kind.COMPUTE),
    ("azure", "/api/retail/prices", "(body)", Kind.COMPUTE),
    ("openstack", "/auth/tokens", "catalog", Kind.LOCATION),
    ("openstack", "/auth/tokens", "endpoints", Kind.LOCATION),
    ("openstack", "/auth/tokens", "region_id", Kind.LOCATION),
    ("openstack", "/auth/tokens", "region", Kind.LOCATION),
    ("openstack", "/auth/tokens", "url", Kind.COMPUTE),
    ("openstack", "/auth/tokens", "interface", Kind.COMPUTE),
    ("openstack", "/auth/tokens", "type", Kind.LOCATION),
    ("openstack", "/auth/tokens", "expires_at", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "flavors", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "vcpus", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "ram", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "disk", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "swap", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "name", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "id", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "OS-FLV-EXT-DATA:ephemeral", Kind.COMPUTE),
    ("openstack", "/flavors/detail", "(body)", Kind.COMPUTE),
    ("openstack", "/image/v2/images", "images", Kind.IMAGE),
    ("openstack", "/image/v2/images", "name", Kind.IMAGE),
    ("openstack", "/image/v2/images", "id", Kind.IMAGE),
    ("openstack", "/image/v2/images", "min_disk", Kind.IMAGE),
    ("openstack", "/image/v2/images", "min_ram", Kind.IMAGE),
    ("openstack", "/image/v2/images", "size", Kind.IMAGE),
    ("openstack", "/image/v2/images", "status", Kind.IMAGE),
    ("openstack", "/image/v2/images", "visibility", Kind.IMAGE),
    ("openstack", "/image/v2/images", "(body)", Kind.IMAGE),
]

#: Replacement values: absent, cut short, null, text, numbers out of every range, not finite, hostile names.
VALUES: list[Any] = [MISSING, TRUNCATED, None, "", "garbage", -1, 0, 3.5, 2**63, -(2**63) - 1, 2**64, 10**40,
                     float("inf"), float("-inf"), float("nan"), "inf", "NaN", "9223372036854775808", True, [],
                     [1, "a"], {}, {"x": {"y": 1}}, "evil\x01name\x1b[31m", "\u202eexe.txt", "x" * 5000]

#: Every error and warning names the call it was in.
CALLS = ("list_locations()", "list_sizes(", "list_images(", "retail prices ", "service catalog")
#: Every error names the request whose answer it was.
REQUESTS = ("GET /", "POST /", "retail prices https://")


@dataclass
class Mutation:
    """``value`` put at ``key`` of the answers whose path holds ``where`` (the ``nth`` such answer, or all)."""

    where: str
    key: str
    value: Any
    nth: int | None = None


def mutate_json(node: Any, key: str, value: Any) -> tuple[Any, int]:
    """``node`` with field ``key`` removed or replaced wherever it is (``(body)``: the whole answer); how many were."""
    if key == "(body)":
        return (None if value == MISSING else value), 1
    count = 0
    if isinstance(node, dict):
        for k in list(node):
            if k == key:
                if value == MISSING:
                    del node[k]
                else:
                    node[k] = value
                count += 1
            else:
                count += mutate_json(node[k], key, value)[1]
    elif isinstance(node, list):
        count = sum(mutate_json(v, key, value)[1] for v in node)
    return node, count


class _Mutating:
    """What the two mutating mocks share: one mutation of their JSON answers, and how many it changed."""

    mutation: Mutation | None = None
    hits = 0
    answers = 0

    def mutated(self, request: Request, response: Response) -> Response:
        m = self.mutation
        if m is None or response.status_code not in (200, 201) or "json" not in (response.content_type or ""):
            return response
        full = (request.full_path if request.query_string else request.path + "?").lower()
        if m.where.lower() not in full:
            return response
        self.answers += 1
        if m.nth is not None and self.answers - 1 != m.nth:
            return response
        raw = response.get_data(as_text=True)
        if m.value == TRUNCATED:
            self.hits += 1
            response.set_data(raw[: max(1, len(raw) // 2)])
            return response
        body, hits = mutate_json(json.loads(raw), m.key, m.value)
        self.hits += hits
        response.set_data(json.dumps(body))
        return response


class MutatingAzure(_Mutating, AzureMock):
    """Azure with one field of its JSON answers replaced or removed, or a body cut short."""

    def dispatch(self, request: Request) -> Response:
        return self.mutated(request, super().dispatch(request))


class MutatingOpenStack(_Mutating, OpenStackMock):
    """OpenStack with one field of its JSON answers replaced or removed, or a body cut short."""

    def dispatch(self, request: Request) -> Response:
        return self.mutated(request, super().dispatch(request))


@dataclass
class Outcome:
    """What one read of a mutated backend gave: items, the error, the warnings logged."""

    items: list[Item] = field(default_factory=list)
    error: BackendError | None = None
    warnings: list[str] = field(default_factory=list)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def libcloud_openstack_options(handle: MockHandle) -> dict[str, Any]:
    """``libcloud`` driver options reaching the OpenStack mock (as the ``openstack_options`` fixture gives)."""
    auth = handle.backend["options"]["auth"]
    return {"provider": "openstack", "key": auth["username"], "secret": auth["password"],
            "args": {"ex_force_auth_url": auth["auth_url"].removesuffix("/v3"),
                     "ex_force_auth_version": "3.x_password", "ex_tenant_name": auth["project_name"],
                     "ex_domain_name": auth["user_domain_name"], "api_version": "2.0"}}


@dataclass
class Platforms:
    azure: MockHandle
    openstack: MockHandle

    def options(self, platform: str) -> dict[str, Any]:
        if platform == "azure":
            return {**self.azure.backend["options"], "retries": 0, "timeout": 10}
        return {**libcloud_openstack_options(self.openstack), "retries": 0, "timeout": 10}


def read_mutated(platforms: Platforms, platform: str, mutation: Mutation, kind: Kind) -> Outcome:
    """Read ``kind`` in every region with the answers mutated: items or the BackendError (anything else
    propagates), with the warnings logged."""
    handle = platforms.azure if platform == "azure" else platforms.openstack
    mocked = handle.platform
    assert isinstance(mocked, _Mutating)
    catcher = _Warnings()
    logger = logging.getLogger("cloudcat.drivers.libcloud")
    logger.addHandler(catcher)
    mocked.hits, mocked.answers, mocked.mutation = 0, 0, mutation
    outcome = Outcome()
    driver = LibcloudDriver(platforms.options(platform), backend="lc")
    try:
        for region in driver.regions():
            outcome.items += driver.items(kind, region.name)
    except BackendError as exc:
        outcome.error = exc
    finally:
        driver.close()
        mocked.mutation = None
        logger.removeHandler(catcher)
    outcome.warnings = catcher.messages
    assert mocked.hits >= 1, f"{mutation} changed no answer: the case would prove nothing"
    return outcome


def assert_clean(outcome: Outcome) -> None:
    """An error names its backend and the call; a warning names the call; neither repeats control characters."""
    if outcome.error is not None:
        message = str(outcome.error)
        assert message.startswith("lc: "), f"the error does not name its backend: {message}"
        assert any(c in message for c in CALLS), f"the error names no call: {message}"
        assert any(r in message for r in REQUESTS), f"the error names no request: {message}"
        assert "\x01" not in message and "\x1b" not in message and len(message) < 2000, f"raw answer: {message!r}"
    for warning in outcome.warnings:
        assert any(c in warning for c in CALLS), f"the warning names no call: {warning}"
        assert "\x01" not in warning and "\x1b" not in warning, f"raw answer: {warning!r}"
    for item in outcome.items:
        assert "\x01" not in item.name and "\x1b" not in item.name


@pytest.fixture(scope="module")
def platforms() -> Iterator[Platforms]:
    with mock(MutatingAzure) as azure, mock(MutatingOpenStack, "flexible-engine") as openstack:
        yield Platforms(azure, openstack)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Mutation, Kind]:
    platform, where, key, kind = draw(st.sampled_from(FIELDS))
    value = draw(st.sampled_from(VALUES))
    nth = draw(st.sampled_from([None, 0, 1]))
    return platform, Mutation(where, key, value, nth), kind


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=mutations())
def test_a_mutated_answer_is_mapped_or_a_backend_error(platforms: Platforms, case: tuple[str, Mutation, Kind]) -> None:
    platform, mutation, kind = case
    if mutation.nth is not None and mutation.key in ("(body)",) and mutation.where == "/oauth2/token":
        mutation.nth = None  # one login per read: a later answer would change nothing
    try:
        outcome = read_mutated(platforms, platform, mutation, kind)
    except AssertionError as exc:
        if "changed no answer" in str(exc) and mutation.nth:
            return  # fewer such answers than ``nth``: nothing was mutated, nothing to check
        raise
    assert_clean(outcome)


@pytest.mark.parametrize(("platform", "where", "key", "kind"), FIELDS, ids=[f"{p}:{w}:{k}" for p, w, k, _ in FIELDS])
def test_a_removed_or_cut_short_answer_is_mapped_or_a_backend_error(platforms: Platforms, platform: str, where: str,
                                                                    key: str, kind: Kind) -> None:
    for value in (MISSING, None, TRUNCATED):
        assert_clean(read_mutated(platforms, platform, Mutation(where, key, value), kind))


# -- the message, exactly ---------------------------------------------------------------------------
SIZES = "GET /subscriptions/6b1e0000-1111-4222-8333-00000000b1e0/providers/Microsoft.Compute/locations/francecentral"


def test_a_size_past_64_bits_is_dropped_with_a_warning_naming_the_field(platforms: Platforms) -> None:
    outcome = read_mutated(platforms, "azure", Mutation("/vmsizes", "memoryInMB", 2**63, 0), Kind.COMPUTE)
    assert outcome.error is None
    assert outcome.warnings and all(w.endswith("; size dropped") for w in outcome.warnings)
    assert outcome.warnings[0] == ("lc: list_sizes(francecentral): size Standard_D2s_v5: memoryInMB: "
                                   "9223372036854775808 is out of range (0 to 2**53); size dropped")
    assert "Standard_D2s_v5" in {i.name for i in outcome.items if i.region == "francesouth"}


def test_inf_where_a_number_belongs_drops_the_size_naming_the_field(platforms: Platforms) -> None:
    outcome = read_mutated(platforms, "openstack", Mutation("/flavors/detail", "ram", "inf", 0), Kind.COMPUTE)
    assert outcome.error is None
    assert outcome.warnings[0] == ("lc: list_sizes(eu-west-0): size c3.2xlarge.2: ram: 'inf' is not a whole number; "
                                   "size dropped")
    assert {i.region for i in outcome.items} == {"eu-west-1"}  # every flavor of the mutated answer, and only them
    outcome = read_mutated(platforms, "azure", Mutation("/vmsizes", "resourceDiskSizeInMB", math.inf, 0), Kind.COMPUTE)
    assert outcome.error is None
    assert outcome.warnings[0] == ("lc: list_sizes(francecentral): size Standard_D2s_v5: resourceDiskSizeInMB: inf "
                                   "is out of range (0 to 10**15); size dropped")


def test_a_missing_key_names_the_call_the_request_and_the_key(platforms: Platforms) -> None:
    outcome = read_mutated(platforms, "azure", Mutation("/vmsizes", "numberOfCores", MISSING, 0), Kind.COMPUTE)
    assert outcome.error is not None
    assert str(outcome.error) == (f"lc: list_sizes(francecentral): {SIZES}/vmSizes: unexpected answer "
                                  "(KeyError: 'numberOfCores')")


def test_a_wrong_type_names_the_call_the_request_and_the_field(platforms: Platforms) -> None:
    outcome = read_mutated(platforms, "azure", Mutation("/vmsizes", "value", {"x": 1}, 0), Kind.COMPUTE)
    assert outcome.error is not None
    assert str(outcome.error).startswith(f"lc: list_sizes(francecentral): {SIZES}/vmSizes: unexpected answer (")


def test_an_infinite_retail_price_is_no_price(platforms: Platforms) -> None:
    outcome = read_mutated(platforms, "azure", Mutation("/api/retail/prices", "retailPrice", math.inf), Kind.COMPUTE)
    assert outcome.error is None and outcome.items
    assert all(i.price is None or i.price.source != "azure-retail-prices" for i in outcome.items)


def test_retail_prices_of_the_wrong_shape_name_the_api_and_the_field(platforms: Platforms) -> None:
    outcome = read_mutated(platforms, "azure", Mutation("/api/retail/prices", "Items", {"x": 1}, 0), Kind.COMPUTE)
    assert outcome.error is not None
    assert str(outcome.error).startswith("lc: retail prices https://127.0.0.1:")
    assert str(outcome.error).endswith("/api/retail/prices: Items: {'x': 1} is not a list")


def test_a_control_character_in_a_flavor_name_drops_that_flavor_with_a_warning(platforms: Platforms) -> None:
    outcome = read_mutated(platforms, "openstack", Mutation("/flavors/detail", "name", "evil\x01name", 0),
                           Kind.COMPUTE)
    assert outcome.error is None
    assert outcome.warnings and all(w.startswith("lc: list_sizes(eu-west-0): size ") for w in outcome.warnings)
    assert all(w.endswith(": name: 'evil\\x01name' holds control characters; size dropped") for w in outcome.warnings)
    assert {i.region for i in outcome.items} == {"eu-west-1"}  # every flavor of the mutated answer, and only them


# -- in a refresh -------------------------------------------------------------------------------------
def test_a_refresh_reports_the_backend_failed_naming_the_request_and_reads_the_others(
        platforms: Platforms, tmp_path: Any) -> None:
    azure = platforms.azure.platform
    assert isinstance(azure, MutatingAzure)
    config = {"backends": {"bleu": {"driver": "libcloud", "options": platforms.options("azure")},
                           "fe": {"driver": "libcloud", "options": platforms.options("openstack")}},
              "brands": {"b": {"backend": "bleu", "operator": "B"}, "f": {"backend": "fe", "operator": "F"}},
              "store": str(tmp_path / "c.db")}
    azure.hits, azure.answers, azure.mutation = 0, 0, Mutation("/vmsizes", "value", {"x": 1})
    try:
        with open_catalog(config) as catalog:
            result = catalog.refresh()
            assert result.snapshot is not None
            offers = list(catalog.offers(snapshot=result.snapshot.id))
    finally:
        azure.mutation = None
    assert azure.hits >= 1
    statuses = {s.backend: s for s in result.statuses}
    assert statuses["fe"].status == "ok" and any(o.backend == "fe" for o in offers)
    assert statuses["bleu"].status == "failed"
    error = str(statuses["bleu"].error)  # the regions are read side by side: either may fail first
    assert "list_sizes(france" in error and "/vmSizes: unexpected answer (" in error


def test_a_refresh_keeps_the_sizes_it_can_map(platforms: Platforms, tmp_path: Any) -> None:
    openstack = platforms.openstack.platform
    assert isinstance(openstack, MutatingOpenStack)
    config = {"backends": {"fe": {"driver": "libcloud", "options": platforms.options("openstack")}},
              "brands": {"f": {"backend": "fe", "operator": "F"}}, "store": str(tmp_path / "c.db")}
    openstack.hits, openstack.answers, openstack.mutation = 0, 0, Mutation("/flavors/detail", "ram", 2**63, 0)
    try:
        with open_catalog(config) as catalog:
            result = catalog.refresh()
            assert result.snapshot is not None
            regions = {o.region for o in catalog.offers(snapshot=result.snapshot.id) if o.kind == Kind.COMPUTE}
    finally:
        openstack.mutation = None
    assert openstack.hits >= 1
    assert [s.status for s in result.statuses] == ["ok"]
    assert len(regions) == 1  # the sizes of the mutated answer (either region's, read side by side) left out
