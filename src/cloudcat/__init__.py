"""cloudcat: one offer catalog in front of many clouds.

::

    import cloudcat

    catalog = cloudcat.open_catalog("cloudcat.yaml")
    cheapest = catalog.offers(kind="compute", labels=["secnumcloud"], min_vcpus=4, sort="price", limit=5)

Importing cloudcat is light: it loads no cloud SDK and scans no entry points; the names below
are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    "AuthenticationError": "errors",
    "BackendError": "errors",
    "BackendNotFoundError": "errors",
    "BackendStatus": "models",
    "BackendTimeoutError": "errors",
    "BaseDriver": "driver",
    "Brand": "models",
    "BrandNameDeprecation": "brands",
    "Capabilities": "driver",
    "Catalog": "catalog",
    "CloudcatError": "errors",
    "Config": "config",
    "ConfigError": "errors",
    "Driver": "driver",
    "DriverConflictError": "errors",
    "DriverError": "errors",
    "DriverNotFoundError": "errors",
    "DriverOptions": "driver",
    "FlexibleSizing": "models",
    "Gpu": "models",
    "InventoryLine": "planner",
    "Item": "models",
    "Kind": "models",
    "Lifecycle": "models",
    "LifecycleStatus": "models",
    "MissingDependencyError": "errors",
    "NotSupportedError": "errors",
    "Offer": "models",
    "OfferFilters": "filters",
    "OfferLifecycleWarning": "catalog",
    "OfferNotFoundError": "errors",
    "OfferQuery": "query",
    "OptionNameDeprecation": "driver",
    "PermissionDeniedError": "errors",
    "Plan": "planner",
    "Price": "models",
    "RateLimitedError": "errors",
    "RefreshResult": "catalog",
    "Region": "models",
    "SaleStatus": "models",
    "SnapshotDiff": "store",
    "SnapshotInfo": "models",
    "StoreError": "errors",
    "UnavailableError": "errors",
    "load_config": "config",
    "open_catalog": "catalog",
}

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BackendNotFoundError",
    "BackendStatus",
    "BackendTimeoutError",
    "BaseDriver",
    "Brand",
    "BrandNameDeprecation",
    "Capabilities",
    "Catalog",
    "CloudcatError",
    "Config",
    "ConfigError",
    "Driver",
    "DriverConflictError",
    "DriverError",
    "DriverNotFoundError",
    "DriverOptions",
    "FlexibleSizing",
    "Gpu",
    "InventoryLine",
    "Item",
    "Kind",
    "Lifecycle",
    "LifecycleStatus",
    "MissingDependencyError",
    "NotSupportedError",
    "Offer",
    "OfferFilters",
    "OfferLifecycleWarning",
    "OfferNotFoundError",
    "OfferQuery",
    "OptionNameDeprecation",
    "PermissionDeniedError",
    "Plan",
    "Price",
    "RateLimitedError",
    "RefreshResult",
    "Region",
    "SaleStatus",
    "SnapshotDiff",
    "SnapshotInfo",
    "StoreError",
    "UnavailableError",
    "__version__",
    "load_config",
    "open_catalog",
]

if TYPE_CHECKING:
    from .brands import BrandNameDeprecation
    from .catalog import Catalog, OfferLifecycleWarning, RefreshResult, open_catalog
    from .config import Config, load_config
    from .driver import BaseDriver, Capabilities, Driver, DriverOptions, OptionNameDeprecation
    from .errors import (
        AuthenticationError,
        BackendError,
        BackendNotFoundError,
        BackendTimeoutError,
        CloudcatError,
        ConfigError,
        DriverConflictError,
        DriverError,
        DriverNotFoundError,
        MissingDependencyError,
        NotSupportedError,
        OfferNotFoundError,
        PermissionDeniedError,
        RateLimitedError,
        StoreError,
        UnavailableError,
    )
    from .filters import OfferFilters
    from .models import (
        BackendStatus,
        Brand,
        FlexibleSizing,
        Gpu,
        Item,
        Kind,
        Lifecycle,
        LifecycleStatus,
        Offer,
        Price,
        Region,
        SaleStatus,
        SnapshotInfo,
    )
    from .planner import InventoryLine, Plan
    from .query import OfferQuery
    from .store import SnapshotDiff


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cloudcat' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
