"""OCPP 1.6J station -> CSMS over a real websocket: the same stations, tokens,
transactions and meter values as 2.0.1, with 1.6's frames and error codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station, get_station
from csms.db.models import (
    Connector,
    MeterValue,
    Station,
    StationEvent,
    Transaction,
    TransactionEvent,
)
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import at

PASSWORD = "correct-horse-battery"
BOOT = {"chargePointVendor": "Vendor16", "chargePointModel": "Model16"}
T0 = at(0)


@pytest.fixture
async def peer16(csms: Csms) -> AsyncIterator[WirePeer]:
    await add_station("CS-16", PASSWORD)
    peer = await open_peer(csms, "CS-16", PASSWORD, subprotocol="ocpp1.6")
    yield peer
    await peer.close()


def result(frame: list[Any]) -> dict[str, Any]:
    assert frame[0] == 3, frame
    payload: dict[str, Any] = frame[2]
    return payload


def sample(value: str, **fields: str) -> dict[str, Any]:
    return {"value": value, **fields}


async def start(peer: WirePeer, meter_start: int = 1000, timestamp: str = T0) -> dict[str, Any]:
    return result(
        await peer.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-1", "meterStart": meter_start, "timestamp": timestamp},
        )
    )


async def test_ocpp16_boot_is_stored_on_the_same_station_record(peer16: WirePeer) -> None:
    assert peer16.websocket.subprotocol == "ocpp1.6"
    answer = result(
        await peer16.call("BootNotification", {**BOOT, "chargePointSerialNumber": "SN-1"})
    )
    assert answer["status"] == "Accepted" and answer["interval"] == 60
    view = await get_station("CS-16")
    assert (view.vendor_name, view.model, view.protocol) == ("Vendor16", "Model16", "ocpp1.6")
    assert (await Station.get(id="CS-16")).serial_number == "SN-1"
    assert "currentTime" in result(await peer16.call("Heartbeat", {}))


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("BootNotification", {"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
        ("BootNotification", {**BOOT, "colour": "red"}, "FormationViolation"),
        ("BootNotification", {**BOOT, "chargePointModel": 7}, "TypeConstraintViolation"),
        ("BootNotification", {**BOOT, "chargePointModel": "M" * 21}, "TypeConstraintViolation"),
        ("TransactionEvent", {}, "NotImplemented"),
        (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Occupied"},
            "PropertyConstraintViolation",
        ),
    ],
)
async def test_bad_16_frames_get_16_error_codes(
    peer16: WirePeer, action: str, payload: dict[str, Any], code: str
) -> None:
    answer = await peer16.call(action, payload)
    assert answer[0] == 4 and answer[2] == code, answer


async def test_a_16_frame_that_is_no_ocppj_message_is_a_formation_violation(
    peer16: WirePeer,
) -> None:
    await peer16.send_raw('[2, "x1", "Heartbeat", [1]]')
    answer = await peer16.expect_call()
    assert answer[:3] == [4, "x1", "FormationViolation"]


async def test_status_of_connector_0_is_the_station_s_and_errors_are_logged(
    peer16: WirePeer,
) -> None:
    result(
        await peer16.call(
            "StatusNotification",
            {"connectorId": 0, "errorCode": "NoError", "status": "Unavailable", "timestamp": T0},
        )
    )
    result(
        await peer16.call(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "GroundFailure",
                "status": "Faulted",
                "vendorErrorCode": "E42",
                "timestamp": T0,
            },
        )
    )
    statuses = {
        (c.evse_id, c.connector_id): c.status for c in await Connector.filter(station_id="CS-16")
    }
    assert statuses == {(0, 0): "Unavailable", (1, 1): "Faulted"}
    logged = await StationEvent.get(station_id="CS-16", kind="StatusNotification")
    assert logged.payload["errorCode"] == "GroundFailure"
    assert logged.payload["vendorErrorCode"] == "E42"


async def test_authorize_answers_16_id_tag_info(peer16: WirePeer) -> None:
    await add_token("TAG-OK")
    await add_token("TAG-BLOCKED", status="Blocked")
    await add_token("TAG-GROUP", token_type="KeyCode", group_id="FLEET-1")
    for tag, status in (("TAG-OK", "Accepted"), ("TAG-BLOCKED", "Blocked"), ("NOPE", "Invalid")):
        answer = result(await peer16.call("Authorize", {"idTag": tag}))
        assert answer["idTagInfo"]["status"] == status, tag
    grouped = result(await peer16.call("Authorize", {"idTag": "TAG-GROUP"}))
    assert grouped["idTagInfo"] == {"status": "Accepted", "parentIdTag": "FLEET-1"}


async def test_start_transaction_gets_an_integer_id_and_a_resend_gets_the_same(
    peer16: WirePeer,
) -> None:
    await add_token("TAG-1")
    first = await start(peer16)
    assert isinstance(first["transactionId"], int)
    assert first["idTagInfo"]["status"] == "Accepted"
    again = await start(peer16)  # the station lost the answer and sends it again
    assert again == first
    other = await start(peer16, timestamp=at(30))
    assert other["transactionId"] != first["transactionId"]
    row = await Transaction.get(station_id="CS-16", transaction_id=str(first["transactionId"]))
    assert (row.evse_id, row.connector_id, row.id_token, row.id_token_type) == (
        1,
        1,
        "TAG-1",
        "ISO14443",
    )
    assert await TransactionEvent.filter(transaction_id=str(first["transactionId"])).count() == 1


async def test_meter_values_and_stop_bill_meter_stop_minus_meter_start_once(
    peer16: WirePeer,
) -> None:
    await add_token("TAG-1")
    tx = (await start(peer16, meter_start=1000))["transactionId"]
    periodic = {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [
            {
                "timestamp": at(10),
                "sampledValue": [
                    sample("2.5", unit="kWh", context="Sample.Periodic"),
                    sample("7000", measurand="Power.Active.Import", unit="W"),
                    sample("16", measurand="Current.Import", unit="A", phase="L1"),
                    sample("21.5", measurand="Temperature", unit="Celcius"),
                ],
            }
        ],
    }
    result(await peer16.call("MeterValues", periodic))
    result(await peer16.call("MeterValues", periodic))  # replayed: stored once
    idle = {
        "connectorId": 2,
        "meterValue": [{"timestamp": at(11), "sampledValue": [sample("99000")]}],
    }
    result(await peer16.call("MeterValues", idle))
    stop = {
        "transactionId": tx,
        "idTag": "TAG-1",
        "meterStop": 5000,
        "timestamp": at(20),
        "reason": "EVDisconnected",
        "transactionData": [
            {"timestamp": at(15), "sampledValue": [sample("4000", context="Sample.Clock")]}
        ],
    }
    stopped = result(await peer16.call("StopTransaction", stop))
    assert stopped == {"idTagInfo": {"status": "Accepted"}}
    assert result(await peer16.call("StopTransaction", stop)) == stopped  # replayed
    row = await Transaction.get(station_id="CS-16", transaction_id=str(tx))
    assert row.state == "ended" and row.energy_wh == 4000.0
    assert row.stopped_reason == "EVDisconnected" and row.data_quality == {}
    assert await TransactionEvent.filter(transaction_id=str(tx)).count() == 3
    temperature = await MeterValue.get(transaction_id=str(tx), measurand="Temperature")
    assert (temperature.value, temperature.unit) == (21.5, "Celsius")
    register = await MeterValue.filter(
        transaction_id=str(tx), measurand="Energy.Active.Import.Register"
    ).values_list("value", flat=True)
    assert sorted(register) == [1000.0, 2500.0, 4000.0, 5000.0]
    outside = await MeterValue.get(station_id="CS-16", evse_id=2)
    assert outside.transaction_id is None and outside.value == 99000.0


async def test_a_stop_for_a_transaction_the_csms_never_saw_is_stored(peer16: WirePeer) -> None:
    stop = {
        "transactionId": 4242,
        "meterStop": 9000,
        "timestamp": at(40),
        "reason": "HardReset",
        "transactionData": [
            {"timestamp": at(0), "sampledValue": [sample("3000", context="Transaction.Begin")]}
        ],
    }
    assert result(await peer16.call("StopTransaction", stop)) == {}
    row = await Transaction.get(station_id="CS-16", transaction_id="4242")
    assert row.state == "ended" and row.energy_wh == 6000.0
    assert row.stopped_reason == "ImmediateReset"
    event = await TransactionEvent.get(transaction_id="4242")
    assert event.payload["customData"]["request"] == {"reason": "HardReset"}


async def test_a_sampled_value_that_is_no_number_is_refused(peer16: WirePeer) -> None:
    answer = await peer16.call(
        "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [sample("lots")]}]},
    )
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
    assert not await MeterValue.exists(station_id="CS-16")


async def test_status_in_a_transaction_sets_its_charging_state(peer16: WirePeer) -> None:
    tx = (await start(peer16))["transactionId"]
    result(
        await peer16.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "SuspendedEV", "timestamp": at(5)},
        )
    )
    row = await Transaction.get(station_id="CS-16", transaction_id=str(tx))
    assert row.charging_state == "SuspendedEV" and row.state == "active"


async def test_data_transfer_diagnostics_and_firmware_notifications(peer16: WirePeer) -> None:
    answer = result(await peer16.call("DataTransfer", {"vendorId": "acme", "data": "x"}))
    assert answer == {"status": "UnknownVendorId"}
    result(await peer16.call("DiagnosticsStatusNotification", {"status": "UploadFailed"}))
    result(await peer16.call("FirmwareStatusNotification", {"status": "Installed"}))
    kinds = {
        e.kind: e.payload for e in await StationEvent.filter(station_id="CS-16").order_by("id")
    }
    assert kinds["LogStatusNotification"]["status"] == "UploadFailure"
    assert kinds["FirmwareStatusNotification"] == {"status": "Installed"}


async def test_a_station_moving_between_16_and_201_keeps_its_history(csms: Csms) -> None:
    await add_station("CS-MOVE", PASSWORD)
    old = await open_peer(csms, "CS-MOVE", PASSWORD, subprotocol="ocpp1.6")
    result(await old.call("BootNotification", BOOT))
    tx = (await start(old))["transactionId"]
    await old.close()
    new = await open_peer(csms, "CS-MOVE", PASSWORD, subprotocol="ocpp2.0.1")
    boot = {"reason": "FirmwareUpdate", "chargingStation": {"vendorName": "V", "model": "M2"}}
    result(await new.call("BootNotification", boot))
    view = await get_station("CS-MOVE")
    assert (view.protocol, view.model) == ("ocpp2.0.1", "M2")
    assert await Transaction.exists(station_id="CS-MOVE", transaction_id=str(tx))
    await new.close()
    again = await open_peer(csms, "CS-MOVE", PASSWORD, subprotocol="ocpp1.6")
    stop = {"transactionId": tx, "meterStop": 1500, "timestamp": at(30)}
    result(await again.call("StopTransaction", stop))
    row = await Transaction.get(station_id="CS-MOVE", transaction_id=str(tx))
    assert row.state == "ended" and row.energy_wh == 500.0
    await again.close()


async def test_a_16_reboot_never_ends_its_transactions_as_not_resumed(
    csms: Csms, peer16: WirePeer
) -> None:
    # 1.6 has no GetTransactionStatus: a boot must not start the 2.0.1 reconciliation, whose
    # unanswerable question would end the live transaction after the grace period.
    await add_token("TAG-1")
    csms.reconciliation.grace_s = 0.05
    assert result(await peer16.call("BootNotification", BOOT))["status"] == "Accepted"
    transaction_id = str((await start(peer16))["transactionId"])
    assert result(await peer16.call("BootNotification", BOOT))["status"] == "Accepted"
    asked = await peer16.expect_call()  # the adapter reads the configuration at each boot
    assert not csms.reconciliation.busy("CS-16")
    await asyncio.sleep(0.5)  # ten grace periods
    row = await Transaction.get(station_id="CS-16", transaction_id=transaction_id)
    assert (row.state, row.stopped_reason) == ("active", None), asked
