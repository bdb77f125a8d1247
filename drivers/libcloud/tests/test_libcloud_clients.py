"""Unmodified Apache Libcloud on the mocked Azure Resource Manager, directly and through cloudcat's driver:
ports written in the cloud environment honoured, TLS verified per driver instance (CA bundle, or off)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libcloud.security
import pytest
import requests
import yaml
from cloudcat_libcloud.azure import size_facts
from cloudcat_libcloud.driver import AzureArmDriver, GenericDriver, LibcloudDriver, OpenStackDriver, vcpus_of
from cloudcat_libcloud.mock import AzureMock
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.serving import make_server
from werkzeug.wrappers import Request

from cloudcat.errors import AuthenticationError, BackendError, ConfigError, NotSupportedError, RateLimitedError
from cloudcat.models import Kind, Region
from cloudcat.testing import mock


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the mock's throwaway certificate
def test_libcloud_reads_bleu_directly() -> None:
    """A plain libcloud script: libcloud's own third-party registration (``set_driver``) of libcloud's azure_arm
    driver with cloudcat's connection, then libcloud's API, unchanged."""
    from libcloud.compute.providers import DRIVERS, get_driver, set_driver

    name = f"bleu_{uuid.uuid4().hex[:8]}"
    set_driver(name, "cloudcat_libcloud.connection", "AzureArmNodeDriver")
    try:
        with mock("azure") as m:
            o = m.backend["options"]
            cls = get_driver(name)
            drv = cls(o["tenant_id"], o["subscription_id"], o["key"], o["secret"],
                      cloud_environment=o["cloud_environment"], tls_verify=False)
            locations = {loc.id: loc for loc in drv.list_locations()}
            assert set(locations) == {"francecentral", "francesouth"}
            sizes = {s.name: s for s in drv.list_sizes(location=locations["francecentral"])}
            assert sizes["Standard_D2s_v5"].extra["numberOfCores"] == 2
            assert sizes["Standard_D2s_v5"].ram == 8192
            assert "Standard_D32s_v5" not in {s.name for s in drv.list_sizes(location=locations["francesouth"])}
            publishers = {p[1] for p in drv.ex_list_publishers(locations["francecentral"])}
            assert {"Canonical", "RedHat", "MicrosoftWindowsServer"} <= publishers
            images = drv.list_images(location=locations["francecentral"], ex_publisher="Canonical")
            assert {i.id for i in images} == {
                "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202410020",
                "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202411050"}
            paths = [r.path for r in m.server.requests()]
            assert paths[0] == f"/{o['tenant_id']}/oauth2/token"  # logged in on the mock's port, not 443
    finally:
        DRIVERS.pop(name, None)


def test_provider_picks_the_driver_class() -> None:
    assert type(LibcloudDriver({"provider": "azure_arm"})) is AzureArmDriver
    assert type(LibcloudDriver({"provider": "openstack"})) is OpenStackDriver
    assert type(LibcloudDriver({"provider": "ovh"})) is GenericDriver
    assert AzureArmDriver.capabilities.prices and not OpenStackDriver.capabilities.prices
    assert Kind.IMAGE not in GenericDriver.capabilities.kinds


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="no compute provider 'no-such-cloud'"):
        LibcloudDriver({"provider": "no-such-cloud"}).regions()
    with pytest.raises(ConfigError, match="needs tenant_id, subscription_id"):
        LibcloudDriver({"provider": "azure_arm", "key": "k", "secret": "s"}).regions()
    with pytest.raises(ConfigError, match="cloud_environment"):
        LibcloudDriver({"provider": "azure_arm", "cloud_environment": "AzureMoonCloud"})


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    with mock("azure") as m:
        options = {**m.backend["options"], "secret": "not-the-secret-0123", "retries": 0}
        drv = LibcloudDriver(options, backend="bleu")
        assert "not-the-secret-0123" not in repr(drv)
        with pytest.raises(AuthenticationError) as caught:
            drv.regions()
        assert "not-the-secret-0123" not in str(caught.value)
        assert "invalid_client" in str(caught.value) or "Invalid client secret" in str(caught.value)


def test_arm_throttling_surfaces_with_retry_after() -> None:
    data = yaml.safe_load(AzureMock.fixtures["bleu"].read_text())
    data["read_limit"] = 1
    data["throttle_retry_after"] = 120
    with mock("azure", data) as m:
        drv = LibcloudDriver({**m.backend["options"], "retries": 2}, backend="bleu")
        regions = drv.regions()  # the one read the budget allows
        with pytest.raises(RateLimitedError) as caught:
            list(drv.read(Kind.COMPUTE, regions[0]))
        assert caught.value.retry_after == 120  # longer than max_retry_after: raised at once, not waited for


# -- TLS with a CA bundle ------------------------------------------------------------------------
def _certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudcat test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def trusted_arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The Azure platform served over TLS with a certificate for 127.0.0.1 that a CA bundle vouches for."""
    ca, cert, key = _certificates(tmp_path_factory.mktemp("tls"))
    platform = AzureMock()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return platform.dispatch(Request(environ))(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(cert), str(key)))
    platform.base_url = f"https://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        options = {k: v for k, v in platform.backend()["options"].items() if k != "verify"}
        yield {"options": options, "ca": str(ca)}
    finally:
        server.shutdown()
        server.server_close()


