"""What makes ``smartcharge run`` refuse to start with valid settings."""

from __future__ import annotations

from smartcharge.config.choices import ChargerLink
from smartcharge.config.model import Settings


def account_problems(settings: Settings) -> list[str]:
    """Return what is missing for signing in to the Wallbox account (empty when nothing is)."""
    problems = []
    if not settings.wallbox_username:
        problems.append(
            "SMARTCHARGE_WALLBOX_USERNAME is not set: expected the e-mail address of your "
            "Wallbox account"
        )
    if settings.wallbox_password is None or not settings.wallbox_password.get_secret_value():
        problems.append(
            "SMARTCHARGE_WALLBOX_PASSWORD is not set: expected the password of your Wallbox account"
        )
    return problems


def readiness_problems(settings: Settings) -> list[str]:
    """Return what makes ``smartcharge run`` refuse to start with these (valid) settings.

    ``run`` needs a Wallbox account (with the cloud link; with ``ocpp`` the account is
    optional), and at least one price source that can deliver prices for
    ``SMARTCHARGE_BIDDING_ZONE`` (or a stand-in zone named on purpose, ``entsoe:BE``).
    """
    problems = account_problems(settings) if settings.charger_link is ChargerLink.CLOUD else []
    zone = settings.bidding_zone
    has_key = bool(settings.entsoe_api_key and settings.entsoe_api_key.get_secret_value())
    usable = [
        item
        for item in settings.price_sources
        if (item.startswith("entsoe") and has_key) or (item == "energyzero" and zone == "NL")
    ]
    if not usable:
        why = []
        if any(item.startswith("entsoe") for item in settings.price_sources):
            why.append(
                "entsoe needs SMARTCHARGE_ENTSOE_API_KEY (free from the ENTSO-E Transparency "
                "Platform, see .env.example)"
            )
        if "energyzero" in settings.price_sources:
            why.append("energyzero has NL prices only")
        problems.append(
            f"no price source can deliver {zone} prices "
            f"(SMARTCHARGE_PRICE_SOURCES={','.join(settings.price_sources)}): {'; '.join(why)}"
        )
    return problems
