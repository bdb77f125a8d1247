"""What the mocked Azure endpoints serve: the login, ARM's subscription, locations and resource groups,
its Compute provider (sizes, resource SKUs, images) and the retail price API.

Routes are tried in order on the lower-cased path without trailing slashes (ARM paths are
case-insensitive, and ARM hands out ids such as ``/Subscriptions/…/Providers/…`` that clients
send back as they are). Handlers are in :mod:`.responses`.
"""

from __future__ import annotations

from cloudcat.testing.routing import ANY, Route, Router

from . import responses as r
from .responses import Handler

__all__ = ["ARM", "ENTRA_ID", "RETAIL_PRICES", "ROUTER"]

_COMPUTE = "/subscriptions/{subscription}/providers/microsoft.compute"
_IMAGES = _COMPUTE + "/locations/{location}/publishers/{publisher}/artifacttypes/vmimage/offers"

ENTRA_ID: list[Route[Handler]] = [
    Route("POST", "/{tenant}/oauth2/token", r.issue_token),
]

ARM: list[Route[Handler]] = [
    Route("GET", "/subscriptions/{subscription}", r.show_subscription),
    Route("GET", "/subscriptions/{subscription}/locations", r.list_locations),
    Route("GET", "/subscriptions/{subscription}/resourcegroups", r.list_resource_groups),
    Route("GET", _COMPUTE, r.show_compute_provider),
    Route("GET", _COMPUTE + "/skus", r.list_resource_skus),
    Route("GET", _COMPUTE + "/locations/{location}/vmsizes", r.list_vm_sizes),
    Route("GET", _COMPUTE + "/locations/{location}/publishers", r.list_publishers),
    Route("GET", _IMAGES, r.list_offers),
    Route("GET", _IMAGES + "/{offer}/skus", r.list_skus),
    Route("GET", _IMAGES + "/{offer}/skus/{sku}/versions", r.list_versions),
    Route(ANY, "/subscriptions/{subscription}/{rest:path}", r.arm_unserved),
]

RETAIL_PRICES: list[Route[Handler]] = [
    Route("GET", "/api/retail/prices", r.list_retail_prices),
]

ROUTER: Router[Handler] = Router(RETAIL_PRICES, ARM, ENTRA_ID, [Route(ANY, "/{rest:path}", r.not_found)])
