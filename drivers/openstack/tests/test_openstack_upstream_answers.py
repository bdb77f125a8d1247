"""The mocked cloud answers a tenant the way the real services do, as their source has it.

Each test names the upstream file and function (or the api-ref section) its shapes come from:
error documents per service (Glance's bare webob errors, Cinder's and Nova's fault names,
Neutron's ``NeutronError``), what a project user may read and write under the default policies,
and listing details (Glance's ``first``, Neutron's ``previous``). Requests go through openstacksdk
or plain HTTP over loopback, as a project user (the fixture's first user) and as an administrator.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import openstack
import openstack.exceptions
import pytest
from cloudcat_openstack.mock import OpenStackMock

from cloudcat.testing import MockHandle, mock
from cloudcat.testing.mockserver import load_fixture_file

REGION = "eu-west-0"


def platform(m: MockHandle) -> OpenStackMock:
    assert isinstance(m.platform, OpenStackMock)
    return m.platform


def connect(m: MockHandle, user: str | None = None) -> Any:
    return openstack.connect(**platform(m).backend(user=user)["options"]["auth"], region_name=REGION,
                             load_yaml_config=False, load_envvars=False)


def call(url: str, token: str | None = None, *, method: str = "GET", body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One request over loopback; the status, headers and body text."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        **({"X-Auth-Token": token} if token else {}), **({"Content-Type": "application/json"} if data else {}),
        **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def call_json(url: str, token: str | None = None, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    status, headers, text = call(url, token, **kwargs)
    return status, headers, json.loads(text) if text else None


JSON = {"Accept": "application/json"}


def nova(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}"}


@pytest.fixture(scope="module")
def fe() -> Iterator[MockHandle]:
    """The Flexible Engine cloud, read only."""
    with mock("openstack", "flexible-engine") as m:
        yield m


@pytest.fixture(scope="module")
def member(fe: MockHandle) -> Any:
    """openstacksdk as the fixture's project user (roles member, reader)."""
    return connect(fe)


@pytest.fixture(scope="module")
def admin(fe: MockHandle) -> Any:
    return connect(fe, user="ocb-admin")


# -- error documents ---------------------------------------------------------------------------------
def test_glance_errors_are_bare_webob_errors(fe: MockHandle, member: Any) -> None:
    """glance/common/wsgi.py ``Resource.__call__`` lets a controller's webob exception through
    (glance/api/v2/images.py ``show``: ``HTTPNotFound(explanation=e.msg)``); webob renders it by
    ``Accept`` (webob/exc.py ``WSGIHTTPException.generate_response``): ``json_formatter``'s
    ``{"message", "code", "title"}`` for JSON, its HTML page otherwise, plain text without one."""
    unknown = "00000000-0000-0000-0000-000000000000"
    url = f"{fe.url}/{REGION}/image/v2/images/{unknown}"
    token = member.session.get_token()
    status, headers, body = call_json(url, token, headers=JSON)
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert body == {"message": f"No image found with ID {unknown}<br /><br />\n\n\n",
                    "code": "404 Not Found", "title": "Not Found"}
    status, headers, text = call(url, token)  # no Accept: webob's plain text
    assert (status, headers["Content-Type"]) == (404, "text/plain; charset=UTF-8")
    assert text.startswith(f"404 Not Found\n\nNo image found with ID {unknown}")
    # openstacksdk asks with requests' "Accept: */*", which webob answers with its HTML page
    with pytest.raises(openstack.exceptions.NotFoundException) as caught:
        member.image.get_image(unknown)
    assert caught.value.response is not None
    assert caught.value.response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert "<h1>404 Not Found</h1>" in caught.value.response.text
    # a bad query parameter is a webob 400 too (images.py RequestDeserializer._validate_limit)
    status, _, body = call_json(f"{fe.url}/{REGION}/image/v2/images?limit=abc", token, headers=JSON)
    assert status == 400 and body["title"] == "Bad Request"
    assert body["message"].startswith("limit param must be an integer")


