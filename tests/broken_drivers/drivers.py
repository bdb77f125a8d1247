"""The correct example driver and its broken variants, each broken in one way."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from pydantic import Field, SecretStr

from cloudcat.driver import BaseDriver, Capabilities, DriverOptions, import_sdk
from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendNotFoundError,
    BackendTimeoutError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
)
from cloudcat.http import time_left
from cloudcat.models import Item, Kind, Price, Region


class CatalogOptions(DriverOptions):
    """Where the catalog API is, and who logs in."""

    url: str = Field(description="Base URL of the catalog API.")
    username: str
    password: SecretStr
    page_size: int = Field(default=100, ge=1)


class GoodDriver(BaseDriver):
    """Reads the example catalog API correctly."""

    name = "kit-good"
    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE, Kind.IMAGE, Kind.STORAGE, Kind.LOCATION}),
                                zones=True, prices=True, paging=True, lifecycle=True)
    Options = CatalogOptions
    options: CatalogOptions

    def __init__(self, options: Any = None, *, backend: str | None = None) -> None:
        super().__init__(options, backend=backend)
        self._lock = threading.Lock()
        self._client: Any = None
        self._token: str | None = None

    # -- HTTP --------------------------------------------------------------------------------
    def _http(self) -> Any:
        httpx = import_sdk("httpx", "httpx")
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(base_url=self.options.url, timeout=self.options.timeout)
            return self._client

    def _timeout(self) -> float:
        """The ``timeout`` option, capped at the time left before the backend's deadline."""
        left = time_left()
        if left is None:
            return self.options.timeout
        if left <= 0:
            raise BackendTimeoutError("deadline passed", backend=self.backend)
        return min(self.options.timeout, left)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        httpx = import_sdk("httpx", "httpx")
        client = self._http()
        try:
            response = client.request(method, path, timeout=self._timeout(), **kwargs)
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"no answer from {self.options.url} within "
                                      f"{self.options.timeout:g} s", backend=self.backend) from exc
        except httpx.TransportError as exc:
            raise UnavailableError(f"cannot reach {self.options.url}: {exc}", backend=self.backend) from exc
        self._raise_for(response, path)
        try:
            return response.json()
        except ValueError as exc:
            raise UnavailableError(f"malformed answer from {path}", backend=self.backend) from exc

    def _raise_for(self, response: Any, path: str) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"{path}: HTTP {status}"
        error: BackendError
        if status == 401:
            error = AuthenticationError(f"{where}: credentials refused", backend=self.backend)
        elif status == 403:
            error = PermissionDeniedError(where, backend=self.backend)
        elif status == 404:
            error = BackendNotFoundError(where, backend=self.backend)
        elif status == 429:
            header = response.headers.get("Retry-After")
            retry_after = float(header) if header else None
            error = RateLimitedError(where, backend=self.backend, retry_after=retry_after)
        else:
            error = UnavailableError(where, backend=self.backend)
        httpx = import_sdk("httpx", "httpx")
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise error from exc

    def login(self) -> str:
        """Log in once; the token is shared by the threads of a refresh."""
        with self._lock:
            token = self._token
        if token:
            return token
        body = {"username": self.options.username, "password": self.options.password.get_secret_value()}
        data = self._send("POST", "/v1/auth", json=body)
        with self._lock:
            self._token = str(data["token"])
            return self._token

    def _get(self, path: str, **params: Any) -> Any:
        token = self.login()
        try:
            return self._send("GET", path, params=params, headers={"Authorization": f"Bearer {token}"})
        except AuthenticationError:  # the token expired: log in again, once
            with self._lock:
                if self._token == token:
                    self._token = None
            token = self.login()
            return self._send("GET", path, params=params, headers={"Authorization": f"Bearer {token}"})

    # -- the driver ----------------------------------------------------------------------------
    def check(self) -> None:
        """Log in."""
        self.login()

    def list_regions(self) -> Sequence[Region]:
        """Regions of the catalog API."""
        return [Region.model_validate(r) for r in self._get("/v1/regions")["regions"]]

    def list_items(self, kind: Kind, region: str) -> Iterable[Item]:
        """Every page of items."""
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"kind": kind.value, "region": region, "limit": self.options.page_size}
            if marker:
                params["marker"] = marker
            page = self._get("/v1/items", **params)
            for row in page["items"]:
                yield Item.model_validate(row)
            marker = page.get("next")
            if not marker:
                return

    def close(self) -> None:
        """Close the HTTP client."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class DuplicateIdsDriver(GoodDriver):
    """Broken: lists its first item of each listing twice."""

    name = "kit-duplicate-ids"

    def list_items(self, kind: Kind, region: str) -> Iterator[Item]:
        """Items, the first one twice."""
        items = list(super().list_items(kind, region))
        yield from items[:1] + items


class ZeroPriceDriver(GoodDriver):
    """Broken: reports an unknown price as 0.0 (the libcloud habit)."""

    name = "kit-zero-price"

    def list_items(self, kind: Kind, region: str) -> Iterator[Item]:
        """Items, with 0.0 where the price is unknown."""
        for item in super().list_items(kind, region):
            if item.price is None:
                item = item.model_copy(update={
                    "price": Price(amount=Decimal("0.0"), currency="EUR", unit="hour")})
            yield item


class RawExceptionDriver(GoodDriver):
    """Broken: lets the HTTP library's exceptions and ValueError escape."""

    name = "kit-raw-exception"

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http().request(method, path, timeout=self._timeout(), **kwargs)
        response.raise_for_status()
        return response.json()


class LeakedPasswordDriver(GoodDriver):
    """Broken: puts the password in the message of a refused login."""

    name = "kit-leaked-password"

    def login(self) -> str:
        """Log in, leaking the password when refused."""
        try:
            return super().login()
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"login refused for {self.options.username} / "
                f"{self.options.password.get_secret_value()}", backend=self.backend) from exc


class UndeclaredKindDriver(GoodDriver):
    """Broken: declares compute and locations only, yet yields images among its compute items."""

    name = "kit-undeclared-kind"
    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE, Kind.LOCATION}), zones=True, prices=True,
                                paging=True, lifecycle=True)

    def list_items(self, kind: Kind, region: str) -> Iterator[Item]:
        """Compute items, and the images too."""
        yield from super().list_items(kind, region)
        if kind == Kind.COMPUTE:
            yield from super().list_items(Kind.IMAGE, region)


class PlainCredentials(DriverOptions):
    """Broken: the password is a plain string, shown by every repr."""

    url: str
    username: str
    password: str
    page_size: int = Field(default=100, ge=1)


class PlainPasswordDriver(GoodDriver):
    """Broken: keeps its password in a plain ``str`` option instead of ``SecretStr``."""

    name = "kit-plain-password"
    Options = PlainCredentials  # type: ignore[assignment]
    options: PlainCredentials  # type: ignore[assignment]

    def login(self) -> str:
        """Log in with the plain password."""
        with self._lock:
            if self._token:
                return self._token
        data = self._send("POST", "/v1/auth", json={"username": self.options.username,
                                                    "password": self.options.password})
        with self._lock:
            self._token = str(data["token"])
            return self._token


class DeadlineIgnoredDriver(GoodDriver):
    """Waits as long as its ``timeout`` option says, whatever the deadline its calls run under."""

    name = "kit-deadline-ignored"

    def _timeout(self) -> float:
        return self.options.timeout
