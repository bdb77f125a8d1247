"""Cloud Avenue's offer rules (Orange Business on VMware Cloud Director), as data.

Cloud Avenue sells no VM sizing policies: a customer buys a VDC of a *service class* (ECO, STD, HP,
VOIP) with a *billing model* and a *disponibility class*, and sizes each VM freely inside it. The
VDC carries these attributes as Cloud Director metadata (``vdcServiceClass``, ``vdcBillingModel``,
``vdcStorageBillingModel``, ``vdcDisponibilityClass``). Storage is sold as storage-profile classes
(``silver``, ``gold``, ``platinum3k``, ``platinum7k`` with ``_r1``/``_r2``/``_hm`` variants and
customer-specific ``…_ocbNNNNNNN`` classes); Internet access as tier-0 classes of service.

The tables come from the published VDC, VM and edge-gateway rules of the Cloud Avenue tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CONSOLES",
    "EDGE_CLASSES",
    "MAX_VM_CPUS",
    "STORAGE_MAX_GIB",
    "STORAGE_MIN_GIB",
    "VM_MEMORY_STEP_MIB",
    "Console",
    "EdgeClass",
    "StorageClass",
    "console_for_org",
    "parse_storage_class",
]

#: A VM has at most this many vCPUs.
MAX_VM_CPUS = 256
#: VM memory must be a multiple of this many MiB.
VM_MEMORY_STEP_MIB = 4
#: Size limits of one storage-profile class in a VDC, in GB.
STORAGE_MIN_GIB = 100
STORAGE_MAX_GIB = 81_920

#: Metadata keys that carry the VDC-level offer.
METADATA_KEYS = ("vdcServiceClass", "vdcBillingModel", "vdcStorageBillingModel", "vdcDisponibilityClass")


@dataclass(frozen=True)
class Console:
    """One Cloud Avenue console (a Cloud Director site) and the org names it hosts."""

    name: str
    site: str
    location: str
    org_pattern: re.Pattern[str]


CONSOLES: tuple[Console, ...] = (
    Console("console1", "Console Externe VDR", "vdr", re.compile(r"^cav01ev01ocb\d{7}$")),
    Console("console2", "Console Interne VDR", "vdr", re.compile(r"^cav01iv02ocb\d{7}$")),
    Console("console4", "Console Externe CHA", "chr", re.compile(r"^cav02ev04ocb\d{7}$")),
    Console("console5", "Console Interne CHA", "chr", re.compile(r"^cav02iv05ocb\d{7}$")),
    Console("console7", "Console specific VDR", "vdr", re.compile(r"^cav01iv07ocb\d{7}$")),
    Console("console8", "Console specific VDR", "vdr", re.compile(r"^cav01iv08ocb\d{7}$")),
    Console("console9", "Console VCOD", "vdr-cha", re.compile(r"^cav0[0-2]vv09ocb\d{7}$")),
)


def console_for_org(org: str) -> Console | None:
    """The Cloud Avenue console hosting ``org``, or ``None`` for an org of another Cloud Director."""
    for console in CONSOLES:
        if console.org_pattern.match(org):
            return console
    return None


@dataclass(frozen=True)
class StorageClass:
    """A Cloud Avenue storage-profile class, parsed from its name."""

    name: str
    base: str
    iops: int
    disponibility: str
    service_classes: tuple[str, ...]
    customer: str | None = None


_BASE_IOPS = {"silver": 600, "gold": 1000, "platinum3k": 3000, "platinum7k": 7000}
_ALL_CLASSES = ("ECO", "STD", "HP", "VOIP")
_NOT_ECO = ("STD", "HP", "VOIP")
_VARIANTS = {None: "ONE-ROOM", "r1": "DUAL-ROOM", "r2": "DUAL-ROOM", "hm": "HA-DUAL-ROOM"}
_STORAGE_NAME = re.compile(
    r"^(?P<base>silver|gold|platinum[37]k)(?:_(?P<customer>ocb\d{1,7}))?(?:_(?P<variant>r1|r2|hm))?$")


def parse_storage_class(name: str) -> StorageClass | None:
    """The Cloud Avenue class named ``name`` (``gold_r1``, ``platinum3k_ocb0001234``…), or ``None``."""
    match = _STORAGE_NAME.match(name)
    if match is None:
        return None
    base, variant = match["base"], match["variant"]
    if base == "silver" and variant == "hm":
        return None  # silver has no HA-DUAL-ROOM variant
    allowed = _ALL_CLASSES if base == "silver" or (base == "gold" and variant != "hm") else _NOT_ECO
    return StorageClass(name=name, base=base, iops=_BASE_IOPS[base], disponibility=_VARIANTS[variant],
                        service_classes=allowed, customer=match["customer"])


@dataclass(frozen=True)
class EdgeClass:
    """A tier-0 class of service: the bandwidth of an edge gateway's Internet access."""

    name: str
    bandwidth_mbps: int
    rate_limits_mbps: tuple[int, ...]


_BASE_LIMITS = (5, 25, 50, 75, 100, 150, 200, 250, 300)
EDGE_CLASSES: tuple[EdgeClass, ...] = (
    EdgeClass("VRF_STANDARD", 300, _BASE_LIMITS),
    EdgeClass("VRF_PREMIUM", 1000, (*_BASE_LIMITS, 400, 500, 600, 700, 800, 900, 1000)),
    EdgeClass("VRF_DEDICATED_MEDIUM", 3500, (*_BASE_LIMITS, 400, 500, 600, 700, 800, 900, 1000, 2000)),
    EdgeClass("VRF_DEDICATED_LARGE", 10000,
              (*_BASE_LIMITS, 400, 500, 600, 700, 800, 900, 1000, 2000, 3000, 4000, 5000, 6000)),
)
