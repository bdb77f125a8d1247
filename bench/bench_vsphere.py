"""Benchmark: reading a large vCenter with the vsphere driver vs. a straightforward pyvmomi script.

A mocked vCenter (the bundled ``vcenter`` fixture plus ``--vms`` generated VMs and ``--templates``
templates, default 3,000 and 500) answers every request after ``--latency-ms`` (default 20 ms),
as a vCenter across a WAN link would. Two readers list the same facts (templates with guest OS,
vCPU, memory and disks; datastores; port groups; clusters):

* **driver**: cloudcat's ``vsphere`` driver, every kind of every datacenter: one ContainerView and
  one ``RetrievePropertiesEx`` (and its continuations) per object type;
* **script**: what most pyvmomi samples do: walk ``content.rootFolder`` and a ContainerView of
  VMs by attribute access (``vm.config``, ``vm.name``, ``ds.summary``…), one ``Fetch`` round trip
  per property read.

Prints, for each, the round trips (HTTP requests the mock answered) and the wall time, and the
ratios. Both talk to the same loopback HTTPS server through real pyvmomi.

Run: ``uv run python bench/bench_vsphere.py [--vms N] [--templates N] [--latency-ms MS]``.
"""

from __future__ import annotations

import argparse
import ssl
import time
from collections.abc import Callable
from typing import Any

import yaml
from cloudcat_vsphere.driver import VsphereDriver
from cloudcat_vsphere.mock import VsphereMock, generated_fixture
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from cloudcat.models import Kind
from cloudcat.testing import MockHandle, mock


def read_with_driver(m: MockHandle) -> dict[str, int]:
    """Everything ``cloudcat offers --refresh`` reads, one kind and region after the other."""
    counts: dict[str, int] = {}
    with VsphereDriver(m.backend["options"]) as driver:
        for region in driver.regions():
            for kind in Kind:
                counts[kind.value] = counts.get(kind.value, 0) + len(list(driver.read(kind, region)))
    return counts


def read_with_script(m: MockHandle) -> dict[str, int]:
    """The same facts the way a straightforward pyvmomi script reads them: by attribute access."""
    o = m.backend["options"]
    si = SmartConnect(host=o["host"], port=o["port"], user=o["user"], pwd=o["password"],
                      sslContext=ssl.create_default_context(cafile=o["verify"]))
    content = si.RetrieveContent()
    templates: list[dict[str, Any]] = []
    datastores: list[dict[str, Any]] = []
    networks: list[str] = []
    clusters: list[dict[str, Any]] = []
    for dc in content.rootFolder.childEntity:
        view = content.viewManager.CreateContainerView(dc, [vim.VirtualMachine], True)
        for vm in view.view:
            config = vm.config  # one round trip: the whole VirtualMachineConfigInfo
            if config.template:
                disks = [d.capacityInKB for d in config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
                templates.append({"name": vm.name, "guest": config.guestId, "cpus": config.hardware.numCPU,
                                  "memory": config.hardware.memoryMB, "disk_kb": sum(disks)})
        view.Destroy()
        for ds in dc.datastore:
            summary = ds.summary
            datastores.append({"name": ds.name, "type": summary.type, "capacity": summary.capacity})
        networks += [n.name for n in dc.network]
        for cluster in dc.hostFolder.childEntity:
            clusters.append({"name": cluster.name, "cores": cluster.summary.numCpuCores})
    Disconnect(si)
    return {"templates": len(templates), "datastores": len(datastores), "networks": len(networks),
            "clusters": len(clusters)}


def measure(m: MockHandle, read: Callable[[MockHandle], dict[str, int]]) -> tuple[int, float, dict[str, int]]:
    before = len(m.server.requests())
    started = time.perf_counter()
    counts = read(m)
    return len(m.server.requests()) - before, time.perf_counter() - started, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vms", type=int, default=3000)
    parser.add_argument("--templates", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    base = yaml.safe_load(VsphereMock.fixtures["vcenter"].read_text())
    fixture = generated_fixture(base, vms=args.vms, templates=args.templates)
    with mock(VsphereMock, fixture) as m:
        state = m.platform.state()
        vms = state["entities"]["VirtualMachine"]
        print(f"mocked vCenter: {vms} VMs of which {state['templates']} templates, "
              f"{args.latency_ms:g} ms latency per request")
        m.server.set_faults(latency_ms=args.latency_ms)
        d_trips, d_time, d_counts = measure(m, read_with_driver)
        print(f"driver : {d_trips:6d} round trips  {d_time:8.2f} s  ({d_counts})")
        s_trips, s_time, s_counts = measure(m, read_with_script)
        print(f"script : {s_trips:6d} round trips  {s_time:8.2f} s  ({s_counts})")
        print(f"ratio  : {s_trips / d_trips:6.0f}x fewer round trips, {s_time / d_time:6.1f}x faster")


if __name__ == "__main__":
    main()