def test_ca_bundle_is_trusted_per_driver_instance(trusted_arm: dict[str, Any]) -> None:
    before = (libcloud.security.VERIFY_SSL_CERT, libcloud.security.CA_CERTS_PATH)
    trusting = LibcloudDriver({**trusted_arm["options"], "verify": trusted_arm["ca"]}, backend="bleu")
    items = list(trusting.read(Kind.COMPUTE, Region(name="francecentral")))
    assert items and all(i.price is not None for i in items if i.name.endswith("_v5"))
    untrusting = LibcloudDriver({**trusted_arm["options"], "retries": 0}, backend="bleu")
    with pytest.raises(BackendError, match=r"TLS failed.*CA bundle"):
        untrusting.regions()
    assert before == (libcloud.security.VERIFY_SSL_CERT, libcloud.security.CA_CERTS_PATH)  # nothing global


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the mock's throwaway certificate
def test_token_refused_by_the_endpoint_is_renewed_once(openstack_options: Any) -> None:
    """Tokens forgotten by the endpoint (the mocks' reset forgets them) while libcloud still trusts its own:
    the 401 makes the driver log in again, once, and read on."""
    with mock("azure") as m:
        drv = LibcloudDriver(m.backend["options"], backend="bleu")
        region = drv.regions()[0]
        requests.post(f"{m.url}/_cloudcat/reset", timeout=10, verify=False)
        assert list(drv.read(Kind.COMPUTE, region))
        assert [r.status for r in m.server.requests() if "vmSizes" in r.path] == [401, 200]
        assert requests.get(f"{m.url}/_cloudcat/state", timeout=10, verify=False).json()["tokens_issued"] == 1
    with mock("openstack", "flexible-engine") as m:
        drv = LibcloudDriver(openstack_options(m), backend="fe")
        region = drv.regions()[0]
        assert list(drv.read(Kind.COMPUTE, region))
        requests.post(f"{m.url}/_cloudcat/reset", timeout=10)
        assert list(drv.read(Kind.COMPUTE, region))
        assert [r.status for r in m.server.requests() if "/compute/" in r.path] == [401, 200]


def test_any_other_provider_through_libcloud_dummy() -> None:
    """A provider without a class of its own (libcloud's in-process ``dummy``): locations as regions with
    their countries, sizes per location, no price where libcloud's data has none."""
    drv = LibcloudDriver({"provider": "dummy", "key": "0"}, backend="dummy")
    assert type(drv) is GenericDriver
    regions = drv.regions()
    assert [(r.name, r.country) for r in regions][:2] == [("1", "US"), ("2", "GB")]
    sizes = list(drv.read(Kind.COMPUTE, regions[0]))
    assert sizes and all(s.memory_mib and s.price is None and s.region == "1" for s in sizes)
    with pytest.raises(NotSupportedError):
        list(drv.read(Kind.IMAGE, regions[0]))


def test_vcpus_read_wherever_the_provider_puts_them() -> None:
    from libcloud.compute.base import NodeSize
    from libcloud.compute.drivers.openstack import OpenStackNodeSize

    def size(**extra: Any) -> Any:
        return NodeSize("x", "x", 1024, 10, None, None, driver=None, extra=extra)

    assert vcpus_of(size(numberOfCores=4)) == 4  # Azure
    assert vcpus_of(size(vcpu="8")) == 8  # EC2, as a string
    assert vcpus_of(size(guestCpus=2)) == 2  # GCE
    assert vcpus_of(size(vcpus=16)) == 16  # OVH, DigitalOcean
    assert vcpus_of(OpenStackNodeSize("x", "x", 1024, 10, None, None, driver=None, vcpus=6)) == 6
    assert vcpus_of(size()) is None
    assert vcpus_of(size(vcpus=0)) is None


@given(letters=st.sampled_from(["D", "E", "F", "M", "NC", "HB"]), cores=st.integers(1, 416),
       features=st.text(alphabet="adilmpst", max_size=4), version=st.integers(1, 7))
def test_size_family_is_series_features_and_version(letters: str, cores: int, features: str, version: int) -> None:
    facts = size_facts(f"Standard_{letters}{cores}{features}_v{version}")
    assert facts.family == f"{letters}{features}v{version}"
    assert facts.generation == f"v{version}"
    assert facts.architecture == ("aarch64" if "p" in features else "x86_64")
