"""Keep secrets out of logs (what counts as a secret is decided in :mod:`cloudcat.secrets`).

Every catalog registers the secret values of its configuration (passwords, tokens, application
credential secrets) here; :class:`RedactingFilter`, installed on a logging handler, masks them and
any password written in a URL (``scheme://user:password@host``) in every record that handler
emits — including records of the cloud SDKs, which log request URLs at DEBUG. The ``cloudcat``
command installs it on its own handler; applications can do the same::

    handler.addFilter(cloudcat.redaction.RedactingFilter())
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from .secrets import redact

__all__ = ["RedactingFilter", "known_secrets", "register_secrets"]

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values to mask in log records (values under 3 characters are ignored)."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= 3)


def known_secrets() -> list[str]:
    """The secret values registered so far, longest first (so that no secret is half-masked)."""
    with _lock:
        return sorted(_secrets, key=len, reverse=True)


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets and URL passwords in each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's malformed call (arguments that do not fit): never raise from here
            message = f"{record.msg} {record.args!r}"
            record.msg, record.args = message, None
        cleaned = redact(message, known_secrets())
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text, known_secrets())
        return True
