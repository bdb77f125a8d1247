"""cloudcat's ``vsphere`` driver and mocked vCenter: VMware vSphere without Cloud Director, on pyvmomi.

* :mod:`cloudcat_vsphere.driver`: :class:`~cloudcat_vsphere.driver.VsphereDriver` (entry point
  ``cloudcat.drivers: vsphere``) and its options (``GOVC_*`` variables included);
* :mod:`cloudcat_vsphere.client`: the vCenter session (version negotiation, login and re-login,
  ContainerView + PropertyCollector reads, SPBM, content library REST, errors, retries);
* :mod:`cloudcat_vsphere.guests`: guest OS family and version from names and guest ids;
* :mod:`cloudcat_vsphere.mock`: the mocked vCenter (entry point ``cloudcat.mocks: vsphere``), a
  package of ``state``, ``collector`` (PropertyCollector rules), ``responses`` (wire format),
  ``urls`` (routing table) and ``tls`` (its throwaway certificate); fixtures in ``fixtures/``.

Nothing is imported here, so ``import cloudcat_vsphere`` stays light; the driver imports pyvmomi
on first use.
"""

__version__ = "0.1.0"
