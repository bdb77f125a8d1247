"""cloudcat's ``vcd`` driver and mocked endpoint: VMware Cloud Director, Cloud Avenue included.

* :mod:`cloudcat_vcd.driver`: :class:`~cloudcat_vcd.driver.VcdDriver` (entry point
  ``cloudcat.drivers: vcd``) and its options;
* :mod:`cloudcat_vcd.client`: the REST client (versions, login, paging, errors, retries);
* :mod:`cloudcat_vcd.versions`: API version parsing and choice;
* :mod:`cloudcat_vcd.cloudavenue`: Cloud Avenue's offer rules as data;
* :mod:`cloudcat_vcd.mock`: the mocked Cloud Director (entry point ``cloudcat.mocks: vcd``), a
  package of ``state``, ``responses`` (wire format) and ``urls`` (routing table); fixtures in ``fixtures/``.

Nothing is imported here, so ``import cloudcat_vcd`` stays light; the driver imports httpx on
first use.
"""

__version__ = "0.1.0"
