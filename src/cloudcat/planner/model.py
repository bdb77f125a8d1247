"""What a plan is made of: inventory lines in, plan lines and totals out (the JSON and CSV contract)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HOURS_PER_MONTH", "InventoryLine", "Plan", "PlanLine", "Totals"]

#: Hours a month of an offer in use all month long (365 × 24 / 12, rounded as clouds bill it).
HOURS_PER_MONTH = Decimal(730)


class InventoryLine(BaseModel):
    """One line of what is in use at the source."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(default="", description="Your name for it (server group, application…).")
    offer: str = Field(min_length=1, description="An offer id, or the backend's offer name (flavor name…).")
    quantity: int = Field(default=1, ge=0)
    hours_per_month: Decimal = Field(default=HOURS_PER_MONTH, ge=0, le=744)
    region: str | None = Field(default=None, description="Region, to pick among offers sharing a name.")
    vcpus: int | None = Field(default=None, ge=1, description="Size in use, for a flexible source offer.")
    memory_mib: int | None = Field(default=None, ge=1, description="Memory in use, for a flexible source.")
    size_gib: Decimal | None = Field(default=None, ge=0, description="Size, for storage priced per GiB.")


class Totals(BaseModel):
    """Monthly totals in one currency: ``before`` adds the lines whose source is priced in it,
    ``after`` those whose target is, ``difference`` only those priced on both sides in it (so it
    is ``after - before`` only when every line is)."""

    before: Decimal = Decimal(0)
    after: Decimal = Decimal(0)
    difference: Decimal = Decimal(0)


@dataclass(slots=True, kw_only=True)
class PlanLine:
    """The plan for one inventory line.

    A slotted dataclass rather than a pydantic model: a plan holds one per inventory line
    (100,000 and more), and building them is the largest cost of planning. :class:`Plan`
    (a pydantic model) validates and serialises them like any model field. Built by keyword only.
    """

    item: str
    #: Source offer id (or the reference given, when no source offer has it).
    source: str
    source_name: str | None = None
    kind: str | None = None
    #: Family of the source offer (flavor prefix, service class…), see :func:`~cloudcat.planner.offer_family`.
    family: str = "other"
    quantity: int = 1
    hours_per_month: Decimal = HOURS_PER_MONTH
    #: Chosen target offer id; ``None`` for a gap.
    target: str | None = None
    target_name: str | None = None
    #: Size carved from a flexible target.
    target_vcpus: int | None = None
    target_memory_mib: int | None = None
    #: Up to three next-cheapest acceptable target ids.
    alternatives: list[str] = field(default_factory=list)
    monthly_before: Decimal | None = None
    monthly_after: Decimal | None = None
    #: ``monthly_after - monthly_before`` when both are known in the same currency.
    difference: Decimal | None = None
    #: Currency of the line: of ``monthly_before``, else of ``monthly_after``.
    currency: str | None = None
    #: Currency of ``monthly_after``.
    currency_after: str | None = None
    gap_reason: str | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def is_gap(self) -> bool:
        """Whether no acceptable target exists."""
        return self.target is None

    def to_json(self) -> dict[str, Any]:
        """The line's part of the ``plan --format json`` contract."""
        return {
            "item": self.item,
            "source": self.source,
            "source_name": self.source_name,
            "kind": self.kind,
            "family": self.family,
            "quantity": self.quantity,
            "hours_per_month": _fmt(self.hours_per_month),
            "target": self.target,
            "target_name": self.target_name,
            "target_vcpus": self.target_vcpus,
            "target_memory_mib": self.target_memory_mib,
            "alternatives": list(self.alternatives),
            "monthly_before": money(self.monthly_before),
            "monthly_after": money(self.monthly_after),
            "difference": money(self.difference),
            "currency": self.currency,
            "currency_after": self.currency_after,
            "gap_reason": self.gap_reason,
            "reasons": list(self.reasons),
        }


class Plan(BaseModel):
    """A migration plan: one line per inventory line, and totals per currency."""

    source: str = ""
    target: str = ""
    generated_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    lines: list[PlanLine] = Field(default_factory=list)
    totals: dict[str, Totals] = Field(default_factory=dict)

    @property
    def gaps(self) -> list[PlanLine]:
        """Lines with no acceptable target."""
        return [line for line in self.lines if line.target is None]

    def _head(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "generated_at": self.generated_at.isoformat(),
            "summary": {"lines": len(self.lines), "gaps": sum(1 for x in self.lines if x.target is None)},
            "totals": {
                currency: {"before": money(t.before), "after": money(t.after), "difference": money(t.difference)}
                for currency, t in sorted(self.totals.items())
            },
        }

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (the ``plan --format json`` contract).

        Amounts of money are decimal strings rounded to the cent (``"146.00"``, see :func:`money`),
        never floats; unknown amounts are null.
        """
        return {**self._head(), "lines": [line.to_json() for line in self.lines]}

    def json_chunks(self) -> Iterator[str]:
        """:meth:`to_json` as JSON text, in pieces (a line per plan line), for writing as it is made."""
        head = json.dumps(self._head(), indent=2, ensure_ascii=False)
        if not self.lines:
            yield head[:-2] + ',\n  "lines": []\n}\n'
            return
        yield head[:-2] + ',\n  "lines": [\n'
        encode = json.JSONEncoder(ensure_ascii=False).encode  # compact lines: the C encoder
        last = len(self.lines) - 1
        for index, line in enumerate(self.lines):
            yield "    " + encode(line.to_json()) + (",\n" if index < last else "\n")
        yield "  ]\n}\n"

    @staticmethod
    def row_keys() -> list[str]:
        """The columns of :meth:`rows` (the ``plan --format csv`` header), always these."""
        return list(PlanLine(item="", source="").to_json())

    def iter_rows(self) -> Iterator[dict[str, str]]:
        """:meth:`rows`, one at a time."""
        for line in self.lines:
            yield {key: ("; ".join(value) if isinstance(value, list) else "" if value is None else str(value))
                   for key, value in line.to_json().items()}

    def rows(self) -> list[dict[str, str]]:
        """Flat rows (strings, empty for unknown) for CSV and table output."""
        return list(self.iter_rows())


#: Amounts of money in every output: rounded to the cent, halves away from zero (``0.125`` → ``0.13``).
CENT = Decimal("0.01")


def money(value: Decimal | None) -> str | None:
    """An amount of money as output everywhere: two decimals, rounded half away from zero."""
    if value is None:
        return None
    return _money_text(value)


@functools.lru_cache(maxsize=65536)
def _money_text(value: Decimal) -> str:
    return format(value.quantize(CENT, rounding=ROUND_HALF_UP), "f")


def _fmt(value: Decimal | None) -> str | None:
    """A decimal as plain text: at most 6 decimals, at least 2, never an exponent."""
    if value is None:
        return None
    return _fmt_decimal(value)


@functools.lru_cache(maxsize=65536)
def _fmt_decimal(value: Decimal) -> str:
    # amounts repeat (one per source offer and quantity), so a 100,000-line plan formats few
    text = format(value.quantize(Decimal("0.000001")), "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"
