"""The OCPP link's lifetime beside the daemon: its endpoint started first, stopped last.

``smartcharge run`` with ``SMARTCHARGE_CHARGER_LINK=ocpp`` serves the OCPP 1.6J central system
(``smartcharge.ocpp``) while the daemon runs: the endpoint listens before the daemon's first
tick (the charger may take a while to connect; until then the daemon reads it as offline), and
closes after the daemon's stop, once the on-exit rule is applied to the profile it left in the
charger: ``resume`` clears our profile (the charger charges at its own limit), ``leave`` keeps
it (the plan kept in the charger goes on, ending in full current: ``runtime.plan_profile``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from smartcharge.config import OnExit
from smartcharge.ocpp import OcppCharger, OcppServer
from smartcharge.ocpp.errors import OcppError

log = structlog.get_logger(__name__)

# The profile is cleared within this after the daemon's own stop (one call, a few seconds on
# the LAN; the charger's call timeout is longer, the stop must not be).
CLEAR_PROFILE_TIMEOUT_S = 5.0


@dataclass(slots=True)
class OcppLink:
    """The OCPP endpoint and the charger it serves, as ``runtime.adapters`` built them.

    Attributes:
        charger: the daemon's charger (``ports.Charger``).
        server: the websocket endpoint the charger connects to.
        host: the address to listen on (``SMARTCHARGE_OCPP_HOST``).
        port: the port to listen on (``SMARTCHARGE_OCPP_PORT``, 1-65535); 0 picks a free one
            (the demo and tests only: the setting refuses 0).
        scheme: ``ws`` or ``wss`` (a certificate is configured).
    """

    charger: OcppCharger
    server: OcppServer
    host: str
    port: int
    scheme: str = "ws"

    async def start(self) -> int:
        """Listen; return the bound port and log the URL to enter in the Wallbox app."""
        bound = await self.server.start(self.host, self.port)
        log.info(
            "ocpp_endpoint_listening",
            url=f"{self.scheme}://{self.host}:{bound}/",
            charge_point_id=self.charger.charge_point_id,
        )
        return bound

    async def stop(self, on_exit: OnExit) -> bool:
        """Apply ``on_exit`` to our profile, then close the endpoint; True if it was cleared.

        A charger that is not connected, refuses or does not answer in time keeps the profile;
        that is logged (``ocpp_profile_left``) and never stops the stop.
        """
        cleared = False
        if on_exit is OnExit.RESUME:
            try:
                async with asyncio.timeout(CLEAR_PROFILE_TIMEOUT_S):
                    await self.charger.clear_profile()
                cleared = True
            except (OcppError, TimeoutError) as exc:
                log.warning(
                    "ocpp_profile_left",
                    charge_point_id=self.charger.charge_point_id,
                    error=str(exc) or "no answer in time",
                )
        log.info(
            "ocpp_endpoint_closing",
            on_exit=on_exit.value,
            profile_cleared=cleared,
        )
        await self.server.close()
        return cleared


__all__ = ["CLEAR_PROFILE_TIMEOUT_S", "OcppLink"]
