"""The live swap service over real sockets: a swap station on OCPP 2.1 (BatterySwap /
RequestBatterySwap) or 2.0.1 (DataTransfer), vehicles and a roadside unit on the REST API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from csms.app import Csms
from csms.blocks.stations import add_station
from csms.db.models import SwapEvent
from swap_orchestrator.audit import audit
from swap_orchestrator.live import PERCEPTION_COMPONENT, PERCEPTION_VARIABLE, VENDOR_ID
from tests.conftest import settings_for
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import boot

PASSWORD = "swap-station-password-1"
ROOT = Path(__file__).resolve().parent.parent
STATION = "PSS-1"


def station_doc() -> dict[str, Any]:
    return {
        "id": STATION,
        "bays": 1,
        "swap_s": 180,
        "approach_s": 45,
        "battery_types": ["75kWh"],
        "rack_charge_w": 60000,
        "grid_limit_w": 200000,
        "aux_w": 20000,
        "import_price": [0.1] * 24,
        "min_handout_soc": 0.9,
        "batteries": [
            {"serial": "R1", "type": "75kWh", "capacity_wh": 75000, "soc": 0.95, "soh": 0.97},
            {"serial": "R2", "type": "75kWh", "capacity_wh": 75000, "soc": 0.5, "soh": 0.9},
        ],
    }


def vehicle_doc(vehicle: str, serial: str) -> dict[str, Any]:
    return {
        "vehicle": vehicle,
        "priority": "normal",
        "battery": {
            "serial": serial,
            "type": "75kWh",
            "capacity_wh": 75000,
            "soc": 0.15,
            "soh": 0.93,
        },
    }


def battery_swap_events(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The station's BatterySwap events for a RequestBatterySwap payload of car-1's swap:
    the car's battery V-B1 in (as measured), then the rack's R1 out."""
    return [
        {
            "eventType": event,
            "requestId": request["requestId"],
            "idToken": request["idToken"],
            "batteryData": [data],
        }
        for event, data in (
            ("BatteryIn", {"evseId": 3, "serialNumber": "V-B1", "soC": 14.0, "soH": 92.0}),
            ("BatteryOut", {"evseId": 1, "serialNumber": "R1", "soC": 95.0, "soH": 97.0}),
        )
    ]


class StationPeer:
    """A raw OCPP peer acting as the swap station: answers rack-power updates, hands every
    other CSMS CALL to the test."""

    def __init__(self, peer: WirePeer) -> None:
        self.peer = peer
        self.calls: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.rack_power: list[dict[str, float]] = []
        self._task = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        while True:
            frame = await self.peer.incoming.get()
            if frame[2] == "DataTransfer" and frame[3].get("messageId") == "RackPower":
                self.rack_power.append(frame[3]["data"]["powerW"])
                await self.peer.answer(frame[1], {"status": "Accepted"})
            else:
                await self.calls.put(frame)

    async def expect(self, action: str, message_id: str | None = None) -> list[Any]:
        frame = await asyncio.wait_for(self.calls.get(), 10)
        assert frame[2] == action
        if message_id is not None:
            assert frame[3]["messageId"] == message_id
        return frame

    async def close(self) -> None:
        self._task.cancel()
        await self.peer.close()


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def connect_station(csms: Csms, subprotocol: str) -> StationPeer:
    await add_station(STATION, PASSWORD, None)
    peer = await open_peer(csms, STATION, PASSWORD, subprotocol)
    answer = await peer.call("BootNotification", boot())
    assert answer[2]["status"] == "Accepted"
    return StationPeer(peer)


def report(vehicle: str, stage: str, n: int, **fields: Any) -> dict[str, Any]:
    observed = datetime.now(UTC) - timedelta(seconds=0.05)
    return {
        "id": f"rsu-{n}",
        "vehicle": vehicle,
        "stage": stage,
        "observed_at": observed.isoformat(),
        **fields,
    }


async def perceive(http: aiohttp.ClientSession, *reports: dict[str, Any]) -> None:
    reply = await http.post(
        "/api/v1/swap/perception", json={"station": STATION, "reports": reports}
    )
    assert reply.status == 200, await reply.text()
    assert (await reply.json())["accepted"] == len(reports)


async def position(http: aiohttp.ClientSession, vehicle: str, where: str) -> dict[str, Any]:
    reply = await http.post(f"/api/v1/swap/vehicles/{vehicle}/position", json={"position": where})
    assert reply.status == 200, await reply.text()
    result: dict[str, Any] = await reply.json()
    return result


