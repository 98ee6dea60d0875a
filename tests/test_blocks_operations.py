"""Operator actions of blocks B, D and H against emulated stations over real websockets:
registration status and password, requests split to the station's ItemsPerMessage and
BytesPerMessage, SetNetworkProfile, local lists (Full, Differential, empty, concurrent) and
reservations (EVSE or connector type, expiry, cancel, only the reserving token starts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from websockets.exceptions import InvalidStatus

from charge_point_emulator.clock import SimClock
from charge_point_emulator.device_model import DataType, VariableKey
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.scenario import EvseSpec
from charge_point_emulator.station import ConnectionState, EmulatedStation
from csms.app import Csms
from csms.blocks.authorization import add_token, set_token_status
from csms.blocks.stations import add_station
from csms.db.block_models import Reservation
from csms.db.models import Command, DeviceVariable, Station, StationEvent, Transaction
from tests.ocpp_wire import open_peer
from tests.stations import boot, tx_event
from tests.waiting import eventually

PASSWORD = "emulated-station-password"
SPEED = 600.0

StationFactory = Callable[..., Awaitable[EmulatedStation]]


@pytest.fixture
async def make_station(csms: Csms) -> AsyncIterator[StationFactory]:
    started: list[EmulatedStation] = []

    async def factory(
        station_id: str = "EMU-1", status: str = "Accepted", **options: Any
    ) -> EmulatedStation:
        await add_station(station_id, PASSWORD, registration_status=status)
        settings: dict[str, Any] = {
            "clock": SimClock(SPEED),
            "tick_real_s": 0.02,
            "response_timeout_s": 3.0,
        }
        settings.update(options)
        station = EmulatedStation(
            station_id, PASSWORD, f"ws://127.0.0.1:{csms.ocpp_port}/ocpp", **settings
        )
        started.append(station)
        await station.start()
        return station

    yield factory
    for station in started:
        await station.stop()


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def post(
    http: aiohttp.ClientSession, path: str, payload: Any = None, status: int = 200
) -> Any:
    reply = await http.post(path, json=payload)
    assert reply.status == status, await reply.text()
    return await reply.json()


def limit(station: EmulatedStation, component: str, variable: str, instance: str | None, n: int):
    station.device_model.define(
        VariableKey(component, variable, variable_instance=instance), n, DataType.INTEGER
    )


async def reported(station_id: str, component: str, variable: str, value: int) -> None:
    """Wait until the CSMS stored the station's reported value (after GetBaseReport)."""

    async def stored() -> bool:
        return await DeviceVariable.filter(
            station_id=station_id, component=component, variable=variable, value=str(value)
        ).exists()

    await eventually(stored)


# --- B: registration, password, split requests, network profile -------------------------


async def test_a_pending_station_accepted_by_the_operator_boots_at_once(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    # A real-time clock: the Pending retry interval (60 s) would outlast the test.
    station = await make_station(status="Pending", clock=SimClock(1.0))
    await station.wait_until(lambda: station.state is ConnectionState.PENDING)

    async def answered_pending() -> bool:
        return (await Station.get(id="EMU-1")).boot_reason == "PowerUp"

    await eventually(answered_pending)
    reply = await http.patch("/api/v1/stations/EMU-1", json={"registration_status": "Accepted"})
    assert reply.status == 200, await reply.text()
    answer = await reply.json()
    assert answer["registration_status"] == "Accepted"
    assert answer["trigger"] == {"status": "Accepted"}
    await station.wait_until(lambda: station.online, within_s=30)
    assert station.boot_reason == "Triggered"
    assert (await Station.get(id="EMU-1")).boot_reason == "Triggered"


async def test_a_bad_status_or_unknown_station_is_refused(http: aiohttp.ClientSession) -> None:
    await add_station("CS-9", PASSWORD)
    bad = await http.patch("/api/v1/stations/CS-9", json={"registration_status": "Maybe"})
    assert bad.status == 422 and "registration status" in (await bad.json())["error"]
    missing = await http.patch("/api/v1/stations/NOPE", json={"registration_status": "Pending"})
    assert missing.status == 404
    assert (await Station.get(id="CS-9")).registration_status == "Accepted"


async def test_a_new_password_replaces_the_old_one(csms: Csms, http: aiohttp.ClientSession) -> None:
    await add_station("CS-2", PASSWORD)
    fresh = "a-brand-new-password-42"
    reply = await http.patch("/api/v1/stations/CS-2", json={"password": fresh})
    assert reply.status == 200, await reply.text()
    with pytest.raises(InvalidStatus):
        await open_peer(csms, "CS-2", PASSWORD)
    peer = await open_peer(csms, "CS-2", fresh)
    assert (await peer.call("BootNotification", boot()))[2]["status"] == "Accepted"
    await peer.close()


def _variable(name: str, value: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name}}
    if value is not None:
        item["attributeValue"] = value
    return item


