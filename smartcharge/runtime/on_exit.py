"""What the on-exit rule knows of the charger when the daemon stops.

The last answer when it is still good; a fresh read when the command in flight was cut short
(a pause, resume or restart may or may not have reached the charger) or nothing was read yet.
The rule itself (``session.commands.resume_on_exit``) resumes a charger it knows nothing of.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from smartcharge.domain import ChargerSnapshot, Command, CommandKind
from smartcharge.errors import SmartchargeError
from smartcharge.ports import Charger
from smartcharge.session.events import Event, Level, event

# A command cut short of one of these kinds leaves the charger's state unknown.
_UNSETTLING = frozenset({CommandKind.PAUSE, CommandKind.RESUME, CommandKind.RESTART})


async def charger_on_exit(
    charger: Charger,
    last: ChargerSnapshot | None,
    cut_short: Command | None,
    until: float,
    log: Callable[[Event], None],
) -> ChargerSnapshot | None:
    """Return the charger's state for the on-exit rule, or None when it cannot be learnt.

    Args:
        charger: the charger.
        last: the last answer this run had.
        cut_short: the command whose answer the stop did not wait for, if any.
        until: the loop time by which the resume must be sent: a read gets half of what is left.
        log: where ``on_exit_status_unknown`` goes.
    """
    if last is not None and (cut_short is None or cut_short.kind not in _UNSETTLING):
        return last
    loop = asyncio.get_running_loop()
    try:
        # Half of what is left: the resume must still fit after it.
        async with asyncio.timeout_at(loop.time() + max(0.0, until - loop.time()) / 2):
            return await charger.status()
    except (TimeoutError, SmartchargeError) as exc:
        log(
            event(
                "on_exit_status_unknown",
                Level.WARNING,
                command_in_flight=None if cut_short is None else str(cut_short),
                error=str(exc) or "no answer within the stop budget",
                action="resume",
            )
        )
        return None
