"""cloudcat: one offer catalog in front of many clouds."""

__version__ = "0.1.0"
