"""Answers of an unexpected shape never leave the driver as raw exceptions.

A mocked OpenStack cloud whose JSON answers (Keystone regions, Nova flavors and zones, ECS
flavors, Glance images, Cinder volume types and zones, Neutron networks, CloudKitty mappings)
have one field replaced wherever it appears (by ``null``, text, a huge number, a list or an
object where something else was), removed, or the whole body cut short: whatever the driver
reads, it either maps the answer or raises a :class:`~cloudcat.errors.CloudcatError`, never
``AttributeError``, ``TypeError``, ``KeyError``, ``OverflowError`` or a pydantic
``ValidationError``. An answer of the wrong shape is reported with the request and the field at
fault (``GET …/flavors/detail: flavors[3].vcpus: expected an integer, got 'x'``), so that whoever
reads the error knows which endpoint of which cloud answered what.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from cloudcat_openstack.driver import OpenStackDriver
from cloudcat_openstack.mock import OpenStackMock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Request, Response

from cloudcat.errors import CloudcatError
from cloudcat.models import Kind
from cloudcat.testing import MockHandle, mock

#: The field is removed instead of replaced.
MISSING = object()
#: The body is cut in the middle (the field is then only where the cut is looked for).
TRUNCATED = object()

#: (a part of the request path, a field of its JSON answer, what the answer feeds)
FIELDS: list[tuple[str, str, Kind]] = [
    ("/identity/v3/regions", "regions", Kind.LOCATION),
    ("/identity/v3/regions", "id", Kind.LOCATION),
    ("/compute/v2.1/os-availability-zone", "availabilityZoneInfo", Kind.LOCATION),
    ("/compute/v2.1/os-availability-zone", "zoneName", Kind.LOCATION),
    ("/compute/v2.1/os-availability-zone", "zoneState", Kind.LOCATION),
    ("/compute/v2.1/flavors/detail", "flavors", Kind.COMPUTE),
    ("/compute/v2.1/flavors/detail", "vcpus", Kind.COMPUTE),
    ("/compute/v2.1/flavors/detail", "ram", Kind.COMPUTE),
    ("/compute/v2.1/flavors/detail", "disk", Kind.COMPUTE),
    ("/compute/v2.1/flavors/detail", "swap", Kind.COMPUTE),
    ("/compute/v2.1/flavors/detail", "name", Kind.COMPUTE),
    ("/compute/v2.1/flavors/detail", "extra_specs", Kind.COMPUTE),
    ("/cloudservers/flavors", "flavors", Kind.COMPUTE),
    ("/cloudservers/flavors", "os_extra_specs", Kind.COMPUTE),
    ("/cloudservers/flavors", "id", Kind.COMPUTE),
    ("/hashmap/mappings", "cost", Kind.COMPUTE),
    ("/hashmap/services", "services", Kind.COMPUTE),
    ("/image/v2/images", "images", Kind.IMAGE),
    ("/image/v2/images", "min_disk", Kind.IMAGE),
    ("/image/v2/images", "min_ram", Kind.IMAGE),
    ("/image/v2/images", "name", Kind.IMAGE),
    ("/image/v2/images", "tags", Kind.IMAGE),
    ("/image/v2/images", "size", Kind.IMAGE),
    ("/types", "volume_types", Kind.STORAGE),
    ("/types", "extra_specs", Kind.STORAGE),
    ("/types", "name", Kind.STORAGE),
    ("/types", "id", Kind.STORAGE),
    ("/volume/v3/", "availabilityZoneInfo", Kind.STORAGE),
    ("/network/v2.0/networks", "networks", Kind.NETWORK),
    ("/network/v2.0/networks", "availability_zones", Kind.NETWORK),
    ("/network/v2.0/networks", "mtu", Kind.NETWORK),
    ("/network/v2.0/networks", "name", Kind.NETWORK),
]

#: Wrong values: absent, null, text for a number, a number past 64 bits, an object, a list.
VALUES: list[Any] = [MISSING, None, "garbage", 2**70, {"x": {"y": 1}}, [1, "a"], -1, True]


class MutatingOpenStack(OpenStackMock):
    """OpenStack with one field of its JSON answers replaced or removed (``mutation``), or a body cut short."""

    mutation: tuple[str, str, Any] | None = None
    hits = 0

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        if self.mutation is None or response.status_code != 200 or "json" not in (response.content_type or ""):
            return response
        where, key, value = self.mutation
        if where not in request.path:
            return response
        raw = response.get_data()
        if value is TRUNCATED:
            self.hits += 1
            response.set_data(raw[: max(1, len(raw) // 2)])
            return response
        body = json.loads(raw)
        self.hits += _replace(body, key, value)
        response.set_data(json.dumps(body))
        return response


def _replace(node: Any, key: str, value: Any) -> int:
    """Set ``key`` to ``value`` (remove it for :data:`MISSING`) wherever it is in ``node``; how many were changed."""
    count = 0
    if isinstance(node, dict):
        for k in list(node):
            if k == key:
                if value is MISSING:
                    del node[k]
                else:
                    node[k] = value
                count += 1
            else:
                count += _replace(node[k], key, value)
    elif isinstance(node, list):
        count = sum(_replace(v, key, value) for v in node)
    return count


@pytest.fixture(scope="module")
def mutating() -> Iterator[MockHandle]:
    with mock(MutatingOpenStack, "flexible-engine") as m:
        yield m


def read_through(handle: MockHandle, where: str, key: str, value: Any, kind: Kind) -> CloudcatError | None:
    """Read ``kind`` in every region with the answer mutated; fail on anything but items or a
    CloudcatError, and on a malformed-answer error that does not name the request and the field.
    The error, if one was raised."""
    platform = handle.platform
    assert isinstance(platform, MutatingOpenStack)
    platform.hits, platform.mutation = 0, (where, key, value)
    try:
        driver = OpenStackDriver({**handle.backend["options"], "retries": 0}, backend="fe")
        try:
            for region in driver.regions():
                list(driver.items(kind, region.name))
        finally:
            driver.close()
    except CloudcatError as exc:
        assert str(exc).startswith("fe: "), f"the error does not name its backend: {exc}"
        if "malformed answer" in str(exc):
            assert re.search(rf"GET http://127\.0\.0\.1:\d+\S*{re.escape(where)}", str(exc)), (
                f"the error does not name the request: {exc}")
            if value is not TRUNCATED:
                assert re.search(rf"(^|[.\]: ]){re.escape(key)}(\[\d+\])?: ", str(exc)), (
                    f"the error does not name the field {key!r}: {exc}")
        return exc
    finally:
        platform.mutation = None
        assert platform.hits >= 1, f"{where}:{key} changed no answer: the case would prove nothing"
    return None


@pytest.mark.parametrize(("where", "key", "kind"), FIELDS, ids=[f"{w}:{k}" for w, k, _ in FIELDS])
def test_a_cut_short_or_nulled_answer_is_mapped_or_a_cloudcat_error(mutating: MockHandle, where: str, key: str,
                                                                     kind: Kind) -> None:
    read_through(mutating, where, key, None, kind)
    read_through(mutating, where, "", TRUNCATED, kind)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=st.sampled_from(VALUES))
def test_a_mutated_answer_is_mapped_or_a_cloudcat_error(mutating: MockHandle, field: tuple[str, str, Kind],
                                                        value: Any) -> None:
    where, key, kind = field
    read_through(mutating, where, key, value, kind)


def test_a_wrong_type_names_the_request_the_row_and_the_field(mutating: MockHandle) -> None:
    error = read_through(mutating, "/compute/v2.1/flavors/detail", "vcpus", "x", Kind.COMPUTE)
    assert error is not None
    assert re.search(r"GET http://127\.0\.0\.1:\d+/eu-west-0/compute/v2\.1/flavors/detail: "
                     r"flavors\[0\]\.vcpus: expected an integer, got 'x'$", str(error)), str(error)
    error = read_through(mutating, "/image/v2/images", "tags", {"x": 1}, Kind.IMAGE)
    assert error is not None and re.search(r"/image/v2/images: images\[0\]\.tags: expected a list, got "
                                           r"\{'x': 1\}$", str(error)), str(error)
    error = read_through(mutating, "/identity/v3/regions", "regions", MISSING, Kind.LOCATION)
    assert error is not None and str(error).endswith("/identity/v3/regions: regions: missing"), str(error)
    error = read_through(mutating, "/compute/v2.1/flavors/detail", "", TRUNCATED, Kind.COMPUTE)
    assert error is not None and re.search(r"/flavors/detail: not JSON \(", str(error)), str(error)
