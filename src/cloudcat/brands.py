"""Brands: resolve names, aliases and former names to the current brand.

A brand is data. When it is relabeled (new operator, new alias) or renamed (its old name becomes a
former name), client code that names it the old way keeps working: the old name resolves to the
current brand, with a :class:`BrandNameDeprecation` warning rather than an error.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping

from .config import BrandConfig
from .models import Brand, BrandData

__all__ = ["BrandIndex", "BrandNameDeprecation"]

log = logging.getLogger("cloudcat.brands")


class BrandNameDeprecation(DeprecationWarning):
    """A brand was named by an alias or a former name."""


class BrandIndex:
    """Look brands up by name, alias or former name (case-insensitively)."""

    def __init__(self, brands: Mapping[str, BrandConfig]) -> None:
        self._configs = dict(brands)
        self._names: dict[str, str] = {}
        self._kind: dict[str, str] = {}
        for name, cfg in self._configs.items():
            self._names[name.casefold()] = name
            for alias in cfg.aliases:
                self._names.setdefault(alias.casefold(), name)
                self._kind.setdefault(alias.casefold(), "alias")
            for former in cfg.former_names:
                self._names.setdefault(former.casefold(), name)
                self._kind.setdefault(former.casefold(), "former name")

    def __contains__(self, name: str) -> bool:
        return name.casefold() in self._names

    def names(self) -> list[str]:
        """Canonical brand names, in configuration order."""
        return list(self._configs)

    def config(self, name: str) -> BrandConfig:
        """The configuration of a canonical brand name."""
        return self._configs[name]

    def resolve(self, name: str, *, warn: bool = True) -> str | None:
        """The canonical name for ``name`` (itself, an alias or a former name), or ``None``.

        Naming a brand by a former name or an alias emits :class:`BrandNameDeprecation`.
        """
        key = name.casefold()
        canonical = self._names.get(key)
        if canonical is None:
            return None
        if warn and canonical != name and key in self._kind:
            article = "an" if self._kind[key] == "alias" else "a"
            message = f"brand {name!r} is {article} {self._kind[key]} of {canonical!r}; use {canonical!r}"
            log.info(message)
            warnings.warn(message, BrandNameDeprecation, stacklevel=3)
        return canonical

    def brand(self, name: str) -> Brand:
        """The :class:`Brand` model for a canonical name."""
        cfg = self._configs[name]
        data = {field: getattr(cfg, field) for field in BrandData.model_fields}
        data["display_name"] = cfg.display_name or name
        return Brand(name=name, backends=cfg.backend_names, **data)

    def brands(self) -> list[Brand]:
        """Every brand."""
        return [self.brand(n) for n in self._configs]

    def resolve_id(self, offer_id: str, *, warn: bool = True) -> str:
        """``offer_id`` with its brand part replaced by the canonical brand name (unchanged when the
        brand is unknown)."""
        brand, sep, rest = offer_id.partition("/")
        canonical = self.resolve(brand, warn=warn)
        if canonical is None or not sep:
            return offer_id
        return f"{canonical}/{rest}"
