"""The CSMS against emulated stations (the emulator is an independent `ocpp` client) over
real websockets on loopback, on SQLite and PostgreSQL. The emulator's clock runs 600x, so
a simulated hour takes six seconds; tests wait on conditions, never on sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from charge_point_emulator.clock import SimClock
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.scenario import EvseSpec, EvseType
from charge_point_emulator.station import ConnectionState, EmulatedStation
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station, get_station
from csms.db.models import ChargingNeeds, DeviceVariable, Transaction, TransactionEvent

PASSWORD = "emulated-station-password"
SPEED = 600.0


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 60.0) -> None:
    """Poll the database until `check` holds (the CSMS stores asynchronously to the test)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def make_station(csms: Csms) -> AsyncIterator[Callable[..., Awaitable[EmulatedStation]]]:
    started: list[EmulatedStation] = []

    async def factory(station_id: str = "EMU-1", **options: Any) -> EmulatedStation:
        await add_station(station_id, PASSWORD)
        settings: dict[str, Any] = {
            "clock": SimClock(SPEED),
            "sample_interval_s": 60,
            "tick_real_s": 0.02,
            "response_timeout_s": 3.0,
        }
        settings.update(options)
        station = EmulatedStation(
            station_id, PASSWORD, f"ws://127.0.0.1:{csms.ocpp_port}/ocpp", **settings
        )
        started.append(station)
        await station.start()
        await station.wait_until(lambda: station.online)
        return station

    yield factory
    for station in started:
        await station.stop()


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def command(
    http: aiohttp.ClientSession, station_id: str, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    reply = await http.post(f"/api/v1/stations/{station_id}/commands/{action}", json=payload)
    assert reply.status == 200, await reply.text()
    answer: dict[str, Any] = await reply.json()
    return answer


async def test_boot_and_status_make_the_station_visible(make_station: Callable[..., Any]) -> None:
    await make_station(evses=(EvseSpec(), EvseSpec()))

    async def both_available() -> bool:
        view = await get_station("EMU-1")
        return [c["status"] for c in view.connectors] == ["Available", "Available"]

    await eventually(both_available)
    view = await get_station("EMU-1")
    assert view.connected and view.vendor_name == "Emulator" and view.protocol == "ocpp2.0.1"


async def test_a_charging_session_is_stored_with_the_energy_really_delivered(
    make_station: Callable[..., Any],
) -> None:
    await add_token("RFID-1")
    station = await make_station()
    station.arrive(1, EvSpec(capacity_wh=60_000, max_ac_w=11_000), 0.3, 0.9, 1800, "RFID-1")
    await station.wait_until(lambda: station.evses[1].ev is None, within_s=20)

    async def ended() -> bool:
        return await Transaction.filter(station_id="EMU-1", state="ended").exists()

    await eventually(ended)
    row = await Transaction.get(station_id="EMU-1")
    truth = station.truth.transactions[row.transaction_id]
    assert row.energy_wh == pytest.approx(truth.delivered_wh, abs=1.0)
    assert row.energy_wh > 4000
    assert row.id_token == "RFID-1" and row.stopped_reason == "EVDisconnected"
    assert row.seq_gaps == []


async def test_offline_session_is_replayed_and_stored_without_loss(
    make_station: Callable[..., Any],
) -> None:
    await add_token("RFID-2")
    station = await make_station()
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID-2")
    await station.wait_until(lambda: station.evses[1].tx is not None)
    await station.drop_connection()
    await station.wait_until(lambda: station.state is ConnectionState.OFFLINE)
    await station.wait_until(lambda: len(station.queue) >= 5)
    station.unplug(1)
    station.restore_connection()
    await station.wait_until(lambda: station.online and len(station.queue) == 0, within_s=20)

    async def ended() -> bool:
        return await Transaction.filter(station_id="EMU-1", state="ended").exists()

    await eventually(ended)
    row = await Transaction.get(station_id="EMU-1")
    assert row.seq_gaps == []
    truth = station.truth.transactions[row.transaction_id]
    assert row.energy_wh == pytest.approx(truth.delivered_wh, abs=1.0)
    seqs = [e.seq_no for e in await TransactionEvent.filter(station_id="EMU-1").order_by("seq_no")]
    assert seqs == list(range(len(seqs)))
    assert await TransactionEvent.filter(station_id="EMU-1", offline=True).count() >= 5


async def test_truth_counts_what_the_csms_acknowledged_when_a_run_stops_with_events_queued(
    make_station: Callable[..., Any],
) -> None:
    await add_token("RFID-3")
    station = await make_station()
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID-3")
    await station.wait_until(lambda: station.evses[1].tx is not None)
    await station.wait_until(
        lambda: (
            station.truth.transactions
            and any(t.acknowledged_wh > 0 for t in station.truth.transactions.values())
        ),
        within_s=30,
    )
    await station.drop_connection()
    await station.wait_until(lambda: len(station.queue) >= 3, within_s=30)
    await station.stop()  # the queued meter values never reach the CSMS

    (truth,) = station.truth.transactions.values()
    row = await Transaction.get(station_id="EMU-1")
    assert row.state == "active"
    assert row.energy_wh == pytest.approx(truth.acknowledged_wh, abs=0.1)
    assert truth.delivered_wh > truth.acknowledged_wh + 100  # what was still queued


async def test_remote_start_stop_and_status_through_the_api(
    make_station: Callable[..., Any], http: aiohttp.ClientSession
) -> None:
    await add_token("APP", "Central")
    station = await make_station()
    station.plug_in(1, EvSpec(), 0.5, 0.9, 7200)
    started = await command(
        http,
        "EMU-1",
        "RequestStartTransaction",
        {"idToken": {"idToken": "APP", "type": "Central"}, "remoteStartId": 42, "evseId": 1},
    )
    assert started["status"] == "Accepted"
    transaction_id = started["transactionId"]

    async def remote_started() -> bool:
        return await Transaction.filter(transaction_id=transaction_id, remote_start_id=42).exists()

    await eventually(remote_started)
    status = await command(http, "EMU-1", "GetTransactionStatus", {"transactionId": transaction_id})
    assert status["ongoingIndicator"] is True
    stop = await command(http, "EMU-1", "RequestStopTransaction", {"transactionId": transaction_id})
    assert stop["status"] == "Accepted"

    async def stopped_remotely() -> bool:
        return await Transaction.filter(
            transaction_id=transaction_id, state="ended", stopped_reason="Remote"
        ).exists()

    await eventually(stopped_remotely)


async def test_operator_commands_reach_the_emulated_station(
    make_station: Callable[..., Any], http: aiohttp.ClientSession
) -> None:
    await make_station()
    heartbeat = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    set_result = await command(
        http, "EMU-1", "SetVariables", {"setVariableData": [{**heartbeat, "attributeValue": "120"}]}
    )
    assert set_result["setVariableResult"][0]["attributeStatus"] == "Accepted"
    got = await command(http, "EMU-1", "GetVariables", {"getVariableData": [heartbeat]})
    assert got["getVariableResult"][0]["attributeValue"] == "120"
    unlock = await command(http, "EMU-1", "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert unlock["status"] in ("Unlocked", "UnlockFailed")
    availability = await command(
        http, "EMU-1", "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    )
    assert availability["status"] == "Accepted"

    async def unavailable() -> bool:
        view = await get_station("EMU-1")
        return [c["status"] for c in view.connectors] == ["Unavailable"]

    await eventually(unavailable)
    trigger = await command(http, "EMU-1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert trigger["status"] == "Accepted"
    reset = await command(http, "EMU-1", "Reset", {"type": "Immediate"})
    assert reset["status"] == "Accepted"


async def test_base_report_builds_the_device_model(
    make_station: Callable[..., Any], http: aiohttp.ClientSession
) -> None:
    await make_station()
    answer = await command(
        http, "EMU-1", "GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"}
    )
    assert answer["status"] == "Accepted"

    async def reported() -> bool:
        return await DeviceVariable.filter(
            station_id="EMU-1", component="SmartChargingCtrlr"
        ).exists()

    await eventually(reported)
    components = {v.component for v in await DeviceVariable.filter(station_id="EMU-1")}
    assert {"ChargingStation", "EVSE", "Connector", "OCPPCommCtrlr", "TxCtrlr"} <= components
    reply = await http.get(
        "/api/v1/stations/EMU-1/variables", params={"component": "OCPPCommCtrlr"}
    )
    assert any(v["variable"] == "HeartbeatInterval" for v in await reply.json())


async def test_iso15118_needs_are_stored_for_the_planner(make_station: Callable[..., Any]) -> None:
    station = await make_station(evses=(EvseSpec(EvseType.DC, 150_000),))
    station.arrive(1, EvSpec(capacity_wh=80_000, iso15118=True), 0.25, 0.75, 3600, "RFID")

    async def stored() -> bool:
        return await ChargingNeeds.filter(station_id="EMU-1", evse_id=1).exists()

    await eventually(stored)
    needs = await ChargingNeeds.get(station_id="EMU-1", evse_id=1)
    assert needs.requested_energy_wh == 40_000 and needs.departure_time is not None


async def test_local_list_cache_and_data_transfer_reach_the_emulated_station(
    make_station: Callable[..., Any], http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await add_token("LOCAL-1")
    await add_token("LOCAL-2", status="Blocked")
    for version in (1, 2):
        pushed = await http.post("/api/v1/stations/EMU-1/local-list")
        assert pushed.status == 200
        assert (await pushed.json())["versionNumber"] == version
    assert station.local_list.entries == {
        ("LOCAL-1", "ISO14443"): "Accepted",
        ("LOCAL-2", "ISO14443"): "Blocked",
    }
    assert (await command(http, "EMU-1", "GetLocalListVersion", {}))["versionNumber"] == 2
    assert (await command(http, "EMU-1", "ClearCache", {}))["status"] == "Accepted"
    answer = await command(http, "EMU-1", "DataTransfer", {"vendorId": "com.example"})
    assert answer["status"] == "UnknownVendorId"
