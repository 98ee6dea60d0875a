"""Dirty field data over a real websocket: refused with the right CALLERROR, or stored,
flagged and kept out of the bill; the REST API stays strict JSON throughout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from csms.app import Csms
from csms.blocks.meter import parse_timestamp
from csms.blocks.stations import add_station
from csms.blocks.transactions import SUPERSEDED_EVENT
from csms.db.models import MeterValue, StationEvent, Transaction, TransactionEvent
from csms.grid import events
from csms.grid.live_state import save_topology
from csms.grid.topology import loads_topology
from tests.conftest import settings_for
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import at, tx_event
from tests.waiting import eventually

PASSWORD = "correct-horse-battery"


@pytest.fixture
async def peer(csms: Csms) -> AsyncIterator[WirePeer]:
    await add_station("CS-1", PASSWORD)
    connected = await open_peer(csms, "CS-1", PASSWORD)
    yield connected
    await connected.close()


async def send(peer: WirePeer, payload: dict[str, Any]) -> None:
    answer = await peer.call("TransactionEvent", payload)
    assert answer[0] == 3, answer


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def strict_get(csms: Csms, path: str) -> Any:
    """GET and parse as strict JSON: NaN or Infinity in the answer fails the test."""
    async with (
        aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as http,
        http.get(path) as reply,
    ):
        assert reply.status == 200
        parsed = json.loads(await reply.text(), parse_constant=_refuse_constant)
        json.dumps(parsed, allow_nan=False)  # and no number overflowed to infinity (1e999)
        return parsed


async def raw_answer(peer: WirePeer, unique_id: str, text: str) -> list[Any]:
    await peer.send_raw(text)
    answer = await peer.expect_call()
    assert answer[1] == unique_id
    return answer


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e400"])
async def test_non_finite_meter_values_are_refused_and_nothing_is_stored(
    peer: WirePeer, literal: str
) -> None:
    event = tx_event("Started", 0, 0, import_wh=12345)
    text = json.dumps([2, "nf-1", "TransactionEvent", event]).replace("12345.0", literal)
    answer = await raw_answer(peer, "nf-1", text)
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
    assert await TransactionEvent.all().count() == 0
    assert await MeterValue.all().count() == 0
    assert (await peer.call("Heartbeat", {}))[0] == 3


async def test_a_multiplier_that_overflows_the_value_is_refused(peer: WirePeer) -> None:
    event = tx_event("Started", 0, 0, import_wh=1e300)
    event["meterValue"][0]["sampledValue"][0]["unitOfMeasure"]["multiplier"] = 30
    answer = await peer.call("TransactionEvent", event)
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"


@pytest.mark.parametrize("evse_id", [10**30, 1e30, 2**31, -(2**31) - 1])
async def test_integers_beyond_ocpp_32_bits_are_property_violations(
    peer: WirePeer, evse_id: float
) -> None:
    event = tx_event("Started", 0, 0)
    event["evse"]["id"] = evse_id
    answer = await peer.call("TransactionEvent", event)
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation", answer
    meter = {"evseId": evse_id, "meterValue": [{"timestamp": event["timestamp"],
             "sampledValue": [{"value": 1.0}]}]}  # fmt: skip
    answer = await peer.call("MeterValues", meter)
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation", answer
    assert await Transaction.all().count() == 0


async def test_the_largest_ocpp_integers_are_stored(peer: WirePeer) -> None:
    await send(peer, tx_event("Started", 2**31 - 1, 0, evse_id=2**31 - 1, remote_start_id=-(2**31)))
    row = await Transaction.get(transaction_id="tx-1")
    assert row.evse_id == 2**31 - 1 and row.remote_start_id == -(2**31)


async def test_registers_after_ended_are_stored_flagged_and_not_billed(
    csms: Csms, peer: WirePeer
) -> None:
    await send(peer, tx_event("Started", 0, 0, import_wh=1000))
    await send(peer, tx_event("Ended", 1, 30, import_wh=2000, stopped_reason="EVDisconnected"))
    await send(peer, tx_event("Updated", 2, 31, import_wh=1e9))
    await send(peer, tx_event("Updated", 3, 32, import_wh=2e9))
    row = await Transaction.get(transaction_id="tx-1")
    assert row.state == "ended" and row.energy_wh == 1000
    assert row.data_quality == {"event_after_ended": 2}
    assert await TransactionEvent.filter(transaction_id="tx-1").count() == 4
    listed = await strict_get(csms, "/api/v1/transactions")
    assert listed[0]["energy_wh"] == 1000
    assert listed[0]["data_quality"] == {"event_after_ended": 2}


async def test_falling_negative_and_absurd_registers_are_flagged_not_billed(
    csms: Csms, peer: WirePeer
) -> None:
    await send(peer, tx_event("Started", 0, 0, import_wh=1000))
    await send(peer, tx_event("Updated", 1, 10, import_wh=1e300))
    await send(peer, tx_event("Updated", 2, 20, import_wh=-50))
    await send(peer, tx_event("Updated", 3, 25, import_wh=100))
    await send(peer, tx_event("Updated", 4, 30, import_wh=3000))
    row = await Transaction.get(transaction_id="tx-1")
    assert row.energy_wh == 2000
    assert row.data_quality == {
        "decreasing_register": 1,
        "impossible_jump": 1,
        "negative_register": 1,
    }
    assert await MeterValue.filter(transaction_id="tx-1").count() == 5  # all stored as sent
    listed = await strict_get(csms, "/api/v1/transactions")
    assert listed[0]["energy_wh"] == 2000
    for path in ("/api/v1/stations", "/api/v1/stations/CS-1", "/api/v1/tokens"):
        assert await strict_get(csms, path) is not None


def eleven_kw_topology(evse_w: float = 11_000) -> dict[str, Any]:
    text = (
        f"version = 1\n[tariff]\nimport_price_by_hour = {[0.25] * 24}\n"
        "[[node]]\nid = 'tx-1'\nimport_limit_w = 100000\n"
        "[[station]]\nid = 'CS-1'\nnode = 'tx-1'\n  [[station.evse]]\n  id = 1\n"
        f"  max_import_w = {evse_w}\n"
    )
    return loads_topology(text)[1]


async def test_the_evse_power_in_the_topology_bounds_the_register_from_the_first_event(
    db_url: str, kernel_loaded: None
) -> None:
    # The topology is in the database before the CSMS starts: the first event is judged
    # against it, whether or not the planner (and its kernel) has run yet.
    first = Csms(settings_for(db_url))
    await first.start(api=False)
    await save_topology(eleven_kw_topology(), datetime.now(UTC))
    await add_station("CS-1", PASSWORD)
    await first.stop()
    csms = Csms(settings_for(db_url))
    await csms.start(api=False)
    try:
        assert csms.transactions.evse_power is not None
        assert csms.transactions.evse_power("CS-1", 1) == 11_000
        peer = await open_peer(csms, "CS-1", PASSWORD)
        await send(peer, tx_event("Started", 0, 0, import_wh=0))
        # 11 kW for an hour is 11 kWh; 30 kWh within one is more than this EVSE delivers.
        await send(peer, tx_event("Updated", 1, 60, import_wh=30_000))
        await send(peer, tx_event("Updated", 2, 120, import_wh=10_000))
        await peer.close()
        row = await Transaction.get(transaction_id="tx-1")
        assert row.energy_wh == 10_000 and row.data_quality == {"impossible_jump": 1}
    finally:
        await csms.stop()


async def test_a_topology_saved_while_running_rates_the_evses_from_then_on(
    db_url: str, kernel_loaded: None
) -> None:
    csms = Csms(settings_for(db_url, ping_interval=0.2))
    await csms.start(api=False)
    try:
        assert csms.transactions.evse_power is not None
        assert csms.transactions.evse_power("CS-1", 1) is None
        # Saved the way `cli.py grid load` does, from outside the running CSMS.
        await save_topology(eleven_kw_topology(22_000), datetime.now(UTC))
        power = csms.transactions.evse_power
        await eventually(lambda: power("CS-1", 1) == 22_000)
    finally:
        await csms.stop()


async def test_station_clocks_in_9999_or_1970_are_not_believed(peer: WirePeer) -> None:
    started = tx_event("Started", 0, 0, import_wh=0)
    started["timestamp"] = started["meterValue"][0]["timestamp"] = "9999-12-31T23:59:59Z"
    await send(peer, started)
    updated = tx_event("Updated", 1, 10, import_wh=500)
    updated["meterValue"][0]["timestamp"] = "1970-01-01T00:00:00Z"
    await send(peer, updated)
    row = await Transaction.get(transaction_id="tx-1")
    assert row.started_at is not None and row.started_at.year < 9999
    assert row.energy_wh == 0
    assert row.data_quality == {"timestamp_implausible": 3}


async def test_a_second_started_on_an_evse_supersedes_the_active_transaction(
    csms: Csms, peer: WirePeer
) -> None:
    await send(peer, tx_event("Started", 0, 0, "tx-old", import_wh=100))
    await send(peer, tx_event("Updated", 1, 10, "tx-old", import_wh=900))
    await send(peer, tx_event("Started", 0, 0, "tx-other-evse", import_wh=0, evse_id=2))
    await send(peer, tx_event("Started", 0, 20, "tx-new", import_wh=900))
    old = await Transaction.get(transaction_id="tx-old")
    assert old.state == "ended" and old.stopped_reason == "Superseded"
    assert old.energy_wh == 800 and old.data_quality == {"superseded": 1}
    assert old.ended_at is not None
    assert (await Transaction.get(transaction_id="tx-new")).state == "active"
    assert (await Transaction.get(transaction_id="tx-other-evse")).state == "active"
    logged = await StationEvent.filter(station_id="CS-1", kind=SUPERSEDED_EVENT)
    assert [event.payload["transactionId"] for event in logged] == ["tx-old"]
    assert logged[0].payload["supersededBy"] == "tx-new"
    active = [t for t in await strict_get(csms, "/api/v1/transactions") if t["state"] == "active"]
    assert sorted(t["transaction_id"] for t in active) == ["tx-new", "tx-other-evse"]


async def test_a_late_replayed_start_never_ends_the_newer_transaction(peer: WirePeer) -> None:
    await send(peer, tx_event("Started", 0, 20, "tx-new", import_wh=0))
    await send(peer, tx_event("Started", 0, 0, "tx-replayed", import_wh=0))
    assert (await Transaction.get(transaction_id="tx-new")).state == "active"
    assert not await StationEvent.filter(kind=SUPERSEDED_EVENT).exists()


async def test_grid_reports_read_only_plausible_meter_values(peer: WirePeer) -> None:
    for seq, minutes, register, power in ((0, 0, 1000, 7000), (1, 10, 1e300, 1.7e308)):
        event = tx_event("Updated" if seq else "Started", seq, minutes, import_wh=register)
        power_sample = {"value": power, "measurand": "Power.Active.Import"}
        event["meterValue"][0]["sampledValue"].append(power_sample)
        await send(peer, event)
    await send(peer, tx_event("Updated", 2, 20, import_wh=2000))
    since = parse_timestamp(at(-60))
    registers = await events.read_registers(["CS-1"], since, parse_timestamp(at(60)))
    assert [value for _, value in registers[0]] == [1000, 2000]
    live = await events.live_evse_power(parse_timestamp(at(12)))
    assert live == {("CS-1", 1): 7000}


async def test_arrival_order_does_not_change_the_bill_or_the_flags(csms: Csms) -> None:
    events = [
        tx_event("Started", 0, 0, import_wh=1000),
        tx_event("Updated", 1, 10, import_wh=1500),
        tx_event("Ended", 2, 20, import_wh=2000, stopped_reason="EVDisconnected"),
        tx_event("Updated", 3, 21, import_wh=1e9),
        tx_event("Updated", 4, 22, import_wh=100),
    ]
    results = []
    for station, order in (("CS-A", [0, 1, 2, 3, 4]), ("CS-B", [3, 0, 4, 2, 1])):
        await add_station(station, PASSWORD)
        peer = await open_peer(csms, station, PASSWORD)
        for index in order:
            await send(peer, events[index])
        await peer.close()
        row = await Transaction.get(station_id=station, transaction_id="tx-1")
        results.append((row.energy_wh, row.data_quality, row.stopped_reason, row.ended_at))
    assert results[0] == results[1]
    assert results[0][:3] == (1000, {"event_after_ended": 2}, "EVDisconnected")
