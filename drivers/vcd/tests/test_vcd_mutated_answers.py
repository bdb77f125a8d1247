"""Answers of an unexpected shape never leave the driver as raw exceptions.

A mocked Cloud Director whose JSON answers have one field replaced wherever it appears (by
``null``, text, a negative or huge number, a list or an object where something else was):
whatever the driver reads, it either maps the answer or raises a
:class:`~cloudcat.errors.CloudcatError` (an ``UnavailableError`` naming the endpoint and the
field), never ``AttributeError``, ``TypeError``, ``OverflowError`` or a pydantic
``ValidationError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cloudcat_vcd.driver import VcdDriver
from cloudcat_vcd.mock import VcdMock
from werkzeug.wrappers import Request, Response

from cloudcat.errors import CloudcatError
from cloudcat.models import Kind
from cloudcat.testing import MockHandle, mock

#: (a part of the request path, the field replaced wherever it appears, its new value, what to read)
MUTATIONS: list[tuple[str, str, Any, Kind]] = [
    ("/api/query", "networkProviderScope", ["vdr"], Kind.LOCATION),
    ("/metadata", "metadataEntry", "garbage", Kind.LOCATION),
    ("/api/vdc/", "computeCapacity", "garbage", Kind.COMPUTE),
    ("/api/vdc/", "cpu", 5, Kind.COMPUTE),
    ("/computePolicies", "values", {"x": 1}, Kind.COMPUTE),
    ("/api/query", "iopsLimit", -5, Kind.STORAGE),
    ("/api/query", "container", {"x": 1}, Kind.IMAGE),
    ("/api/vAppTemplate/", "children", 5, Kind.IMAGE),
    ("/api/vAppTemplate/", "sizeMb", "big", Kind.IMAGE),
    ("/orgVdcNetworks", "subnets", "garbage", Kind.NETWORK),
    ("/orgVdcNetworks", "connection", 5, Kind.NETWORK),
    ("/orgVdcNetworks", "ownerRef", "garbage", Kind.NETWORK),
    ("/edgeGateways", "edgeGatewayUplinks", 5, Kind.NETWORK),
    ("/api/query", "total", 10**400, Kind.STORAGE),
]


class MutatingVcd(VcdMock):
    """Cloud Director with one field of its JSON answers replaced (``mutation``)."""

    mutation: tuple[str, str, Any] | None = None
    hits = 0

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        if self.mutation is None or response.status_code != 200 or "json" not in (response.content_type or ""):
            return response
        where, key, value = self.mutation
        if where in request.path:
            body = json.loads(response.get_data())
            self.hits += _replace(body, key, value)
            response.set_data(json.dumps(body))
        return response


def _replace(node: Any, key: str, value: Any) -> int:
    """Set ``key`` to ``value`` wherever it is in ``node``; how many were set."""
    count = 0
    if isinstance(node, dict):
        for k in list(node):
            if k == key:
                node[k] = value
                count += 1
            else:
                count += _replace(node[k], key, value)
    elif isinstance(node, list):
        count = sum(_replace(v, key, value) for v in node)
    return count


@pytest.fixture(scope="module")
def mutating() -> Iterator[MockHandle]:
    with mock(MutatingVcd) as m:
        yield m


@pytest.mark.parametrize(("where", "key", "value", "kind"), MUTATIONS,
                         ids=[f"{w}:{k}={str(v)[:8]}" for w, k, v, _ in MUTATIONS])
def test_a_mutated_answer_is_mapped_or_a_cloudcat_error(mutating: MockHandle, where: str, key: str, value: Any,
                                                        kind: Kind) -> None:
    platform = mutating.platform
    assert isinstance(platform, MutatingVcd)
    platform.hits, platform.mutation = 0, (where, key, value)
    try:
        with VcdDriver({**mutating.backend["options"], "retries": 0}, backend="cav") as d:
            for region in d.regions():
                list(d.items(kind, region.name))
    except CloudcatError as exc:
        assert "cav" in str(exc) or ":" in str(exc)
    finally:
        platform.mutation = None
    assert platform.hits >= 1, "the mutation changed no answer: the test would prove nothing"
