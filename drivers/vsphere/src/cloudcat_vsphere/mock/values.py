"""vSphere values as the mocked vCenter keeps them, so that the wire format (:mod:`.responses`) writes
them as vCenter does: :class:`Ref` is a ``ManagedObjectReference``, :class:`Data` a data object
(``VirtualMachineConfigInfo``…), :class:`Array` an ``ArrayOf…``, :class:`Scalar` a value with an
explicit XML Schema type (``xsd:long``, ``xsd:dateTime``) and :class:`Open` a value in a field the
schema types ``xsd:anyType`` (``OptionValue.value``), written with its ``xsi:type``; plain ``str``,
``bool`` and ``int`` are strings, booleans and ints.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["Array", "Data", "Entity", "Open", "Ref", "Scalar", "long", "lookup", "stable_uuid"]


@dataclass(frozen=True)
class Ref:
    """A managed object reference."""

    type: str
    value: str


@dataclass
class Data:
    """A data object: its vSphere type and its fields, in the order vCenter writes them."""

    type: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Array:
    """An ``ArrayOf<item_type>`` value (a list where the type is not known from the field)."""

    item_type: str
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Scalar:
    """A value with an explicit XML Schema type (``xsd:long``, ``xsd:dateTime``, ``xsd:short``…)."""

    xsd: str
    value: Any


@dataclass(frozen=True)
class Open:
    """A value where the schema leaves the type open (``xsd:anyType``): written with ``xsi:type``."""

    value: Any


@dataclass
class Entity:
    """A managed object and its properties."""

    ref: Ref
    props: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.props.get("name", self.ref.value))


def lookup(entity: Entity, path: str) -> Any:
    """The value at a property path (``config.hardware.numCPU``), or ``None`` when unset."""
    first, *rest = path.split(".")
    value = entity.props.get(first)
    for part in rest:
        if not isinstance(value, Data):
            return None
        value = value.fields.get(part)
    return value


def long(value: int) -> Scalar:
    """An ``xsd:long``."""
    return Scalar("xsd:long", int(value))


def stable_uuid(*parts: object) -> str:
    """A UUID that is the same for the same parts, run after run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cloudcat-vcsim:" + ":".join(map(str, parts))))