def test_cinder_faults_carry_cinder_names(fe: MockHandle, member: Any) -> None:
    """cinder/api/openstack/wsgi.py ``Fault``: ``{name: {"code", "message"}}`` with the name from
    ``Fault._fault_names`` (404 itemNotFound, 400 badRequest, 403 forbidden; any other status,
    406 included, ``computeFault``). A version outside 3.0-3.70 is ``InvalidGlobalAPIVersion`` ->
    ``HTTPNotAcceptable`` in ``Resource.__call__``; the request's version is set before its range is
    checked (``Request.set_api_version_request``), so the fault echoes it."""
    token = member.session.get_token()
    base = f"{fe.url}/{REGION}/volume/v3/{platform(fe).state_.project_id}"
    status, headers, body = call_json(f"{base}/types/00000000-0000-0000-0000-000000000000", token)
    assert status == 404 and body == {"itemNotFound": {
        "code": 404, "message": "Volume type 00000000-0000-0000-0000-000000000000 could not be found."}}
    assert headers["OpenStack-API-Version"] == "volume 3.0"
    # cinder/api/common.py _get_limit_param
    status, _, body = call_json(f"{base}/types?limit=abc", token)
    assert status == 400 and body == {"badRequest": {"code": 400, "message": "limit param must be an integer"}}
    status, headers, body = call_json(f"{base}/types", token, headers={"OpenStack-API-Version": "volume 3.99"})
    assert status == 406 and body == {"computeFault": {
        "code": 406, "message": "Version 3.99 is not supported by the API. Minimum is 3.0 and maximum is 3.70."}}
    assert headers["OpenStack-API-Version"] == "volume 3.99"
    # a hex project id other than the token's: "Malformed request url" (Resource._process_stack)
    status, _, body = call_json(f"{fe.url}/{REGION}/volume/v3/{'ab' * 16}/types", token)
    assert status == 400 and body == {"badRequest": {"code": 400, "message": "Malformed request url"}}
    status, _, body = call_json(f"{base}/qos-specs", token)
    assert status == 403 and set(body) == {"forbidden"}


def test_neutron_refuses_a_bad_limit_with_a_neutron_error(fe: MockHandle, member: Any) -> None:
    """neutron/api/api_common.py ``_get_limit_param`` raises neutron_lib's ``BadRequest``
    (``Bad %(resource)s request: %(msg)s.``); ``convert_exception_to_http_exc`` renders it as
    ``{"NeutronError": {"type", "message", "detail"}}`` (``get_exception_data``)."""
    status, _, body = call_json(f"{fe.url}/{REGION}/network/v2.0/networks?limit=abc", member.session.get_token())
    assert status == 400 and body == {"NeutronError": {
        "type": "BadRequest", "message": "Bad limit request: Limit must be an integer 0 or greater and not 'abc'.",
        "detail": ""}}
    with pytest.raises(openstack.exceptions.BadRequestException):
        list(member.network.networks(limit=-1))


def test_nova_faults_carry_nova_names_and_version_headers(fe: MockHandle, member: Any) -> None:
    """nova/api/openstack/wsgi.py ``Fault``: ``_fault_names`` (400 badRequest, 403 forbidden,
    405 badMethod) and the negotiated version in ``OpenStack-API-Version`` and
    ``X-OpenStack-Nova-API-Version`` on the fault. ``limit`` is schema-checked
    (compute/schemas/flavors.py ``index_query``: ``parameter_types.non_negative_integer``,
    worded by nova/api/validation/validators.py)."""
    token = member.session.get_token()
    base = f"{fe.url}/{REGION}/compute/v2.1"
    status, headers, body = call_json(f"{base}/flavors?limit=-1", token, headers=nova("2.61"))
    assert status == 400 and body == {"badRequest": {"code": 400, "message": (
        "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'")}}
    assert (headers["OpenStack-API-Version"], headers["X-OpenStack-Nova-API-Version"]) == ("compute 2.61", "2.61")
    status, headers, body = call_json(f"{base}/flavors/detail", token, headers=nova("2.99"))
    assert status == 406 and set(body) == {"computeFault"} and headers["OpenStack-API-Version"] == "compute 2.99"
    status, _, body = call_json(f"{base}/os-availability-zone/detail", token)
    assert status == 403 and set(body) == {"forbidden"}
    status, _, body = call_json(f"{base}/os-hypervisors", token, method="POST", body={})
    assert status == 405 and set(body) == {"badMethod"}


