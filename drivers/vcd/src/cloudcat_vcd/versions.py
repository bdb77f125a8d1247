"""Cloud Director API versions: parsing ``GET /api/versions`` and choosing the version to speak."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

__all__ = [
    "DRIVER_MAX",
    "DRIVER_MIN",
    "ApiVersion",
    "NoCommonVersion",
    "ServerVersion",
    "choose_version",
    "parse_versions",
]

VERSIONS_NS = "http://www.vmware.com/vcloud/versions"


@dataclass(frozen=True, order=True)
class ApiVersion:
    """A ``major.minor`` API version, ordered numerically (``39.1`` > ``9.0``)."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ApiVersion:
        """Parse ``"38.1"`` (or ``"38.1.0-alpha"``, whose suffix is ignored)."""
        parts = text.strip().split("-", 1)[0].split(".")
        if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
            raise ValueError(f"not a Cloud Director API version: {text!r}")
        return cls(int(parts[0]), int(parts[1]))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


#: The versions this driver speaks (Cloud Director 10.4 and later; Cloud Avenue pins 38.1 and 39.1).
DRIVER_MIN = ApiVersion(37, 0)
DRIVER_MAX = ApiVersion(39, 1)


@dataclass(frozen=True)
class ServerVersion:
    """One ``VersionInfo`` of ``/api/versions``."""

    version: ApiVersion
    deprecated: bool
    login_url: str | None


class NoCommonVersion(ValueError):
    """The server and the driver share no API version."""


def parse_versions(body: bytes) -> list[ServerVersion]:
    """The ``VersionInfo`` entries of a ``SupportedVersions`` document.

    Raises :class:`xml.etree.ElementTree.ParseError` on a malformed body and :class:`ValueError`
    when the document is not a ``SupportedVersions`` list.
    """
    root = ET.fromstring(body)
    if _local(root.tag) != "SupportedVersions":
        raise ValueError(f"expected SupportedVersions, got {_local(root.tag)}")
    found = []
    for info in root:
        if _local(info.tag) != "VersionInfo":
            continue
        version = login = None
        for child in info:
            if _local(child.tag) == "Version" and child.text:
                version = ApiVersion.parse(child.text)
            elif _local(child.tag) == "LoginUrl":
                login = (child.text or "").strip() or None
        if version is not None:
            found.append(ServerVersion(version, info.get("deprecated", "false").lower() == "true", login))
    if not found:
        raise ValueError("SupportedVersions lists no version")
    return found


def choose_version(server: list[ServerVersion], pinned: str | None = None,
                   low: ApiVersion = DRIVER_MIN, high: ApiVersion = DRIVER_MAX) -> ApiVersion:
    """The highest version both sides speak, preferring versions the server does not deprecate.

    ``pinned`` forces one version, which the server must list. Raises :class:`NoCommonVersion`
    with a message naming both ranges.
    """
    offered = sorted({s.version for s in server})
    server_range = f"{offered[0]}-{offered[-1]}" if offered else "none"
    if pinned is not None:
        want = ApiVersion.parse(pinned)
        if want not in offered:
            raise NoCommonVersion(f"pinned API version {want} is not offered by the server "
                                  f"(server supports {server_range})")
        return want
    common = [s for s in server if low <= s.version <= high]
    if not common:
        raise NoCommonVersion(f"no common API version: the server supports {server_range}, "
                              f"this driver supports {low}-{high}")
    current = [s for s in common if not s.deprecated] or common
    return max(s.version for s in current)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
