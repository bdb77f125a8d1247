"""Routing tables for mocked platforms: which handler answers which method on which path.

A mocked platform says what it serves as a list of :class:`Route` (method, path pattern,
handler), one list per service, in its ``urls`` module; a :class:`Router` answers
"who serves this request?" from those lists::

    NOVA = [
        Route(ANY, "/{region}/compute/v2.1", show_nova_version),
        Route("GET", "/{region}/compute/v2.1/flavors/{flavor_id}", show_flavor),
        Route(ANY, "/{region}/compute/v2.1/{rest:path}", nova_unserved),  # the service's own 404/405
    ]
    ROUTER = Router(NOVA)
    found = ROUTER.match("GET", "/fr1/compute/v2.1/flavors/42")  # found.params == {"region": "fr1", "flavor_id": "42"}

Patterns are literal segments and placeholders: ``{name}`` matches one non-empty segment,
``{name:path}`` (last only) matches the rest of the path, possibly nothing (``/a/{rest:path}``
matches ``/a`` as well as ``/a/b/c``). Routes are tried in table order and the first whose
pattern and method match answers, so a service lists its endpoints first and its catch-all
last. werkzeug's own ``Map`` sorts rules by weight, adds ``HEAD`` to ``GET`` rules and redirects
slashes; a mock needs table order and exact methods to answer unknown paths and methods the way
each real service does, hence this small router. The platform normalises the path (slashes)
before matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["ANY", "Route", "RouteMatch", "Router"]

#: The method of a route that answers every method.
ANY = "*"

H = TypeVar("H")

_PLACEHOLDER = re.compile(r"\{(\w+)(?::(path))?\}")


def _compile(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("/"):
        raise ValueError(f"a route pattern starts with '/': {pattern!r}")
    regex = ""
    segments = pattern.strip("/").split("/") if pattern != "/" else []
    for i, segment in enumerate(segments):
        placeholder = _PLACEHOLDER.fullmatch(segment)
        if placeholder is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"a placeholder fills a whole segment: {segment!r} in {pattern!r}")
            regex += "/" + re.escape(segment)
        elif placeholder[2]:
            if i != len(segments) - 1:
                raise ValueError(f"{{{placeholder[1]}:path}} can only end a pattern: {pattern!r}")
            regex += f"(?:/(?P<{placeholder[1]}>.*))?"
        else:
            regex += f"/(?P<{placeholder[1]}>[^/]+)"
    return re.compile(regex or "/")


@dataclass(frozen=True)
class Route(Generic[H]):
    """One line of a routing table: ``handler`` answers ``method`` on paths matching ``pattern``.

    ``method`` is one method (``"GET"``), several (``("GET", "HEAD")``) or :data:`ANY`.
    """

    method: str | tuple[str, ...]
    pattern: str
    handler: H
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", _compile(self.pattern))

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods this route answers (``("*",)`` for every method)."""
        return (self.method,) if isinstance(self.method, str) else tuple(self.method)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The placeholders' values when this route answers ``method`` on ``path``, else ``None``."""
        if ANY not in self.methods and method.upper() not in self.methods:
            return None
        found = self._regex.fullmatch(path)
        if found is None:
            return None
        return {name: value or "" for name, value in found.groupdict().items()}


@dataclass(frozen=True)
class RouteMatch(Generic[H]):
    """The route that answers a request and the values of its placeholders."""

    route: Route[H]
    params: dict[str, str]

    @property
    def handler(self) -> H:
        """The route's handler."""
        return self.route.handler


class Router(Generic[H]):
    """Routing tables joined in order; :meth:`match` finds the first route that answers."""

    def __init__(self, *tables: Iterable[Route[H]]) -> None:
        self.routes: tuple[Route[H], ...] = tuple(route for table in tables for route in table)

    def __iter__(self) -> Iterator[Route[H]]:
        return iter(self.routes)

    def __len__(self) -> int:
        return len(self.routes)

    def match(self, method: str, path: str) -> RouteMatch[H] | None:
        """The first route answering ``method`` on ``path``, or ``None`` when none does."""
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return RouteMatch(route, params)
        return None
