"""cloudcat openstack driver."""
