"""The daemon's own commands against the simulated cloud: what it reads back, what it sends.

In process, on a simulated clock, over real HTTP on 127.0.0.1 (``smartcharge.demo``'s world).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.domain import Command, CommandKind, energy_cost_cents
from smartcharge.manual import ManualCommand, record_manual_command
from smartcharge.runtime.jobs import run_simulated
from smartcharge.session.accounting import TARGET_TOLERANCE_KWH
from smartcharge.session.decide import PENDING_DEADLINE
from smartcharge.simulator.wallbox_cloud import (
    PayloadVariants,
    RecordedRequest,
    RemoteActionReply,
)

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))


def events(world: SimulatedWorld, name: str) -> list[dict[str, Any]]:
    return [data for _, event, data in world.events if event == name]


def config_writes(world: SimulatedWorld) -> list[RecordedRequest]:
    return [r for r in world.cloud.requests if r.method == "POST" and "/chargers/config/" in r.path]


async def run_until(
    world: SimulatedWorld, until: datetime, at: dict[datetime, Callable[[], None]] | None = None
) -> None:
    """Run the daemon's jobs to ``until``, doing ``at[t]()`` once the clock reaches ``t``."""
    pending = dict(at or {})

    def between(now: datetime) -> None:
        for t in sorted(pending):
            if now >= t:
                pending.pop(t)()

    await run_simulated(world.daemon, world.clock, until, between=between)


async def test_a_group_price_beside_the_chargers_own_is_not_rewritten(tmp_path: Path):
    """The charger's energy_price is already the price; energyCost.value is the group's 0.99.

    The daemon reads energy_price, so it writes no energy cost at all (reading energyCost.value
    it rewrote the price on every tick).
    """
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        price = world.daemon.feed.curve.price_at(PLUG_IN)
        assert price is not None
        slot = world.daemon.feed.curve.slot_at(PLUG_IN)
        assert slot is not None
        world.cloud.charger.energy_cost_eur_per_kwh = energy_cost_cents(price)
        world.cloud.variants = PayloadVariants(group_energy_cost_eur_per_kwh=0.99)
        await run_until(
            world,
            slot.end - timedelta(seconds=1),
            {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)},
        )
        ticks = events(world, "tick_completed")

    assert [] == config_writes(world)
    assert len(ticks) >= 5


# -- pending commands with a charger that lags (issue 16 §4; issue 11 §5) ---------------------


def remote_actions(world: SimulatedWorld) -> list[tuple[datetime, int]]:
    return [
        (r.at, r.body["action"])
        for r in world.cloud.requests
        if r.method == "POST" and "remote-action" in r.path
    ]


def current_writes(world: SimulatedWorld) -> list[tuple[datetime, int]]:
    return [
        (r.at, r.body["maxChargingCurrent"])
        for r in world.cloud.requests
        if r.method == "PUT" and "maxChargingCurrent" in (r.body or {})
    ]


def repeats_within(sent: list[tuple[datetime, int]], window: timedelta) -> list[datetime]:
    """Return when a command was sent again within ``window`` of the same one before it."""
    return [
        b[0] for a, b in zip(sent, sent[1:], strict=False) if a[1] == b[1] and b[0] - a[0] < window
    ]


# Every payload variant at once (simulator/data/wallbox/variants): the remote-action answer
# then carries the state from before the command, so nothing but a reading confirms it.
ALL_VARIANTS = PayloadVariants(
    group_energy_cost_eur_per_kwh=0.99,
    icp_max_current_null=True,
    without_ecosmart=True,
    without_charger_id=True,
    portal_session_item=True,
    remote_action_reply=RemoteActionReply.BEFORE,
)


