"""CSMS -> 1.6 station through the same REST endpoints as 2.0.1, against an emulated 1.6
station over real websockets: 1.6 action names go as they are, 2.0.1 ones are
translated; the station's configuration is stored like a 2.0.1 device model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from charge_point_emulator.ev import EvSpec
from charge_point_emulator.station16 import EmulatedStation16
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.device_model import list_variables
from csms.db.models import Command, StationEvent, Transaction
from csms.gateway.v16.configuration import CONFIGURATION
from tests.emulated16 import Factory, stations16
from tests.test_cli import cli
from tests.waiting import eventually

STATION = "EMU16-1"


@pytest.fixture
async def station(csms: Csms) -> AsyncIterator[EmulatedStation16]:
    factory: Factory
    async with stations16(csms) as factory:
        yield await factory(STATION)


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def command(
    http: aiohttp.ClientSession, action: str, payload: dict[str, Any], status: int = 200
) -> dict[str, Any]:
    reply = await http.post(f"/api/v1/stations/{STATION}/commands/{action}", json=payload)
    assert reply.status == status, await reply.text()
    answer: dict[str, Any] = await reply.json()
    return answer


async def test_remote_start_and_stop_with_16_action_names(
    station: EmulatedStation16, http: aiohttp.ClientSession
) -> None:
    await add_token("APP16")
    station.plug_in(1, EvSpec(), 0.5, 0.9, 7200)
    started = await command(http, "RemoteStartTransaction", {"idTag": "APP16", "connectorId": 1})
    assert started == {"status": "Accepted"}
    await station.wait_until(lambda: bool(station.csms_ids))
    (csms_id,) = set(station.csms_ids.values())
    stopped = await command(http, "RemoteStopTransaction", {"transactionId": csms_id})
    assert stopped == {"status": "Accepted"}

    async def ended() -> bool:
        return await Transaction.filter(station_id=STATION, state="ended").exists()

    await eventually(ended)
    row = await Transaction.get(station_id=STATION)
    assert (row.transaction_id, row.stopped_reason) == (str(csms_id), "Remote")
    unknown = await command(http, "RemoteStopTransaction", {"transactionId": csms_id + 100})
    assert unknown == {"status": "Rejected"}


async def test_2_0_1_commands_are_translated_for_a_16_station(
    station: EmulatedStation16, http: aiohttp.ClientSession
) -> None:
    await add_token("APP16")
    station.plug_in(1, EvSpec(), 0.5, 0.9, 7200)
    started = await command(
        http,
        "RequestStartTransaction",
        {"idToken": {"idToken": "APP16", "type": "Central"}, "remoteStartId": 7, "evseId": 1},
    )
    assert started == {"status": "Accepted"}
    await station.wait_until(lambda: bool(station.csms_ids))
    (csms_id,) = set(station.csms_ids.values())
    profile = {
        "evseId": 1,
        "chargingProfile": {
            "id": 5,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "transactionId": str(csms_id),
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 3680.04},
                        {"startPeriod": 600, "limit": -5000},  # 1.6 has no discharge
                    ],
                }
            ],
        },
    }
    assert await command(http, "SetChargingProfile", profile) == {"status": "Accepted"}
    sent = await Command.filter(action="SetChargingProfile").first()
    assert sent is not None and sent.status == "answered"
    composite = await command(
        http, "GetCompositeSchedule", {"evseId": 1, "duration": 1200, "chargingRateUnit": "W"}
    )
    assert composite["status"] == "Accepted"
    limits = [p["limit"] for p in composite["schedule"]["chargingSchedulePeriod"]]
    assert limits[0] == pytest.approx(3680.0) and min(limits) >= 0
    cleared = await command(http, "ClearChargingProfile", {"chargingProfileId": 5})
    assert cleared == {"status": "Accepted"}
    stopped = await command(http, "RequestStopTransaction", {"transactionId": str(csms_id)})
    assert stopped == {"status": "Accepted"}
    not_16 = await command(http, "RequestStopTransaction", {"transactionId": "uuid-x"}, 422)
    assert "no 1.6 transaction" in str(not_16)
    reset = await command(http, "Reset", {"type": "OnIdle"})
    assert reset == {"status": "Accepted"}


async def test_every_16_operator_command_reaches_the_station(
    station: EmulatedStation16, http: aiohttp.ClientSession
) -> None:
    assert await command(http, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    assert await command(http, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {
        "status": "Accepted"
    }
    await station.wait_until(lambda: not station.evses[1].operative)
    assert await command(http, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}) == {
        "status": "Accepted"
    }
    assert await command(http, "ClearCache", {}) == {"status": "Accepted"}
    assert await command(http, "DataTransfer", {"vendorId": "acme", "data": "hello"}) == {
        "status": "UnknownVendorId"
    }
    assert await command(
        http, "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}
    ) == {"status": "Accepted"}
    local_list = {
        "listVersion": 3,
        "updateType": "Full",
        "localAuthorizationList": [{"idTag": "CARD-1", "idTagInfo": {"status": "Accepted"}}],
    }
    assert await command(http, "SendLocalList", local_list) == {"status": "Accepted"}
    assert await command(http, "GetLocalListVersion", {}) == {"listVersion": 3}
    reservation = {
        "connectorId": 1,
        "expiryDate": "2030-01-01T00:00:00Z",
        "idTag": "CARD-1",
        "reservationId": 11,
    }
    assert await command(http, "ReserveNow", reservation) == {"status": "Accepted"}
    assert await command(http, "CancelReservation", {"reservationId": 11}) == {"status": "Accepted"}
    assert await command(http, "CancelReservation", {"reservationId": 11}) == {"status": "Rejected"}
    diagnostics = await command(http, "GetDiagnostics", {"location": "ftp://example.com/up"})
    assert diagnostics == {"fileName": f"{STATION}-diagnostics.log"}
    firmware = {"location": "https://example.com/fw.bin", "retrieveDate": "2026-01-01T00:00:00Z"}
    assert await command(http, "UpdateFirmware", firmware) == {}

    async def notified() -> bool:
        kinds = await StationEvent.filter(station_id=STATION).values_list("kind", "payload")
        statuses = {(kind, payload["status"]) for kind, payload in kinds}
        return {
            ("LogStatusNotification", "Uploaded"),
            ("FirmwareStatusNotification", "Installed"),
        } <= statuses

    await eventually(notified)
    assert await command(http, "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    await station.wait_until(lambda: station.boots == 2, within_s=30)


async def test_local_list_push_speaks_16_to_a_16_station(
    station: EmulatedStation16, http: aiohttp.ClientSession
) -> None:
    await add_token("CARD-A")
    await add_token("CARD-B", status="Blocked")
    reply = await http.post(f"/api/v1/stations/{STATION}/local-list")
    assert reply.status == 200, await reply.text()
    assert (await reply.json())["status"] == "Accepted"
    assert station.local_list.entries == {
        ("CARD-A", "ISO14443"): "Accepted",
        ("CARD-B", "ISO14443"): "Blocked",
    }


async def test_configuration_is_stored_like_a_device_model_and_changes_are_kept(
    csms: Csms, station: EmulatedStation16, http: aiohttp.ClientSession
) -> None:
    answer = await command(http, "GetConfiguration", {})
    keys = {entry["key"]: entry for entry in answer["configurationKey"]}
    assert keys["HeartbeatInterval"]["readonly"] is False
    assert "SmartCharging" in keys["SupportedFeatureProfiles"]["value"]
    stored = {
        (row["component"], row["variable"]): row["value"] for row in await list_variables(STATION)
    }
    assert stored[(CONFIGURATION, "NumberOfConnectors")] == "1"
    assert stored[("SmartChargingCtrlr", "RateUnit")] == "A,W"
    assert stored[("SmartChargingCtrlr", "Available")] == "true"
    assert stored[("OCPPCommCtrlr", "HeartbeatInterval")] == keys["HeartbeatInterval"]["value"]
    changed = await command(
        http, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "77"}
    )
    assert changed == {"status": "Accepted"}
    refused = await command(
        http, "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"}
    )
    assert refused == {"status": "Rejected"}
    unknown = await command(http, "ChangeConfiguration", {"key": "Colour", "value": "red"})
    assert unknown == {"status": "NotSupported"}
    stored = {
        (row["component"], row["variable"]): row["value"] for row in await list_variables(STATION)
    }
    assert stored[(CONFIGURATION, "HeartbeatInterval")] == "77"
    assert stored[("OCPPCommCtrlr", "HeartbeatInterval")] == "77"
    assert stored[(CONFIGURATION, "NumberOfConnectors")] == "1"
    shown = await cli(csms.settings.db_url, "stations", "show", STATION)
    assert shown.returncode == 0, shown.stderr
    assert (
        CONFIGURATION in shown.stdout and "ChargingScheduleAllowedChargingRateUnit" in shown.stdout
    )
    some = await command(http, "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    assert some["unknownKey"] == ["Nope"]
    assert some["configurationKey"] == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "77"}
    ]


async def test_a_command_neither_version_knows_is_refused(
    station: EmulatedStation16, http: aiohttp.ClientSession
) -> None:
    reply = await http.post(f"/api/v1/stations/{STATION}/commands/Dance", json={})
    assert reply.status == 404
    only_201 = await command(http, "GetVariables", {"getVariableData": []}, 422)
    assert only_201["error"].startswith("NotImplemented")
