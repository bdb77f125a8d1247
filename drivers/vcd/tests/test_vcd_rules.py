"""Pure logic: version choice, Cloud Avenue classes, OS names, FIQL filters and paging."""

from __future__ import annotations

import pytest
from cloudcat_vcd.cloudavenue import console_for_org, parse_storage_class
from cloudcat_vcd.driver import guess_os
from cloudcat_vcd.mock.state import compile_filter, page_of
from cloudcat_vcd.versions import (
    DRIVER_MAX,
    DRIVER_MIN,
    ApiVersion,
    NoCommonVersion,
    ServerVersion,
    choose_version,
    parse_versions,
)
from hypothesis import given
from hypothesis import strategies as st

versions = st.builds(ApiVersion, st.integers(20, 45), st.integers(0, 3))


@given(st.lists(st.tuples(versions, st.booleans()), min_size=1, max_size=20))
def test_choice_is_the_highest_common_version(offered: list[tuple[ApiVersion, bool]]) -> None:
    server = [ServerVersion(v, deprecated, None) for v, deprecated in offered]
    common = [s for s in server if DRIVER_MIN <= s.version <= DRIVER_MAX]
    if not common:
        with pytest.raises(NoCommonVersion, match=r"this driver supports 37\.0-39\.1"):
            choose_version(server)
        return
    chosen = choose_version(server)
    assert DRIVER_MIN <= chosen <= DRIVER_MAX
    current = [s.version for s in common if not s.deprecated]
    assert chosen == max(current or [s.version for s in common])


def test_versions_order_numerically_and_parse() -> None:
    assert ApiVersion.parse("39.1") > ApiVersion.parse("9.0")
    assert str(ApiVersion.parse("37.0.0-alpha")) == "37.0"
    with pytest.raises(ValueError, match="not a Cloud Director API version"):
        ApiVersion.parse("latest")
    doc = (b'<SupportedVersions xmlns="http://www.vmware.com/vcloud/versions">'
           b'<VersionInfo deprecated="true"><Version>36.0</Version><LoginUrl>https://h/api/sessions</LoginUrl>'
           b'</VersionInfo><VersionInfo deprecated="false"><Version>38.1</Version></VersionInfo></SupportedVersions>')
    parsed = parse_versions(doc)
    assert [(str(v.version), v.deprecated, v.login_url) for v in parsed] == [
        ("36.0", True, "https://h/api/sessions"), ("38.1", False, None)]
    with pytest.raises(ValueError, match="SupportedVersions"):
        parse_versions(b"<Error/>")


@pytest.mark.parametrize(("name", "base", "iops", "disponibility", "eco", "customer"), [
    ("silver", "silver", 600, "ONE-ROOM", True, None),
    ("silver_r2", "silver", 600, "DUAL-ROOM", True, None),
    ("gold_r1", "gold", 1000, "DUAL-ROOM", True, None),
    ("gold_hm", "gold", 1000, "HA-DUAL-ROOM", False, None),
    ("platinum3k", "platinum3k", 3000, "ONE-ROOM", False, None),
    ("platinum7k_hm", "platinum7k", 7000, "HA-DUAL-ROOM", False, None),
    ("gold_ocb0001234", "gold", 1000, "ONE-ROOM", True, "ocb0001234"),
    ("platinum3k_ocb0001234_r2", "platinum3k", 3000, "DUAL-ROOM", False, "ocb0001234"),
])
def test_cloud_avenue_storage_classes(name: str, base: str, iops: int, disponibility: str, eco: bool,
                                      customer: str | None) -> None:
    sc = parse_storage_class(name)
    assert sc is not None
    assert (sc.base, sc.iops, sc.disponibility, sc.customer) == (base, iops, disponibility, customer)
    assert ("ECO" in sc.service_classes) is eco


@pytest.mark.parametrize("name", ["bronze", "silver_hm", "platinum5k", "gold_r3", "Standard", "gold_ocb12345678"])
def test_not_cloud_avenue_storage_classes(name: str) -> None:
    assert parse_storage_class(name) is None


def test_console_of_an_org() -> None:
    console = console_for_org("cav01ev01ocb0001234")
    assert console is not None and (console.name, console.location) == ("console1", "vdr")
    cha = console_for_org("cav02ev04ocb0000001")
    assert cha is not None and cha.location == "chr"
    assert console_for_org("acme") is None
    assert console_for_org("cav01ev01ocb00012345") is None


@pytest.mark.parametrize(("name", "guest", "expected"), [
    ("debian_10_X64", None, ("debian", "10")),
    ("UBUNTU_22.04", None, ("ubuntu", "22.04")),
    ("windows-server-2022", None, ("windows", "2022")),
    ("rocky-9", None, ("rocky", "9")),
    ("app-server-v3", "centos8_64Guest", ("centos", "8")),
    ("golden-image", "ubuntu64Guest", ("ubuntu", None)),
    ("golden-image", "otherGuest", (None, None)),
])
def test_os_from_template_name_or_guest(name: str, guest: str | None,
                                        expected: tuple[str | None, str | None]) -> None:
    assert guess_os(name, guest) == expected


def test_fiql_filters() -> None:
    records = [{"name": "gold", "vdcName": "a", "isEnabled": True}, {"name": "silver", "vdcName": "b",
                                                                      "isEnabled": False}]
    assert [r["name"] for r in records if compile_filter("vdcName==a")(r)] == ["gold"]
    assert [r["name"] for r in records if compile_filter("name==gold,name==silver")(r)] == ["gold", "silver"]
    assert [r["name"] for r in records if compile_filter("name==s*;isEnabled==false")(r)] == ["silver"]
    assert [r["name"] for r in records if compile_filter("name!=gold")(r)] == ["silver"]


@given(st.integers(0, 300), st.integers(1, 50))
def test_pages_cover_every_record_once(total: int, size: int) -> None:
    records = list(range(total))
    first, count = page_of(records, 1, size)
    seen = list(first)
    for page in range(2, count + 1):
        seen += page_of(records, page, size)[0]
    assert seen == records
