"""Wire format of the mocked Azure Resource Manager, its login and the retail price API.

Every handler takes the :class:`Arm` it answers for, the request and the placeholders of its
route in :mod:`.urls` (lower-cased: ARM paths are case-insensitive). What ARM checks before any
read is the :func:`arm_read` decorator, in ARM's order: the ``api-version`` parameter (400
``MissingApiVersionParameter``; on ARM's own resources, one it does not know is 400
``InvalidApiVersionParameter``), the bearer token (401 ``AuthenticationFailed``,
``InvalidAuthenticationToken``, ``ExpiredAuthenticationToken``), the subscription (404
``SubscriptionNotFound``), the api-version of a resource provider's type (400
``NoRegisteredProviderFound``) and the subscription's read budget (429
``SubscriptionRequestsThrottled`` with ``Retry-After``); every ARM answer carries
``x-ms-ratelimit-remaining-subscription-reads`` and request ids. Errors use ARM's envelope
``{"error": {"code", "message"}}``; the login answers as Microsoft Entra ID's v1 token endpoint does
(``error``, ``error_description``, ``error_codes``).

Faults: ``fail_auth`` refuses every login (401 ``invalid_client``), ``token_ttl`` sets the token
lifetime (``expires_on``), ``page_limit`` caps the retail price pages (100 items otherwise);
latency, 503, 429 and malformed bodies come from the server.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import Faults, json_response

from .state import (
    ARM_API_VERSIONS,
    COMPUTE_API_VERSIONS,
    ArmState,
    FilterError,
    matches_filter,
    parse_filter,
)

__all__ = ["ARM_RESOURCES", "PRICES_PAGE", "TOKEN_TTL", "Arm", "Handler", "answer", "arm_read"]

#: Items per retail price page (the real API's page size).
PRICES_PAGE = 100
#: Seconds a token lives when the ``token_ttl`` fault is not set (Entra ID's default hour).
TOKEN_TTL = 3599.0

#: What an api-version looks like (``2024-07-01``, ``2024-06-01-preview``): ARM's front door refuses
#: anything else before a resource provider sees it.
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-[a-z]+)?$", re.IGNORECASE)
_LOCATION_FILTER = re.compile(r"^location\s+eq\s+'([^']*)'$", re.IGNORECASE)

#: A route's handler: ``(arm, request, **placeholders) -> Response``.
Handler = Callable[..., Response]


@dataclass(frozen=True)
class Arm:
    """What a handler answers from: the tenant's state, the faults in force and the server's URL."""

    state: ArmState
    faults: Faults
    base_url: str


def answer(handler: Handler, arm: Arm, request: Request, params: Mapping[str, str]) -> Response:
    """Call ``handler`` with the route's placeholders."""
    return handler(arm, request, **params)


# -- errors ------------------------------------------------------------------------------------
def arm_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """An answer in ARM's error envelope."""
    return json_response({"error": {"code": code, "message": message}}, status=status,
                         headers={**_request_ids(), **(headers or {})})


def _login_error(status: int, error: str, code: int, description: str) -> Response:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace = str(uuid.uuid4())
    return json_response({"error": error, "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}",
                          "error_codes": [code], "timestamp": now, "trace_id": trace,
                          "correlation_id": str(uuid.uuid4())}, status=status)


def _request_ids() -> dict[str, str]:
    rid = str(uuid.uuid4())
    return {"x-ms-request-id": rid, "x-ms-correlation-request-id": rid,
            "x-ms-routing-request-id": f"FRANCECENTRAL:{rid}"}


def not_found(arm: Arm, request: Request, **_: str) -> Response:
    """A path nothing here serves."""
    return arm_error(404, "NotFound", f"The requested resource '{request.path}' was not found.")


# -- login -------------------------------------------------------------------------------------
def issue_token(arm: Arm, request: Request, tenant: str) -> Response:
    """``POST /{tenant}/oauth2/token``: the client-credentials grant of Entra ID's v1 endpoint."""
    st = arm.state
    if tenant != st.tenant.lower():
        return _login_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make sure "
                                                           "you have the correct tenant ID.")
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return _login_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    client = form.get("client_id", "")
    if client not in st.clients:
        return _login_error(400, "unauthorized_client", 700016, f"Application with identifier '{client}' was "
                                                                "not found in the directory.")
    if arm.faults.fail_auth or form.get("client_secret") != st.clients[client]:
        return _login_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                                                            "being sent in the request is the client secret value.")
    ttl = arm.faults.token_ttl or TOKEN_TTL
    token, expires = st.issue_token(ttl)
    now = int(expires - ttl)
    return json_response({"token_type": "Bearer", "expires_in": str(int(ttl)), "ext_expires_in": str(int(ttl)),
                          "expires_on": str(int(expires)), "not_before": str(now),
                          "resource": form.get("resource", ""), "access_token": token})


