"""The one place where the driver's reading of a Cloud Director answer may fail on its shape.

Every mapping of an answer (a query record, a VDC document, a compute policy…) runs inside
:class:`Reading`: the driver names the endpoint, and the field it is at as it goes
(:meth:`Reading.at`); a shape error on the way (a ``None`` where a mapping was expected, text in a
number, a number too large for a model's field…) leaves as an :class:`~cloudcat.errors.UnavailableError`
naming both, with the original exception as ``__cause__``, never as a raw ``TypeError``::

    with Reading("GET /api/query?type=vAppTemplate", backend) as reading:
        for i, record in enumerate(records):
            reading.at(f"record[{i}]")
            items.append(image_item(record))

The helpers :func:`mapping` and :func:`sequence` read a field that must be a JSON object or a
list, treating an absent or ``null`` one as empty.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from cloudcat.answers import SHAPE_ERRORS
from cloudcat.errors import UnavailableError

__all__ = ["SHAPE_ERRORS", "Reading", "mapping", "sequence"]


class Reading:
    """A context in which an answer of ``endpoint`` is read; see the module."""

    def __init__(self, endpoint: str, backend: str) -> None:
        self.endpoint = endpoint
        self.backend = backend
        self.field = "(answer)"

    def at(self, field: str) -> Reading:
        """Name the field (``record[3]``, ``values[0].subnets``) the next lines read."""
        self.field = field
        return self

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and isinstance(exc, SHAPE_ERRORS):
            detail = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise UnavailableError(f"{self.endpoint}: unexpected answer at {self.field}: {type(exc).__name__}"
                                   + (f" ({detail})" if detail else ""), backend=self.backend) from exc


def mapping(value: Any, field: str) -> dict[str, Any]:
    """``value`` when it is a JSON object, ``{}`` when absent; else a ``TypeError`` naming ``field``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{field} is a {type(value).__name__}, not an object")
    return value


def sequence(value: Any, field: str) -> list[Any]:
    """``value`` when it is a JSON list, ``[]`` when absent; else a ``TypeError`` naming ``field``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{field} is a {type(value).__name__}, not a list")
    return value
