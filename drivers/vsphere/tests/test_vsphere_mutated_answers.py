"""Answers of an unexpected shape never leave the vsphere driver as raw exceptions.

A mocked vCenter whose answers are mutated on their way out: in the SOAP XML of the property
collector and of SPBM one property or element is removed, its text replaced (a word where a
number was, numbers of 2**63 and beyond, negative numbers, ``NaN`` and ``inf``, names with
control characters, bidi overrides or markup), its ``xsi:type`` changed, or the body cut short;
in the content library's JSON one field is removed or replaced. Real pyvmomi and ``http.client``
read them over loopback HTTPS. Whatever the driver reads, it maps the answer (an object it cannot
map is dropped with a warning that names the call, the object and the property), or raises a
:class:`~cloudcat.errors.BackendError` naming the call, never ``AttributeError``, ``TypeError``,
``KeyError``, ``ValueError``, ``OverflowError`` or a pydantic ``ValidationError``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cloudcat_vsphere.driver import VsphereDriver
from cloudcat_vsphere.mock import VsphereMock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Request, Response

from cloudcat import open_catalog
from cloudcat.errors import BackendError
from cloudcat.models import Item, Kind
from cloudcat.testing import MockHandle, mock

#: The element (or JSON field) is removed.
MISSING = "<missing>"
#: The body is cut in the middle.
TRUNCATED = "<truncated>"
#: A value starting with ``@`` changes the element's ``xsi:type`` instead of its text.
RETYPES = ["@xsd:string", "@xsd:int", "@xsd:boolean", "@xsd:dateTime", "@ManagedObjectReference", "@NoSuchType",
           "@ArrayOfString"]

#: (the call whose answer is mutated: a SOAP method, or a part of a REST path; what in it; what the answer feeds)
#: ``prop:<path>`` is the value of one property of the property collector; ``tag:<name>`` an element
#: anywhere in the answer; ``key:<name>`` a field of a JSON answer wherever it appears.
FIELDS: list[tuple[str, str, Kind]] = [
    ("RetrievePropertiesEx", "prop:name", Kind.LOCATION),
    ("RetrievePropertiesEx", "prop:parent", Kind.LOCATION),
    ("RetrievePropertiesEx", "prop:summary", Kind.COMPUTE),
    ("RetrievePropertiesEx", "tag:numHosts", Kind.COMPUTE),
    ("RetrievePropertiesEx", "tag:numCpuThreads", Kind.COMPUTE),
    ("RetrievePropertiesEx", "tag:totalMemory", Kind.LOCATION),
    ("RetrievePropertiesEx", "tag:obj", Kind.LOCATION),
    ("RetrievePropertiesEx", "prop:config.template", Kind.IMAGE),
    ("RetrievePropertiesEx", "prop:config.guestId", Kind.IMAGE),
    ("RetrievePropertiesEx", "prop:config.guestFullName", Kind.IMAGE),
    ("RetrievePropertiesEx", "prop:config.hardware.numCPU", Kind.IMAGE),
    ("RetrievePropertiesEx", "prop:config.hardware.memoryMB", Kind.IMAGE),
    ("RetrievePropertiesEx", "prop:config.hardware.device", Kind.IMAGE),
    ("RetrievePropertiesEx", "tag:capacityInKB", Kind.IMAGE),
    ("RetrievePropertiesEx", "prop:config.annotation", Kind.IMAGE),
    ("RetrievePropertiesEx", "prop:summary.type", Kind.STORAGE),
    ("RetrievePropertiesEx", "prop:summary.capacity", Kind.STORAGE),
    ("RetrievePropertiesEx", "prop:summary.freeSpace", Kind.STORAGE),
    ("RetrievePropertiesEx", "prop:summary.accessible", Kind.STORAGE),
    ("RetrievePropertiesEx", "prop:config.distributedVirtualSwitch", Kind.NETWORK),
    ("RetrievePropertiesEx", "prop:config.defaultPortConfig", Kind.NETWORK),
    ("RetrievePropertiesEx", "tag:vlanId", Kind.NETWORK),
    ("RetrievePropertiesEx", "prop:config.numPorts", Kind.NETWORK),
    ("RetrieveServiceContent", "tag:apiVersion", Kind.IMAGE),
    ("RetrieveServiceContent", "tag:propertyCollector", Kind.LOCATION),
    ("PbmRetrieveContent", "tag:name", Kind.STORAGE),
    ("PbmRetrieveContent", "tag:uniqueId", Kind.STORAGE),
    ("PbmRetrieveContent", "tag:description", Kind.STORAGE),
    ("PbmRetrieveContent", "tag:value", Kind.STORAGE),
    ("PbmRetrieveContent", "tag:namespace", Kind.STORAGE),
    ("PbmQueryProfile", "tag:uniqueId", Kind.STORAGE),
    ("/content/library/item/", "key:name", Kind.IMAGE),
    ("/content/library/item/", "key:type", Kind.IMAGE),
    ("/content/library/item/", "key:size", Kind.IMAGE),
    ("/content/library/item/", "key:description", Kind.IMAGE),
    ("/content/library/item/", "key:(body)", Kind.IMAGE),
    ("/content/library/item?", "key:(body)", Kind.IMAGE),
    ("/content/library?", "key:(body)", Kind.IMAGE),
    ("/vm-template/library-items/", "key:guest_os", Kind.IMAGE),
    ("/vm-template/library-items/", "key:cpu", Kind.IMAGE),
    ("/vm-template/library-items/", "key:count", Kind.IMAGE),
    ("/vm-template/library-items/", "key:memory", Kind.IMAGE),
    ("/vm-template/library-items/", "key:size_mib", Kind.IMAGE),
    ("/vm-template/library-items/", "key:disks", Kind.IMAGE),
    ("/vm-template/library-items/", "key:capacity", Kind.IMAGE),
]

#: Replacement texts, written as they go into the XML (the hostile ones raw: XML 1.0 forbids them).
XML_VALUES: list[str] = [
    MISSING, TRUNCATED, "", "garbage", "-1", "-2147483649", "0", "9223372036854775807", "9223372036854775808",
    "18446744073709551616", "1" + "0" * 40, "1e400", "NaN", "inf", "-inf", "true", "3.5",
    "evil\x01name", "bad&#1;ref", "\u202eexe.txt", "&lt;script&gt;alert(1)&lt;/script&gt;", "x" * 5000,
    "<nested><deeper>1</deeper></nested>", "datacenter-1", *RETYPES,
]

#: Replacement JSON values.
JSON_VALUES: list[Any] = [MISSING, TRUNCATED, None, "garbage", "", -1, 0, 2**63, 2**64, 10**40, float("inf"),
                          float("nan"), 3.5, True, [], [1, "a"], {}, {"x": {"y": 1}}, "evil\x01\u202ename"]

#: Every error and warning names one of these: the call whose answer it was.
CALL_NAMES = ("RetrievePropertiesEx", "ContinueRetrievePropertiesEx", "RetrieveServiceContent", "PbmRetrieveContent",
              "PbmQueryProfile", "PbmRetrieveServiceContent", "CreateContainerView", "Login", "/content/library",
              "/vm-template/library-items", "/api/session", "vimServiceVersions")

_SOAP_METHOD = re.compile(rb"<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)")


@dataclass
class Mutation:
    """One change to the answers of one call: ``value`` put at ``selector`` (in SOAP, its ``nth`` occurrence in
    each answer; in JSON, every occurrence in the ``nth`` answer; ``None``: everywhere)."""

    call: str
    selector: str
    value: Any
    nth: int | None = None


def mutate_xml(body: str, selector: str, value: str, nth: int | None) -> tuple[str, int]:
    """``body`` with the ``nth`` (or every) element ``selector`` names changed; how many were."""
    how, _, name = selector.partition(":")
    if how == "prop":
        pattern = re.compile(r"<propSet><name>" + re.escape(name) + r"</name><val(?P<attrs>[^>]*?)(?:/>|>(?P<text>.*?)"
                             r"</val>)</propSet>", re.S)
        tag = "val"
    else:
        pattern = re.compile(r"<" + re.escape(name) + r"(?P<attrs>(?:\s[^>]*?)?)(?:/>|>(?P<text>[^<]*)</"
                             + re.escape(name) + ">)")
        tag = name
    matches = list(pattern.finditer(body))
    if not matches:
        return body, 0
    chosen = matches if nth is None else [matches[nth % len(matches)]]
    out, last = [], 0
    for found in chosen:
        out.append(body[last:found.start()])
        out.append(_changed(found, tag, value, inner=how == "prop", prop=name))
        last = found.end()
    out.append(body[last:])
    return "".join(out), len(chosen)


def _changed(found: re.Match[str], tag: str, value: str, *, inner: bool, prop: str) -> str:
    if value == MISSING:
        return ""
    attrs = found["attrs"] or ""
    text = found["text"] or ""
    if value.startswith("@"):
        if "xsi:type=" in attrs:
            attrs = re.sub(r'xsi:type="[^"]*"', f'xsi:type="{value[1:]}"', attrs)
        else:
            attrs += f' xsi:type="{value[1:]}"'
    else:
        text = value
    element = f"<{tag}{attrs}>{text}</{tag}>"
    return f"<propSet><name>{prop}</name>{element}</propSet>" if inner else element


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


class MutatingVcenter(VsphereMock):
    """A vCenter whose answers to one call are mutated (``mutation``); ``hits`` counts the changes."""

    mutation: Mutation | None = None
    hits = 0
    answers = 0

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        m = self.mutation
        if m is None or response.status_code not in (200, 201):
            return response
        if m.call[0].isalpha():
            method = _SOAP_METHOD.search(request.get_data())
            if method is None or method[1].decode() != m.call:
                return response
            body, hits = self._xml(response.get_data(as_text=True), m)
        else:
            full = request.full_path if request.query_string else request.path + "?"
            if m.call not in full:
                return response
            self.answers += 1
            if m.nth is not None and self.answers - 1 != m.nth:  # JSON: ``nth`` picks the answer
                return response
            body, hits = self._json(response.get_data(as_text=True), m)
        self.hits += hits
        response.set_data(body.encode("utf-8", "surrogatepass"))
        return response

    @staticmethod
    def _xml(body: str, m: Mutation) -> tuple[str, int]:
        if m.value == TRUNCATED:
            return body[: len(body) // 2], 1
        return mutate_xml(body, m.selector, str(m.value), m.nth)

    @staticmethod
    def _json(body: str, m: Mutation) -> tuple[str, int]:
        if m.value == TRUNCATED:
            return body[: max(1, len(body) // 2)], 1
        data, hits = mutate_json(json.loads(body), m.selector.removeprefix("key:"), m.value)
        return json.dumps(data), hits


@dataclass
class Outcome:
    """What one read of a mutated vCenter gave: items, the error, the warnings logged."""

    items: list[Item] = field(default_factory=list)
    error: BackendError | None = None
    warnings: list[str] = field(default_factory=list)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def read_mutated(handle: MockHandle, mutation: Mutation, kind: Kind) -> Outcome:
    """Read ``kind`` in every datacenter with the answers mutated; items or the BackendError (anything
    else propagates), with the warnings logged."""
    platform = handle.platform
    assert isinstance(platform, MutatingVcenter)
    catcher = _Warnings()
    loggers = [logging.getLogger(n) for n in ("cloudcat.vsphere", "cloudcat.items")]
    for logger in loggers:
        logger.addHandler(catcher)
    platform.hits, platform.answers, platform.mutation = 0, 0, mutation
    outcome = Outcome()
    try:
        with VsphereDriver({**handle.backend["options"], "retries": 0}, backend="vc") as driver:
            for region in driver.regions():
                outcome.items += driver.items(kind, region.name)
    except BackendError as exc:
        outcome.error = exc
    finally:
        platform.mutation = None
        for logger in loggers:
            logger.removeHandler(catcher)
    outcome.warnings = catcher.messages
    assert platform.hits >= 1, f"{mutation} changed no answer: the case would prove nothing"
    return outcome


def assert_clean(outcome: Outcome) -> None:
    """An error names its backend and the call; a warning names the call."""
    if outcome.error is not None:
        message = str(outcome.error)
        assert message.startswith("vc: "), f"the error does not name its backend: {message}"
        assert any(c in message for c in CALL_NAMES), f"the error names no call: {message}"
        assert "\x01" not in message and len(message) < 2000, f"the error repeats the answer raw: {message!r}"
    for warning in outcome.warnings:
        assert any(c in warning for c in CALL_NAMES), f"the warning names no call: {warning}"


@pytest.fixture(scope="module")
def vcenter() -> Iterator[MockHandle]:
    with mock(MutatingVcenter) as m:
        yield m


def _values(call: str) -> st.SearchStrategy[Any]:
    return st.sampled_from(XML_VALUES if call[0].isalpha() else JSON_VALUES)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[Mutation, Kind]:
    call, selector, kind = draw(st.sampled_from(FIELDS))
    value = draw(_values(call))
    nth = draw(st.sampled_from([None, 0, 1] if call[0].isalpha() else [None, 0]))
    return Mutation(call, selector, value, nth), kind


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=mutations())
def test_a_mutated_answer_is_mapped_or_a_backend_error(vcenter: MockHandle, case: tuple[Mutation, Kind]) -> None:
    mutation, kind = case
    assert_clean(read_mutated(vcenter, mutation, kind))


@pytest.mark.parametrize(("call", "selector", "kind"), FIELDS, ids=[f"{c}:{s}" for c, s, _ in FIELDS])
def test_a_removed_or_cut_short_answer_is_mapped_or_a_backend_error(vcenter: MockHandle, call: str, selector: str,
                                                                    kind: Kind) -> None:
    for value in (MISSING, TRUNCATED):
        assert_clean(read_mutated(vcenter, Mutation(call, selector, value), kind))


# -- the message, exactly ---------------------------------------------------------------------------
def test_a_number_past_64_bits_names_the_call_the_object_and_the_property(vcenter: MockHandle) -> None:
    outcome = read_mutated(vcenter, Mutation("RetrievePropertiesEx", "prop:config.hardware.memoryMB",
                                             "9223372036854775808", 0), Kind.IMAGE)
    assert outcome.error is not None
    assert str(outcome.error) == ("vc: RetrievePropertiesEx: VirtualMachine vm-24 config.hardware.memoryMB: "
                                  "9223372036854775808 is out of range for xsd:int")


def test_inf_where_an_integer_belongs_names_the_call_the_object_and_the_property(vcenter: MockHandle) -> None:
    outcome = read_mutated(vcenter, Mutation("RetrievePropertiesEx", "tag:numCpuThreads", "inf", 0), Kind.LOCATION)
    assert outcome.error is not None
    assert str(outcome.error) == ("vc: RetrievePropertiesEx: ClusterComputeResource domain-c14 "
                                  "summary.numCpuThreads: malformed value (ValueError: invalid literal for int() "
                                  "with base 10: 'inf')")
    assert isinstance(outcome.error.__cause__, ValueError)


def test_a_wrong_type_names_the_call_the_object_and_the_property(vcenter: MockHandle) -> None:
    outcome = read_mutated(vcenter, Mutation("RetrievePropertiesEx", "prop:config.defaultPortConfig", "@xsd:int", 0),
                           Kind.NETWORK)
    assert outcome.error is not None
    # typed a number, the setting's elements make no sense: the first one is named
    assert str(outcome.error) == ("vc: RetrievePropertiesEx: DistributedVirtualPortgroup dvportgroup-11 "
                                  "config.defaultPortConfig.vlan: malformed value (TypeError: Invalid type for tag "
                                  "urn:vim25 vlan)")
    outcome = read_mutated(vcenter, Mutation("RetrievePropertiesEx", "prop:config.numPorts", "@xsd:boolean", 0),
                           Kind.NETWORK)
    assert str(outcome.error) == ("vc: RetrievePropertiesEx: DistributedVirtualPortgroup dvportgroup-11 "
                                  "config.numPorts: malformed value (TypeError: 128)")


def test_a_missing_property_leaves_the_object_without_it(vcenter: MockHandle) -> None:
    outcome = read_mutated(vcenter, Mutation("RetrievePropertiesEx", "prop:config.hardware.memoryMB", MISSING),
                           Kind.IMAGE)
    assert outcome.error is None and not outcome.warnings
    templates = [i for i in outcome.items if i.extras.get("image_type") == "vm-template"]
    assert templates and all(i.min_memory_mib is None for i in templates)


def test_a_negative_size_drops_only_that_template_with_a_warning(vcenter: MockHandle) -> None:
    outcome = read_mutated(vcenter, Mutation("RetrievePropertiesEx", "prop:config.hardware.memoryMB", "-1", 0),
                           Kind.IMAGE)
    assert outcome.error is None
    assert len(outcome.warnings) == 1
    assert outcome.warnings[0].startswith("vc: RetrievePropertiesEx: VirtualMachine vm-24 config.hardware.memoryMB: ")
    assert outcome.warnings[0].endswith("; item dropped")
    assert "vm-24" not in {i.extras.get("id") for i in outcome.items}
    assert "tpl-rhel-9.4" in {i.name for i in outcome.items}


def test_a_library_item_of_the_wrong_shape_names_the_request_and_the_field(vcenter: MockHandle) -> None:
    outcome = read_mutated(vcenter, Mutation("/vm-template/library-items/", "key:cpu", "garbage", 0), Kind.IMAGE)
    assert outcome.error is None
    [warning] = outcome.warnings
    assert re.fullmatch(r"vc: GET /api/vcenter/vm-template/library-items/[0-9a-f-]+: cpu: .*; item dropped", warning)


def test_a_cut_short_soap_answer_names_the_call(vcenter: MockHandle) -> None:
    outcome = read_mutated(vcenter, Mutation("PbmRetrieveContent", "tag:name", TRUNCATED), Kind.STORAGE)
    assert outcome.error is not None
    assert str(outcome.error).startswith("vc: PbmRetrieveContent: malformed answer (ExpatError: ")


# -- in a refresh -------------------------------------------------------------------------------------
def test_a_refresh_reports_the_backend_failed_naming_the_property_and_reads_the_others(
        vcenter: MockHandle, tmp_path: Any) -> None:
    platform = vcenter.platform
    assert isinstance(platform, MutatingVcenter)
    with mock("vsphere") as plain:
        config = {"backends": {"vc": {"driver": "vsphere", "options": {**vcenter.backend["options"], "retries": 0}},
                               "plain": plain.backend}, "store": str(tmp_path / "c.db")}
        platform.hits, platform.answers = 0, 0
        platform.mutation = Mutation("RetrievePropertiesEx", "tag:numCpuThreads", "inf")
        try:
            with open_catalog(config) as catalog:
                result = catalog.refresh()
        finally:
            platform.mutation = None
    statuses = {s.backend: s for s in result.statuses}
    assert statuses["plain"].status == "ok" and statuses["plain"].items > 0
    assert statuses["vc"].status == "failed"
    assert "RetrievePropertiesEx: ClusterComputeResource domain-c14 summary.numCpuThreads: malformed value (" \
        in str(statuses["vc"].error)


def test_a_refresh_keeps_what_it_can_map(vcenter: MockHandle, tmp_path: Any) -> None:
    platform = vcenter.platform
    assert isinstance(platform, MutatingVcenter)
    config = {"backends": {"vc": {"driver": "vsphere", "options": {**vcenter.backend["options"], "retries": 0}}},
              "brands": {"private": {"backend": "vc", "operator": "Us"}}, "store": str(tmp_path / "c.db")}
    platform.hits, platform.answers = 0, 0
    platform.mutation = Mutation("RetrievePropertiesEx", "prop:config.hardware.memoryMB", "-1", 0)
    try:
        with open_catalog(config) as catalog:
            result = catalog.refresh()
            assert result.snapshot is not None
            names = {o.name for o in catalog.offers(snapshot=result.snapshot.id)}
    finally:
        platform.mutation = None
    assert platform.hits >= 1
    assert [s.status for s in result.statuses] == ["ok"]
    assert "tpl-rhel-9.4" in names and "tpl-ubuntu-22.04" not in names