# -- Nova ------------------------------------------------------------------------------------------
def test_nova_limits_drop_max_image_meta_from_2_39(fe: MockHandle, member: Any) -> None:
    """nova/api/openstack/compute/limits.py ``index``: ``max_image_meta = False`` from 2.39
    (rest_api_version_history.rst 2.39: "removes the maxImageMeta field from os-limits")."""
    token = member.session.get_token()
    url = f"{fe.url}/{REGION}/compute/v2.1/limits"
    older = call_json(url, token, headers=nova("2.38"))[2]["limits"]["absolute"]
    newer = call_json(url, token, headers=nova("2.39"))[2]["limits"]["absolute"]
    assert older["maxImageMeta"] == older["maxServerMeta"] == 128
    assert "maxImageMeta" not in newer and newer["maxServerMeta"] == 128


@pytest.fixture(scope="module")
def private_flavors() -> Iterator[MockHandle]:
    """Flexible Engine plus a private flavor the project has access to, one it has not, and a
    disabled public one."""
    fixture = load_fixture_file(OpenStackMock.fixtures["flexible-engine"])
    fixture["flavors"] += [
        {"name": "p1.shared", "id": "p1.shared", "vcpus": 1, "ram": 1024, "is_public": False,
         "projects": [fixture["project"]["id"]]},
        {"name": "p2.hidden", "id": "p2.hidden", "vcpus": 1, "ram": 1024, "is_public": False},
        {"name": "d1.off", "id": "d1.off", "vcpus": 1, "ram": 1024, "disabled": True}]
    with mock("openstack", fixture) as m:
        yield m


def test_nova_shows_a_project_user_public_flavors_whatever_is_public_says(private_flavors: MockHandle) -> None:
    """nova/api/openstack/compute/flavors.py ``_get_flavors``: only an administrator's ``is_public``
    is read; a project user gets ``is_public=True, disabled=False``, which
    nova/objects/flavor.py ``_flavor_get_all_from_db`` widens to the flavors the project has
    access to. Showing one follows ``_flavor_get_query_from_db``."""
    m = private_flavors
    public = {f["id"] for f in platform(m).state_.regions[REGION].flavors if f["is_public"] and not f["disabled"]}
    user, admin = connect(m), connect(m, user="ocb-admin")
    for asked in ({}, {"is_public": False}, {"is_public": "None"}, {"is_public": True}):
        assert {f.id for f in user.compute.flavors(**asked)} == public | {"p1.shared"}, asked
    assert {f.id for f in admin.compute.flavors(is_public=False)} == {"p1.shared", "p2.hidden"}
    assert {f.id for f in admin.compute.flavors(is_public="None")} >= public | {"p2.hidden", "d1.off"}
    assert user.compute.get_flavor("p1.shared").is_public is False
    with pytest.raises(openstack.exceptions.NotFoundException):
        user.compute.get_flavor("p2.hidden")
    assert admin.compute.get_flavor("p2.hidden").name == "p2.hidden"


def test_nova_refuses_unknown_flavor_query_parameters_from_2_75(fe: MockHandle, member: Any) -> None:
    """compute/schemas/flavors.py: ``index_query`` (to 2.74) strips unknown parameters,
    ``index_query_v275`` (from 2.75) has ``additionalProperties: False``."""
    token = member.session.get_token()
    for path in ("flavors", "flavors/detail"):
        url = f"{fe.url}/{REGION}/compute/v2.1/{path}?colour=red&limit=2"
        assert call_json(url, token, headers=nova("2.74"))[0] == 200
        status, headers, body = call_json(url, token, headers=nova("2.75"))
        assert status == 400 and body == {"badRequest": {
            "code": 400, "message": "Additional properties are not allowed ('colour' was unexpected)"}}
        assert headers["OpenStack-API-Version"] == "compute 2.75"
    assert call_json(f"{fe.url}/{REGION}/compute/v2.1/flavors?minRam=1024&sort_key=name", token,
                     headers=nova("2.90"))[0] == 200


def test_nova_zone_detail_is_for_administrators(member: Any, admin: Any) -> None:
    """nova/policies/availability_zone.py: ``os-availability-zone:detail`` is ``base.ADMIN``
    (``list`` is ``RULE_ANY``)."""
    assert {z.name for z in member.compute.availability_zones()} == {"eu-west-0a", "eu-west-0b", "eu-west-0c"}
    with pytest.raises(openstack.exceptions.ForbiddenException, match="os-availability-zone:detail"):
        list(member.compute.availability_zones(details=True))
    assert {z.name for z in admin.compute.availability_zones(details=True)} == {"eu-west-0a", "eu-west-0b",
                                                                                 "eu-west-0c"}


