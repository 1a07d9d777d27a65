"""The bidding zones a price source can be asked for: the check of a zone setting.

The list itself (ENTSO-E's codes) lives beside the ENTSO-E adapter, in ``prices/zones.py``.
"""

from __future__ import annotations

import difflib

from smartcharge.prices.zones import ENTSOE_ZONES


def known_zones() -> list[str]:
    """Return the bidding-zone codes entsoe-py knows (``NL``, ``BE``, ``DE_LU``, ...)."""
    return list(ENTSOE_ZONES)


def check_zone(zone: str) -> str:
    """Return ``zone`` when entsoe-py knows it; else raise ValueError naming the nearest ones."""
    zones = known_zones()
    if zone not in zones:
        near = difflib.get_close_matches(zone, zones, n=3) or ["NL", "BE", "DE_LU", "FR"]
        raise ValueError(
            f"unknown bidding zone; use a zone code entsoe-py knows, e.g. {', '.join(near)}"
            f" ({len(zones)} in all)"
        )
    return zone
