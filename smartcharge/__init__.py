"""smartcharge: price-aware smart charging for Wallbox chargers."""

__version__ = "0.1.0"
