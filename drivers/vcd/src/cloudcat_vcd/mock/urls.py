"""What the mocked Cloud Director serves: its routing table.

Routes are tried in order, on the path without trailing slashes. The first three answer without
a session; every other one is behind :func:`~.responses.authorized` (a supported API version in
``Accept``, then a bearer token), and the last answers the rest as Cloud Director does: 405 for a
write, 404 for an unknown read. Handlers are in :mod:`.responses`.
"""

from __future__ import annotations

from cloudcat.testing.routing import ANY, Route, Router

from . import responses as r
from .responses import Handler

__all__ = ["CLOUD_DIRECTOR", "ROUTER"]

CLOUD_DIRECTOR: list[Route[Handler]] = [
    Route("GET", "/api/versions", r.list_versions),
    Route("POST", "/cloudapi/1.0.0/sessions", r.log_in),
    Route("POST", "/oauth/tenant/{org}/token", r.exchange_api_token),
    # below: a supported version in Accept and a bearer token
    Route("GET", "/api/session", r.show_session),
    Route("DELETE", "/api/session", r.log_out_legacy),
    Route("GET", "/cloudapi/1.0.0/sessions/current", r.show_current_session),
    Route("DELETE", "/cloudapi/1.0.0/sessions/current", r.log_out),
    Route("GET", "/cloudapi/1.0.0/vdcComputePolicies", r.list_compute_policies),
    Route("GET", "/cloudapi/2.0.0/vdcComputePolicies", r.list_compute_policies_v2),
    Route("GET", "/cloudapi/1.0.0/vdcs/{vdc_id}/computePolicies", r.list_vdc_compute_policies),
    Route("GET", "/cloudapi/2.0.0/vdcs/{vdc_id}/computePolicies", r.list_vdc_compute_policies_v2),
    Route("GET", "/cloudapi/1.0.0/orgs", r.list_orgs_openapi),
    Route("GET", "/cloudapi/1.0.0/vdcs", r.list_vdcs_openapi),
    Route("GET", "/cloudapi/1.0.0/orgVdcNetworks", r.list_org_vdc_networks),
    Route("GET", "/cloudapi/1.0.0/edgeGateways", r.list_edge_gateways),
    Route("GET", "/api/query", r.query),
    Route("GET", "/api/org", r.list_orgs),
    Route("GET", "/api/org/{org_id}", r.show_org),
    Route("GET", "/api/catalog/{catalog_id}", r.show_catalog),
    Route("GET", "/api/catalogItem/{item_id}", r.show_catalog_item),
    Route("GET", "/api/vAppTemplate/{template_id}", r.show_template),
    Route("GET", "/api/admin/catalog/{catalog_id}", r.show_admin_catalog),
    Route("GET", "/api/network/{network_id}", r.show_network),
    Route("GET", "/api/media/{media_id}", r.show_media),
    Route("GET", "/api/vdcStorageProfile/{profile_id}", r.show_storage_profile),
    Route("GET", "/api/entity/{urn}", r.resolve_entity),
    Route("GET", "/api/vdc/{vdc_id}", r.show_vdc),
    Route("GET", "/api/vdc/{vdc_id}/metadata", r.show_vdc_metadata),
    Route(ANY, "/{rest:path}", r.unserved),
]

ROUTER: Router[Handler] = Router(CLOUD_DIRECTOR)