@pytest.mark.parametrize(
    ("lag_s", "variants"),
    [((20.0, 60.0), ALL_VARIANTS), ((150.0, 150.0), PayloadVariants())],
    ids=["20-60s-all-payload-variants", "150s"],
)
async def test_a_lagging_charger_gets_each_command_once_and_the_night_is_met(
    tmp_path: Path, lag_s: tuple[float, float], variants: PayloadVariants
):
    """Commands take effect 20-60 s (or 150 s) after they are accepted, readings lag behind.

    No command is sent again while it is pending, the daemon never takes its own pause for
    the user's, no command goes unapplied, and the 20 kWh are there by 07:00. (With a fixed
    2-minute window the 150 s lag read as a manual pause held all night: issue 16 §4 c.)
    """
    async with simulated_world(tmp_path, START) as world:
        world.cloud.charger.command_lag_s = lag_s
        world.cloud.variants = variants
        await world.daemon.start()
        await run_until(
            world,
            local(DEMO_DAY + timedelta(days=1), time(7, 0)),
            {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)},
        )
        session = world.daemon.state.session
        assert session is not None

    actions = remote_actions(world)
    assert [] == events(world, "manual_override_detected")
    assert [] == events(world, "command_not_applied")
    assert [] == repeats_within(actions, PENDING_DEADLINE)
    assert [] == repeats_within(current_writes(world), PENDING_DEADLINE)
    assert len(actions) >= 2
    assert session.delivered_kwh >= session.target_kwh - TARGET_TOLERANCE_KWH
    assert () == session.pending


async def test_a_command_that_never_shows_is_sent_once_more_then_given_up(tmp_path: Path):
    """The charger takes an hour to apply a pause: re-read after 5 min, sent once more, no third.

    Each miss is logged as command_not_applied; the daemon never calls it the user's.
    """
    async with simulated_world(tmp_path, START) as world:
        world.cloud.charger.command_lag_s = (3600.0, 3600.0)
        await world.daemon.start()
        await run_until(
            world,
            local(DEMO_DAY, time(18, 25)),
            {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)},
        )
        saved = world.daemon.store.load().session
        assert saved is not None

    actions = remote_actions(world)
    missed = events(world, "command_not_applied")
    assert [2, 2] == [a for _, a in actions]
    assert actions[1][0] - actions[0][0] >= PENDING_DEADLINE
    assert [(1, "sent once more if the plan still wants it"), (2, "not sent again")] == [
        (e["sends"], e["next"]) for e in missed
    ]
    assert [] == events(world, "manual_override_detected")
    assert [(CommandKind.PAUSE, 2, True)] == [
        (p.command.kind, p.sends, p.gave_up) for p in saved.pending
    ]


async def test_a_pending_pause_survives_a_restart_of_the_daemon(tmp_path: Path):
    """The pending pause is saved with the session: a new daemon does not send it again."""
    async with simulated_world(tmp_path, START) as world:
        world.cloud.charger.command_lag_s = (150.0, 150.0)
        await world.daemon.start()
        await run_until(
            world,
            PLUG_IN + timedelta(seconds=91),
            {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)},
        )
        assert [2] == [a for _, a in remote_actions(world)]
        world.daemon = world.new_daemon()
        await world.daemon.start()
        await run_until(world, PLUG_IN + timedelta(minutes=10))

    assert [2] == [a for _, a in remote_actions(world)]
    assert [] == events(world, "manual_override_detected")
    assert 182 == world.cloud.charger.status_id


async def test_a_pause_right_after_an_energy_cost_write_is_the_users(tmp_path: Path):
    """The daemon writes the energy cost; the user pauses seconds later (issue 11 §5).

    The write explains nothing about charging: the pause is detected and kept, not fought
    with a resume.
    """
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        await run_until(
            world,
            local(DEMO_DAY + timedelta(days=1), time(2)),
            {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)},
        )
        session = world.daemon.state.session
        assert session is not None
        assert session.plan is not None
        first_charge = next(s.start for s in session.plan.plan.slots if s.is_charging)
        await run_until(world, first_charge + timedelta(minutes=20))
        world.cloud.charger.energy_cost_eur_per_kwh = 0.01  # someone changed it: rewritten
        await world.clock.advance(60)  # a free read slot: the tick reads the charger
        tick_at = world.clock.now()
        await world.daemon.tick("poll")
        cost_at = world.clock.now()
        world.cloud.charger.user_pause()
        await run_until(world, cost_at + timedelta(minutes=30))

    cost_writes = [r.at for r in config_writes(world) if tick_at <= r.at <= cost_at]
    resumes_after = [at for at, a in remote_actions(world) if a == 1 and at > cost_at]
    detected = events(world, "manual_override_detected")
    assert cost_writes
    assert [] == resumes_after
    assert [False] == [e["charge"] for e in detected]
    assert 182 == world.cloud.charger.status_id


