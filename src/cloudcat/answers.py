"""Judging what a backend answered: the pieces every driver's one parse place shares.

A driver maps an answer inside one context of its own (``Reading`` in the first-party drivers)
that turns the exceptions of :data:`SHAPE_ERRORS` into a :class:`~cloudcat.errors.BackendError`
naming the call and the field. What it says about the answer goes through :func:`printable` (no
control character from a backend reaches a terminal or a log), values through :func:`shown`, and
the cause through :func:`describe`. A value the driver checks itself and cannot use raises
:class:`AnswerValueError` with the field it was in.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

__all__ = ["SHAPE_ERRORS", "AnswerValueError", "describe", "printable", "shown"]

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