async def instruction(
    http: aiohttp.ClientSession, vehicle: str, after: int, wait: float = 5.0
) -> dict[str, Any]:
    reply = await http.get(
        f"/api/v1/swap/vehicles/{vehicle}", params={"after": after, "wait": wait}
    )
    assert reply.status == 200
    result: dict[str, Any] = await reply.json()
    return result


async def station_data_transfer(peer: WirePeer, message: str, data: dict[str, Any]) -> None:
    answer = await peer.call(
        "DataTransfer", {"vendorId": VENDOR_ID, "messageId": message, "data": data}
    )
    assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer


async def drive_into_bay(http: aiohttp.ClientSession, vehicle: str) -> None:
    """Request, prepare, approach on a fresh clear-path report, stop in the bay aligned."""
    created = await http.post(
        f"/api/v1/swap/stations/{STATION}/vehicles", json=vehicle_doc(vehicle, "V-B1")
    )
    assert created.status == 201
    first = await created.json()
    assert (first["action"], first["bay"]) == ("prepare", 1)
    await perceive(http, report(vehicle, "approach", 1, path_clear=True))
    told = await position(http, vehicle, "ready")
    assert (told["action"], told["bay"]) == ("drive_to_bay", 1)
    await perceive(http, report(vehicle, "bay", 2, lateral_offset_mm=10, yaw_deg=0.2))
    await position(http, vehicle, "in_bay")


@pytest.mark.parametrize("subprotocol", ["ocpp2.1", "ocpp2.0.1"])
async def test_vehicle_is_swapped_by_a_station_on_either_protocol_and_the_log_is_stored(
    csms: Csms, http: aiohttp.ClientSession, subprotocol: str
) -> None:
    assert (await http.post("/api/v1/swap/stations", json=station_doc())).status == 201
    station = await connect_station(csms, subprotocol)
    try:
        await drive_into_bay(http, "car-1")
        scan = await station.expect("DataTransfer", "Scan")
        assert scan[3]["data"] == {"vehicle": "car-1", "bay": 1}
        await station.peer.answer(scan[1], {"status": "Accepted"})
        await perceive(http, report("car-1", "bay", 3))  # the bay camera keeps watching
        await station_data_transfer(
            station.peer,
            "ScanDone",
            {"vehicle": "car-1", "bay": 1, "report": report("car-1", "underbody", 4)},
        )
        if subprotocol == "ocpp2.1":
            request = await station.expect("RequestBatterySwap")
            payload = request[3]
        else:
            request = await station.expect("DataTransfer", "RequestBatterySwap")
            payload = request[3]["data"]
        assert payload["idToken"]["idToken"] == "car-1"
        # The fullest battery at or above the hand-out SoC goes into the car.
        assert payload["customData"] == {
            "vendorId": VENDOR_ID,
            "bay": 1,
            "batteryOut": "V-B1",
            "batteryIn": "R1",
        }
        await station.peer.answer(request[1], {"status": "Accepted"})
        for swap in battery_swap_events(payload):
            if subprotocol == "ocpp2.1":
                answer = await station.peer.call("BatterySwap", swap)
                assert answer[0] == 3, answer
            else:
                await station_data_transfer(station.peer, "BatterySwap", swap)
            await perceive(http, report("car-1", "bay", 5))
        told = await instruction(http, "car-1", after=-1)
        assert told["action"] == "leave"
        assert (await position(http, "car-1", "left"))["action"] == "done"
        reports = csms.swap.station(STATION).orch.reports
        assert not [key for key in reports if key[0] == "car-1"]  # forgotten once gone

        view = await (await http.get(f"/api/v1/swap/stations/{STATION}")).json()
        assert view["bays"] == [{"number": 1, "state": "idle", "vehicle": None}]
        assert view["swaps"] == 1
        rack = {b["serial"]: b for b in view["rack"]}
        # The returned battery is in the rack with what the station measured.
        assert set(rack) == {"R2", "V-B1"} and rack["V-B1"]["soc"] == pytest.approx(0.14)
        kinds = [e["kind"] for e in await event_log(http)]
        assert kinds.index("swap_started") < kinds.index("swap_completed") < kinds.index("released")
        stored = await SwapEvent.filter(station_id=STATION).order_by("id")
        assert [row.kind for row in stored] == kinds
        span = (stored[-1].at - stored[0].at).total_seconds()
        assert span == pytest.approx(stored[-1].t - stored[0].t, abs=1e-3)
    finally:
        await station.close()


