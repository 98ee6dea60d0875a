"""Station-to-CSMS messages other than transactions, each over a real websocket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station, get_station
from csms.db.models import ChargingNeeds, StationEvent
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import T0, at, boot

PASSWORD = "correct-horse-battery"


async def result(peer: WirePeer, action: str, payload: dict[str, object]) -> dict[str, object]:
    answer = await peer.call(action, payload)
    assert answer[0] == 3, answer
    payload_out: dict[str, object] = answer[2]
    return payload_out


async def test_boot_is_accepted_with_the_configured_interval_and_stored(peer: WirePeer) -> None:
    answer = await result(peer, "BootNotification", boot())
    assert answer["status"] == "Accepted"
    assert answer["interval"] == 60
    view = await get_station("CS-1")
    assert (view.vendor_name, view.model) == ("Acme", "AC22")


async def test_pending_station_gets_pending(csms: Csms) -> None:
    await add_station("CS-P", PASSWORD, registration_status="Pending")
    peer = await open_peer(csms, "CS-P", PASSWORD)
    assert (await result(peer, "BootNotification", boot()))["status"] == "Pending"
    await peer.close()


async def test_rejected_station_may_only_boot(csms: Csms) -> None:
    await add_station("CS-R", PASSWORD, registration_status="Rejected")
    peer = await open_peer(csms, "CS-R", PASSWORD)
    answer = await result(peer, "BootNotification", boot())
    assert answer["status"] == "Rejected" and answer["interval"] == 600
    heartbeat = await peer.call("Heartbeat", {})
    assert heartbeat[0] == 4 and heartbeat[2] == "SecurityError"
    await peer.close()


async def test_rejected_station_is_refused_other_messages_before_it_boots(csms: Csms) -> None:
    await add_station("CS-R", PASSWORD, registration_status="Rejected")
    peer = await open_peer(csms, "CS-R", PASSWORD)
    heartbeat = await peer.call("Heartbeat", {})
    assert heartbeat[0] == 4 and heartbeat[2] == "SecurityError"
    await peer.close()


async def test_status_notification_keeps_the_newest_status_per_connector(peer: WirePeer) -> None:
    for minutes, status in ((0, "Available"), (5, "Occupied"), (2, "Faulted")):
        notification = {
            "timestamp": at(minutes),
            "connectorStatus": status,
            "evseId": 1,
            "connectorId": 1,
        }
        assert await result(peer, "StatusNotification", notification) == {}
    await result(
        peer,
        "StatusNotification",
        {"timestamp": at(1), "connectorStatus": "Unavailable", "evseId": 2, "connectorId": 1},
    )
    view = await get_station("CS-1")
    assert [(c["evse_id"], c["status"]) for c in view.connectors] == [
        (1, "Occupied"),
        (2, "Unavailable"),
    ]


async def test_authorize_answers_each_token_status(peer: WirePeer) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    await add_token("OK-1")
    await add_token("OLD-1", expires_at=past)
    await add_token("BAD-1", status="Blocked")
    await add_token("GRP-1", group_id="FLEET-A")
    expected = {
        "OK-1": "Accepted",
        "OLD-1": "Expired",
        "BAD-1": "Blocked",
        "NOPE": "Unknown",
        "GRP-1": "Accepted",
    }
    for token, status in expected.items():
        answer = await result(
            peer, "Authorize", {"idToken": {"idToken": token, "type": "ISO14443"}}
        )
        info = answer["idTokenInfo"]
        assert isinstance(info, dict) and info["status"] == status, token
    group = await result(peer, "Authorize", {"idToken": {"idToken": "GRP-1", "type": "ISO14443"}})
    assert group["idTokenInfo"]["groupIdToken"]["idToken"] == "FLEET-A"  # type: ignore[index]


async def test_unknown_tokens_can_be_answered_invalid(db_url: str) -> None:
    from tests.conftest import settings_for

    app = Csms(settings_for(db_url, unknown_token_status="Invalid"))
    await app.start()
    try:
        await add_station("CS-1", PASSWORD)
        peer = await open_peer(app, "CS-1", PASSWORD)
        answer = await result(peer, "Authorize", {"idToken": {"idToken": "X", "type": "ISO14443"}})
        assert answer == {"idTokenInfo": {"status": "Invalid"}}
        await peer.close()
    finally:
        await app.stop()


async def test_notifications_are_kept_in_the_station_event_log(peer: WirePeer) -> None:
    messages = {
        "NotifyEvent": {
            "generatedAt": at(0),
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": at(0),
                    "trigger": "Alerting",
                    "actualValue": "true",
                    "eventNotificationType": "HardWiredMonitor",
                    "component": {"name": "Connector"},
                    "variable": {"name": "Problem"},
                }
            ],
        },
        "SecurityEventNotification": {"type": "FirmwareUpdated", "timestamp": at(1)},
        "FirmwareStatusNotification": {"status": "Installed", "requestId": 3},
        "LogStatusNotification": {"status": "Uploaded", "requestId": 4},
    }
    for action, payload in messages.items():
        assert await result(peer, action, payload) == {}
    kinds = [event.kind for event in await StationEvent.filter(station_id="CS-1").order_by("id")]
    assert kinds == list(messages)


async def test_ev_charging_needs_are_stored_for_the_planner(peer: WirePeer) -> None:
    needs = {
        "evseId": 1,
        "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase",
            "departureTime": at(480),
            "acChargingParameters": {
                "energyAmount": 42000,
                "evMinCurrent": 6,
                "evMaxCurrent": 32,
                "evMaxVoltage": 400,
            },
        },
    }
    assert await result(peer, "NotifyEVChargingNeeds", needs) == {"status": "Accepted"}
    stored = await ChargingNeeds.get(station_id="CS-1", evse_id=1)
    assert stored.requested_energy_wh == 42000
    assert stored.departure_time == T0 + timedelta(minutes=480)


async def test_data_transfer_is_routed_by_vendor(csms: Csms, peer: WirePeer) -> None:
    async def echo(station_id: str, payload: dict[str, object]) -> dict[str, object]:
        return {"status": "Accepted", "data": f"{station_id}:{payload.get('data')}"}

    csms.data_transfer.register("org.example.echo", echo)
    known = await result(peer, "DataTransfer", {"vendorId": "org.example.echo", "data": "hi"})
    assert known == {"status": "Accepted", "data": "CS-1:hi"}
    unknown = await result(peer, "DataTransfer", {"vendorId": "com.nobody"})
    assert unknown == {"status": "UnknownVendorId"}


async def test_notify_report_parts_build_a_queryable_device_model(
    csms: Csms, peer: WirePeer
) -> None:
    def part(seq_no: int, tbc: bool, items: list[dict[str, object]]) -> dict[str, object]:
        return {
            "requestId": 1,
            "generatedAt": at(0),
            "seqNo": seq_no,
            "tbc": tbc,
            "reportData": items,
        }

    first = [
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
            "variableAttribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
        }
    ]
    second = [
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            "variableAttribute": [{"type": "MaxSet", "value": "22000", "mutability": "ReadOnly"}],
        }
    ]
    assert await result(peer, "NotifyReport", part(0, True, first)) == {}
    assert await result(peer, "NotifyReport", part(1, False, second)) == {}
    variables = await csms.device_model.variables("CS-1")
    assert {(v["component"], v["variable"], v["value"]) for v in variables} == {
        ("OCPPCommCtrlr", "HeartbeatInterval", "300"),
        ("EVSE", "Power", "22000"),
    }
    first[0]["variableAttribute"] = [{"type": "Actual", "value": "60"}]
    await result(peer, "NotifyReport", part(0, False, first))
    heartbeat = await csms.device_model.variables("CS-1", "OCPPCommCtrlr")
    assert [v["value"] for v in heartbeat] == ["60"]
