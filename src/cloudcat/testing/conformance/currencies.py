"""ISO 4217 currency codes, for the kit's price checks (the list lives in :mod:`cloudcat.iso`)."""

from __future__ import annotations

from cloudcat.iso import ISO_4217

__all__ = ["ISO_4217"]
