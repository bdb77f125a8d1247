"""Judging what a backend answered: the pieces every driver's one parse place shares.

A driver maps an answer inside one context of its own (``Reading`` in the first-party drivers)
that turns the exceptions of :data:`SHAPE_ERRORS` into a :class:`~cloudcat.errors.BackendError`
naming the call and the field. What it says about the answer goes through :func:`printable` (no
control character from a backend reaches a terminal or a log), values through :func:`shown`, and
the cause through :func:`describe`. A value the driver checks itself and cannot use raises
:class:`AnswerValueError` with the field it was in.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

from pydantic import ValidationError

from .errors import UnavailableError

__all__ = ["SHAPE_ERRORS", "AnswerValueError", "Reading", "describe", "printable", "shown"]

#: What mapping an answer of an unexpected shape raises (pydantic's ``ValidationError`` is a
#: ``ValueError``, ``OverflowError`` an ``ArithmeticError``).
SHAPE_ERRORS: tuple[type[Exception], ...] = (AttributeError, TypeError, ValueError, KeyError, IndexError,
                                             ArithmeticError)


class AnswerValueError(ValueError):
    """A value of an answer the driver cannot use; ``field`` names where it was."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def printable(text: str, limit: int = 160) -> str:
    """``text`` with control characters escaped, cut after ``limit`` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return text if len(text) <= limit else f"{text[:limit]}…"


def shown(value: Any, limit: int = 40) -> str:
    """``value`` as a message shows it: text quoted, control characters escaped, long values cut."""
    return printable(repr(value) if isinstance(value, str) else str(value), limit)


def describe(exc: BaseException, limit: int = 160) -> str:
    """One short line about ``exc``: what is wrong with the value, the field pydantic refused, or
    the exception's type and first line (cut after ``limit`` characters)."""
    if isinstance(exc, AnswerValueError):
        return printable(str(exc), 200)
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        return f"item field {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {printable(lines[0], limit)}" if lines else type(exc).__name__


class Reading:
    """Where a driver maps what one call read: ``where`` (``list_sizes(region-1)``,
    ``RetrievePropertiesEx``) about ``subject`` (``size big-2``, ``VirtualMachine vm-12``,
    or ``""``). The driver names the field it reads as it goes (:meth:`at`; an
    :class:`AnswerValueError` names its own). A shape error on the way (:data:`SHAPE_ERRORS`) leaves
    as an :class:`~cloudcat.errors.UnavailableError` naming the call, the subject and the field, with
    the original as ``__cause__``; given ``drop`` (what is left out: ``"item"``, ``"size"``), it is
    logged on ``log`` as a warning and swallowed::

        with Reading(f"list_sizes({region})", f"size {size.id}", backend, drop="size").at("vcpus"):
            items.append(size_item(size))

    ``joiner`` goes between the subject and the field; ``limit`` cuts the cause's first line.
    """

    def __init__(self, where: str, subject: str, backend: str, *, drop: str | None = None,
                 joiner: str = ": ", log: logging.Logger | None = None, limit: int = 160) -> None:
        self.where = where
        self.subject = subject
        self.backend = backend
        self.drop = drop
        self.field = "(answer)"
        self._joiner = joiner
        self._log = log or logging.getLogger("cloudcat.drivers")
        self._limit = limit

    def at(self, field: str) -> Self:
        """Name the field the next lines read."""
        self.field = field
        return self

    def message(self, exc: BaseException) -> str:
        """``where: subject<joiner>field: what``."""
        field = exc.field if isinstance(exc, AnswerValueError) else self.field
        subject = f"{self.subject}{self._joiner}" if self.subject else ""
        return f"{self.where}: {subject}{field}: {describe(exc, self._limit)}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is None or not isinstance(exc, SHAPE_ERRORS):
            return False
        if self.drop:
            self._log.warning("%s: %s; %s dropped", self.backend, self.message(exc), self.drop)
            return True
        raise UnavailableError(self.message(exc), backend=self.backend) from exc
