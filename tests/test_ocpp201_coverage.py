"""Conformance of the action tables: every station-initiated action of OCPP 2.0.1 is answered
(never NotSupported or NotImplemented) with a payload its response schema accepts, and every
CSMS-initiated action can be sent from the REST API and is documented there."""

from __future__ import annotations

from typing import Any

import pytest

from csms.api.openapi import openapi_document
from csms.app import Csms
from csms.gateway import schemas
from tests.ocpp_fuzz import STATION_ACTIONS_V201
from tests.ocpp_wire import WirePeer
from tests.stations import at, boot, tx_event

#: The direction of every action of OCPP 2.0.1 part 2 (DataTransfer goes both ways).
STATION_TO_CSMS = frozenset(STATION_ACTIONS_V201)
CSMS_TO_STATION = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ClearCache",
        "ClearChargingProfile",
        "ClearDisplayMessage",
        "ClearVariableMonitoring",
        "CostUpdated",
        "CustomerInformation",
        "DataTransfer",
        "DeleteCertificate",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "GetDisplayMessages",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "GetTransactionStatus",
        "GetVariables",
        "InstallCertificate",
        "PublishFirmware",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SetDisplayMessage",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "SetNetworkProfile",
        "SetVariableMonitoring",
        "SetVariables",
        "TriggerMessage",
        "UnlockConnector",
        "UnpublishFirmware",
        "UpdateFirmware",
    }
)
#: The security block's actions (issue 14 builds their CSMS logic): checked here once
#: they have a handler, so that the merge of that work is covered by this test too.
SECURITY = frozenset({"SignCertificate", "Get15118EVCertificate", "GetCertificateStatus"})

_SCHEDULE = {
    "id": 1,
    "chargingRateUnit": "W",
    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000.0}],
}
_COMPONENT = {"name": "OCPPCommCtrlr"}
_VARIABLE = {"name": "HeartbeatInterval"}

#: A valid request of every station-initiated action (after the station booted).
REQUESTS: dict[str, dict[str, Any]] = {
    "BootNotification": boot(),
    "Authorize": {"idToken": {"idToken": "CONF-1", "type": "ISO14443"}},
    "ClearedChargingLimit": {"chargingLimitSource": "EMS", "evseId": 1},
    "DataTransfer": {"vendorId": "org.example.conformance"},
    "FirmwareStatusNotification": {"status": "Downloading", "requestId": 1},
    "Heartbeat": {},
    "LogStatusNotification": {"status": "Uploading", "requestId": 2},
    "MeterValues": {
        "evseId": 1,
        "meterValue": [{"timestamp": at(1), "sampledValue": [{"value": 10.0}]}],
    },
    "NotifyChargingLimit": {
        "chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": False},
        "chargingSchedule": [_SCHEDULE],
        "evseId": 1,
    },
    "NotifyCustomerInformation": {
        "data": "token CONF-1: 2 sessions",
        "seqNo": 0,
        "generatedAt": at(2),
        "requestId": 3,
    },
    "NotifyDisplayMessages": {
        "requestId": 4,
        "messageInfo": [
            {"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Hi"}}
        ],
    },
    "NotifyEVChargingNeeds": {
        "evseId": 1,
        "chargingNeeds": {"requestedEnergyTransfer": "DC", "departureTime": at(600)},
    },
    "NotifyEVChargingSchedule": {"timeBase": at(3), "evseId": 1, "chargingSchedule": _SCHEDULE},
    "NotifyEvent": {
        "generatedAt": at(4),
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": at(4),
                "trigger": "Alerting",
                "actualValue": "90",
                "eventNotificationType": "HardWiredMonitor",
                "component": _COMPONENT,
                "variable": _VARIABLE,
            }
        ],
    },
    "NotifyMonitoringReport": {
        "requestId": 5,
        "seqNo": 0,
        "generatedAt": at(5),
        "monitor": [
            {
                "component": _COMPONENT,
                "variable": _VARIABLE,
                "variableMonitoring": [
                    {
                        "id": 1,
                        "transaction": False,
                        "value": 600,
                        "type": "UpperThreshold",
                        "severity": 5,
                    }
                ],
            }
        ],
    },
    "NotifyReport": {"requestId": 6, "generatedAt": at(6), "seqNo": 0},
    "PublishFirmwareStatusNotification": {
        "status": "Published",
        "location": ["http://lc/fw"],
        "requestId": 7,
    },
    "ReportChargingProfiles": {
        "requestId": 8,
        "chargingLimitSource": "CSO",
        "evseId": 1,
        "chargingProfile": [
            {
                "id": 1000,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [_SCHEDULE | {"startSchedule": at(0)}],
            }
        ],
    },
    "ReservationStatusUpdate": {"reservationId": 9, "reservationUpdateStatus": "Expired"},
    "SecurityEventNotification": {"type": "StartupOfTheDevice", "timestamp": at(7)},
    "StatusNotification": {
        "timestamp": at(8),
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
    },
    "TransactionEvent": tx_event("Started", 0, 9, import_wh=0.0, id_token="CONF-1"),
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"},
    "Get15118EVCertificate": {
        "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
        "action": "Install",
        "exiRequest": "AAAA",
    },
    "GetCertificateStatus": {
        "ocspRequestData": {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": "00",
            "issuerKeyHash": "00",
            "serialNumber": "01",
            "responderURL": "http://ocsp.example",
        }
    },
}


def test_the_action_tables_cover_every_schema_of_the_ocpp_package() -> None:
    assert schemas.actions("v201") == STATION_TO_CSMS | CSMS_TO_STATION
    assert set(REQUESTS) == STATION_TO_CSMS


@pytest.mark.parametrize("action", sorted(REQUESTS))
def test_every_conformance_request_is_valid(action: str) -> None:
    schemas.validate("v201", action, "Request", REQUESTS[action])


async def test_no_station_initiated_action_answers_not_supported(
    csms: Csms, peer: WirePeer
) -> None:
    unanswered = []
    for action in ["BootNotification", *sorted(STATION_TO_CSMS - {"BootNotification"})]:
        if action in SECURITY and not csms.router.handles("v201", action):
            continue
        frame = await peer.call(action, REQUESTS[action])
        if frame[0] != 3:
            unanswered.append(f"{action}: {frame[2]} {frame[3]}")
            continue
        schemas.validate("v201", action, "Response", frame[2])
    assert unanswered == []


def test_every_csms_initiated_action_is_documented_in_openapi() -> None:
    document = openapi_document()
    route = document["paths"]["/api/v1/stations/{id}/commands/{action}"]["post"]
    action_parameter = next(p for p in route["parameters"] if p["name"] == "action")
    assert set(action_parameter["schema"]["enum"]) >= CSMS_TO_STATION
