"""cloudcat's exceptions: one root, a small tree.

::

    CloudcatError
    ├── ConfigError                 bad configuration file, price book or option (names file, line, field)
    ├── DriverError
    │   ├── DriverNotFoundError     no installed driver has that name
    │   ├── MissingDependencyError  the driver is known, its package (or SDK) is not installed
    │   └── DriverConflictError     two distributions claim one driver name
    ├── NotSupportedError           the driver does not declare that capability
    ├── OfferNotFoundError          no offer has that id
    ├── StoreError                  the snapshot store cannot be opened, read or written
    └── BackendError                a backend answered badly; ``backend`` names it, ``__cause__`` keeps the original
        ├── AuthenticationError     credentials refused (or expired and could not be renewed)
        ├── PermissionDeniedError   authenticated, not allowed (HTTP 403)
        ├── BackendNotFoundError    the endpoint or resource does not exist (HTTP 404)
        ├── RateLimitedError        throttled (HTTP 429); ``retry_after`` in seconds when the backend said
        ├── UnavailableError        5xx, connection refused, malformed answers
        └── BackendTimeoutError     no answer within the configured timeout

Messages never contain secrets: drivers build them from redacted values,
:func:`cloudcat.secrets.redact` (also importable from here) removes known secret strings and URL
passwords from any text, and every cloudcat error masks a password written in a URL
(``https://user:***@host``) in its message whoever built it.
"""

from __future__ import annotations

from .secrets import mask_url, redact

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BackendNotFoundError",
    "BackendTimeoutError",
    "CloudcatError",
    "ConfigError",
    "DriverConflictError",
    "DriverError",
    "DriverNotFoundError",
    "MissingDependencyError",
    "NotSupportedError",
    "OfferNotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "StoreError",
    "UnavailableError",
    "redact",
]


class CloudcatError(Exception):
    """Root of every error cloudcat raises on purpose."""

    def __init__(self, *args: object) -> None:
        # the last line of defence for "scheme://user:password@host" in a message
        super().__init__(*(mask_url(a) if isinstance(a, str) else a for a in args))


class ConfigError(CloudcatError):
    """A configuration file, price book or option is invalid.

    ``source`` is the file (or ``"<options>"``), ``line`` the 1-based line when known,
    ``field`` the dotted path of the offending field.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.detail = mask_url(message)
        where = ""
        if source:
            where = source + (f":{line}" if line else "")
        if field:
            where = f"{where}: {field}" if where else field
        super().__init__(f"{where}: {message}" if where else message)


class DriverError(CloudcatError):
    """A driver cannot be found, loaded or registered."""


class DriverNotFoundError(DriverError):
    """No installed driver has that name."""


class MissingDependencyError(DriverError):
    """A known driver, or the SDK it needs, is not installed; the message says what to install."""

    def __init__(self, message: str, *, package: str | None = None) -> None:
        self.package = package
        super().__init__(message)


class DriverConflictError(DriverError):
    """Two installed distributions register the same driver name."""


class NotSupportedError(CloudcatError):
    """The driver does not declare the capability that was asked for."""


class OfferNotFoundError(CloudcatError, KeyError):
    """No offer has that id (after brand alias and former-name resolution)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StoreError(CloudcatError):
    """The snapshot store cannot be opened, read or written."""


class BackendError(CloudcatError):
    """A backend failed. ``backend`` is the configured backend name (or endpoint)."""

    def __init__(self, message: str, *, backend: str | None = None) -> None:
        self.backend = backend
        super().__init__(f"{backend}: {message}" if backend else message)


class AuthenticationError(BackendError):
    """The backend refused the credentials."""


class PermissionDeniedError(BackendError):
    """Authenticated, but not allowed (HTTP 403)."""


class BackendNotFoundError(BackendError):
    """The endpoint or resource does not exist (HTTP 404)."""


class RateLimitedError(BackendError):
    """The backend throttled the client (HTTP 429)."""

    def __init__(self, message: str, *, backend: str | None = None,
                 retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, backend=backend)


class UnavailableError(BackendError):
    """The backend is down, answered 5xx, refused the connection or sent a malformed body."""


class BackendTimeoutError(BackendError):
    """The backend did not answer within the configured timeout."""
