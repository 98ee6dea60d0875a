"""OCPP 1.6 station -> CSMS messages as 2.0.1 payloads, and 2.0.1 answers as 1.6 ones.

Pure: payloads in, payloads out. Conventions of the translation:
- a 1.6 connector N (N > 0) is EVSE N with its connector 1; connector 0 is the station;
- a 1.6 transaction is keyed by its integer id as a decimal string;
- what 2.0.1 has no field for (a 1.6 stop reason it spells otherwise, the meter's type)
  travels in `customData` under VENDOR_ID, so the stored event loses nothing.
"""

from __future__ import annotations

from typing import Any

from csms import strict_json
from csms.blocks.meter import IMPORT_REGISTER
from csms.ocpp_errors import ErrorCode, OcppError

Payload = dict[str, Any]

#: vendorId of the customData carrying what 1.6 says and 2.0.1 cannot.
VENDOR_ID = "org.openchargealliance.ocpp1.6"

#: 1.6 ChargePointStatus -> 2.0.1 ConnectorStatusEnumType.
CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEVSE": "Occupied",
    "SuspendedEV": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}

#: 1.6 ChargePointStatus during a transaction -> 2.0.1 ChargingStateEnumType.
CHARGING_STATE = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Preparing": "EVConnected",
    "Finishing": "EVConnected",
}

#: 1.6 StopTransaction reasons 2.0.1 spells otherwise (the rest are the same word).
STOP_REASON = {"HardReset": "ImmediateReset", "SoftReset": "Reboot", "UnlockCommand": "Remote"}

#: 1.6 Reason -> the 2.0.1 triggerReason of the Ended event.
STOP_TRIGGER = {
    "DeAuthorized": "Deauthorized",
    "EmergencyStop": "AbnormalCondition",
    "EVDisconnected": "EVCommunicationLost",
    "HardReset": "ResetCommand",
    "SoftReset": "ResetCommand",
    "Local": "StopAuthorized",
    "PowerLoss": "AbnormalCondition",
    "Reboot": "ResetCommand",
    "Remote": "RemoteStop",
    "UnlockCommand": "UnlockCommand",
}

#: 1.6 sampled value context -> the triggerReason of the Updated event carrying it.
SAMPLE_TRIGGER = {
    "Sample.Clock": "MeterValueClock",
    "Trigger": "Trigger",
}

#: 1.6 unit spellings 2.0.1 writes otherwise.
UNITS = {"Celcius": "Celsius"}

#: 2.0.1 AuthorizationStatusEnumType values 1.6's AuthorizationStatus lacks.
_ID_TAG_STATUSES = {"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"}

#: 1.6 DiagnosticsStatus -> 2.0.1 UploadLogStatusEnumType.
DIAGNOSTICS_STATUS = {"UploadFailed": "UploadFailure"}

ID_TAG_MAX = 20


def evse_of(connector_id: int) -> Payload:
    """The 2.0.1 EVSE of a 1.6 connector (N > 0)."""
    return {"id": connector_id, "connectorId": 1}


def boot_notification(payload: Payload) -> Payload:
    station: Payload = {
        "vendorName": payload["chargePointVendor"],
        "model": payload["chargePointModel"],
    }
    serial = payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber")
    if serial:
        station["serialNumber"] = serial
    if "firmwareVersion" in payload:
        station["firmwareVersion"] = payload["firmwareVersion"]
    modem = {key: payload[key] for key in ("iccid", "imsi") if key in payload}
    if modem:
        station["modem"] = modem
    # 1.6 boots say no reason.
    return {"reason": "Unknown", "chargingStation": station, **_custom("BootNotification", payload)}


def status_notification(payload: Payload, now: str) -> Payload:
    connector = payload["connectorId"]
    if connector < 0:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "connectorId must be >= 0")
    return {
        "timestamp": payload.get("timestamp") or now,
        "connectorStatus": CONNECTOR_STATUS[payload["status"]],
        # Connector 0 is the station's own status: stored as EVSE 0, connector 0.
        "evseId": connector,
        "connectorId": 1 if connector else 0,
    }


def id_token(id_tag: str, token_type: str) -> Payload:
    return {"idToken": id_tag, "type": token_type}


def id_tag_info(info: Payload | None) -> Payload:
    """2.0.1 idTokenInfo -> 1.6 idTagInfo."""
    if info is None:
        return {"status": "Accepted"}
    status = info["status"]
    out: Payload = {"status": status if status in _ID_TAG_STATUSES else "Invalid"}
    if "cacheExpiryDateTime" in info:
        out["expiryDate"] = info["cacheExpiryDateTime"]
    group = (info.get("groupIdToken") or {}).get("idToken")
    if group and len(group) <= ID_TAG_MAX:
        out["parentIdTag"] = group
    return out


