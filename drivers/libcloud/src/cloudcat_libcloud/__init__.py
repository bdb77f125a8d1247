"""cloudcat's ``libcloud`` driver and mocked Azure Resource Manager (see README.md).

* :class:`~cloudcat_libcloud.driver.LibcloudDriver` (registered as ``libcloud``): any Apache Libcloud
  compute provider as a catalog backend, with the Azure Retail Prices API and libcloud's own pricing
  data as dated price sources;
* :class:`~cloudcat_libcloud.mock.AzureMock` (registered as ``azure``): a loopback Azure Resource
  Manager with its login and the retail price API, seeded for Bleu.

Importing this package loads no libcloud: the driver imports it on first use.
"""
