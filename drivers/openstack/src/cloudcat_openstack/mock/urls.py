"""What the mocked OpenStack cloud serves: one routing table per service.

Every URL is under the mock's base URL, and the catalog in each token points back here:
Keystone at ``/identity``, the other services at ``/<region>/<service>``. Routes are tried in
order; each service ends with catch-alls that answer, behind its token and in the service's own
error form, 404 for an unknown read and 405 for a write the mock does not model (it changes
nothing but what a route below says: Nova's flavor and Neutron's network deletes, refused to a
project user by the default policies, as are Keystone's admin-only writes). The path is matched
with empty segments dropped, and Nova's ``/v2.1/<project id>/…`` form is matched as ``/v2.1/…``
(:func:`routed_path`). Handlers and what each service checks first are in :mod:`.responses`.
"""

from __future__ import annotations

from functools import partial

from cloudcat.testing.routing import ANY, Route, Router

from . import responses as r
from .responses import Handler

__all__ = ["CINDER", "CLOUDKITTY", "ECS", "GLANCE", "KEYSTONE", "NEUTRON", "NOVA", "ROUTER", "routed_path"]

KEYSTONE: list[Route[Handler]] = [
    Route(ANY, "/", r.list_identity_versions),
    Route(ANY, "/identity", r.list_identity_versions),
    Route(ANY, "/identity/v3", r.show_identity_version),
    Route("POST", "/identity/v3/auth/tokens", r.issue_token),
    Route(("GET", "HEAD"), "/identity/v3/auth/tokens", r.validate_token),
    Route(ANY, "/identity/v3/auth/tokens", r.method_not_allowed),
    # below: X-Auth-Token required (a method a path does not take is 405 first, as Flask routes);
    # writes are admin-only: 403 to a project user
    Route(("GET", "HEAD"), "/identity/v3/regions", r.list_regions),
    Route("POST", "/identity/v3/regions", partial(r.refuse_identity_write, action="identity:create_region")),
    Route(ANY, "/identity/v3/regions", r.method_not_allowed),
    Route(("GET", "HEAD"), "/identity/v3/regions/{region_id}", r.show_region),
    Route("PUT", "/identity/v3/regions/{region_id}",
          partial(r.refuse_identity_write, action="identity:create_region")),
    Route("PATCH", "/identity/v3/regions/{region_id}",
          partial(r.refuse_identity_write, action="identity:update_region")),
    Route("DELETE", "/identity/v3/regions/{region_id}",
          partial(r.refuse_identity_write, action="identity:delete_region")),
    Route("POST", "/identity/v3/regions/{region_id}", r.method_not_allowed),
    Route(("GET", "HEAD"), "/identity/v3/auth/catalog", r.show_catalog),
    Route(("GET", "HEAD"), "/identity/v3/auth/projects", r.list_auth_projects),
    Route(ANY, "/identity/v3/auth/catalog", r.method_not_allowed),
    Route(ANY, "/identity/v3/auth/projects", r.method_not_allowed),
    Route(("GET", "HEAD"), "/identity/v3/projects", r.list_projects),
    Route("POST", "/identity/v3/projects", partial(r.refuse_identity_write, action="identity:create_project")),
    Route(ANY, "/identity/v3/projects", r.method_not_allowed),
    Route("GET", "/identity/v3/projects/{project_id}", r.show_project),
    Route("GET", "/identity/v3/users/{user_id}/projects", r.list_user_projects),
    Route(ANY, "/identity/v3/{rest:path}", r.identity_unserved),
    # v2.0, for fixtures that serve it (Cloudwatt)
    Route(ANY, "/identity/v2.0", r.show_identity_v2_version),
    Route("POST", "/identity/v2.0/tokens", r.issue_v2_token),
    Route("GET", "/identity/v2.0/tenants", r.list_v2_tenants),
    Route(ANY, "/identity/{rest:path}", r.not_found),
]

