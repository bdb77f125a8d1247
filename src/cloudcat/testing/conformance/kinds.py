"""Checks of item kinds: every declared kind is listed, and undeclared ones are refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ...driver import BaseDriver
from ...errors import NotSupportedError
from ...models import Kind
from ..mockserver import MockHandle
from .calls import fail
from .fixtures import KitFixtures
from .listing import Listing
from .requirements import requires

__all__ = ["KindChecks"]


class KindChecks(KitFixtures):
    """``test_declared_kind[kind]``, ``test_undeclared_kind[kind]``."""

    @classmethod
    def undeclared_kinds(cls) -> list[Kind]:
        """Kinds the driver does not declare (``test_undeclared_kind`` is parametrized over them
        by cloudcat's pytest plugin)."""
        declared = cls._capabilities().kinds
        return [k for k in Kind if k not in declared]

    @requires("kind:{kind}")
    @pytest.mark.parametrize("kind", list(Kind), ids=[k.value for k in Kind])
    def test_declared_kind(self, kind: Kind, listing: Listing, mock_handle: MockHandle | None) -> None:
        """A declared kind lists items of that kind, in the region asked, in every region."""
        total = 0
        for (k, region), items in listing.items.items():
            if k != kind:
                continue
            for item in items:
                total += 1
                if item.kind != kind:
                    fail(f"undeclared kind: asked for {kind.value} items in {region}, the driver "
                         f"yielded a {item.kind.value!r} item ({item.name!r})")
                if item.region != region:
                    fail(f"asked for {kind.value} items in {region!r}, got {item.name!r} in "
                         f"region {item.region!r}")
        if total == 0 and mock_handle is not None:
            fail(f"driver declares the {kind.value!r} kind but listed no {kind.value} item in any "
                 "region of its mock; give the mock fixture at least one")

    @requires("undeclared_kind")
    def test_undeclared_kind(self, kind: Kind, listing: Listing,
                             make_driver: Callable[..., BaseDriver]) -> None:
        """An undeclared kind raises NotSupportedError, and no listing yields it."""
        stray = [i for i in listing.all_items() if i.kind == kind]
        if stray:
            fail(f"undeclared kind: the driver yielded {len(stray)} {kind.value!r} item(s) "
                 f"(e.g. {stray[0].name!r}) but does not declare that kind in capabilities.kinds")
        region = listing.regions[0].name
        drv = make_driver()
        try:
            got = list(drv.items(kind, region))
        except NotSupportedError:
            return
        except Exception as exc:
            fail(f"undeclared kind {kind.value!r}: items() raised {type(exc).__name__}, "
                 "expected NotSupportedError")
        fail(f"undeclared kind {kind.value!r}: items() returned {len(got)} item(s) instead of raising "
             "NotSupportedError")
