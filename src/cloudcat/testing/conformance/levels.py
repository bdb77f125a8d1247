"""The kit's level, and the level that introduced each check (see the versioning policy in
"Writing a driver")."""

from __future__ import annotations

__all__ = ["CHECKS", "KIT_LEVEL"]

#: Current level of the kit. Raised (never lowered) when checks are added; see the versioning
#: policy in "Writing a driver".
KIT_LEVEL = 2

#: Every check of the kit (its test name without ``test_``), with the kit level that introduced it.
CHECKS: dict[str, int] = {name: 1 for name in (
    "driver_class", "check", "regions", "regions_option", "declared_kind", "undeclared_kind",
    "items_validate", "item_ids_unique", "listing_stable", "prices", "compute_sizes",
    "capability_declared", "capabilities_not_claimed", "paging", "unavailable", "malformed",
    "rate_limited", "authentication", "token_renewal", "timeout", "secrets_repr", "secrets_logs", "secrets_errors",
    "secret_options", "lazy_import", "offers_validate", "offer_ids", "offer_ids_stable",
)}
#: Level 2: backend calls end at the deadline they run under.
CHECKS["deadline"] = 2
