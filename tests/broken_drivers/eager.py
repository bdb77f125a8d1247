"""Broken: imports its HTTP library at module import, so the module fails without it."""

from __future__ import annotations

import httpx  # the SDK at import time: what the lazy-import check catches

from .drivers import GoodDriver


class EagerImportDriver(GoodDriver):
    """Broken: needs httpx just to be imported."""

    name = "kit-eager-import"
    sdk_version = httpx.__version__
