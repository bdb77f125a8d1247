"""Find drivers and mock platforms through entry points, lazily.

Nothing is scanned at ``import cloudcat``: the first call that needs a driver reads the
``cloudcat.drivers`` (and ``cloudcat.mocks``) entry-point groups once, and loads only the
driver asked for. First-party drivers register exactly as third-party ones do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .errors import DriverConflictError, DriverNotFoundError, MissingDependencyError

__all__ = [
    "DRIVER_GROUP",
    "KNOWN_DRIVERS",
    "MOCK_GROUP",
    "DriverInfo",
    "PluginEntry",
    "driver_infos",
    "load_driver",
    "load_mock",
    "mock_names",
]

DRIVER_GROUP = "cloudcat.drivers"
MOCK_GROUP = "cloudcat.mocks"

#: The drivers this project ships, with the distribution that provides each (install hints name
#: nothing else: a test checks each is a distribution under ``drivers/``).
KNOWN_DRIVERS: dict[str, str] = {
    "static": "cloudcat-static",
    "openstack": "cloudcat-openstack",
    "vcd": "cloudcat-vcd",
    "vsphere": "cloudcat-vsphere",
    "libcloud": "cloudcat-libcloud",
}


@dataclass(frozen=True)
class PluginEntry:
    """One entry point: name, target and the distribution that declares it."""

    name: str
    value: str
    distribution: str
    version: str
    entry_point: EntryPoint


@dataclass(frozen=True)
class DriverInfo:
    """What ``cloudcat drivers`` shows."""

    name: str
    distribution: str
    version: str
    capabilities: dict[str, Any]
    target: str
    error: str | None = None


def _scan(group: str) -> dict[str, list[PluginEntry]]:
    found: dict[str, list[PluginEntry]] = {}
    for ep in entry_points(group=group):
        dist = ep.dist
        entry = PluginEntry(name=ep.name, value=ep.value,
                            distribution=dist.metadata["Name"] if dist else "?",
                            version=dist.version if dist else "?", entry_point=ep)
        same = found.setdefault(ep.name, [])
        if all(e.distribution != entry.distribution for e in same):
            same.append(entry)
    return found


@functools.cache
def _entries(group: str) -> dict[str, list[PluginEntry]]:
    return _scan(group)


def refresh_entries() -> None:
    """Forget the cached entry points (after installing a plugin in the same process)."""
    _entries.cache_clear()


def _entry(group: str, name: str, what: str) -> PluginEntry:
    entries = _entries(group).get(name)
    if not entries:
        hint = KNOWN_DRIVERS.get(name)
        if hint:
            raise MissingDependencyError(
                f"{what} {name!r} is provided by the package {hint!r}, which is not installed: "
                f"pip install {hint}", package=hint)
        known = ", ".join(sorted(_entries(group))) or "none"
        raise DriverNotFoundError(f"no {what} named {name!r} is installed (installed: {known})")
    if len(entries) > 1:
        dists = ", ".join(f"{e.distribution} {e.version} ({e.value})" for e in entries)
        raise DriverConflictError(f"{what} name {name!r} is claimed by several distributions: {dists}; "
                                  "uninstall one of them")
    return entries[0]


def _load(entry: PluginEntry, what: str) -> Any:
    try:
        return entry.entry_point.load()
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} {entry.name!r} from {entry.distribution} cannot be imported ({exc}); "
            f"reinstall it: pip install {entry.distribution}", package=entry.distribution) from exc


def load_driver(name: str) -> type[Any]:
    """The driver class registered as ``name``."""
    return _load(_entry(DRIVER_GROUP, name, "driver"), "driver")  # type: ignore[no-any-return]


def load_mock(name: str) -> type[Any]:
    """The mock platform class registered as ``name`` under ``cloudcat.mocks``."""
    return _load(_entry(MOCK_GROUP, name, "mock platform"), "mock platform")  # type: ignore[no-any-return]


def mock_names() -> list[str]:
    """Names of the installed mock platforms."""
    return sorted(_entries(MOCK_GROUP))


def driver_infos() -> list[DriverInfo]:
    """Every installed driver with its distribution, version and declared capabilities.

    Raises :class:`DriverConflictError` when two distributions claim one name. A driver that
    cannot be imported is listed with its ``error`` and no capabilities.
    """
    infos = []
    for name in sorted(_entries(DRIVER_GROUP)):
        entry = _entry(DRIVER_GROUP, name, "driver")
        try:
            cls = _load(entry, "driver")
        except MissingDependencyError as exc:
            infos.append(DriverInfo(name=name, distribution=entry.distribution, version=entry.version,
                                    capabilities={}, target=entry.value, error=str(exc)))
            continue
        caps = getattr(cls, "capabilities", None)
        cap_dict: dict[str, Any] = caps.model_dump(mode="json") if caps is not None else {}
        if "kinds" in cap_dict:
            cap_dict["kinds"] = sorted(cap_dict["kinds"])
        infos.append(DriverInfo(name=name, distribution=entry.distribution, version=entry.version,
                                capabilities=cap_dict, target=entry.value))
    return infos
