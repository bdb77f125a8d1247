"""The vim25 schema the mocked vCenter checks requests against: which managed object types exist, which
is a subtype of which, and which property paths each has.

The tables are pyVmomi's, which VMware generates from the vim25 WSDL (the vSphere Web Services API
reference), so the mock knows every type and property a real vCenter does without copying them.
A property path is checked the way vCenter's PropertyCollector checks it: against the *declared*
type of each step, never through a managed object reference or an array (``parent.name``,
``config.hardware.device.key`` and ``config.defaultPortConfig.vlan`` on a port group, whose
``defaultPortConfig`` is declared a ``DVPortSetting``, are all ``InvalidProperty``; see
vmware/govmomi#2318 and vmware/pyvmomi-community-samples#418). A step may select an array element
by key (``config.extraConfig["guestinfo.x"]``).
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

__all__ = ["is_a", "known_type", "valid_path"]

_STEP = re.compile(r"([A-Za-z_]\w*)(\[[^\]]*\])?")


@functools.cache
def _vmomi() -> Any:
    """pyVmomi's type support, loaded on first use (typed ``Any``: it carries no annotations)."""
    return importlib.import_module("pyVmomi.VmomiSupport")


@functools.cache
def _type(name: str) -> Any:
    """The pyVmomi class of the vim25 type ``name`` (``HostSystem``, ``VmfsDatastoreInfo``), or ``None``."""
    try:
        return _vmomi().GetWsdlType("urn:vim25", name)
    except KeyError:
        return None


def known_type(name: str) -> bool:
    """Whether ``name`` is a vim25 managed object or data object type."""
    return _type(name) is not None


@functools.cache
def is_a(type_name: str, wanted: str) -> bool:
    """Whether an object of ``type_name`` is a ``wanted`` (itself or a subtype)."""
    if type_name == wanted:
        return True
    have, want = _type(type_name), _type(wanted)
    return have is not None and want is not None and issubclass(have, want)


@functools.cache
def valid_path(type_name: str, path: str) -> bool:
    """Whether objects of ``type_name`` have the property ``path`` (``summary.hardware.memorySize``).

    Unknown types accept every path (the mock may serve a type pyVmomi does not know)."""
    support = _vmomi()
    current = _type(type_name)
    if current is None:
        return True
    for i, step in enumerate(path.split(".")):
        match = _STEP.fullmatch(step)
        if match is None:
            return False
        holder_ok = issubclass(current, support.ManagedObject) if i == 0 else issubclass(current, support.DataObject)
        if not holder_ok:
            return False
        try:
            declared = current._GetPropertyInfo(match[1]).type
        except AttributeError:
            return False
        if match[2] is not None:  # a keyed element of an array of data objects
            if not issubclass(declared, list) or not issubclass(declared.Item, support.DataObject):
                return False
            declared = declared.Item
        current = declared
    return True
