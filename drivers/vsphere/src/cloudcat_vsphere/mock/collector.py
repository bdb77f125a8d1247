"""The PropertyCollector's rules: which objects a filter spec selects and which properties it returns.

A ``PropertyFilterSpec`` names starting objects (``objectSet``: an object, whether to skip it, and
traversal specs to follow from it) and, per managed object type, the property paths to return
(``propSet``). Traversal specs follow a property holding references (``view`` of a ContainerView,
``childEntity`` of a Folder…) from objects of their type, recursively through their own
``selectSet``; a selection spec with only a name reuses the traversal spec of that name. Objects of
a type no ``propSet`` names are traversed but not returned, as vCenter does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .state import Array, Entity, Ref, VcenterState, has_property, is_a, lookup

__all__ = ["ObjectSpec", "PropertySpec", "TraversalSpec", "UnknownObject", "UnknownProperty", "collect"]

#: Objects visited for one spec at most (a guard against a traversal that never ends).
_VISIT_LIMIT = 1_000_000


@dataclass
class TraversalSpec:
    """A traversal spec, or a selection spec (``name`` only) naming one."""

    name: str | None = None
    type: str | None = None
    path: str | None = None
    skip: bool = False
    select: list[TraversalSpec] = field(default_factory=list)


@dataclass
class ObjectSpec:
    """Where collection starts."""

    obj: Ref
    skip: bool = False
    select: list[TraversalSpec] = field(default_factory=list)


@dataclass
class PropertySpec:
    """Properties returned for objects of ``type``."""

    type: str
    all: bool = False
    paths: list[str] = field(default_factory=list)


class UnknownProperty(Exception):
    """A property path the object's type does not have (vCenter answers InvalidProperty)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class UnknownObject(Exception):
    """A starting object that does not exist (vCenter answers ManagedObjectNotFound)."""

    def __init__(self, ref: Ref) -> None:
        super().__init__(ref.value)
        self.ref = ref


def _refs(value: Any) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, Array):
        value = value.items
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, Ref)]
    return []


def _named(specs: list[TraversalSpec], into: dict[str, TraversalSpec]) -> None:
    for spec in specs:
        if spec.name and spec.type and spec.name not in into:
            into[spec.name] = spec
            _named(spec.select, into)


def _selected(state: VcenterState, spec: ObjectSpec) -> list[Entity]:
    start = state.get(spec.obj)
    if start is None:
        raise UnknownObject(spec.obj)
    names: dict[str, TraversalSpec] = {}
    _named(spec.select, names)
    found: dict[str, Entity] = {}
    if not spec.skip:
        found[start.ref.value] = start
    stack: list[tuple[Entity, list[TraversalSpec]]] = [(start, spec.select)]
    visits = 0
    while stack and visits < _VISIT_LIMIT:
        entity, selects = stack.pop()
        visits += 1
        for select in selects:
            traversal = names.get(select.name or "") if not select.type else select
            if traversal is None or traversal.type is None or not is_a(entity.ref.type, traversal.type):
                continue
            for ref in _refs(lookup(entity, traversal.path or "")):
                child = state.entities.get(ref.value)
                if child is None:
                    continue
                if not traversal.skip:
                    found.setdefault(child.ref.value, child)
                stack.append((child, traversal.select))
    return list(found.values())


def _properties(entity: Entity, specs: list[PropertySpec]) -> list[tuple[str, Any]] | None:
    matching = [s for s in specs if is_a(entity.ref.type, s.type)]
    if not matching:
        return None
    if any(s.all for s in matching):
        return [(k, v) for k, v in entity.props.items() if v is not None and v != []]
    paths: list[str] = []
    for s in matching:
        paths += [p for p in s.paths if p not in paths]
    out = []
    for path in paths:
        value = lookup(entity, path)
        if value is not None and value != []:
            out.append((path, value))
    return out


def collect(state: VcenterState, props: list[PropertySpec],
            objects: list[ObjectSpec]) -> list[tuple[Entity, list[tuple[str, Any]]]]:
    """``(object, [(path, value)…])`` for every object the spec selects and a ``propSet`` covers.

    Raises :class:`UnknownProperty` for a path its type does not have, :class:`UnknownObject` for a
    starting object that does not exist."""
    for prop in props:
        for path in prop.paths:
            if not has_property(prop.type, path):
                raise UnknownProperty(path)
    seen: set[str] = set()
    out = []
    for spec in objects:
        for entity in _selected(state, spec):
            if entity.ref.value in seen:
                continue
            seen.add(entity.ref.value)
            values = _properties(entity, props)
            if values is not None:
                out.append((entity, values))
    return out

