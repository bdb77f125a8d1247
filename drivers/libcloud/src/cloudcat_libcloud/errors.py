"""libcloud's and requests' exceptions, mapped onto cloudcat's error tree.

=====================================================  ===========================================
raised by libcloud / requests                          cloudcat error
=====================================================  ===========================================
``InvalidCredsError``; ``BaseHTTPError`` 401           :class:`~cloudcat.errors.AuthenticationError`
``RateLimitReachedError``; ``BaseHTTPError`` 429       :class:`~cloudcat.errors.RateLimitedError`
                                                       (``Retry-After`` kept as ``retry_after``)
``BaseHTTPError`` 403 / 404 / 408 / 5xx / other 4xx    as :func:`cloudcat.http.error_for_status` says
``MalformedResponseError``; an answer of the wrong     :class:`~cloudcat.errors.UnavailableError`
shape (``KeyError``, ``TypeError``, ``ValueError``)
``requests`` timeouts                                  :class:`~cloudcat.errors.BackendTimeoutError`
TLS failures (certificate not trusted)                 :class:`~cloudcat.errors.BackendError`
refused or broken connections                          :class:`~cloudcat.errors.UnavailableError`
any other ``LibcloudError``                            :class:`~cloudcat.errors.BackendError`
=====================================================  ===========================================

The original exception is kept as ``__cause__`` by the caller (``raise mapped from exc``).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    RateLimitedError,
    UnavailableError,
)
from cloudcat.http import error_for_status, parse_retry_after

__all__ = ["backend_error"]


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
                  redact: Callable[[str], str] = _same) -> BackendError:
    """The cloudcat error for ``exc``, raised while ``where`` (e.g. ``list_sizes(francecentral)``).

    The message names the call and what went wrong, passed through ``redact`` (the driver's secrets
    removed); the caller raises it ``from exc``.
    """
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
    if isinstance(exc, KeyError | TypeError | ValueError | AttributeError):
        return UnavailableError(f"{where}: unexpected answer ({type(exc).__name__}: {detail})", backend=backend)
    if isinstance(exc, LibcloudError):
        return BackendError(f"{where}: {detail}", backend=backend)
    return BackendError(f"{where}: {type(exc).__name__}: {detail}", backend=backend)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