# -- writes a project user may not make ---------------------------------------------------------------
def test_writes_a_project_user_may_not_make_are_403() -> None:
    """Nova: ``FlavorsController.delete`` checks os_compute_api:os-flavor-manage:delete (``base.ADMIN``,
    nova/policies/flavor_manage.py) first. Neutron: deleting a network the caller sees but does
    not own fails ``delete_network`` and, the network being showable, the PolicyNotAuthorized
    stands (neutron/pecan_wsgi/hooks/policy_enforcement.py); its own network is deleted.
    Keystone: identity:create_region is admin-only (keystone/common/policies/region.py), enforced
    before the body is read; a POST never answers the listing."""
    with mock("openstack", "flexible-engine") as m:
        user, admin = connect(m), connect(m, user="ocb-admin")
        with pytest.raises(openstack.exceptions.ForbiddenException, match="os-flavor-manage:delete"):
            user.compute.delete_flavor("s3.small.1", ignore_missing=False)
        assert user.compute.get_flavor("s3.small.1").name == "s3.small.1"
        admin.compute.delete_flavor("s3.small.1", ignore_missing=False)  # 202
        with pytest.raises(openstack.exceptions.NotFoundException):
            user.compute.get_flavor("s3.small.1")

        networks = {n.name: n for n in user.network.networks()}
        with pytest.raises(openstack.exceptions.ForbiddenException) as caught:
            user.network.delete_network(networks["admin_external_net"].id, ignore_missing=False)
        assert caught.value.response is not None and caught.value.response.json() == {"NeutronError": {
            "type": "PolicyNotAuthorized", "message": "rule:delete_network is disallowed by policy", "detail": ""}}
        user.network.delete_network(networks["vpc-default"].id, ignore_missing=False)  # 204
        assert {n.name for n in user.network.networks()} == {"admin_external_net"}

        token = user.session.get_token()
        status, _, body = call_json(m.url + "/identity/v3/regions", token, method="POST",
                                    body={"region": {"id": "eu-west-9"}})
        assert status == 403 and body == {"error": {"code": 403, "title": "Forbidden", "message": (
            "You are not authorized to perform the requested action: identity:create_region.")}}
        with pytest.raises(openstack.exceptions.ForbiddenException):
            user.identity.create_region(id="eu-west-9")
        assert [r.id for r in user.identity.regions()] == ["eu-west-0", "eu-west-1"]


# -- Cinder ----------------------------------------------------------------------------------------
def test_cinder_shows_a_volume_type_by_id_only(member: Any) -> None:
    """cinder/api/v3/types.py ``show`` -> volume_types.get_volume_type -> db ``volume_type_get``:
    by id; a name is VolumeTypeNotFound (404). openstacksdk's ``find_type`` then lists."""
    with pytest.raises(openstack.exceptions.NotFoundException):
        member.block_storage.get_type("SSD")
    found = member.block_storage.find_type("SSD", ignore_missing=False)
    assert member.block_storage.get_type(found.id).name == "SSD"


# -- Glance ----------------------------------------------------------------------------------------
def test_glance_first_link_keeps_the_query_and_images_carry_their_multihash(fe: MockHandle, member: Any) -> None:
    """glance/api/v2/images.py ``ResponseSerializer.index``: ``first`` is ``/v2/images`` with the
    query less its marker; ``_format_image`` always sets ``os_hash_algo`` and ``os_hash_value``
    (null for an image without a multihash)."""
    token = member.session.get_token()
    status, _, body = call_json(f"{fe.url}/{REGION}/image/v2/images?limit=2", token)
    assert status == 200 and body["first"] == "/v2/images?limit=2"
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(body["next"]).query)["limit"] == ["2"]
    after = call_json(f"{fe.url}/{REGION}/image{body['next']}", token)[2]
    assert after["first"] == "/v2/images?limit=2"
    assert call_json(f"{fe.url}/{REGION}/image/v2/images", token)[2]["first"] == "/v2/images"
    for image in body["images"]:
        assert image["os_hash_algo"] is None and image["os_hash_value"] is None
    assert {i.hash_algo for i in member.image.images()} == {None}


