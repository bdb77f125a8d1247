"""Offer families, for grouping a plan's lines (charts, summaries)."""

from __future__ import annotations

import re

from ..models import Kind, Offer

__all__ = ["offer_family"]

_NAME_HEAD = re.compile(r"[A-Za-z]+\d*")


def offer_family(offer: Offer) -> str:
    """The family an offer belongs to.

    The ``family`` its driver filled (a flavor family, a VM series, a service class) when set;
    else a guess that knows no platform: for storage, the storage class; for images, the OS
    family; for compute, the name before its first ``.`` (``s3`` for ``s3.large.2``), ``flexible``
    for a flexible offer, else the name's leading letters and digits.
    """
    if offer.family:
        return offer.family
    if offer.kind == Kind.STORAGE:
        return offer.storage_class or offer.name
    if offer.kind == Kind.IMAGE:
        return offer.os_family or "image"
    if offer.kind == Kind.COMPUTE:
        return _compute_family(offer)
    return str(offer.kind)


def _compute_family(offer: Offer) -> str:
    name = offer.name
    if "." in name:
        return name.split(".", 1)[0]
    if offer.flexible is not None:
        return "flexible"
    head = _NAME_HEAD.match(name)
    return head.group(0) if head else name
