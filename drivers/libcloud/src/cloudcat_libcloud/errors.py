"""libcloud's and requests' exceptions, mapped onto cloudcat's error tree.

=====================================================  ===========================================
raised by libcloud / requests                          cloudcat error
=====================================================  ===========================================
``InvalidCredsError``; ``BaseHTTPError`` 401           :class:`~cloudcat.errors.AuthenticationError`
``RateLimitReachedError``; ``BaseHTTPError`` 429       :class:`~cloudcat.errors.RateLimitedError`
                                                       (``Retry-After`` kept as ``retry_after``)
``BaseHTTPError`` 403 / 404 / 408 / 5xx / other 4xx    as :func:`cloudcat.http.error_for_status` says
``MalformedResponseError``; an answer of the wrong     :class:`~cloudcat.errors.UnavailableError`
shape (:data:`SHAPE_ERRORS`: ``KeyError``,
``TypeError``, ``ValueError``, ``OverflowError``…)
``requests`` timeouts                                  :class:`~cloudcat.errors.BackendTimeoutError`
TLS failures (certificate not trusted)                 :class:`~cloudcat.errors.BackendError`
refused or broken connections                          :class:`~cloudcat.errors.UnavailableError`
any other ``LibcloudError``                            :class:`~cloudcat.errors.BackendError`
=====================================================  ===========================================

The original exception is kept as ``__cause__`` by the caller (``raise mapped from exc``). A message
names the call (``list_sizes(francecentral)``) and the last request libcloud made in it
(``GET /subscriptions/…/vmSizes``), text from the answer with its control characters escaped.

**Answers of an unexpected shape** are judged here, and only here: libcloud's parsing of an answer
fails inside the call (above); what the driver maps from libcloud's objects runs inside a
:class:`Reading`, which turns a value it cannot use (:func:`whole_number`, :func:`amount`,
:func:`name` say why, naming the field) into an ``UnavailableError`` naming the call, the object and
the field, or drops that one size, image or region with a warning naming the same.
"""

from __future__ import annotations

import logging
import math
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any

from cloudcat.answers import SHAPE_ERRORS, AnswerValueError, printable, shown
from cloudcat.answers import Reading as _Reading
from cloudcat.answers import describe as _describe
from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    RateLimitedError,
    UnavailableError,
)
from cloudcat.http import error_for_status, parse_retry_after
from cloudcat.models import MAX_INT, MAX_NUMBER

__all__ = ["SHAPE_ERRORS", "AnswerValueError", "Reading", "amount", "backend_error", "forget_request", "last_request",
           "name", "printable", "remember_request", "shown", "whole_number"]

log = logging.getLogger("cloudcat.drivers.libcloud")


class _LastRequest(threading.local):
    endpoint: str | None = None


_LAST = _LastRequest()


def remember_request(endpoint: str) -> None:
    """Note ``GET /path``, the request being sent on this thread (:class:`.connection.TlsConnection` does)."""
    _LAST.endpoint = endpoint


def last_request() -> str | None:
    """The last request noted on this thread since :func:`forget_request`."""
    return _LAST.endpoint


def forget_request() -> None:
    """Forget it (a call begins)."""
    _LAST.endpoint = None


def _retry_after(headers: Any) -> float | None:
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            return parse_retry_after(str(value))
    return None


def _http_error(exc: Any, where: str, backend: str, detail: str) -> BackendError:
    status = int(getattr(exc, "code", 0) or 0)
    message = f"{where}: HTTP {status}: {detail}"
    if status == 429:
        return RateLimitedError(message, backend=backend, retry_after=_retry_after(getattr(exc, "headers", None)))
    if status >= 400:
        return error_for_status(status, message, backend=backend)
    return UnavailableError(message, backend=backend)


def _same(text: str) -> str:
    return text


