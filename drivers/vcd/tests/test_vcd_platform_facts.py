"""The vcd driver maps Cloud Director's keys into the typed platform facts of the offer model.

Read from the mocked Cloud Director over loopback: a Cloud Avenue VDC's service class (metadata
``vdcServiceClass``) is the ``family`` of its flexible offer (``STD`` for ``STD-PAYG-ONE-ROOM``);
VM sizing policies have no family on Cloud Director, so the driver leaves it unset. Cloud Director
says nothing of sale status: ``sale_status`` stays unset and ``zone_status`` empty.
"""

from __future__ import annotations

from cloudcat_vcd.driver import VcdDriver

from cloudcat.models import Item, Kind
from cloudcat.testing import mock


def compute(fixture: str, region: str) -> dict[str, Item]:
    with mock("vcd", fixture) as m, VcdDriver(m.backend["options"], backend="cav") as driver:
        return {item.name: item for item in driver.items(Kind.COMPUTE, region)}


def test_cloud_avenue_service_class_is_the_family() -> None:
    items = compute("cloud-avenue", "vdr")
    assert {name: item.family for name, item in items.items()} == {
        "ECO-PAYG-ONE-ROOM": "ECO", "STD-PAYG-ONE-ROOM": "STD", "STD-RESERVED-DUAL-ROOM": "STD",
        "HP-PAYG-HA-DUAL-ROOM": "HP"}
    for item in items.values():
        # the platform's own key stays in extras for users who want it
        assert item.family == item.extras["service_class"]
        assert (item.generation, item.sale_status, item.zone_status) == (None, None, {})


def test_sizing_policies_have_no_family() -> None:
    with mock("vcd", "generic-vcd") as m, VcdDriver(m.backend["options"], backend="acme") as driver:
        items = [item for region in driver.regions() for item in driver.items(Kind.COMPUTE, region.name)]
    assert {"2vCPU-4GB", "4vCPU-16GB", "gpu-a100-10c"} <= {item.name for item in items}
    for item in items:
        assert item.flexible is None
        assert (item.family, item.generation, item.sale_status, item.zone_status) == (None, None, None, {})
