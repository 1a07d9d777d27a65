"""What makes ``smartcharge run`` refuse to start with valid settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def account_gap(settings: Settings) -> str | None:
    """Return what the Wallbox account lacks, as a phrase (None: it is configured)."""
    missing = account_problems(settings)
    if not missing:
        return None
    if len(missing) == 2:  # neither the username nor the password: no account at all
        return "no Wallbox account is configured"
    return f"the Wallbox account is incomplete: {missing[0].split(':', 1)[0]}"


def energy_cost_note(settings: Settings) -> str | None:
    """Return why the energy cost per kWh in the Wallbox app is not kept (None: it is).

    On the cloud link the daemon keeps it; on the OCPP link only the cloud beside it can (OCPP
    1.6 has no such message), so without the account it is simply not kept: a note for
    ``status`` and ``check-config``, never a reason to refuse ``run``.
    """
    gap = account_gap(settings)
    if settings.charger_link is ChargerLink.CLOUD or gap is None:
        return None
    return (
        "the energy cost per kWh in the Wallbox app is not kept: on the OCPP link only the "
        f"Wallbox cloud can set it, and {gap} (the account is optional with "
        "SMARTCHARGE_CHARGER_LINK=ocpp; smartcharge's own ledger costs every session either way)"
    )


@dataclass(frozen=True, slots=True)
class EnergyCostInApp:
    """Whether the energy cost per kWh in the Wallbox app is kept, and by what.

    ``smartcharge status`` and ``GET /api/status`` both show it (``energy_cost_in_app``).

    Attributes:
        kept: whether smartcharge keeps it.
        by: ``cloud`` (the cloud link) or ``cloud beside ocpp``; None when not kept.
        missing: the variables of the Wallbox account that are not set (when not kept).
        why: what the account lacks, as a phrase (when not kept).
        note: the whole note of ``energy_cost_note`` (when not kept).
    """

    kept: bool
    by: str | None
    missing: tuple[str, ...]
    why: str | None
    note: str | None

    def to_json(self) -> dict[str, Any]:
        """Return ``{"kept", "by", "missing", "why", "note"}``."""
        return {
            "kept": self.kept,
            "by": self.by,
            "missing": list(self.missing),
            "why": self.why,
            "note": self.note,
        }


def energy_cost_in_app(settings: Settings) -> EnergyCostInApp:
    """Return whether the energy cost per kWh in the Wallbox app is kept with ``settings``."""
    note = energy_cost_note(settings)
    if note is not None:
        missing = tuple(problem.split(" ", 1)[0] for problem in account_problems(settings))
        return EnergyCostInApp(False, None, missing, account_gap(settings), note)
    by = "cloud" if settings.charger_link is ChargerLink.CLOUD else "cloud beside ocpp"
    return EnergyCostInApp(True, by, (), None, None)


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
