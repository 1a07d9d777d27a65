"""What the OCPP link keeps across a restart (``ocpp_link.json``): kind, counter, transaction.

Two central systems one after the other on the same state dir, as a daemon and its restart;
the simulated Wallbox connects to each over a real websocket. The daemon-level restart (the
energy counted on from the transaction's start, no second RemoteStart) is in
``tests/test_ocpp_quirk_nights.py``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from smartcharge.ocpp import ProfileKind
from smartcharge.ocpp.errors import ChargerNotConnectedError
from smartcharge.ocpp.memory import LinkMemory, restore
from smartcharge.ocpp.readings import MeterReading
from smartcharge.ocpp.record import ConnectorRecord
from smartcharge.runtime.ocpp_memory import OCPP_MEMORY_FILE, LinkMemoryStore
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.ocpp_charge_point import OcppQuirks
from tests.ocpp.conftest import CP_ID, charging, settle


async def test_a_restart_keeps_the_profile_kind_and_never_reuses_a_transaction_id(
    tmp_path: Path, clock: SimulatedClock, start_central, make_wallbox
):
    """After a restart whose wall clock stepped back an hour, the counter still goes on
    above the ids given before, and the charger's kind (Relative) is sent at once."""
    quirks = OcppQuirks(required_profile_kind="Relative")
    first = await start_central(memory=LinkMemoryStore(tmp_path, clock))
    wallbox = await charging(first, make_wallbox, quirks=quirks)
    assert wallbox.transaction is not None
    given = wallbox.transaction.transaction_id
    assert given is not None
    await wallbox.unplug()
    await settle(first, wallbox)
    await wallbox.close()
    await first.server.close()

    clock.set(clock.now() - timedelta(hours=1))
    second = await start_central(memory=LinkMemoryStore(tmp_path, clock))
    kind = second.charger.profile_kind
    again = await charging(second, make_wallbox, quirks=quirks)
    assert again.transaction is not None
    later = again.transaction.transaction_id

    assert ProfileKind.RELATIVE is kind
    assert later is not None
    assert later > given
    assert ["Relative"] == [
        c.payload["csChargingProfiles"]["chargingProfileKind"]
        for c in again.calls("SetChargingProfile")
    ]


async def test_the_running_transaction_is_known_again_and_read_before_it_is_reported(
    tmp_path: Path, clock: SimulatedClock, start_central, make_wallbox
):
    """The restarted link knows the transaction and its start register; until the charger's
    next MeterValues its energy is unknown, so ``status`` raises rather than say 0 kWh."""
    first = await start_central(memory=LinkMemoryStore(tmp_path, clock))
    wallbox = await charging(first, make_wallbox)
    await wallbox.pass_time(600)
    await settle(first, wallbox)
    before = (await first.charger.status()).added_energy_kwh
    await wallbox.disconnect()
    await first.server.close()

    second = await start_central(memory=LinkMemoryStore(tmp_path, clock))
    with pytest.raises(ChargerNotConnectedError):
        await second.charger.status()
    wallbox.url = second.url.rstrip("/") + "/" + CP_ID
    await wallbox.connect()  # back without a new boot, as after a network drop
    await wallbox.pass_time(10)
    await settle(second, wallbox)
    after = await second.charger.status()

    assert before > 1.0
    assert 1 == wallbox.boots
    assert 1 == len(wallbox.calls("RemoteStartTransaction"))  # the first run's only
    assert after.added_energy_kwh == pytest.approx(wallbox.session_wh / 1000, abs=0.01)
    assert after.added_energy_kwh > before


def test_a_corrupt_memory_is_moved_aside_and_the_link_starts_afresh(
    tmp_path: Path, clock: SimulatedClock
):
    """A torn or foreign file is not trusted: logged, moved aside, nothing restored."""
    path = tmp_path / OCPP_MEMORY_FILE
    path.write_text('{"kind": "smartcharge-ocpp-link", "data": {"charge_point_id": 1}}')

    with capture_logs() as logs:
        found = LinkMemoryStore(tmp_path, clock).load()

    assert found is None
    assert ["ocpp_memory_file_corrupt"] == [line["event"] for line in logs]
    assert not path.exists()
    assert list(tmp_path.glob(f"{OCPP_MEMORY_FILE}.corrupt-*"))


async def test_another_charge_points_memory_is_not_used(
    tmp_path: Path, clock: SimulatedClock, start_central
):
    """A memory saved for another id (the setting changed) restores nothing."""
    store = LinkMemoryStore(tmp_path, clock)
    assert store.save(
        LinkMemory("WB-OTHER", profile_kind="Relative", last_transaction_id=4_000_000_000)
    )

    central = await start_central(memory=store)

    assert central.charger.profile_kind is None
    assert central.charger.record.next_transaction_id < 4_000_000_000


def test_only_a_remembered_transaction_is_waited_for_and_only_until_its_first_reading(
    clock: SimulatedClock,
):
    """A transaction first seen in MeterValues without the register (a charger that does not
    report it) is not waited for; a remembered one is, until its first MeterValues."""
    now = clock.now()
    seen = ConnectorRecord(100)
    seen.on_meter_values(7, MeterReading(power_w=1000.0), now)
    remembered = ConnectorRecord(100)
    restore(remembered, LinkMemory(CP_ID, last_transaction_id=120, transaction_id=7))
    waiting = remembered.unread
    remembered.on_meter_values(7, MeterReading(power_w=1000.0), now)

    assert not seen.unread
    assert waiting
    assert not remembered.unread
    assert 120 == remembered.next_transaction_id