async def event_log(http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    reply = await http.get(f"/api/v1/swap/stations/{STATION}/events")
    assert reply.status == 200
    events: list[dict[str, Any]] = (await reply.json())["events"]
    return events


async def test_damaged_battery_is_refused_and_flagged_and_never_swapped(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await http.post("/api/v1/swap/stations", json=station_doc())
    station = await connect_station(csms, "ocpp2.1")
    try:
        await drive_into_bay(http, "car-2")
        scan = await station.expect("DataTransfer", "Scan")
        await station.peer.answer(scan[1], {"status": "Accepted"})
        await perceive(http, report("car-2", "bay", 3))
        dented = report("car-2", "underbody", 4, casing_damage=0.9)
        await station_data_transfer(
            station.peer, "ScanDone", {"vehicle": "car-2", "bay": 1, "report": dented}
        )
        told = await instruction(http, "car-2", after=-1)
        assert told["action"] in ("refused", "leave")
        refused = [e for e in await event_log(http) if e["kind"] == "refused"]
        assert refused and refused[0]["reason"] == "battery_casing_damage"
        assert station.calls.empty()  # no RequestBatterySwap was sent
        assert not any(e["kind"] == "swap_started" for e in await event_log(http))
    finally:
        await station.close()


async def test_vehicle_is_held_without_a_fresh_report_and_moves_once_one_arrives(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await http.post("/api/v1/swap/stations", json=station_doc())
    created = await http.post(
        f"/api/v1/swap/stations/{STATION}/vehicles", json=vehicle_doc("car-3", "V-B3")
    )
    assert (await created.json())["action"] == "prepare"
    stale = report("car-3", "approach", 1, path_clear=True)
    stale["observed_at"] = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    await perceive(http, stale)
    held = await position(http, "car-3", "ready")
    assert held["action"] == "prepare"  # not told to drive
    gates = [e for e in await event_log(http) if e["kind"] == "gate"]
    assert gates[-1]["passed"] is False and gates[-1]["reason"] == "report_stale"
    # The service re-checks on its own; a roadside unit reports several times a second.

    async def roadside() -> None:
        for n in range(2, 100):
            await perceive(http, report("car-3", "approach", n, path_clear=True))
            await asyncio.sleep(0.2)

    reporting = asyncio.create_task(roadside())
    try:
        moved = await instruction(http, "car-3", after=held["seq"])
    finally:
        reporting.cancel()
    assert (moved["action"], moved["bay"]) == ("drive_to_bay", 1)


async def test_queued_vehicle_can_cancel_and_bad_requests_say_why(
    http: aiohttp.ClientSession,
) -> None:
    assert (await http.post("/api/v1/swap/stations", json={"id": "x"})).status == 422
    await http.post("/api/v1/swap/stations", json=station_doc())
    assert (await http.post("/api/v1/swap/stations", json=station_doc())).status == 409
    url = f"/api/v1/swap/stations/{STATION}/vehicles"
    await http.post(url, json=vehicle_doc("car-4", "V-4"))
    second = await (await http.post(url, json=vehicle_doc("car-5", "V-5"))).json()
    assert second["action"] == "wait"  # one bay, taken by car-4
    assert (await http.post(url, json=vehicle_doc("car-5", "V-5"))).status == 409
    cancelled = await (await http.delete("/api/v1/swap/vehicles/car-5")).json()
    assert cancelled["action"] == "done"
    view = await (await http.get(f"/api/v1/swap/stations/{STATION}")).json()
    assert view["queue"] == [] and view["bays"][0]["vehicle"] == "car-4"
    assert (await http.get("/api/v1/swap/stations/nope")).status == 404
    assert (await http.get("/api/v1/swap/vehicles/nobody")).status == 404
    bad = await http.post("/api/v1/swap/vehicles/car-4/position", json={"position": "flying"})
    assert bad.status == 422
    stranger = await http.post(
        "/api/v1/swap/perception",
        json={"station": STATION, "reports": [report("stranger", "approach", 9)]},
    )
    assert (await stranger.json())["accepted"] == 0  # not visiting: dropped
    wrong = await http.post(
        "/api/v1/swap/perception",
        json={"station": STATION, "reports": [{"id": "r", "vehicle": "car-4"}]},
    )
    assert wrong.status == 422


async def swap_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "cli.py", "swap", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "160"},
    )


async def test_swap_status_shows_bays_queue_and_rack_of_the_running_service(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await http.post("/api/v1/swap/stations", json=station_doc())
    url = f"/api/v1/swap/stations/{STATION}/vehicles"
    await http.post(url, json=vehicle_doc("car-6", "V-6"))
    await http.post(url, json=vehicle_doc("car-7", "V-7"))
    api = f"http://127.0.0.1:{csms.api_port}"
    shown = await swap_cli("status", STATION, "--once", "--api", api)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "reserved" in out and "car-6" in out  # bay 1 called car-6
    assert "car-7" in out and "normal" in out  # waiting in the queue
    assert "R1" in out and "95.0%" in out  # the rack
    missing = await swap_cli("status", "nope", "--once", "--api", api)
    assert missing.returncode == 1 and "404" in missing.stdout


async def test_racks_feed_back_while_the_grid_asks_and_charge_again_after(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    doc = dict(station_doc(), rack_discharge_w=30000)
    assert (await http.post("/api/v1/swap/stations", json=doc)).status == 201
    now = datetime.now(UTC)
    asked = await http.post(
        f"/api/v1/swap/stations/{STATION}/grid-requests",
        json={
            "from": (now - timedelta(seconds=1)).isoformat(),
            "to": (now + timedelta(seconds=3)).isoformat(),
            "max_net_w": -40000,
        },
    )
    assert asked.status == 201, await asked.text()

    async def grid_w() -> float:
        view = await (await http.get(f"/api/v1/swap/stations/{STATION}")).json()
        return float(view["grid_w"])

    async def until(condition: Any) -> float:
        for _ in range(1200):
            value = await grid_w()
            if condition(value):
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"grid_w stayed {value}")

    # Auxiliaries 20 kW; both racks feed back 30 kW: the station exports 40 kW.
    assert await until(lambda w: w < 0) == pytest.approx(-40000, abs=1.0)
    # The request ends: the half-empty battery charges again.
    assert await until(lambda w: w > 20000) <= 200000
    bad = await http.post(
        f"/api/v1/swap/stations/{STATION}/grid-requests",
        json={"from": now.isoformat(), "to": now.isoformat(), "max_net_w": 0},
    )
    assert bad.status == 422


async def test_waiting_vehicle_is_called_once_the_station_reports_a_charged_battery(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    doc = station_doc()
    doc["batteries"] = [dict(b, soc=0.5) for b in doc["batteries"]]
    await http.post("/api/v1/swap/stations", json=doc)
    station = await connect_station(csms, "ocpp2.0.1")
    try:
        url = f"/api/v1/swap/stations/{STATION}/vehicles"
        waiting = await (await http.post(url, json=vehicle_doc("car-8", "V-8"))).json()
        assert waiting["action"] == "wait"
        held = [e for e in await event_log(http) if e["kind"] == "held"]
        assert held[-1]["reason"] == "no_battery"
        rack = [
            {"evseId": 1, "serialNumber": "R1", "soC": 50.0, "soH": 97.0},
            {"evseId": 2, "serialNumber": "R2", "soC": 92.5, "soH": 90.0},
        ]
        await station_data_transfer(station.peer, "RackStatus", {"batteryData": rack})
        called = await instruction(http, "car-8", after=waiting["seq"])
        assert (called["action"], called["bay"]) == ("prepare", 1)
        view = await (await http.get(f"/api/v1/swap/stations/{STATION}")).json()
        assert {b["serial"]: b["reserved_for"] for b in view["rack"]} == {"R1": None, "R2": "car-8"}
    finally:
        await station.close()


def perception_event(event_id: int, report: dict[str, Any] | str) -> dict[str, Any]:
    """One NotifyEvent `eventData` entry carrying a perception report (README)."""
    return {
        "eventId": event_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "trigger": "Delta",
        "actualValue": report if isinstance(report, str) else json.dumps(report),
        "eventNotificationType": "CustomMonitor",
        "component": {"name": PERCEPTION_COMPONENT},
        "variable": {"name": PERCEPTION_VARIABLE},
    }


async def notify_event(peer: WirePeer, *entries: dict[str, Any]) -> None:
    answer = await peer.call(
        "NotifyEvent",
        {"generatedAt": datetime.now(UTC).isoformat(), "seqNo": 0, "eventData": list(entries)},
    )
    assert answer[0] == 3, answer


@pytest.mark.parametrize("subprotocol", ["ocpp2.1", "ocpp2.0.1"])
async def test_station_perception_by_notify_event_drives_the_gates(
    csms: Csms, http: aiohttp.ClientSession, subprotocol: str
) -> None:
    assert (await http.post("/api/v1/swap/stations", json=station_doc())).status == 201
    station = await connect_station(csms, subprotocol)
    try:
        created = await http.post(
            f"/api/v1/swap/stations/{STATION}/vehicles", json=vehicle_doc("car-6", "V-B6")
        )
        first = await created.json()
        assert first["action"] == "prepare"
        blocked = report("car-6", "approach", 1, path_clear=False)
        other = dict(perception_event(2, "Available"), component={"name": "EVSE"})
        await notify_event(station.peer, perception_event(1, blocked), other)
        held = await position(http, "car-6", "ready")
        assert held["action"] == "prepare"  # a person on the path: not told to drive
        gate = [e for e in await event_log(http) if e["kind"] == "gate"][-1]
        assert (gate["passed"], gate["reason"], gate["report_id"]) == (
            False,
            "path_not_clear",
            "rsu-1",
        )
        # Broken reports are dropped (the message is still stored and answered); a report
        # without observed_at was observed at the entry's timestamp.
        broken = report("car-6", "approach", 2, path_clear="false")

        async def station_camera() -> None:  # a station reports several times a second
            for n in range(3, 100):
                clear = report("car-6", "approach", n, path_clear=True)
                del clear["observed_at"]
                entries = [perception_event(n, "not json"), perception_event(n, broken)]
                await notify_event(station.peer, *entries, perception_event(n, clear))
                await asyncio.sleep(0.2)

        reporting = asyncio.create_task(station_camera())
        try:
            moved = await instruction(http, "car-6", after=held["seq"])
        finally:
            reporting.cancel()
        assert (moved["action"], moved["bay"]) == ("drive_to_bay", 1)
        passed = [e for e in await event_log(http) if e["kind"] == "gate" and e["passed"]]
        assert passed[0]["report_id"].startswith("rsu-")
        assert passed[0]["report_id"] != "rsu-2"  # the broken report never counted
    finally:
        await station.close()


async def test_perception_flag_that_is_not_a_boolean_is_refused(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await http.post("/api/v1/swap/stations", json=station_doc())
    await http.post(f"/api/v1/swap/stations/{STATION}/vehicles", json=vehicle_doc("car-7", "V7"))
    reply = await http.post(
        "/api/v1/swap/perception",
        json={"station": STATION, "reports": [report("car-7", "approach", 1, path_clear="no")]},
    )
    assert reply.status == 422
    assert "path_clear" in (await reply.json())["error"]


async def swap_car_1(station: StationPeer, http: aiohttp.ClientSession) -> None:
    """car-1's whole visit over OCPP 2.0.1: it leaves with R1, its V-B1 (14%) stays."""
    await drive_into_bay(http, "car-1")
    scan = await station.expect("DataTransfer", "Scan")
    await station.peer.answer(scan[1], {"status": "Accepted"})
    await perceive(http, report("car-1", "bay", 3))
    await station_data_transfer(
        station.peer,
        "ScanDone",
        {"vehicle": "car-1", "bay": 1, "report": report("car-1", "underbody", 4)},
    )
    request = await station.expect("DataTransfer", "RequestBatterySwap")
    await station.peer.answer(request[1], {"status": "Accepted"})
    for swap in battery_swap_events(request[3]["data"]):
        await station_data_transfer(station.peer, "BatterySwap", swap)
        await perceive(http, report("car-1", "bay", 5))
    assert (await instruction(http, "car-1", after=-1))["action"] == "leave"
    assert (await position(http, "car-1", "left"))["action"] == "done"


async def test_registration_and_rack_survive_a_restart_mid_day_and_put_updates_it(
    db_url: str,
) -> None:
    doc = station_doc()
    doc["batteries"].append(
        {"serial": "R3", "type": "75kWh", "capacity_wh": 75000, "soc": 0.93, "soh": 0.95}
    )
    first = Csms(settings_for(db_url))
    await first.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{first.api_port}") as http:
            assert (await http.post("/api/v1/swap/stations", json=doc)).status == 201
            station = await connect_station(first, "ocpp2.0.1")
            try:
                await swap_car_1(station, http)
            finally:
                await station.close()
            called = await http.post(
                f"/api/v1/swap/stations/{STATION}/vehicles", json=vehicle_doc("car-2", "V-B2")
            )
            assert (await called.json())["action"] == "prepare"  # called to bay 1
            changed = dict(doc, import_price=[0.2] * 24)
            busy = await http.put(f"/api/v1/swap/stations/{STATION}", json=changed)
            assert busy.status == 409  # not under a vehicle in service
            before = await event_log(http)
    finally:
        await first.stop()

    second = Csms(settings_for(db_url))
    await second.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{second.api_port}") as http:
            view = await (await http.get(f"/api/v1/swap/stations/{STATION}")).json()
            rack = {b["serial"]: b for b in view["rack"]}
            # The rack as of the last swap: R1 left with car-1, its V-B1 stayed as measured.
            assert set(rack) == {"R2", "R3", "V-B1"} and rack["V-B1"]["soc"] == pytest.approx(0.14)
            # Nobody knows whether car-2 is in bay 1: out of service until the station says.
            assert view["bays"] == [{"number": 1, "state": "fault", "vehicle": None}]
            assert (await http.get("/api/v1/swap/vehicles/car-2")).status == 404
            after = await event_log(http)
            assert after[: len(before)] == before  # the log runs on, in time too
            restart, fault = after[len(before) : len(before) + 2]
            assert (restart["kind"], restart["bays"]) == ("restarted", [1])
            assert fault["kind"] == "bay_fault" and fault["bay"] == 1
            assert restart["t"] >= before[-1]["t"]
            stored = await SwapEvent.filter(station_id=STATION).order_by("id")
            assert [row.record for row in stored] == after
            # The station is provisioned already: it reconnects.
            station = StationPeer(await open_peer(second, STATION, PASSWORD, "ocpp2.0.1"))
            try:
                await station_data_transfer(
                    station.peer, "BayStatus", {"bay": 1, "status": "Operative"}
                )
            finally:
                await station.close()
            again = await http.post(
                f"/api/v1/swap/stations/{STATION}/vehicles", json=vehicle_doc("car-2", "V-B2")
            )
            assert (await again.json())["action"] == "prepare"
            assert (await http.delete("/api/v1/swap/vehicles/car-2")).status == 200
            # The independent audit reads the whole day, across the restart: car-2 is called
            # to bay 1 again only after the station reported it recovered.
            kinds = [e["kind"] for e in await event_log(http)]
            assert kinds.index("restarted") < kinds.index("bay_recovered")
            assert await audit_of_day(http, doc, second) == []
            changed = dict(doc, import_price=[0.2] * 24, bays=2)
            updated = await http.put(f"/api/v1/swap/stations/{STATION}", json=changed)
            assert updated.status == 200, await updated.text()
            assert len((await updated.json())["bays"]) == 2
            created = await http.put("/api/v1/swap/stations/PSS-2", json=dict(doc, id="PSS-2"))
            assert created.status == 201
            wrong = await http.put("/api/v1/swap/stations/PSS-3", json=dict(doc, id="PSS-2"))
            assert wrong.status == 422
    finally:
        await second.stop()

    third = Csms(settings_for(db_url))
    await third.start()
    try:
        assert set(third.swap.stations) == {STATION, "PSS-2"}
        restored = third.swap.station(STATION)
        # The update is what was stored; it declared the rack anew.
        assert restored.spec.bays == 2 and restored.spec.import_price == (0.2,) * 24
        assert {b.serial for b in restored.rack.batteries.values()} == {"R1", "R2", "R3"}
    finally:
        await third.stop()


async def audit_of_day(http: aiohttp.ClientSession, doc: dict[str, Any], csms: Csms) -> list[str]:
    """The audit of the station's stored log, with a scenario of what really came: the
    vehicles of this file (paths clear, aligned, undamaged) when they first queued."""
    log = await (await http.get(f"/api/v1/swap/stations/{STATION}/events")).json()
    arrived: dict[str, float] = {}
    for event in log["events"]:
        if event["kind"] == "queued":
            arrived.setdefault(event["vehicle"], event["t"])
    scenario = {
        "version": 1,
        "start": csms.swap.epoch.isoformat(),
        "duration_s": csms.swap.now(),
        "stations": [doc],
        "vehicles": [
            {
                "id": vehicle,
                "arrive_s": t,
                "station": STATION,
                "battery": vehicle_doc(vehicle, f"V-B{vehicle[-1]}")["battery"],
            }
            for vehicle, t in arrived.items()
        ],
        "perception": [],
        "faults": [],
    }
    return audit(scenario, json.loads(json.dumps({"version": 1, **log})))
