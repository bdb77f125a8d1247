"""cloudcat driver package (see README.md)."""
