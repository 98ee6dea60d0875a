"""After a boot, transactions the station did not resume are ended (issue 20).

Emulated stations (the `ocpp` library's client) over real websockets on loopback, SQLite and
PostgreSQL. One station loses power mid-transaction and boots without resuming it: the CSMS
asks (GetTransactionStatus), ends it as NotResumedAfterBoot and stops planning for it. One
reboots and resumes its transaction: it must go on. Both again with a station that never
answers GetTransactionStatus, judged by its events within the grace period.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from charge_point_emulator.clock import SimClock
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.faults import Fault, FaultKind
from charge_point_emulator.station import EmulatedStation
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.reconciliation import Answer, Verdict, verdict
from csms.blocks.stations import add_station
from csms.blocks.transactions import NOT_RESUMED_EVENT, NOT_RESUMED_REASON
from csms.db.models import Command, StationEvent, Transaction
from csms.grid.live_state import live_sessions
from tests.conftest import settings_for
from tests.waiting import eventually

PASSWORD = "emulated-station-password"
SPEED = 600.0
#: Real seconds a transaction the station cannot vouch for waits for its events; its
#: resumed transaction sends one every simulated minute (0.1 s real at 600x).
GRACE_S = 1.0

StationFactory = Callable[..., Awaitable[EmulatedStation]]


@pytest.fixture
async def csms(db_url: str, kernel_loaded: None) -> AsyncIterator[Csms]:
    app = Csms(settings_for(db_url, reconcile_grace=GRACE_S))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def make_station(csms: Csms) -> AsyncIterator[StationFactory]:
    started: list[EmulatedStation] = []

    async def factory(station_id: str, faults: tuple[Fault, ...] = ()) -> EmulatedStation:
        await add_station(station_id, PASSWORD)
        station = EmulatedStation(
            station_id,
            PASSWORD,
            f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
            clock=SimClock(SPEED),
            tick_real_s=0.02,
            response_timeout_s=3.0,
            faults=faults,
        )
        started.append(station)
        await station.start()
        await station.wait_until(lambda: station.online, within_s=30)
        return station

    yield factory
    for station in started:
        await station.stop()


async def charging(station: EmulatedStation) -> Transaction:
    """Plug in an EV that charges for hours; return its transaction once stored with energy."""
    await add_token("RFID-R")
    station.arrive(1, EvSpec(capacity_wh=80_000, max_ac_w=11_000), 0.2, 0.9, 36_000, "RFID-R")
    await station.wait_until(lambda: station.evses[1].tx is not None)
    tx_id = station.evses[1].tx.transaction_id if station.evses[1].tx else ""

    async def metered() -> bool:
        row = await Transaction.filter(station_id=station.station_id, transaction_id=tx_id).first()
        return row is not None and row.energy_wh > 100

    await eventually(metered)
    await station.wait_until(lambda: station.idle)
    return await Transaction.get(station_id=station.station_id, transaction_id=tx_id)


async def reconciled(csms: Csms, station: EmulatedStation) -> None:
    """The station booted again and the CSMS is done asking after its transactions."""
    await station.wait_until(lambda: station.boots == 2 and station.online, within_s=30)
    await eventually(lambda: not csms.reconciliation.busy(station.station_id))


async def planned(station_id: str) -> set[str]:
    return {s.transaction_id for s in await live_sessions(datetime.now(UTC))}


async def test_transaction_lost_in_a_power_cut_is_ended_as_not_resumed(
    csms: Csms, make_station: StationFactory
) -> None:
    station = await make_station("R-1")
    before = await charging(station)
    assert before.transaction_id in await planned("R-1")
    cut = station.clock.now()
    await station.lose_power()
    await reconciled(csms, station)

    row = await Transaction.get(id=before.id)
    assert row.state == "ended" and row.stopped_reason == NOT_RESUMED_REASON
    assert row.data_quality.get("not_resumed") == 1
    # Billed what its readings support, and ended at its last reading, not at the boot.
    assert row.energy_wh >= before.energy_wh
    assert row.started_at is not None and row.ended_at is not None
    assert row.started_at < row.ended_at <= cut
    asked = await Command.filter(station_id="R-1", action="GetTransactionStatus").first()
    assert asked is not None and asked.response == {
        "messagesInQueue": False,
        "ongoingIndicator": False,
    }
    event = await StationEvent.get(station_id="R-1", kind=NOT_RESUMED_EVENT)
    assert event.payload["transactionId"] == before.transaction_id
    assert "not ongoing" in event.payload["evidence"]
    assert before.transaction_id not in await planned("R-1")


async def test_transaction_resumed_after_a_reboot_goes_on(
    csms: Csms, make_station: StationFactory
) -> None:
    station = await make_station("R-2")
    before = await charging(station)
    await station.reboot("PowerUp")
    await reconciled(csms, station)

    asked = await Command.filter(station_id="R-2", action="GetTransactionStatus").first()
    assert asked is not None and asked.response["ongoingIndicator"] is True
    row = await Transaction.get(id=before.id)
    assert row.state == "active" and row.stopped_reason is None
    assert before.transaction_id in await planned("R-2")

    async def metered_on() -> bool:
        return (await Transaction.get(id=before.id)).energy_wh > row.energy_wh

    await eventually(metered_on)


SILENT = (Fault(FaultKind.NO_ANSWER, action="GetTransactionStatus", count=100),)


async def test_station_that_cannot_answer_is_judged_by_its_events_lost(
    csms: Csms, make_station: StationFactory
) -> None:
    station = await make_station("R-3", SILENT)
    before = await charging(station)
    await station.lose_power()
    await reconciled(csms, station)

    row = await Transaction.get(id=before.id)
    assert row.state == "ended" and row.stopped_reason == NOT_RESUMED_REASON
    event = await StationEvent.get(station_id="R-3", kind=NOT_RESUMED_EVENT)
    assert "no answer" in event.payload["evidence"]
    assert before.transaction_id not in await planned("R-3")


async def test_station_that_cannot_answer_is_judged_by_its_events_resumed(
    csms: Csms, make_station: StationFactory
) -> None:
    station = await make_station("R-4", SILENT)
    before = await charging(station)
    await station.reboot("PowerUp")
    await reconciled(csms, station)

    timed_out = await Command.filter(station_id="R-4", action="GetTransactionStatus").first()
    assert timed_out is not None and timed_out.status == "timeout"
    row = await Transaction.get(id=before.id)
    assert row.state == "active" and row.stopped_reason is None
    assert not await StationEvent.exists(station_id="R-4", kind=NOT_RESUMED_EVENT)


@pytest.mark.parametrize(
    ("answer", "asked", "expected"),
    [
        (Answer(True, False), 1, Verdict.KEEP),
        (Answer(True, True), 1, Verdict.KEEP),
        (Answer(False, False), 1, Verdict.END),
        (Answer(False, True), 1, Verdict.ASK_LATER),
        (Answer(False, True), 3, Verdict.END_UNLESS_HEARD),
        (Answer(None, False), 1, Verdict.END_UNLESS_HEARD),
        (None, 1, Verdict.END_UNLESS_HEARD),
    ],
)
def test_verdict(answer: Answer | None, asked: int, expected: Verdict, **_: Any) -> None:
    assert verdict(answer, asked, max_asks=3) is expected
