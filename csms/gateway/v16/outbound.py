"""CSMS -> 1.6 station CALLs, pure: a command in 1.6's words goes as it is; one in 2.0.1's
words (the planner, the safety analytics, an operator used to 2.0.1) is translated to the
1.6 action of the same meaning, and the station's answer back to 2.0.1's shape.

1.6 has no discharge: a translated charging profile never carries a negative limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from csms import strict_json
from csms.gateway import schemas
from csms.gateway.v16 import messages
from csms.ocpp_errors import CommandRejected, ErrorCode, OcppError

Payload = dict[str, Any]


def _same(response: Payload) -> Payload:
    return response


@dataclass(frozen=True, slots=True)
class Prepared:
    """What goes on the wire, and how the answer is given back to the caller."""

    action: str
    payload: Payload
    back: Callable[[Payload], Payload] = _same
    #: The 2.0.1 action the caller named, when translated.
    asked: str | None = None


def prepare(action: str, payload: Payload) -> Prepared:
    """The 1.6 CALL for a command; an action neither version knows is left to the
    schema check, which refuses it with NotImplemented."""
    translate = _FROM_201.get(action)
    if action in schemas.actions("v16"):
        try:
            schemas.validate("v16", action, "Request", payload)
            return Prepared(action, payload)
        except OcppError:
            if translate is None:
                raise
    if translate is None:
        return Prepared(action, payload)
    prepared = translate(payload)
    return Prepared(prepared.action, prepared.payload, prepared.back, action)


def _refuse(description: str) -> OcppError:
    return OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, description)


def _id_tag(token: Payload) -> str:
    id_tag = str(token["idToken"])
    if len(id_tag) > messages.ID_TAG_MAX:
        raise _refuse(f"idToken {id_tag[:40]!r} is longer than a 1.6 idTag (20)")
    return id_tag


def _transaction_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _refuse(f"transaction {str(value)[:40]!r} is no 1.6 transaction") from None


def _connector(payload: Payload) -> int:
    evse: Payload = payload.get("evse") or {}
    return int(evse.get("id", payload.get("evseId")) or 0)


def _status_only(response: Payload) -> Payload:
    return {"status": response["status"]}


def _remote_start(payload: Payload) -> Prepared:
    request: Payload = {"idTag": _id_tag(payload["idToken"])}
    if payload.get("evseId"):
        request["connectorId"] = payload["evseId"]
    if "chargingProfile" in payload:
        request["chargingProfile"] = charging_profile(payload["chargingProfile"])
    return Prepared("RemoteStartTransaction", request, _status_only)


def _remote_stop(payload: Payload) -> Prepared:
    request = {"transactionId": _transaction_id(payload["transactionId"])}
    return Prepared("RemoteStopTransaction", request, _status_only)


def _reset(payload: Payload) -> Prepared:
    kind = "Hard" if payload["type"] == "Immediate" else "Soft"
    return Prepared("Reset", {"type": kind}, _status_only)


def _unlock(payload: Payload) -> Prepared:
    def back(response: Payload) -> Payload:
        status = response["status"]
        return {"status": "UnlockFailed" if status == "NotSupported" else status}

    return Prepared("UnlockConnector", {"connectorId": payload["evseId"]}, back)


def _availability(payload: Payload) -> Prepared:
    request = {"connectorId": _connector(payload), "type": payload["operationalStatus"]}
    return Prepared("ChangeAvailability", request, _status_only)


#: 2.0.1 messages a 1.6 station is asked for under another name.
_TRIGGERED = {
    "LogStatusNotification": "DiagnosticsStatusNotification",
    "TransactionEvent": "MeterValues",
}


def _trigger(payload: Payload) -> Prepared:
    wanted = payload["requestedMessage"]
    request: Payload = {"requestedMessage": _TRIGGERED.get(wanted, wanted)}
    connector = _connector(payload)
    if connector:
        request["connectorId"] = connector
    return Prepared("TriggerMessage", request, _status_only)


def _local_list(payload: Payload) -> Prepared:
    entries = []
    for entry in payload.get("localAuthorizationList") or ():
        id_tag = entry["idToken"]["idToken"]
        if len(id_tag) > messages.ID_TAG_MAX:
            continue  # no 1.6 station could be shown it
        item: Payload = {"idTag": id_tag}
        if "idTokenInfo" in entry:
            item["idTagInfo"] = messages.id_tag_info(entry["idTokenInfo"])
        entries.append(item)
    request: Payload = {
        "listVersion": payload["versionNumber"],
        "updateType": payload["updateType"],
    }
    if entries or payload["updateType"] == "Full":
        request["localAuthorizationList"] = entries

    def back(response: Payload) -> Payload:
        status = response["status"]
        return {"status": "Failed" if status == "NotSupported" else status}

    return Prepared("SendLocalList", request, back)


#: 2.0.1 purposes 1.6 names otherwise.
_PURPOSE_TO_16 = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}


def _limit(value: float) -> float:
    """A 1.6 limit: never negative (1.6 has no discharge), in steps of 0.1."""
    return round(max(float(value), 0.0), 1)


def charging_profile(profile: Payload) -> Payload:
    """2.0.1 ChargingProfileType -> 1.6 ChargingProfile (its first schedule)."""
    purpose = profile["chargingProfilePurpose"]
    if purpose not in ("ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile"):
        raise _refuse(f"1.6 has no {purpose}")
    schedule = profile["chargingSchedule"][0]
    converted_schedule: Payload = {
        "chargingRateUnit": schedule["chargingRateUnit"],
        "chargingSchedulePeriod": [
            {
                "startPeriod": period["startPeriod"],
                "limit": _limit(period["limit"]),
                **({"numberPhases": period["numberPhases"]} if "numberPhases" in period else {}),
            }
            for period in schedule["chargingSchedulePeriod"]
        ],
    }
    for key in ("duration", "startSchedule"):
        if key in schedule:
            converted_schedule[key] = schedule[key]
    if "minChargingRate" in schedule:
        converted_schedule["minChargingRate"] = _limit(schedule["minChargingRate"])
    converted: Payload = {
        "chargingProfileId": profile["id"],
        "stackLevel": profile["stackLevel"],
        "chargingProfilePurpose": _PURPOSE_TO_16.get(purpose, purpose),
        "chargingProfileKind": profile["chargingProfileKind"],
        "chargingSchedule": converted_schedule,
    }
    for key in ("recurrencyKind", "validFrom", "validTo"):
        if key in profile:
            converted[key] = profile[key]
    if "transactionId" in profile:
        converted["transactionId"] = _transaction_id(profile["transactionId"])
    return converted


def _set_profile(payload: Payload) -> Prepared:
    request = {
        "connectorId": payload["evseId"],
        "csChargingProfiles": charging_profile(payload["chargingProfile"]),
    }

    def back(response: Payload) -> Payload:
        if response["status"] == "NotSupported":
            # As a 2.0.1 station says it: the planner then plans around the station.
            raise CommandRejected(ErrorCode.NOT_SUPPORTED, "SetChargingProfile NotSupported", {})
        return _status_only(response)

    return Prepared("SetChargingProfile", request, back)


def _clear_profile(payload: Payload) -> Prepared:
    criteria = payload.get("chargingProfileCriteria") or {}
    request: Payload = {}
    if "chargingProfileId" in payload:
        request["id"] = payload["chargingProfileId"]
    if "evseId" in criteria:
        request["connectorId"] = criteria["evseId"]
    if "chargingProfilePurpose" in criteria:
        purpose = criteria["chargingProfilePurpose"]
        request["chargingProfilePurpose"] = _PURPOSE_TO_16.get(purpose, purpose)
    if "stackLevel" in criteria:
        request["stackLevel"] = criteria["stackLevel"]
    return Prepared("ClearChargingProfile", request, _status_only)


def _composite(payload: Payload) -> Prepared:
    request: Payload = {"connectorId": payload["evseId"], "duration": payload["duration"]}
    if "chargingRateUnit" in payload:
        request["chargingRateUnit"] = payload["chargingRateUnit"]

    def back(response: Payload) -> Payload:
        out: Payload = {"status": response["status"]}
        schedule = response.get("chargingSchedule")
        if response["status"] == "Accepted" and schedule is not None:
            out["schedule"] = {
                "evseId": response.get("connectorId", payload["evseId"]),
                "duration": schedule.get("duration", payload["duration"]),
                "scheduleStart": response.get("scheduleStart") or schedule.get("startSchedule"),
                "chargingRateUnit": schedule["chargingRateUnit"],
                "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
            }
        return out

    return Prepared("GetCompositeSchedule", request, back)


def _reserve(payload: Payload) -> Prepared:
    # A 2.0.1 reservation of "any EVSE" (of a connector type) is 1.6's connector 0.
    request: Payload = {
        "reservationId": payload["id"],
        "connectorId": int(payload.get("evseId") or 0),
        "expiryDate": payload["expiryDateTime"],
        "idTag": _id_tag(payload["idToken"]),
    }
    if payload.get("groupIdToken"):
        request["parentIdTag"] = _id_tag(payload["groupIdToken"])
    return Prepared("ReserveNow", request, _status_only)


def _data_transfer(payload: Payload) -> Prepared:
    request: Payload = {key: payload[key] for key in ("vendorId", "messageId") if key in payload}
    if "data" in payload:
        data = payload["data"]
        request["data"] = (
            data if isinstance(data, str) else strict_json.dumps(data, separators=(",", ":"))
        )
    return Prepared("DataTransfer", request)


def _base_report(payload: Payload) -> Prepared:
    # The station's whole configuration; the adapter stores it like a report.
    return Prepared("GetConfiguration", {}, lambda _: {"status": "Accepted"})


_FROM_201: dict[str, Callable[[Payload], Prepared]] = {
    "RequestStartTransaction": _remote_start,
    "RequestStopTransaction": _remote_stop,
    "Reset": _reset,
    "UnlockConnector": _unlock,
    "ChangeAvailability": _availability,
    "TriggerMessage": _trigger,
    "SendLocalList": _local_list,
    "SetChargingProfile": _set_profile,
    "ClearChargingProfile": _clear_profile,
    "GetCompositeSchedule": _composite,
    "DataTransfer": _data_transfer,
    "GetBaseReport": _base_report,
    "ReserveNow": _reserve,
}
