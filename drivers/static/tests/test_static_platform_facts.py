"""A static catalog file sets the typed platform facts directly, as item fields."""

from __future__ import annotations

from pathlib import Path

from cloudcat_static import StaticDriver

from cloudcat.models import Kind, SaleStatus


def test_yaml_and_csv_set_family_generation_and_sale_status(tmp_path: Path) -> None:
    (tmp_path / "azure.yaml").write_text(
        "items:\n"
        "  - {kind: compute, name: Standard_D4s_v5, family: Dsv5, generation: v5, region: france, vcpus: 4,\n"
        "     memory_mib: 16384, zones: [fr-a, fr-b], zone_status: {fr-b: sold-out}, extras: {premium_ssd: true}}\n")
    (tmp_path / "private.csv").write_text(
        "kind,name,region,vcpus,memory_mib,family,generation,sale_status,extras.rack\n"
        "compute,x1.large,france,2,4096,x1,1,withdrawn,r12\n")
    driver = StaticDriver({"paths": [str(tmp_path)]})
    items = {item.name: item for item in driver.items(Kind.COMPUTE, "france")}
    azure = items["Standard_D4s_v5"]
    assert (azure.family, azure.generation, azure.sale_status) == ("Dsv5", "v5", None)
    assert azure.zone_status == {"fr-b": SaleStatus.SOLD_OUT} and azure.extras == {"premium_ssd": True}
    private = items["x1.large"]
    assert (private.family, private.generation, private.sale_status) == ("x1", "1", SaleStatus.WITHDRAWN)
    assert private.extras == {"rack": "r12"}
