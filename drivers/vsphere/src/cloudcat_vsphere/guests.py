"""Guest operating systems: family and version from a template's name, its guest id
(``rhel9_64Guest``) or its full name (``Microsoft Windows Server 2022 (64-bit)``), or a content
library's guest OS (``UBUNTU_64``, ``RHEL_9_64``)."""

from __future__ import annotations

import re

__all__ = ["guest_os"]

_FAMILIES = {
    "ubuntu": "ubuntu", "debian": "debian", "centos": "centos", "rocky": "rocky", "rockylinux": "rocky",
    "almalinux": "almalinux", "alma": "almalinux", "rhel": "rhel", "redhat": "rhel", "red": "rhel",
    "windows": "windows", "win": "windows", "sles": "sles", "suse": "sles", "opensuse": "opensuse",
    "oracle": "oracle", "oraclelinux": "oracle", "fedora": "fedora", "freebsd": "freebsd", "photon": "photon",
    "vmwarephoton": "photon", "coreos": "coreos", "flatcar": "flatcar",
}
#: Windows guest ids whose year is not in the id.
_WINDOWS_IDS = {"windows2019srvnext": "2022", "windows2019srv": "2019", "windows9server": "2016",
                "windows8server": "2012", "windows2022srvnext": "2025"}


def _from_tokens(text: str) -> tuple[str | None, str | None]:
    tokens = [t for t in re.split(r"[_\-\s().]+(?=[a-z])|[_\-\s()]+", text.lower()) if t]
    for i, token in enumerate(tokens):
        match = re.match(r"^([a-z]+?)(\d+(?:\.\d+)*)?$", token)
        if match and match[1] in _FAMILIES:
            version = match[2]
            if version is None:
                version = next((t for t in tokens[i + 1:i + 4] if re.fullmatch(r"\d+(\.\d+)*", t)), None)
            return _FAMILIES[match[1]], version
    return None, None


def guest_os(name: str, guest_id: str = "", full_name: str = "") -> tuple[str | None, str | None]:
    """OS family and version (``("rhel", "9.4")``), each ``None`` when nothing says."""
    family, version = _from_tokens(name)
    if family and version:
        return family, version
    stem = guest_id.lower().removeprefix("arm-")
    for prefix, year in _WINDOWS_IDS.items():
        if stem.startswith(prefix):
            return "windows", year
    from_id = _from_tokens(re.sub(r"_?(64)?guest$", "", stem).replace("_64", "").replace("srv", " ").replace("_", " "))
    from_full = _from_tokens(full_name)
    family = family or from_id[0] or from_full[0]
    version = version or from_full[1] or from_id[1]
    if family == "windows" and version is None:
        match = re.search(r"(20\d\d)", full_name)
        version = match[1] if match else None
    return family, version