async def test_get_and_set_variables_are_split_to_what_the_station_takes(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    limit(station, "DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", 2)
    limit(station, "DeviceDataCtrlr", "BytesPerMessage", "SetVariables", 420)
    await post(
        http,
        "/api/v1/stations/EMU-1/commands/GetBaseReport",
        {"requestId": 1, "reportBase": "FullInventory"},
    )
    await reported("EMU-1", "DeviceDataCtrlr", "BytesPerMessage", 420)

    names = [
        "HeartbeatInterval",
        "OfflineThreshold",
        "RetryBackOffRepeatTimes",
        "RetryBackOffRandomRange",
        "RetryBackOffWaitMinimum",
    ]
    got = await post(
        http,
        "/api/v1/stations/EMU-1/commands/GetVariables",
        {"getVariableData": [_variable(n) for n in names]},
    )
    assert [r["variable"]["name"] for r in got["getVariableResult"]] == names
    assert {r["attributeStatus"] for r in got["getVariableResult"]} == {"Accepted"}
    assert await Command.filter(action="GetVariables", status="answered").count() == 3

    values = {
        "RetryBackOffRepeatTimes": "4",
        "RetryBackOffRandomRange": "9",
        "RetryBackOffWaitMinimum": "3",
        "HeartbeatInterval": "120",
    }
    data = [_variable(n, v) for n, v in values.items()]
    done = await post(
        http, "/api/v1/stations/EMU-1/commands/SetVariables", {"setVariableData": data}
    )
    assert [r["attributeStatus"] for r in done["setVariableResult"]] == ["Accepted"] * 4
    assert await Command.filter(action="SetVariables", status="answered").count() > 1
    assert station.device_model.int_value("OCPPCommCtrlr", "HeartbeatInterval", 0) == 120


async def test_set_network_profile_from_rest_reaches_the_station(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    connection = {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": "wss://csms.example/ocpp",
        "messageTimeout": 30,
        "securityProfile": 2,
        "ocppInterface": "Wired0",
    }
    answer = await post(
        http,
        "/api/v1/stations/EMU-1/network-profile",
        {"configuration_slot": 2, "connection_data": connection},
    )
    assert answer == {"status": "Accepted"}
    assert station.network_profiles[2]["ocpp_csms_url"] == "wss://csms.example/ocpp"
    bad = await http.post("/api/v1/stations/EMU-1/network-profile", json={"connection_data": {}})
    assert bad.status == 422


# --- D: local authorization lists ---------------------------------------------------------


async def test_local_lists_full_split_differential_and_empty(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    for n in range(1, 6):
        await add_token(f"L-{n}")
    limit(station, "LocalAuthListCtrlr", "ItemsPerMessage", None, 2)
    await post(
        http,
        "/api/v1/stations/EMU-1/commands/GetBaseReport",
        {"requestId": 1, "reportBase": "FullInventory"},
    )
    await reported("EMU-1", "LocalAuthListCtrlr", "ItemsPerMessage", 2)

    full = await post(http, "/api/v1/stations/EMU-1/local-list")
    assert [p["versionNumber"] for p in full["parts"]] == [1, 2, 3]
    assert full["status"] == "Accepted" and station.local_list.version == 3
    assert len(station.local_list.entries) == 5

    # Differential computed from what the station accepted: one blocked, one new.
    await set_token_status("L-1", "Blocked")
    await add_token("L-6")
    diff = await post(http, "/api/v1/stations/EMU-1/local-list", {"update_type": "Differential"})
    assert diff["versionNumber"] == 4 and len(diff["parts"]) == 1
    assert station.local_list.entries[("L-1", "ISO14443")] == "Blocked"
    assert ("L-6", "ISO14443") in station.local_list.entries

    removed = await post(
        http,
        "/api/v1/stations/EMU-1/local-list",
        {"update_type": "Differential", "remove": [{"id_token": "L-2"}]},
    )
    assert removed["status"] == "Accepted"
    assert ("L-2", "ISO14443") not in station.local_list.entries
    known = await (await http.get("/api/v1/stations/EMU-1/local-list")).json()
    assert known["version"] == 5 and len(known["entries"]) == 5

    empty = await post(
        http, "/api/v1/stations/EMU-1/local-list", {"update_type": "Full", "tokens": []}
    )
    assert empty["status"] == "Accepted" and station.local_list.entries == {}
    assert (await Station.get(id="EMU-1")).local_list_version == station.local_list.version

    unknown = await http.post(
        "/api/v1/stations/EMU-1/local-list", json={"tokens": [{"id_token": "NOBODY"}]}
    )
    assert unknown.status == 422


async def test_concurrent_pushes_never_send_the_same_version(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    for n in range(1, 4):
        await add_token(f"C-{n}")
    answers = await asyncio.gather(
        *(post(http, "/api/v1/stations/EMU-1/local-list") for _ in range(4))
    )
    versions = [p["versionNumber"] for answer in answers for p in answer["parts"]]
    assert sorted(versions) == [1, 2, 3, 4]
    known = await (await http.get("/api/v1/stations/EMU-1/local-list")).json()
    assert known["version"] == 4 and known["issued"] == 4


# --- H: reservations ------------------------------------------------------------------------


def _in(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def test_a_reserved_evse_starts_only_for_its_token_and_the_reservation_is_used(
    csms: Csms, make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station(evses=(EvseSpec(), EvseSpec()))
    await station.wait_until(lambda: station.online)
    await add_token("OWNER")
    await add_token("OTHER")
    made = await post(
        http,
        "/api/v1/stations/EMU-1/reservations",
        {"id_token": "OWNER", "expires_at": _in(23 * 60), "evse_id": 1},
        status=201,
    )
    assert made["status"] == "Accepted"
    await station.wait_until(lambda: station.evses[1].status.value == "Reserved")
    # The planner keeps the reserved EVSE's rating free until the reservation is used.
    assert await csms.plan_state.reserved(datetime.now(UTC)) == {("EMU-1", 1)}

    station.arrive(1, EvSpec(), 0.3, 0.8, 3600, "OTHER")
    station.arrive(2, EvSpec(), 0.3, 0.8, 3600, "OTHER")
    await eventually(lambda: Transaction.filter(station_id="EMU-1", evse_id=2).exists())
    assert station.evses[1].tx is None  # the other token did not start on the reserved EVSE
    station.unplug(1)
    station.arrive(1, EvSpec(), 0.3, 0.8, 3600, "OWNER")

    async def used() -> bool:
        return (await Reservation.get(id=made["id"])).status == "Used"

    await eventually(used)
    assert await csms.plan_state.reserved(datetime.now(UTC)) == set()
    assert (await Transaction.get(station_id="EMU-1", evse_id=1)).id_token == "OWNER"


async def test_the_csms_refuses_a_start_on_an_evse_reserved_for_another(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await add_station("CS-1", PASSWORD)
    await add_token("OWNER", group_id="FLEET")
    await add_token("MATE", group_id="FLEET")
    await add_token("STRANGER")
    peer = await open_peer(csms, "CS-1", PASSWORD)
    await peer.call("BootNotification", boot())
    reserving = asyncio.create_task(
        http.post(
            "/api/v1/stations/CS-1/reservations",
            json={"id_token": "OWNER", "expires_at": _in(23 * 60), "evse_id": 1},
        )
    )
    call = await peer.expect_call()
    assert call[2] == "ReserveNow" and call[3]["groupIdToken"]["idToken"] == "FLEET"
    await peer.answer(call[1], {"status": "Accepted"})
    assert (await reserving).status == 201
    stranger = tx_event("Started", 0, 1, "tx-s", import_wh=0.0, id_token="STRANGER")
    answer = await peer.call("TransactionEvent", stranger)
    assert answer[2]["idTokenInfo"]["status"] == "NotAtThisTime"
    mate = tx_event("Started", 0, 2, "tx-m", import_wh=0.0, id_token="MATE")
    assert (await peer.call("TransactionEvent", mate))[2]["idTokenInfo"]["status"] == "Accepted"
    await peer.close()


async def test_reservations_expire_are_cancelled_and_take_any_evse_of_a_type(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station(evses=(EvseSpec(), EvseSpec()))
    await station.wait_until(lambda: station.online)
    # Two real minutes are 20 simulated hours here: the station expires it at once.
    soon = await post(
        http,
        "/api/v1/stations/EMU-1/reservations",
        {"id_token": "R-1", "expires_at": _in(2), "evse_id": 1},
        status=201,
    )

    async def expired() -> bool:
        return (await Reservation.get(id=soon["id"])).status == "Expired"

    await eventually(expired)
    typed = await post(
        http,
        "/api/v1/stations/EMU-1/reservations",
        {"id_token": "R-2", "expires_at": _in(23 * 60), "connector_type": "cType2"},
        status=201,
    )
    assert typed["evse_id"] is None and typed["status"] == "Accepted"
    assert any(e.reserved for e in station.evses.values())
    cancelled = await post(http, f"/api/v1/reservations/{typed['id']}/cancel")
    assert cancelled["status"] == "Cancelled" and cancelled["cancel_status"] == "Accepted"
    assert not any(e.reserved for e in station.evses.values())
    again = await http.post(f"/api/v1/reservations/{typed['id']}/cancel")
    assert again.status == 409
    listed = await (await http.get("/api/v1/reservations?station=EMU-1")).json()
    assert [r["status"] for r in listed] == ["Cancelled", "Expired"]
    past = await http.post(
        "/api/v1/stations/EMU-1/reservations",
        json={"id_token": "R-3", "expires_at": _in(-1), "evse_id": 1},
    )
    assert past.status == 422


# --- L: bulk commands and firmware campaigns ------------------------------------------------


async def test_a_firmware_campaign_reaches_many_stations_and_its_progress_is_shown(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    stations = [await make_station(f"EMU-{n}") for n in (1, 2, 3)]
    for station in stations:
        await station.wait_until(lambda station=station: station.online)
    await add_station("EMU-OFF", PASSWORD)
    firmware = {
        "requestId": 42,
        "retries": 2,
        "retryInterval": 30,
        "firmware": {
            "location": "https://firmware.example/v2.bin",
            "retrieveDateTime": datetime.now(UTC).isoformat(),
            "signingCertificate": "-----BEGIN CERTIFICATE-----",
            "signature": "c2lnbmF0dXJl",
        },
    }
    answer = await post(
        http,
        "/api/v1/commands/UpdateFirmware",
        {
            "stations": ["EMU-1", "EMU-2", "EMU-3", "EMU-OFF"],
            "payload": firmware,
            "max_in_flight": 2,
        },
    )
    assert answer["summary"] == {"answered": 3, "accepted": 3, "not_connected": 1}
    assert [r["station_id"] for r in answer["results"]] == ["EMU-1", "EMU-2", "EMU-3", "EMU-OFF"]

    async def installed() -> bool:
        progress = await (await http.get("/api/v1/firmware?request_id=42")).json()
        return bool(progress["summary"] == {"Installed": 3})

    await eventually(installed)
    unknown = await http.post(
        "/api/v1/commands/Reset", json={"stations": ["NOPE"], "payload": {"type": "Immediate"}}
    )
    assert unknown.status == 404
    neither = await http.post("/api/v1/commands/Reset", json={"payload": {"type": "Immediate"}})
    assert neither.status == 422


async def test_a_download_that_keeps_failing_is_retried_then_reported(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    firmware = {
        "requestId": 7,
        "retries": 2,
        "retryInterval": 30,
        "firmware": {
            "location": "https://firmware.example/broken.bin",
            "retrieveDateTime": datetime.now(UTC).isoformat(),
        },
    }
    answer = await post(
        http, "/api/v1/commands/UpdateFirmware", {"stations": ["EMU-1"], "payload": firmware}
    )
    assert answer["summary"]["accepted"] == 1

    async def failed() -> bool:
        progress = await (await http.get("/api/v1/firmware?station=EMU-1")).json()
        return bool(progress["summary"] == {"DownloadFailed": 1})

    await eventually(failed)
    downloads = await StationEvent.filter(
        station_id="EMU-1", kind="FirmwareStatusNotification"
    ).values_list("payload", flat=True)
    assert [p["status"] for p in downloads].count("Downloading") == 3  # the first + 2 retries


# --- O, N: display messages, monitoring, customer information --------------------------------


async def test_display_messages_are_set_reported_and_cleared(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    message = {
        "id": 5,
        "priority": "NormalCycle",
        "message": {"format": "UTF8", "content": "0.30 EUR/kWh, 1 EUR per session"},
    }
    path = "/api/v1/stations/EMU-1/commands"
    assert await post(http, f"{path}/SetDisplayMessage", {"message": message}) == {
        "status": "Accepted"
    }
    assert (await post(http, f"{path}/GetDisplayMessages", {"requestId": 11}))["status"] == (
        "Accepted"
    )

    async def reported_back() -> bool:
        report = await (await http.get("/api/v1/stations/EMU-1/reports/display-messages")).json()
        return bool(report["complete"])

    await eventually(reported_back)
    report = await (await http.get("/api/v1/stations/EMU-1/reports/display-messages")).json()
    assert report["request_id"] == 11
    assert report["parts"][0]["messageInfo"][0]["message"]["content"].startswith("0.30 EUR")
    assert await post(http, f"{path}/ClearDisplayMessage", {"id": 5}) == {"status": "Accepted"}
    assert station.display_messages.by_id == {}


async def test_monitors_are_set_reported_and_cleared(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    path = "/api/v1/stations/EMU-1/commands"
    data = [
        {
            "value": 90,
            "type": "UpperThreshold",
            "severity": 4,
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
        },
        {
            "value": 1,
            "type": "Delta",
            "severity": 8,
            "component": {"name": "NoSuchCtrlr"},
            "variable": {"name": "Nothing"},
        },
    ]
    answer = await post(http, f"{path}/SetVariableMonitoring", {"setMonitoringData": data})
    statuses = [r["status"] for r in answer["setMonitoringResult"]]
    assert statuses == ["Accepted", "UnknownVariable"]
    assert await post(http, f"{path}/SetMonitoringLevel", {"severity": 5}) == {"status": "Accepted"}
    assert await post(http, f"{path}/SetMonitoringBase", {"monitoringBase": "FactoryDefault"}) == {
        "status": "Accepted"
    }
    await post(http, f"{path}/GetMonitoringReport", {"requestId": 12})

    async def reported_back() -> bool:
        report = await (await http.get("/api/v1/stations/EMU-1/reports/monitoring")).json()
        return bool(report["complete"])

    await eventually(reported_back)
    report = await (await http.get("/api/v1/stations/EMU-1/reports/monitoring")).json()
    (monitor,) = report["parts"][0]["monitor"]
    assert monitor["variableMonitoring"][0]["value"] == 90
    monitor_id = answer["setMonitoringResult"][0]["id"]
    cleared = await post(http, f"{path}/ClearVariableMonitoring", {"id": [monitor_id]})
    assert cleared["clearMonitoringResult"] == [{"id": monitor_id, "status": "Accepted"}]


async def test_a_forgotten_customer_is_cleared_at_the_station_and_here(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    await add_token("GDPR-1")
    await add_token("KEEP-1")
    await post(http, "/api/v1/stations/EMU-1/local-list")
    station.arrive(1, EvSpec(), 0.3, 0.8, 600, "GDPR-1")
    await eventually(lambda: Transaction.filter(id_token="GDPR-1").exists())
    station.unplug(1)
    await eventually(lambda: Transaction.filter(state="ended").exists())

    answer = await post(http, "/api/v1/tokens/GDPR-1/forget", {"stations": ["EMU-1"]})
    assert answer["summary"] == {"answered": 1, "accepted": 1}
    assert answer["erased"] == {"tokens": 1, "transactions": 1, "reservations": 0}
    assert ("GDPR-1", "ISO14443") not in station.local_list.entries
    assert ("KEEP-1", "ISO14443") in station.local_list.entries
    assert not await Transaction.filter(id_token="GDPR-1").exists()
    tokens = await (await http.get("/api/v1/tokens")).json()
    assert [t["id_token"] for t in tokens] == ["KEEP-1"]

    async def reported_back() -> bool:
        report = await (
            await http.get("/api/v1/stations/EMU-1/reports/customer-information")
        ).json()
        return bool(report["complete"])

    await eventually(reported_back)
    report = await (await http.get("/api/v1/stations/EMU-1/reports/customer-information")).json()
    assert "cleared" in report["parts"][0]["data"]


# --- K: what the station holds against what the CSMS installed -------------------------------


async def test_profile_drift_shows_a_profile_the_station_lost(
    make_station: StationFactory, http: aiohttp.ClientSession
) -> None:
    station = await make_station()
    await station.wait_until(lambda: station.online)
    profile = {
        "id": 77,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000.0}],
            }
        ],
    }
    path = "/api/v1/stations/EMU-1/commands"
    answer = await post(
        http, f"{path}/SetChargingProfile", {"evseId": 1, "chargingProfile": profile}
    )
    assert answer["status"] == "Accepted"

    async def reported(request_id: int) -> None:
        asked = {"requestId": request_id, "chargingProfile": {"chargingLimitSource": ["CSO"]}}
        await post(http, f"{path}/GetChargingProfiles", asked)

        async def stored() -> bool:
            drift = await (await http.get("/api/v1/stations/EMU-1/profile-drift")).json()
            return bool(drift["request_id"] == request_id)

        await eventually(stored)

    await reported(1)
    drift = await (await http.get("/api/v1/stations/EMU-1/profile-drift")).json()
    assert drift["drift"] == []
    station.profiles.clear(77, None, None, None)  # lost, e.g. by a factory reset
    theirs = {
        "id": 78,
        "stack_level": 2,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 5e3}],
            }
        ],
    }
    assert station.set_charging_profile(1, theirs) == ("Accepted", None)  # set locally
    await reported(2)
    drift = await (await http.get("/api/v1/stations/EMU-1/profile-drift")).json()
    assert drift["drift"] == [
        {"evse_id": 1, "profile_id": 77, "drift": "missing"},
        {"evse_id": 1, "profile_id": 78, "drift": "extra"},
    ]
    station.profiles.clear(78, None, None, None)
    await reported(3)  # NoProfiles: no report comes, the answer says it all
    drift = await (await http.get("/api/v1/stations/EMU-1/profile-drift")).json()
    assert drift["drift"] == [{"evse_id": 1, "profile_id": 77, "drift": "missing"}]