# -- ARM reads ---------------------------------------------------------------------------------
#: The api-version rule of ARM's own resources (``Microsoft.Resources``), for :func:`arm_read`.
ARM_RESOURCES = "Microsoft.Resources"


def arm_read(rule: str | None) -> Callable[[Handler], Handler]:
    """ARM's checks before a read: api-version, token, subscription, read budget; then ARM's headers.

    ``rule`` names the api-versions the read accepts: :data:`ARM_RESOURCES` for ARM's own resources
    (an unknown version is ``InvalidApiVersionParameter``), a ``Microsoft.Compute`` resource type of
    :data:`~.state.COMPUTE_API_VERSIONS` (a well-formed version the type does not have is
    ``NoRegisteredProviderFound``), ``None`` for any well-formed one. A value that is no api-version at
    all (``bogus``) is ``InvalidApiVersionParameter`` everywhere.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def checked(arm: Arm, request: Request, subscription: str, **params: str) -> Response:
            return _checked_read(handler, rule, arm, request, subscription, params)

        return checked

    return decorate


def _checked_read(handler: Handler, rule: str | None, arm: Arm, request: Request, subscription: str,
                  params: Mapping[str, str]) -> Response:
    version = request.args.get("api-version")
    if not version:
        return arm_error(400, "MissingApiVersionParameter",
                         "The api-version query parameter (?api-version=) is required for all requests.")
    if version not in ARM_API_VERSIONS and (rule == ARM_RESOURCES or not _API_VERSION.match(version)):
        return invalid_api_version(version)
    refused = _check_token(arm, request)
    if refused is not None:
        return refused
    st = arm.state
    if subscription != st.subscription.lower():
        return arm_error(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")
    if rule in COMPUTE_API_VERSIONS and version not in COMPUTE_API_VERSIONS[rule]:
        return no_registered_provider(arm, rule, version, params.get("location"))
    left = st.spend_read()
    if left is None:
        wait = st.throttle_retry_after
        return arm_error(429, "SubscriptionRequestsThrottled",
                         f"Number of 'read' requests for subscription '{st.subscription}' exceeded. Please try "
                         f"again after '{wait}' seconds after the last request.",
                         headers={"Retry-After": str(wait), "x-ms-ratelimit-remaining-subscription-reads": "0"})
    response = handler(arm, request, **params)
    response.headers.update(_request_ids())
    response.headers["x-ms-ratelimit-remaining-subscription-reads"] = str(left)
    return response


def invalid_api_version(version: str) -> Response:
    """ARM's refusal of an api-version its own resources do not have (400 ``InvalidApiVersionParameter``),
    its versions newest first as ARM lists them."""
    return arm_error(400, "InvalidApiVersionParameter",
                     f"The api-version '{version}' is invalid. The supported versions are "
                     f"'{','.join(ARM_API_VERSIONS)}'.")


def no_registered_provider(arm: Arm, resource_type: str, version: str, location: str | None) -> Response:
    """ARM's refusal of a ``Microsoft.Compute`` read in an api-version or a location the type is not
    registered for (400 ``NoRegisteredProviderFound``): the type's api-versions, oldest first, and, for a
    type that lives in locations, its locations."""
    versions = ", ".join(COMPUTE_API_VERSIONS[resource_type])
    message = (f"No registered resource provider found for location '{location or 'global'}' and API version "
               f"'{version}' for type '{resource_type}'. The supported api-versions are '{versions}'.")
    if resource_type.startswith("locations/"):
        message += f" The supported locations are '{', '.join(arm.state.locations)}'."
    return arm_error(400, "NoRegisteredProviderFound", message)


def _check_token(arm: Arm, request: Request) -> Response | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return arm_error(401, "AuthenticationFailed",
                         "Authentication failed. The 'Authorization' header is provided in an invalid format.")
    state = arm.state.token_state(token)
    if state == "unknown":
        return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
    if state == "expired":
        return arm_error(401, "ExpiredAuthenticationToken",
                         "The access token expiry UTC time is earlier than current UTC time.")
    return None


def _provider_id(arm: Arm) -> str:
    return f"/subscriptions/{arm.state.subscription}/providers/Microsoft.Compute"


@arm_read(ARM_RESOURCES)
def show_compute_provider(arm: Arm, request: Request) -> Response:
    """``GET /subscriptions/{id}/providers/Microsoft.Compute``: the resource provider, its types, their
    locations and api-versions (newest first)."""
    names = [loc.display_name for loc in arm.state.locations.values()]
    versions = {**dict.fromkeys(("availabilitySets", "virtualMachines", "locations"),
                                ("2015-06-15", "2023-09-01", "2024-07-01")), **COMPUTE_API_VERSIONS}
    types = [{"resourceType": t, "locations": [] if t == "skus" else names, "apiVersions": list(reversed(v))}
             for t, v in versions.items()]
    return json_response({"id": _provider_id(arm), "namespace": "Microsoft.Compute",
                          "registrationState": "Registered", "resourceTypes": types})


def _unknown_location(arm: Arm, request: Request, resource_type: str, location: str) -> Response:
    return no_registered_provider(arm, resource_type, request.args.get("api-version", ""), location)


@arm_read("locations/vmSizes")
def list_vm_sizes(arm: Arm, request: Request, location: str) -> Response:
    """``GET …/locations/{location}/vmSizes``: the sizes offered there."""
    loc = arm.state.location(location)
    if loc is None:
        return _unknown_location(arm, request, "locations/vmSizes", location)
    return json_response({"value": [s.as_vm_size() for s in arm.state.sizes_in(loc.name)]})


def _artifact(arm: Arm, location: str, *names: str) -> str:
    parts = ["Publishers", "ArtifactTypes/VMImage/Offers", "Skus", "Versions"]
    path = f"/Subscriptions/{arm.state.subscription}/Providers/Microsoft.Compute/Locations/{location}"
    for part, name in zip(parts, names, strict=False):
        path += f"/{part}/{name}"
    return path


def _entries(arm: Arm, location: str, names: list[str], *parents: str) -> Response:
    return json_response([{"location": location, "name": n, "id": _artifact(arm, location, *parents, n)}
                          for n in names])


def _image_not_found() -> Response:
    return arm_error(404, "NotFound", "Artifact: VMImage was not found.")


@arm_read("locations/publishers")
def list_publishers(arm: Arm, request: Request, location: str) -> Response:
    """``GET …/locations/{location}/publishers``."""
    loc = arm.state.location(location)
    if loc is None:
        return _unknown_location(arm, request, "locations/publishers", location)
    return _entries(arm, loc.name, list(arm.state.images))


def _walk(arm: Arm, location: str, publisher: str, offer: str | None = None,
          sku: str | None = None) -> tuple[list[str], list[str]] | None:
    """(names of the children, resolved path names) under a publisher / offer / SKU, or ``None``."""
    if arm.state.location(location) is None:
        return None
    found = arm.state.publisher(publisher)
    if found is None:
        return None
    path: list[str] = [found[0]]
    node: Any = found[1]
    for step in (offer, sku):
        if step is None:
            break
        match = next(((k, v) for k, v in node.items() if k.lower() == step), None)
        if match is None:
            return None
        path.append(match[0])
        node = match[1]
    return (list(node) if isinstance(node, dict) else [str(v) for v in node]), path


def _listing(arm: Arm, request: Request, location: str, publisher: str, offer: str | None = None,
             sku: str | None = None) -> Response:
    loc = arm.state.location(location)
    if loc is None:
        return _unknown_location(arm, request, "locations/publishers", location)
    walked = _walk(arm, location, publisher, offer, sku)
    if walked is None:
        return _image_not_found()
    names, path = walked
    return _entries(arm, loc.name, names, *path)


@arm_read("locations/publishers")
def list_offers(arm: Arm, request: Request, location: str, publisher: str) -> Response:
    """``GET …/publishers/{publisher}/artifacttypes/vmimage/offers``."""
    return _listing(arm, request, location, publisher)


@arm_read("locations/publishers")
def list_skus(arm: Arm, request: Request, location: str, publisher: str, offer: str) -> Response:
    """``GET …/offers/{offer}/skus``."""
    return _listing(arm, request, location, publisher, offer)


@arm_read("locations/publishers")
def list_versions(arm: Arm, request: Request, location: str, publisher: str, offer: str, sku: str) -> Response:
    """``GET …/skus/{sku}/versions``."""
    return _listing(arm, request, location, publisher, offer, sku)


@arm_read(None)
def arm_unserved(arm: Arm, request: Request, **_: str) -> Response:
    """Any other path under the subscription, behind the token (ARM's 404 for an unknown type)."""
    return arm_error(404, "InvalidResourceType",
                     f"The resource type could not be found in the namespace for path '{request.path}'.")


# -- ARM's own resources and the resource SKUs ------------------------------------------------
@arm_read(ARM_RESOURCES)
def show_subscription(arm: Arm, request: Request) -> Response:
    """``GET /subscriptions/{id}`` (Subscriptions - Get): the subscription, its state and policies."""
    st = arm.state
    return json_response({"id": f"/subscriptions/{st.subscription}", "authorizationSource": "RoleBased",
                          "managedByTenants": [], "subscriptionId": st.subscription, "tenantId": st.tenant,
                          "displayName": st.subscription_name, "state": "Enabled",
                          "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                   "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}})


