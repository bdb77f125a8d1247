"""cloudcat vcd driver."""