def meter_values(values: list[Payload]) -> list[Payload]:
    """1.6 meterValue[] -> 2.0.1 meterValue[]: numbers for strings, unitOfMeasure for
    unit. Signed values (format SignedData) carry no number: left out here, kept in the
    message's customData by the caller."""
    out = []
    for value in values:
        samples = []
        for sample in value["sampledValue"]:
            if sample.get("format") == "SignedData":
                continue
            try:
                number = float(sample["value"])
            except ValueError:
                raise OcppError(
                    ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"sampled value {sample['value'][:40]!r} is not a number",
                ) from None
            converted: Payload = {"value": number}
            for key in ("context", "measurand", "phase", "location"):
                if key in sample:
                    converted[key] = sample[key]
            if "unit" in sample:
                converted["unitOfMeasure"] = {"unit": UNITS.get(sample["unit"], sample["unit"])}
            samples.append(converted)
        if samples:
            out.append({"timestamp": value["timestamp"], "sampledValue": samples})
    return out


def signed(values: list[Payload]) -> bool:
    return any(s.get("format") == "SignedData" for v in values for s in v["sampledValue"])


def register_reading(timestamp: str, wh: int, context: str) -> Payload:
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {
                "value": wh,
                "context": context,
                "measurand": IMPORT_REGISTER,
                "unitOfMeasure": {"unit": "Wh"},
            }
        ],
    }


def started(payload: Payload, transaction_id: int, token_type: str) -> Payload:
    """StartTransaction -> TransactionEvent(Started) carrying meterStart. Events are built
    with seqNo 0: the adapter numbers them (sequence.SeqBook)."""
    event: Payload = {
        "eventType": "Started",
        "timestamp": payload["timestamp"],
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": str(transaction_id)},
        "evse": evse_of(payload["connectorId"]),
        "idToken": id_token(payload["idTag"], token_type),
        "meterValue": [
            register_reading(payload["timestamp"], payload["meterStart"], "Transaction.Begin")
        ],
    }
    if "reservationId" in payload:
        event["reservationId"] = payload["reservationId"]
    return event


def updated(payload: Payload) -> Payload:
    """MeterValues with a transactionId -> TransactionEvent(Updated)."""
    values = meter_values(payload["meterValue"])
    contexts = [s.get("context") for v in payload["meterValue"] for s in v["sampledValue"]]
    trigger = next(
        (SAMPLE_TRIGGER[c] for c in contexts if c in SAMPLE_TRIGGER), "MeterValuePeriodic"
    )
    event: Payload = {
        "eventType": "Updated",
        "timestamp": first_timestamp(payload["meterValue"]),
        "triggerReason": trigger,
        "seqNo": 0,
        "transactionInfo": {"transactionId": str(payload["transactionId"])},
    }
    if payload["connectorId"] > 0:
        event["evse"] = evse_of(payload["connectorId"])
    if values:
        event["meterValue"] = values
    if signed(payload["meterValue"]):
        event |= _custom("MeterValues", payload)
    return event


def ended(payload: Payload, token_type: str | None) -> Payload:
    """StopTransaction -> TransactionEvent(Ended) carrying transactionData and meterStop."""
    reason = payload.get("reason", "Local")
    values = meter_values(payload.get("transactionData") or [])
    values.append(register_reading(payload["timestamp"], payload["meterStop"], "Transaction.End"))
    event: Payload = {
        "eventType": "Ended",
        "timestamp": payload["timestamp"],
        "triggerReason": STOP_TRIGGER.get(reason, "AbnormalCondition"),
        "seqNo": 0,
        "transactionInfo": {
            "transactionId": str(payload["transactionId"]),
            "stoppedReason": STOP_REASON.get(reason, reason),
        },
        "meterValue": values,
        **_custom("StopTransaction", {"reason": reason}),
    }
    if "idTag" in payload and token_type is not None:
        event["idToken"] = id_token(payload["idTag"], token_type)
    return event


def charging_state(transaction_id: int, status: str, timestamp: str) -> Payload:
    """A 1.6 connector status inside a transaction -> TransactionEvent(Updated)."""
    return {
        "eventType": "Updated",
        "timestamp": timestamp,
        "triggerReason": "ChargingStateChanged",
        "seqNo": 0,
        "transactionInfo": {
            "transactionId": str(transaction_id),
            "chargingState": CHARGING_STATE[status],
        },
    }


def first_timestamp(values: list[Payload]) -> str:
    return str(min(values, key=lambda v: str(v["timestamp"]))["timestamp"])


def data_transfer_response(response: Payload) -> Payload:
    out: Payload = {"status": response["status"]}
    data = response.get("data")
    if data is not None:
        out["data"] = (
            data if isinstance(data, str) else strict_json.dumps(data, separators=(",", ":"))
        )
    return out


def diagnostics_status(payload: Payload) -> Payload:
    status = payload["status"]
    return {
        "status": DIAGNOSTICS_STATUS.get(status, status),
        **_custom("DiagnosticsStatusNotification", payload),
    }


def _custom(action: str, original: Payload) -> Payload:
    return {"customData": {"vendorId": VENDOR_ID, "action": action, "request": original}}