@arm_read(ARM_RESOURCES)
def list_locations(arm: Arm, request: Request) -> Response:
    """``GET /subscriptions/{id}/locations`` (Subscriptions - List Locations)."""
    st = arm.state
    return json_response({"value": [loc.as_arm_location(st.subscription) for loc in st.locations.values()]})


@arm_read(ARM_RESOURCES)
def list_resource_groups(arm: Arm, request: Request) -> Response:
    """``GET /subscriptions/{id}/resourcegroups`` (Resource Groups - List)."""
    st = arm.state
    groups = []
    for g in st.resource_groups:
        group: dict[str, Any] = {"id": f"/subscriptions/{st.subscription}/resourceGroups/{g['name']}",
                                 "name": g["name"], "type": "Microsoft.Resources/resourceGroups",
                                 "location": g["location"], "properties": {"provisioningState": "Succeeded"}}
        if g.get("tags"):
            group["tags"] = dict(g["tags"])
        groups.append(group)
    return json_response({"value": groups})


@arm_read("skus")
def list_resource_skus(arm: Arm, request: Request) -> Response:
    """``GET …/providers/Microsoft.Compute/skus`` (Resource Skus - List): one entry per VM size and
    location; ``$filter`` takes the one filter ARM documents, ``location eq '…'``."""
    skus = arm.state.resource_skus()
    text = request.args.get("$filter", "").strip()
    if text:
        found = _LOCATION_FILTER.match(text)
        if found is None:
            return arm_error(400, "InvalidFilter", f"The filter '{text}' is not valid: only the location filter "
                                                   "(location eq '<location>') is supported.")
        skus = [s for s in skus if s["locations"][0] == found[1].lower()]
    return json_response({"value": skus})


