"""Safety analytics over the wire: emulated stations with labelled faults talk to the CSMS
over real websockets on loopback (SQLite and PostgreSQL); the alerts are stored, listed,
acknowledged and closed through the REST API, counted for Prometheus, and acted on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from charge_point_emulator.clock import SimClock
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.faults import Fault, FaultKind
from charge_point_emulator.scenario import EvseSpec
from charge_point_emulator.station import EmulatedStation
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station
from csms.db.models import Alert, Transaction
from tests.ocpp_wire import WirePeer

PASSWORD = "emulated-station-password"
SPEED = 600.0
CAR = EvSpec(capacity_wh=77_000, max_ac_w=22_000)


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def make_station(csms: Csms) -> AsyncIterator[Callable[..., Awaitable[EmulatedStation]]]:
    started: list[EmulatedStation] = []

    async def factory(station_id: str, *faults: Fault) -> EmulatedStation:
        await add_station(station_id, PASSWORD)
        station = EmulatedStation(
            station_id,
            PASSWORD,
            f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
            evses=(EvseSpec(max_power_w=22_000.0),),
            clock=SimClock(SPEED),
            sample_interval_s=60,
            tick_real_s=0.02,
            response_timeout_s=3.0,
            faults=faults,
            safety_telemetry=True,
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


def _counted(kind: str, severity: str, action: str) -> float:
    labels = {"kind": kind, "severity": severity, "action": action}
    return REGISTRY.get_sample_value("csms_safety_alerts_total", labels) or 0.0


async def _alerts(http: aiohttp.ClientSession, **query: str) -> list[dict[str, Any]]:
    reply = await http.get("/api/v1/alerts", params=query)
    assert reply.status == 200, await reply.text()
    found: list[dict[str, Any]] = await reply.json()
    return found


async def test_a_hot_connector_is_alerted_with_its_reason_and_its_session_stopped(
    csms: Csms, make_station: Callable[..., Awaitable[EmulatedStation]], http: aiohttp.ClientSession
) -> None:
    await add_token("RFID-HOT")
    counted = _counted("hot_connector", "critical", "stop")
    hot = await make_station("HOT-1", Fault(FaultKind.HOT_CONNECTOR, at_s=900.0, evse=1))
    healthy = [await make_station(f"OK-{n}") for n in range(3)]
    for station in (hot, *healthy):
        station.arrive(1, CAR, 0.2, 0.9, 4 * 3600, "RFID-HOT")

    async def stopped() -> bool:
        return await Transaction.filter(station_id="HOT-1", state="ended").exists()

    await eventually(stopped)
    ended = await Transaction.get(station_id="HOT-1")
    assert ended.stopped_reason == "Remote"  # RequestStopTransaction, not the driver
    await csms.safety.drained()
    [alert] = await _alerts(http, station="HOT-1")
    assert alert["kind"] == "hot_connector" and alert["severity"] == "critical"
    assert alert["action"] == "stop" and alert["status"] == "open"
    assert alert["evse_id"] == 1 and alert["transaction_id"] == ended.transaction_id
    assert alert["readings"]["temperature_c"] >= alert["threshold"] == 80.0
    assert "°C" in alert["reason"]
    assert _counted("hot_connector", "critical", "stop") == counted + 1
    # The healthy peers, charging alike all along, raised nothing.
    assert await Alert.filter(station_id__startswith="OK-").count() == 0
    assert all(s.evses[1].tx is not None for s in healthy)

    overview = await (await http.get("/api/v1/overview")).json()
    assert [a["id"] for a in overview["safety_alerts"]] == [alert["id"]]  # the console shows it

    reply = await http.post(f"/api/v1/alerts/{alert['id']}/acknowledge")
    assert reply.status == 200 and (await reply.json())["status"] == "acknowledged"
    assert [a["id"] for a in await _alerts(http, open="true", kind="hot_connector")] == [
        alert["id"]
    ]
    reply = await http.post(f"/api/v1/alerts/{alert['id']}/close")
    assert reply.status == 200 and (await reply.json())["status"] == "closed"
    assert await _alerts(http, open="true") == []
    assert len(await _alerts(http, open="false", severity="critical")) == 1
    reply = await http.post(f"/api/v1/alerts/{alert['id']}/close")
    assert reply.status == 409
    assert (await http.post("/api/v1/alerts/999999/acknowledge")).status == 404
    assert (await http.get("/api/v1/alerts", params={"kind": "nonsense"})).status == 422


async def test_a_station_in_a_reboot_loop_is_alerted(
    csms: Csms, make_station: Callable[..., Awaitable[EmulatedStation]], http: aiohttp.ClientSession
) -> None:
    station = await make_station("LOOP-1", Fault(FaultKind.REBOOT_LOOP, at_s=300.0, delay_s=120.0))

    async def alerted() -> bool:
        return await Alert.filter(station_id="LOOP-1", kind="reboot_loop").exists()

    await eventually(alerted)
    assert station.boots >= 3
    [alert] = await _alerts(http, station="LOOP-1", kind="reboot_loop")
    assert alert["evse_id"] == 0 and alert["action"] == "alert"
    assert alert["readings"]["events"] >= alert["threshold"] == 3.0


async def test_a_reset_energy_register_is_alerted(
    csms: Csms, make_station: Callable[..., Awaitable[EmulatedStation]], http: aiohttp.ClientSession
) -> None:
    await add_token("RFID-RESET")
    station = await make_station("RESET-1", Fault(FaultKind.REGISTER_RESET, at_s=1200.0, evse=1))
    station.arrive(1, CAR, 0.2, 0.9, 4 * 3600, "RFID-RESET")

    async def alerted() -> bool:
        return await Alert.filter(station_id="RESET-1", kind="register_reset").exists()

    await eventually(alerted)
    [alert] = await _alerts(http, station="RESET-1")
    assert alert["readings"]["register_wh"] < alert["readings"]["previous_wh"]


async def test_a_flapping_link_is_alerted(
    csms: Csms, make_station: Callable[..., Awaitable[EmulatedStation]], http: aiohttp.ClientSession
) -> None:
    drops = [
        Fault(FaultKind.DROP_CONNECTION, at_s=180.0 * n, duration_s=30.0) for n in range(1, 13)
    ]
    await make_station("FLAP-1", *drops)

    async def alerted() -> bool:
        return await Alert.filter(station_id="FLAP-1", kind="link_flapping").exists()

    await eventually(alerted)
    [alert] = await _alerts(http, station="FLAP-1")
    assert alert["readings"]["events"] == alert["threshold"] == 6.0
    assert alert["readings"]["span_s"] <= 1800.0


async def test_callerror_burst_counts_what_the_gateway_refuses(
    csms: Csms, peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    """Schema violations and broken frames are answered by the gateway before any handler;
    they count towards the burst like a handler's refusals."""
    for n in range(6):
        answer = await peer.call("StatusNotification", {"evseId": n})  # fields missing
        assert answer[0] == 4 and answer[2] == "OccurrenceConstraintViolation", answer
    for n in range(3):
        answer = await peer.call("Heartbeat", {"unexpected": n})
        assert answer[0] == 4, answer
    await peer.send_raw('[2, "broken-1", "Heartbeat"]')  # a CALL without its payload
    assert (await peer.expect_call())[0] == 4

    async def alerted() -> bool:
        await csms.safety.drained()
        return await Alert.filter(station_id="CS-1", kind="call_error_burst").exists()

    await eventually(alerted)
    [alert] = await _alerts(http, station="CS-1")
    assert alert["readings"]["events"] == alert["threshold"] == 10.0
