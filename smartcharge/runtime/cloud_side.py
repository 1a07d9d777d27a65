"""The Wallbox cloud beside the OCPP link (issue 15 item 5): a composition, not a mode.

With ``SMARTCHARGE_CHARGER_LINK=ocpp`` the charger is steered over OCPP (``OcppCharger``); the
Wallbox account is optional. When it is configured, ``OcppWithCloud`` is the daemon's charger:
the OCPP link for everything it carries, and the cloud client (``WallboxClient``, its budget,
tokens and write rules unchanged) for the two things OCPP 1.6 cannot do on a Wallbox:

- the energy cost per kWh in the app (``SET_ENERGY_COST``): the session core sends it exactly
  as on the cloud link, once per price change (it compares the price with the snapshot's
  ``energy_cost_eur_per_kwh``, which is filled here from what the cloud last said); a
  missing stored status costs one read first, and no write when the cloud already has it;
- the current, when the charger accepts a limit and ignores it (``OcppCharger.ignores_limit``,
  logged by the adapter as ``charger_ignores_limit``): from then on the current the daemon
  wants is also set through the cloud (the app's limit caps what the charger gives, whatever
  OCPP says: evcc#14040, #14458), one write per change, logged as ``ocpp_cloud_current_set``.

The cloud's pause and resume are never used: Wallbox disables them while OCPP is connected
(lbbrhzn/ocpp#1062, home-assistant/core#121834); every pause and resume goes over OCPP. The
session history (``smartcharge charger history``) is the cloud's, read by the CLI's own client.

A current lowered through the cloud outlives smartcharge in the app, so ``release()`` puts back
the limit the cloud had before the first write (``runtime.serve`` calls it after the daemon's
stop, whatever the on-exit rule): a stopped smartcharge must not leave the car capped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import structlog
from pydantic import SecretStr

from smartcharge.domain import ChargerSnapshot, Command, CommandKind, same_energy_cost
from smartcharge.ocpp import OcppCharger, PlannedLimit
from smartcharge.ocpp.errors import UnsupportedCommandError
from smartcharge.ports import ChargerCapabilities
from smartcharge.wallbox import (
    MIN_CURRENT_A,
    WallboxClient,
    WallboxError,
    WallboxForbiddenError,
    WallboxResponseError,
)

log = structlog.get_logger(__name__)

# The cloud's limit is put back within this after the daemon's stop (one read at most and one
# write; the stop must not wait for the account's budget for long).
RELEASE_TIMEOUT_S = 30.0
LINK = "OCPP 1.6 with the Wallbox cloud beside it"


class OcppWithCloud:
    """The charger over OCPP, with the Wallbox cloud for the energy cost (``ports.Charger``).

    Args:
        ocpp: the charger on the OCPP link: every pause, resume, current, restart and plan.
        cloud: the account's client for the same charger: the energy cost, and the current
            while the charger ignores OCPP limits.
    """

    def __init__(self, ocpp: OcppCharger, cloud: WallboxClient) -> None:
        self.ocpp = ocpp
        self.cloud = cloud
        self._energy_cost: float | None = None  # what the cloud took last (EUR/kWh)
        self._cloud_current_a: int | None = None  # the limit we set through the cloud
        self._refused_current_a: int | None = None  # a limit the cloud refused: not again
        self._current_before_a: int | None = None  # the cloud's limit before our first write
        self.cloud_current_writes = 0

    # -- ports.Charger -----------------------------------------------------------------------

    @property
    def capabilities(self) -> ChargerCapabilities:
        """Return the OCPP link's capabilities, with the energy cost the cloud carries."""
        return replace(self.ocpp.capabilities, energy_cost=True)

    async def status(self) -> ChargerSnapshot:
        """Return the OCPP snapshot with the cloud's energy cost (no cloud read).

        A charger found ignoring its limit gets the wanted current through the cloud here, at
        the first poll after it was found (a failure is logged; the poll goes on).
        """
        snapshot = await self.ocpp.status()
        await self._follow_current(snapshot)
        return self._with_energy_cost(snapshot)

    async def apply(
        self, command: Command, *, base: ChargerSnapshot | None = None
    ) -> ChargerSnapshot:
        """Send the energy cost through the cloud, everything else over OCPP.

        Raises:
            UnsupportedCommandError: lock and unlock (nothing is sent).
            WallboxError: the cloud failed the energy cost (the daemon treats it as on the
                cloud link: a refused value is not sent again).
            OcppError: as ``OcppCharger.apply``.
        """
        self.capabilities.check(command, LINK, UnsupportedCommandError)
        if command.kind is CommandKind.SET_ENERGY_COST:
            return await self._set_energy_cost(command)
        snapshot = await self.ocpp.apply(command, base=base)
        if command.kind in (CommandKind.RESUME, CommandKind.SET_MAX_CURRENT):
            await self._follow_current(snapshot)
        return self._with_energy_cost(snapshot)

    # -- the rest of the OCPP charger's surface the runtime uses -----------------------------

    async def send_plan(
        self, limits: Sequence[PlannedLimit], full_from: datetime | None
    ) -> ChargerSnapshot:
        """Keep the plan in the charger (``OcppCharger.send_plan``; the cloud has no part)."""
        return self._with_energy_cost(await self.ocpp.send_plan(limits, full_from))

    def use_password(self, password: SecretStr) -> None:
        """Sign in to the cloud once with a new password (``runtime.reload``)."""
        self.cloud.use_password(password)

    async def release(self) -> bool:
        """Put back the cloud's limit from before our first current write; True if written.

        Nothing is sent when the cloud's limit was never changed here. A failure or no answer
        within ``RELEASE_TIMEOUT_S`` is logged (``ocpp_cloud_current_left``), never raised.
        """
        before, ours = self._current_before_a, self._cloud_current_a
        if before is None or ours is None or before == ours:
            return False
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT_S):
                await self.cloud.set_max_current(before)
        except (WallboxError, TimeoutError, ValueError) as exc:
            log.warning(
                "ocpp_cloud_current_left",
                current_a=ours,
                wanted_a=before,
                error=str(exc) or "no answer in time",
            )
            return False
        self._cloud_current_a = before
        self.cloud_current_writes += 1
        log.info("ocpp_cloud_current_restored", current_a=before)
        return True

    # -- the energy cost ---------------------------------------------------------------------

    def _known_energy_cost(self) -> float | None:
        stored = self.cloud.stored_status()
        if stored is not None and stored.energy_cost_eur_per_kwh is not None:
            return stored.energy_cost_eur_per_kwh
        return self._energy_cost

    def _with_energy_cost(self, snapshot: ChargerSnapshot) -> ChargerSnapshot:
        return replace(snapshot, energy_cost_eur_per_kwh=self._known_energy_cost())

    async def _set_energy_cost(self, command: Command) -> ChargerSnapshot:
        value = command.value
        if value is None:
            raise ValueError("set_energy_cost needs a value in EUR/kWh")
        if self.cloud.stored_status() is None:
            # Nothing known of the cloud yet (a new state dir): its own client would read
            # before writing anyway; this read also spares a write the cloud does not need.
            read = await self.cloud.status()
            cost = read.energy_cost_eur_per_kwh
            if cost is not None and same_energy_cost(cost, value):
                self._energy_cost = cost
                return self._with_energy_cost(await self.ocpp.status())
        answer = await self.cloud.set_energy_cost(value)
        cost = answer.energy_cost_eur_per_kwh
        self._energy_cost = value if cost is None else cost
        return self._with_energy_cost(await self.ocpp.status())

    # -- the current, while the charger ignores OCPP limits ----------------------------------

    async def _follow_current(self, snapshot: ChargerSnapshot) -> None:
        """Set the wanted current through the cloud too, if the charger ignores OCPP limits.

        The wanted current is the snapshot's (what OCPP was asked for; kept through a pause,
        which stays on OCPP: the cloud's pause is never used). One write per change.
        """
        want = snapshot.max_charging_current_a
        if (
            not self.ocpp.ignores_limit
            or want < MIN_CURRENT_A
            or want in (self._cloud_current_a, self._refused_current_a)
        ):
            return
        try:
            if self._current_before_a is None:
                before = self.cloud.stored_status() or await self.cloud.status()
                self._current_before_a = before.max_charging_current_a
                log.warning(
                    "ocpp_current_through_cloud",
                    charge_point_id=self.ocpp.charge_point_id,
                    reason="charger_ignores_limit",
                    cloud_current_a=self._current_before_a,
                )
                if before.max_charging_current_a == want:
                    self._cloud_current_a = want
                    return
            await self.cloud.set_max_current(want)
        except WallboxError as exc:
            if isinstance(exc, WallboxResponseError | WallboxForbiddenError):
                self._refused_current_a = want
            log.warning(
                "ocpp_cloud_current_failed",
                current_a=want,
                error=str(exc),
                again=self._refused_current_a != want,
            )
            return
        self._cloud_current_a = want
        self.cloud_current_writes += 1
        log.info(
            "ocpp_cloud_current_set",
            charge_point_id=self.ocpp.charge_point_id,
            current_a=want,
            reason="charger_ignores_limit",
        )


__all__ = ["LINK", "RELEASE_TIMEOUT_S", "OcppWithCloud"]
