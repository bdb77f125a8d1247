"""Inventories: reading what is in use from a file, and finding the source offer each line names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from ..errors import ConfigError
from ..models import Offer
from ..records import read_records
from .model import InventoryLine

__all__ = ["SourceIndex", "read_inventory"]


def read_inventory(path: str | Path) -> list[InventoryLine]:
    """Read an inventory from a CSV, JSON, JSON Lines or YAML file.

    Columns / keys: ``item``, ``offer`` (id or backend name), ``quantity`` (default 1),
    ``hours_per_month`` (default 730), and optionally ``region``, ``vcpus``, ``memory_mib``
    (size of a flexible source), ``size_gib`` (storage). A JSON or YAML file holds a list, or an
    object whose ``items`` is the list. Errors are :class:`~cloudcat.errors.ConfigError` naming
    the file, the line (or entry) and the field.
    """
    lines: list[InventoryLine] = []
    for index, (source, line, row) in enumerate(read_records(path, known_keys=("items",))):
        try:
            lines.append(InventoryLine.model_validate(row))
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = ".".join(str(part) for part in error["loc"])
            where = loc if line is not None else f"items[{index}]" + (f".{loc}" if loc else "")
            raise ConfigError(error["msg"], source=source, line=line, field=where or None) from exc
    return lines


class SourceIndex:
    """Source offers by id and by backend name, for inventory lines to name them either way."""

    def __init__(self, offers: Sequence[Offer]) -> None:
        self.by_id = {offer.id: offer for offer in offers}
        self.by_name: dict[str, list[Offer]] = defaultdict(list)
        for offer in offers:
            self.by_name[offer.name].append(offer)
        for same in self.by_name.values():
            same.sort(key=lambda o: o.id)

    def resolve(self, ref: str, region: str | None) -> tuple[Offer | None, str | None]:
        """The offer ``ref`` names (an id, or a name in ``region``), and a note when it was ambiguous."""
        offer = self.by_id.get(ref)
        if offer is not None:
            return offer, None
        same = self.by_name.get(ref, [])
        if region is not None:
            same = [o for o in same if o.region == region]
        if not same:
            return None, None
        if len(same) > 1:
            return same[0], f"name {ref!r} matches {len(same)} source offers; planned as {same[0].id}"
        return same[0], None