# -- retail prices -----------------------------------------------------------------------------
def list_retail_prices(arm: Arm, request: Request) -> Response:
    """``GET /api/retail/prices``: public (no token), ``$filter`` on ``eq`` clauses, ``currencyCode``,
    pages of 100 items linked by ``NextPageLink`` (``$skip``)."""
    try:
        wanted = parse_filter(request.args.get("$filter", ""))
    except FilterError as exc:
        return json_response({"Error": {"Code": "BadRequest", "Message": str(exc)}}, status=400)
    currency = request.args.get("currencyCode", "USD").strip("'\"") or "USD"
    try:
        skip = max(0, int(request.args.get("$skip", "0")))
    except ValueError:
        return json_response({"Error": {"Code": "BadRequest", "Message": "Invalid $skip value."}}, status=400)
    items = [i for i in arm.state.price_items(currency) if matches_filter(i, wanted)]
    size = min(PRICES_PAGE, arm.faults.page_limit or PRICES_PAGE)
    page = items[skip:skip + size]
    next_link = None
    if skip + size < len(items):
        query = {k: v for k, v in request.args.items() if k != "$skip"}
        next_link = f"{arm.base_url}/api/retail/prices?{urlencode({**query, '$skip': skip + size})}"
    return json_response({"BillingCurrency": page[0]["currencyCode"] if page else currency.upper(),
                          "CustomerEntityId": "Default", "CustomerEntityType": "Retail", "Items": page,
                          "NextPageLink": next_link, "Count": len(page)})
