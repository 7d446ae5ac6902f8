"""Site acceptance checks for grid storage elements being dual-stacked for IPv6."""

__version__ = "0.1.0"
