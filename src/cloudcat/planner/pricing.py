"""Price maths of a plan: price periods, monthly prices, and the rate a plan line is priced at."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from ..models import Offer, Price
from .model import HOURS_PER_MONTH

__all__ = ["Period", "UnitRate", "monthly", "monthly_price", "per_gib", "period", "rate", "source_price"]

#: What one price amount buys: an hour or a month (a yearly price is taken per month).
Period = Literal["hour", "month"]


def period(unit: str) -> Literal["hour", "month", "year"] | None:
    """``hour``/``month``/``year`` for a price unit of one thing (or of one GiB), else ``None``."""
    if unit in ("hour", "GiB-hour"):
        return "hour"
    if unit in ("month", "GiB-month"):
        return "month"
    if unit == "year":
        return "year"
    return None


def monthly(price: Price | None, hours_per_month: Decimal) -> Decimal | None:
    """Monthly amount of ``price`` at ``hours_per_month``, or ``None`` when not a per-period price."""
    if price is None:
        return None
    every = period(price.unit)
    if every == "hour":
        return price.amount * hours_per_month
    if every == "month":
        return price.amount
    if every == "year":
        return price.amount / 12
    return None


def monthly_price(offer: Offer, hours_per_month: Decimal | int = HOURS_PER_MONTH) -> Decimal | None:
    """Monthly price of one unit of ``offer``, or ``None`` when unknown.

    An hourly price is multiplied by ``hours_per_month``; a monthly price is taken as it is; a
    yearly price is divided by 12. Storage priced per GiB gives the price of one GiB. A flexible
    offer without a fixed price, a one-time price or a per-vCPU price alone are unknown here
    (size a flexible offer first, see :meth:`cloudcat.models.FlexibleSizing.price_for`).
    """
    return monthly(offer.price, Decimal(hours_per_month))


def rate(price: Price | None) -> tuple[Decimal, Period] | None:
    """(amount per period, ``hour``/``month``) of a price; a yearly price becomes monthly."""
    every = period(price.unit) if price is not None else None
    if price is None or every is None:
        return None
    if every == "year":
        return price.amount / 12, "month"
    return price.amount, every


def per_gib(price: Price | None) -> bool:
    """Whether ``price`` is for one GiB (storage), to be multiplied by a size."""
    return price is not None and price.unit.startswith("GiB-")


def source_price(offer: Offer, flex_size: tuple[int, int] | None) -> Price | None:
    """The price of one unit of a source offer, a flexible one at the size in use."""
    if offer.flexible is not None and flex_size is not None:
        return offer.flexible.price_for(*flex_size) or offer.price
    return offer.price


@dataclass(slots=True, frozen=True)
class UnitRate:
    """What one unit costs per period, in one currency: the price a plan line's amounts come from."""

    amount: Decimal
    hourly: bool
    currency: str
    #: Priced per GiB: an inventory line's ``size_gib`` multiplies it.
    per_gib: bool = False

    @classmethod
    def of(cls, price: Price | None, *, per_gib_allowed: bool = True) -> UnitRate | None:
        """The rate of ``price``, ``None`` when it is unknown or not per hour, month or year."""
        found = rate(price)
        if price is None or found is None:
            return None
        return cls(found[0], found[1] == "hour", price.currency, per_gib_allowed and per_gib(price))

    def monthly(self, hours: Decimal, units: Decimal, size_gib: Decimal | None) -> Decimal:
        """Monthly amount of ``units`` units at ``hours`` a month (times ``size_gib`` when per GiB)."""
        amount = (self.amount * hours if self.hourly else self.amount) * units
        if size_gib is not None and self.per_gib:
            amount *= size_gib
        return amount
