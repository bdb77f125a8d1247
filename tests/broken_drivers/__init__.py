"""Example drivers for the conformance kit's own tests: one correct, the others broken in one way each.

They all read :class:`~broken_drivers.platform.CatalogMock`, a small paged JSON catalog served on
loopback (login, regions, items).
"""
