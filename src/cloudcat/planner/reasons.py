"""The texts of a plan: why a line is a gap, and why its target was chosen."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ..models import Kind
from .search import Gap, Requirement, Stage, Target

__all__ = ["gap_reason", "os_text", "size_text", "why"]


def size_text(req: Requirement) -> str:
    """``8 vCPU / 32768 MiB`` (or the part that is known, or ``any size``)."""
    parts = []
    if req.vcpus is not None:
        parts.append(f"{req.vcpus} vCPU")
    if req.memory is not None:
        parts.append(f"{req.memory} MiB")
    return " / ".join(parts) or "any size"


def os_text(req: Requirement) -> str:
    """``ubuntu 22.04`` (or ``unknown``)."""
    return " ".join(part for part in (req.os_family, req.os_version) if part) or "unknown"


def _no_os(req: Requirement) -> str:
    return f"no image for OS {os_text(req)}"


def _no_iops(req: Requirement) -> str:
    return f"no storage class with ≥ {req.iops} IOPS"


def _no_bandwidth(req: Requirement) -> str:
    return f"no network offer with ≥ {req.bandwidth:g} Mbit/s"


def _no_size(req: Requirement) -> str:
    """Nothing the right size: in the terms of the kind (size, OS, IOPS, bandwidth)."""
    by_kind = {Kind.IMAGE: _no_os, Kind.STORAGE: _no_iops, Kind.NETWORK: _no_bandwidth}
    return by_kind.get(req.kind, lambda r: f"no offer with ≥ {size_text(r)}")(req)


_STAGE_TEXTS: dict[Stage, Callable[[Requirement], str]] = {
    Stage.ARCH: lambda req: f"no {req.arch} offer with ≥ {size_text(req)}",
    Stage.OS: _no_os,
    Stage.IOPS: _no_iops,
    Stage.BANDWIDTH: _no_bandwidth,
    Stage.LIFECYCLE: lambda req: "no matching offer on sale (end of sale or end of life)",
}


def _no_gpu(req: Requirement, gap: Gap) -> str:
    if not gap.any_gpu:
        return "no GPU offer"
    memory = f" / {req.gpu_memory} MiB GPU memory" if req.gpu_memory else ""
    return f"no GPU offer with ≥ {req.gpu_count:g} GPU{memory} and ≥ {size_text(req)}"


def _labels_missing(labels: frozenset[str], near: list[Target]) -> str:
    missing = sorted(label for label in labels if not any(label in t.labels for t in near))
    if len(missing) == 1:
        return f"label {missing[0]} missing"
    if missing:
        return f"labels {', '.join(missing)} missing"
    return f"no offer has all labels {', '.join(sorted(labels))}"


def gap_reason(req: Requirement, gap: Gap, labels: frozenset[str]) -> str:
    """What the nearest candidates lacked: ``no GPU offer``, ``label secnumcloud missing``…"""
    if gap.no_offer:
        return f"no {req.kind} offer at target"
    stage = gap.stage
    if stage is None or stage == Stage.SIZE:
        return _no_size(req)
    if stage == Stage.GPU:
        return _no_gpu(req, gap)
    if stage == Stage.LABELS:
        return _labels_missing(labels, gap.near)
    text = _STAGE_TEXTS.get(stage)
    return text(req) if text is not None else "sold out in every zone"


def why(req: Requirement, t: Target, size: tuple[int, int] | None, amount: Decimal | None,
        labels: frozenset[str]) -> list[str]:
    """Why ``t`` replaces the source: the cheapest, what it meets, its labels and open zones."""
    out = ["cheapest acceptable offer" if amount is not None else "price unknown"]
    if req.kind == Kind.COMPUTE:
        out += _why_compute(req, t, size)
    elif req.kind == Kind.IMAGE:
        out.append(f"same OS {os_text(req)}")
    elif req.kind == Kind.STORAGE and req.iops is not None:
        out.append(f"{t.iops} IOPS meets {req.iops}")
    if labels:
        out.append(f"labels {', '.join(sorted(labels))}")
    if t.open_zones:
        out.append(f"orderable in {', '.join(t.open_zones)}")
    return out


def _why_compute(req: Requirement, t: Target, size: tuple[int, int] | None) -> list[str]:
    out = []
    if size is not None:
        out.append(f"flexible offer sized to {size[0]} vCPU / {size[1]} MiB")
    else:
        out.append(f"{t.vcpus} vCPU / {t.memory} MiB meets {size_text(req)}")
    if req.gpu_count > 0:
        out.append(f"{t.gpu_count:g} GPU meets {req.gpu_count:g}")
    if req.arch != "x86_64":
        out.append(f"architecture {req.arch}")
    return out