def backend_error(exc: BaseException, where: str, backend: str,
                  redact: Callable[[str], str] = _same, endpoint: str | None = None) -> BackendError:
    """The cloudcat error for ``exc``, raised while ``where`` (e.g. ``list_sizes(francecentral)``), whose
    last request was ``endpoint`` (``GET /…/vmSizes``) when known.

    The message names the call, the request and what went wrong, passed through ``redact`` (the
    driver's secrets removed); the caller raises it ``from exc``.
    """
    if endpoint:
        where = f"{where}: {redact(printable(endpoint, 300))}"
    import requests
    from libcloud.common.exceptions import BaseHTTPError
    from libcloud.common.types import InvalidCredsError, LibcloudError, MalformedResponseError

    if isinstance(exc, BackendError):
        return exc
    detail = redact(_first_line(exc))
    if isinstance(exc, InvalidCredsError):
        return AuthenticationError(f"{where}: credentials refused ({detail})", backend=backend)
    if isinstance(exc, BaseHTTPError):
        return _http_error(exc, where, backend, redact(str(getattr(exc, "message", exc))))
    if isinstance(exc, MalformedResponseError):
        return UnavailableError(f"{where}: malformed answer", backend=backend)
    if isinstance(exc, requests.exceptions.Timeout):
        return BackendTimeoutError(f"{where}: no answer in time", backend=backend)
    if isinstance(exc, requests.exceptions.SSLError | ssl.SSLError):
        return BackendError(f"{where}: TLS failed ({detail}); give the endpoint's CA bundle as the "
                            "'verify' option", backend=backend)
    if isinstance(exc, requests.exceptions.RequestException | OSError):
        return UnavailableError(f"{where}: cannot reach the endpoint ({detail})", backend=backend)
    if isinstance(exc, SHAPE_ERRORS):
        return UnavailableError(f"{where}: unexpected answer ({type(exc).__name__}: {detail})", backend=backend)
    if isinstance(exc, LibcloudError):
        return BackendError(f"{where}: {detail}", backend=backend)
    return BackendError(f"{where}: {type(exc).__name__}: {detail}", backend=backend)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0], 300) if text else type(exc).__name__


def describe(exc: BaseException) -> str:
    """One short line about ``exc`` (see :func:`cloudcat.answers.describe`)."""
    return _describe(exc, 300)


# -- answers: the one place where their shape is judged ----------------------------------------------
class Reading(_Reading):
    """Where the driver maps what one call read: ``where`` (``list_sizes(francecentral)``) about
    ``subject`` (``size Standard_D2s_v5``, or ``""``). A shape error on the way (an
    :class:`AnswerValueError` names its field; :meth:`at` names it for the others) leaves as an
    :class:`~cloudcat.errors.UnavailableError` naming the call, the subject and the field, with the
    original as ``__cause__``, or, given ``drop`` (``"size"``), is logged as a warning and swallowed::

        with Reading(f"list_sizes({region})", f"size {size.id}", backend, drop="size"):
            items.append(size_item(size))
    """

    def __init__(self, where: str, subject: str, backend: str, *, drop: str | None = None) -> None:
        super().__init__(where, subject, backend, drop=drop, log=log, limit=300)


def whole_number(value: Any, field: str) -> int | None:
    """A whole number from 0 to 2**53, from a number or its text (``None`` when absent); else an
    :class:`AnswerValueError` naming ``field``."""
    if value is None:
        return None
    number: Any = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise AnswerValueError(field, f"{shown(value)} is not a whole number") from None
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise AnswerValueError(field, f"{shown(value)} is not a whole number")
    if not 0 <= number <= MAX_INT:
        raise AnswerValueError(field, f"{shown(value)} is out of range (0 to 2**53)")
    return number


def amount(value: Any, field: str) -> float | None:
    """A finite number from 0 to 10**15 (``None`` when absent); else an :class:`AnswerValueError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnswerValueError(field, f"{shown(value)} is not a number")
    if not (math.isfinite(value) and 0 <= value <= MAX_NUMBER):
        raise AnswerValueError(field, f"{shown(value)} is out of range (0 to 10**15)")
    return float(value)


def name(value: Any, field: str) -> str:
    """A name: text, not blank, without control characters; else an :class:`AnswerValueError`."""
    if not isinstance(value, str) or not value.strip():
        raise AnswerValueError(field, f"{shown(value)} is not a name")
    if not value.isprintable():
        raise AnswerValueError(field, f"{shown(value)} holds control characters")
    return value