async def test_a_resume_sent_by_hand_while_our_pause_is_pending_is_the_users(tmp_path: Path):
    """``smartcharge charger resume`` right after the daemon's pause, on a lagging charger.

    The CLI records it in the shared state dir; the daemon takes it for the user's at its next
    tick, drops its own pending pause and never sends that pause again.
    """
    async with simulated_world(tmp_path, START) as world:
        world.cloud.charger.command_lag_s = (150.0, 150.0)
        await world.daemon.start()
        charger = world.cloud.charger

        def user_resumes_with_the_cli() -> None:
            charger.remote_resume()
            record_manual_command(
                world.settings.state_dir,
                ManualCommand.of(
                    Command(CommandKind.RESUME), world.clock.now(), charger.charger_id
                ),
            )

        await run_until(
            world,
            PLUG_IN + timedelta(minutes=30),
            {
                PLUG_IN: lambda: charger.plug_in(car_max_power_kw=11.0),
                PLUG_IN + timedelta(seconds=30): user_resumes_with_the_cli,
            },
        )

    detected = events(world, "manual_override_detected")
    assert [2] == [a for _, a in remote_actions(world)]
    assert [(True, "smartcharge charger")] == [(e["charge"], e["source"]) for e in detected]
    assert [] == events(world, "command_not_applied")
    assert charger.status_id in (193, 194, 195)


async def test_a_stop_while_our_pause_is_pending_resumes_the_charger(tmp_path: Path):
    """Stopped 60 s after a pause that a 150 s lag has not applied yet: resumed on exit.

    The last reading still says charging, but the pause lands after the daemon is gone; the
    on-exit resume lands after it, so the car charges (issue 16 §4, on_exit=resume).
    """
    async with simulated_world(tmp_path, START) as world:
        world.cloud.charger.command_lag_s = (150.0, 150.0)
        await world.daemon.start()
        await run_until(
            world,
            PLUG_IN + timedelta(seconds=60),
            {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)},
        )
        assert [2] == [a for _, a in remote_actions(world)]
        await world.daemon.shutdown()
        await world.clock.advance(600)
        status_id = world.cloud.charger.status_id

    assert [2, 1] == [a for _, a in remote_actions(world)]
    assert status_id in (193, 194, 195)


async def test_an_unknown_status_id_is_unknown_and_nothing_is_sent(tmp_path: Path):
    """The poll reports 4 (an id outside the portal's table) with a car charging: UNKNOWN.

    Logged as wallbox_status_unknown; handled like offline: nothing is sent.
    """
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        await run_until(
            world,
            PLUG_IN + timedelta(minutes=5),
            {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)},
        )
        world.cloud.variants = PayloadVariants(status_id=4)
        since = world.clock.now()
        await run_until(world, since + timedelta(minutes=30))

    unknown = [e["status_id"] for e in events(world, "wallbox_status_unknown")]
    sent = [r for r in world.cloud.requests if r.method != "GET" and r.at > since]
    assert unknown
    assert {4} == set(unknown)
    assert [] == [
        r for r in sent if "remote-action" in r.path or "maxChargingCurrent" in str(r.body)
    ]
    assert world.daemon.state.last_status is not None
    assert "unknown" == world.daemon.state.last_status.status.value