# -- Neutron ---------------------------------------------------------------------------------------
def test_neutron_hides_provider_attributes_and_links_previous_pages(fe: MockHandle, member: Any,
                                                                    admin: Any) -> None:
    """neutron/conf/policies/network.py: ``get_network:provider:network_type`` (and the other
    ``provider:*``) are ADMIN, so a project user's networks lack them. neutron/api/api_common.py
    ``get_pagination_links``: a forward page links ``previous`` (marker: its first item,
    ``page_reverse=True``, ``get_previous_link``), and ``next`` when it is full."""
    token = member.session.get_token()
    url = f"{fe.url}/{REGION}/network/v2.0/networks"
    mine = call_json(url, token)[2]["networks"]
    assert mine and not any(k.startswith("provider:") for n in mine for k in n)
    theirs = call_json(url, admin.session.get_token())[2]["networks"]
    assert all("provider:network_type" in n for n in theirs)
    assert {n.provider_network_type for n in member.network.networks()} == {None}
    assert {n.provider_network_type for n in admin.network.networks()} == {"flat", "vxlan"}

    status, _, first = call_json(f"{url}?limit=1", token)
    ids = sorted(n["id"] for n in mine)  # a paged listing is in id order
    assert status == 200 and [n["id"] for n in first["networks"]] == ids[:1]
    links = {link["rel"]: link["href"] for link in first["networks_links"]}
    assert set(links) == {"next", "previous"}
    assert links["previous"] == f"{url}?limit=1&marker={ids[0]}&page_reverse=True"
    assert links["next"] == f"{url}?limit=1&marker={ids[0]}"
    second = call_json(links["next"], token)[2]
    assert [n["id"] for n in second["networks"]] == ids[1:2]
    back = call_json({link["rel"]: link["href"] for link in second["networks_links"]}["previous"], token)[2]
    assert [n["id"] for n in back["networks"]] == ids[:1]
    # the last, short page: no next, a previous still
    last = call_json(f"{url}?limit=1&marker={ids[-1]}", token)[2]
    assert last["networks"] == [] and [link["rel"] for link in last["networks_links"]] == ["previous"]


# -- Keystone --------------------------------------------------------------------------------------
def test_keystone_lists_projects_by_policy_and_challenges_with_its_uri(fe: MockHandle, member: Any,
                                                                      admin: Any) -> None:
    """keystone/common/policies/project.py: identity:list_projects is
    ADMIN_OR_SYSTEM_READER_OR_DOMAIN_READER, so a project-scoped member is refused ``/v3/projects``
    but lists ``/v3/auth/projects`` (links.self its own URL). keystone/server/flask/application.py
    ``_handle_keystone_exception``: every Unauthorized carries ``WWW-Authenticate: Keystone
    uri="<base_url()>"``, Keystone's v3 base; keystonemiddleware names the identity endpoint in
    front of the other services."""
    identity = f"{fe.url}/identity/v3"
    token = member.session.get_token()
    status, _, body = call_json(f"{identity}/projects", token)
    assert status == 403 and "identity:list_projects" in body["error"]["message"]
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(member.identity.projects())
    status, _, body = call_json(f"{identity}/auth/projects", token)
    assert status == 200 and body["links"]["self"] == f"{identity}/auth/projects"
    assert [p.name for p in admin.identity.projects()] == ["eu-west-0"]
    assert call_json(f"{identity}/projects", admin.session.get_token())[2]["links"]["self"] == f"{identity}/projects"

    for url, uri in ((f"{identity}/regions", identity), (f"{identity}/auth/tokens", identity),
                     (f"{fe.url}/{REGION}/compute/v2.1/flavors", f"{fe.url}/identity")):
        status, headers, _ = call(url)
        assert status == 401 and headers["WWW-Authenticate"] == f'Keystone uri="{uri}"', url
    auth = platform(fe).backend()["options"]["auth"]
    status, headers, _ = call(f"{identity}/auth/tokens", method="POST", body={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": auth["username"], "password": "wrong",
                                                       "domain": {"name": "Default"}}}}}})
    assert status == 401 and headers["WWW-Authenticate"] == f'Keystone uri="{identity}"'


def test_an_expired_token_is_challenged_like_any_401() -> None:
    """keystonemiddleware refuses an expired token as any other (401 with ``WWW-Authenticate``)."""
    with mock("openstack", "flexible-engine") as m:
        conn = connect(m)
        token = conn.session.get_token()
        list(conn.network.networks())  # the token, seen by the cloud
        m.faults.expire_tokens()
        status, headers, _ = call(f"{m.url}/{REGION}/network/v2.0/networks", token)
        assert status == 401 and headers["WWW-Authenticate"] == f'Keystone uri="{m.url}/identity"'

