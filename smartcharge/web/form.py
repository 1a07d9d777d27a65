"""Pure: the page's form as posted without JavaScript (``POST /plan``) -> a ``SteerRequest``.

The fields are the JSON body's (``mode``, ``target_kwh``, ``ready_by``) as text. An empty field
means "the settings' value". A phone's keyboard may type a decimal comma: ``35,5`` is 35.5.
Whether a value is in range (a target above the battery, a ready-by in the past) is for the
daemon to judge (``Daemon.steer``); this reads only what a form can get wrong on its own.
With "charge now", "don't charge" and "back to the plan" the fields are not sent along: those
buttons mean what they say, whatever the inputs hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from smartcharge.session.steering import SteerMode, SteerRefusal, SteerRequest

TARGET_ACCEPTED = "a number of kWh, e.g. 35 or 35.5; empty: the target from the settings"
MODE_ACCEPTED = ", ".join(m.value for m in SteerMode)


def parse_form(fields: Mapping[str, str]) -> SteerRequest | SteerRefusal:
    """Return the request the form asks for, or why it cannot be one (nothing is changed)."""
    mode_text = fields.get("mode", SteerMode.PLAN.value).strip().lower() or SteerMode.PLAN.value
    try:
        mode = SteerMode(mode_text)
    except ValueError:
        return SteerRefusal(
            "mode",
            mode_text[:40],
            f"{mode_text[:40]!r} is not something the page can ask.",
            MODE_ACCEPTED,
        )
    if mode is not SteerMode.PLAN:
        return SteerRequest(mode=mode)
    target_text = fields.get("target_kwh", "").strip()
    target: float | None = None
    if target_text:
        try:
            target = float(target_text.replace(",", "."))
        except ValueError:
            target = None
        if target is None or not math.isfinite(target):
            return SteerRefusal(
                "target_kwh",
                target_text[:40],
                f"{target_text[:40]!r} is not a number of kWh.",
                TARGET_ACCEPTED,
            )
    ready_by = fields.get("ready_by", "").strip() or None
    return SteerRequest(mode=mode, target_kwh=target, ready_by=ready_by)