NOVA: list[Route[Handler]] = [
    Route(ANY, "/{region}/compute", r.list_compute_versions),
    Route(ANY, "/{region}/compute/v2.1", r.show_compute_version),
    # below: X-Auth-Token and a supported microversion
    Route("GET", "/{region}/compute/v2.1/flavors", r.list_flavors),
    Route("GET", "/{region}/compute/v2.1/flavors/detail", r.list_flavors_detail),
    Route("GET", "/{region}/compute/v2.1/flavors/{flavor_id}", r.show_flavor),
    Route("DELETE", "/{region}/compute/v2.1/flavors/{flavor_id}", r.delete_flavor),
    Route("GET", "/{region}/compute/v2.1/flavors/{flavor_id}/os-extra_specs", r.list_extra_specs),
    Route("GET", "/{region}/compute/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", r.show_extra_spec),
    Route("GET", "/{region}/compute/v2.1/os-availability-zone", r.list_compute_zones),
    Route("GET", "/{region}/compute/v2.1/os-availability-zone/detail", r.list_compute_zones_detail),
    # a new project's own resources: empty listings, default quotas
    Route("GET", "/{region}/compute/v2.1/servers", r.list_servers),
    Route("GET", "/{region}/compute/v2.1/servers/detail", r.list_servers),
    Route("GET", "/{region}/compute/v2.1/os-keypairs", r.list_keypairs),
    Route("GET", "/{region}/compute/v2.1/limits", r.show_limits),
    Route("GET", "/{region}/compute/v2.1/os-quota-sets/{project_id}", r.show_compute_quotas),
    Route("GET", "/{region}/compute/v2.1/os-quota-sets/{project_id}/defaults",
          partial(r.show_compute_quotas, view="defaults")),
    Route("GET", "/{region}/compute/v2.1/os-quota-sets/{project_id}/detail",
          partial(r.show_compute_quotas, view="detail")),
    # proxies to Glance and Neutron, below microversion 2.36 (libcloud's api 1.1 driver reads them)
    Route("GET", "/{region}/compute/v2.1/images", r.list_proxied_images),
    Route("GET", "/{region}/compute/v2.1/images/detail", partial(r.list_proxied_images, detail="1")),
    Route("GET", "/{region}/compute/v2.1/images/{image_id}", r.show_proxied_image),
    Route("GET", "/{region}/compute/v2.1/os-networks", r.list_proxied_networks),
    Route("GET", "/{region}/compute/v2.1/os-security-groups", r.list_proxied_security_groups),
    Route("GET", "/{region}/compute/v2.1/os-volumes", r.list_proxied_volumes),
    Route("GET", "/{region}/compute/v2.1/os-volumes/detail", r.list_proxied_volumes),
    Route(ANY, "/{region}/compute/v2.1/{rest:path}", r.compute_unserved),
    Route(ANY, "/{region}/compute/{rest:path}", r.compute_not_found),
]

GLANCE: list[Route[Handler]] = [
    Route(ANY, "/{region}/image", r.discover_image_versions),
    Route(ANY, "/{region}/image/versions", r.list_image_versions),
    # below: X-Auth-Token required
    Route("GET", "/{region}/image/v2/images", r.list_images),
    Route("GET", "/{region}/image/v2/images/{image_id}", r.show_image),
    Route("GET", "/{region}/image/v2/schemas/{schema}", r.show_image_schema),
    Route(ANY, "/{region}/image/v2/{rest:path}", r.image_unserved),
    Route(ANY, "/{region}/image/{rest:path}", r.routes_not_found),
]

CINDER: list[Route[Handler]] = [
    Route(ANY, "/{region}/volume", r.discover_volume_versions),
    Route(ANY, "/{region}/volume/v3", r.list_volume_versions),
    Route(ANY, "/{region}/volume/v3/{project}", r.list_project_volume_versions),
    # below: the token's project in the path, X-Auth-Token required
    Route("GET", "/{region}/volume/v3/{project}/types", r.list_volume_types),
    Route("GET", "/{region}/volume/v3/{project}/types/{type_id}", r.show_volume_type),
    Route("GET", "/{region}/volume/v3/{project}/types/{type_id}/extra_specs", r.list_volume_type_extra_specs),
    Route("GET", "/{region}/volume/v3/{project}/qos-specs", r.list_qos_specs),
    Route("GET", "/{region}/volume/v3/{project}/qos-specs/{qos_id}", r.show_qos_specs),
    Route("GET", "/{region}/volume/v3/{project}/qos-specs/{qos_id}/associations", r.list_qos_associations),
    Route("GET", "/{region}/volume/v3/{project}/os-availability-zone", r.list_volume_zones),
    Route("GET", "/{region}/volume/v3/{project}/volumes", r.list_volumes),
    Route("GET", "/{region}/volume/v3/{project}/volumes/detail", r.list_volumes),
    Route("GET", "/{region}/volume/v3/{project}/snapshots", r.list_snapshots),
    Route("GET", "/{region}/volume/v3/{project}/snapshots/detail", r.list_snapshots),
    Route("GET", "/{region}/volume/v3/{project}/limits", r.show_volume_limits),
    Route("GET", "/{region}/volume/v3/{project}/os-quota-sets/{project_id}", r.show_volume_quotas),
    Route("GET", "/{region}/volume/v3/{project}/os-quota-sets/{project_id}/defaults",
          partial(r.show_volume_quotas, view="defaults")),
    Route(ANY, "/{region}/volume/v3/{project}/{rest:path}", r.volume_unserved),
    Route(ANY, "/{region}/volume/{rest:path}", r.routes_not_found),
]

