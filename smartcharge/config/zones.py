"""The bidding zones a price source can be asked for (ENTSO-E's codes)."""

from __future__ import annotations

import difflib

# The names of entsoe-py's ``entsoe.mappings.Area`` (entsoe-py 0.8), copied: importing
# ``entsoe.mappings`` runs ``entsoe/__init__.py``, which loads pandas (about 50 MB) into the
# daemon just to validate one setting. tests/test_prices_entsoe_worker.py checks the copy
# against the installed entsoe-py.
ENTSOE_ZONES = (
    "AL",
    "AT",
    "BA",
    "BE",
    "BG",
    "BY",
    "CH",
    "CWE",
    "CY",
    "CZ",
    "CZ_DE_SK",
    "DE",
    "DE_50HZ",
    "DE_AMPRION",
    "DE_AMP_LU",
    "DE_AT_LU",
    "DE_LU",
    "DE_TENNET",
    "DE_TRANSNET",
    "DK",
    "DK_1",
    "DK_1_NO_1",
    "DK_2",
    "DK_CA",
    "EE",
    "ES",
    "FI",
    "FR",
    "GB",
    "GB_ELECLINK",
    "GB_IFA",
    "GB_IFA2",
    "GE",
    "GR",
    "HR",
    "HU",
    "IE",
    "IE_SEM",
    "IS",
    "IT",
    "IT_BRNN",
    "IT_CALA",
    "IT_CNOR",
    "IT_CSUD",
    "IT_FOGN",
    "IT_GR",
    "IT_MACRO_NORTH",
    "IT_MACRO_SOUTH",
    "IT_MALTA",
    "IT_NORD",
    "IT_NORD_AT",
    "IT_NORD_CH",
    "IT_NORD_FR",
    "IT_NORD_SI",
    "IT_PRGP",
    "IT_ROSN",
    "IT_SACO_AC",
    "IT_SACO_DC",
    "IT_SARD",
    "IT_SICI",
    "IT_SUD",
    "LT",
    "LU",
    "LV",
    "MD",
    "ME",
    "MK",
    "MT",
    "NIE",
    "NL",
    "NO",
    "NO_1",
    "NO_1A",
    "NO_2",
    "NO_2A",
    "NO_2_NSL",
    "NO_3",
    "NO_4",
    "NO_5",
    "PL",
    "PL_CZ",
    "PT",
    "RO",
    "RS",
    "RU",
    "RU_KGD",
    "SE",
    "SE_1",
    "SE_2",
    "SE_3",
    "SE_4",
    "SI",
    "SK",
    "TR",
    "UA",
    "UA_BEI",
    "UA_DOBTPP",
    "UA_IPS",
    "UK",
    "XK",
)


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