NEUTRON: list[Route[Handler]] = [
    Route(ANY, "/{region}/network", r.list_network_versions),
    # below: X-Auth-Token required
    Route(ANY, "/{region}/network/v2.0", r.list_network_resources),
    Route("GET", "/{region}/network/v2.0/networks", r.list_networks),
    Route("GET", "/{region}/network/v2.0/networks/{network_id}", r.show_network),
    Route("DELETE", "/{region}/network/v2.0/networks/{network_id}", r.delete_network),
    Route("GET", "/{region}/network/v2.0/extensions", r.list_network_extensions),
    Route("GET", "/{region}/network/v2.0/extensions/{alias}", r.show_network_extension),
    Route("GET", "/{region}/network/v2.0/availability_zones", r.list_network_zones),
    Route("GET", "/{region}/network/v2.0/subnets", partial(r.list_owned_nothing, collection="subnets")),
    Route("GET", "/{region}/network/v2.0/ports", partial(r.list_owned_nothing, collection="ports")),
    Route("GET", "/{region}/network/v2.0/routers", partial(r.list_owned_nothing, collection="routers")),
    Route("GET", "/{region}/network/v2.0/floatingips", partial(r.list_owned_nothing, collection="floatingips")),
    Route("GET", "/{region}/network/v2.0/security-groups", r.list_security_groups),
    Route("GET", "/{region}/network/v2.0/security-group-rules", r.list_security_group_rules),
    Route("GET", "/{region}/network/v2.0/quotas/{project_id}", r.show_network_quotas),
    Route("GET", "/{region}/network/v2.0/quotas/{project_id}/details",
          partial(r.show_network_quotas, view="details")),
    Route("GET", "/{region}/network/v2.0/quotas/{project_id}/default",
          partial(r.show_network_quotas, view="defaults")),
    Route(ANY, "/{region}/network/v2.0/{rest:path}", r.unserved),
    Route(ANY, "/{region}/network/{rest:path}", r.not_found),
]

# Huawei's native ECS v1, for fixtures with ``ecs: true`` (Flexible Engine); 404 otherwise
ECS: list[Route[Handler]] = [
    Route("GET", "/{region}/ecs/v1/{project}/cloudservers/flavors", r.list_ecs_flavors),
    Route(ANY, "/{region}/ecs/v1/{project}/{rest:path}", r.ecs_unserved),
    Route(ANY, "/{region}/ecs/{rest:path}", r.not_found),
]

# served only when the fixture has prices (and ``cloudkitty`` is not false); 404 everywhere otherwise
CLOUDKITTY: list[Route[Handler]] = [
    Route(ANY, "/{region}/rating", r.list_rating_versions),
    # below: X-Auth-Token required
    Route(ANY, "/{region}/rating/v1/rating/modules", r.list_rating_modules),
    Route("GET", "/{region}/rating/v1/rating/module_config/hashmap/services", r.list_hashmap_services),
    Route("GET", "/{region}/rating/v1/rating/module_config/hashmap/fields", r.list_hashmap_fields),
    Route("GET", "/{region}/rating/v1/rating/module_config/hashmap/mappings", r.list_hashmap_mappings),
    Route(ANY, "/{region}/rating/{rest:path}", r.rating_unserved),
]

#: Every service's table, Keystone first (``/identity`` is not a region).
ROUTER: Router[Handler] = Router(KEYSTONE, NOVA, GLANCE, CINDER, NEUTRON, ECS, CLOUDKITTY)


def routed_path(path: str, project_id: str) -> str:
    """``path`` as the table matches it: no empty segments, no project id after Nova's ``v2.1``."""
    parts = [p for p in path.split("/") if p]
    if len(parts) > 3 and parts[1:3] == ["compute", "v2.1"] and parts[3] == project_id:
        del parts[3]  # catalogs that carry the project id
    return "/" + "/".join(parts)
