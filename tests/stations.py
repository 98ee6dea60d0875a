"""Builders of OCPP 2.0.1 payloads for tests, as a station would send them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

#: Yesterday, on the hour: the CSMS judges event times against its own clock (a station
#: clock weeks off is flagged), so the builders' times stay near the real date.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def boot(reason: str = "PowerUp") -> dict[str, Any]:
    return {"chargingStation": {"vendorName": "Acme", "model": "AC22"}, "reason": reason}


def meter(
    minutes: float,
    import_wh: float | None = None,
    export_wh: float | None = None,
    unit: str = "Wh",
    power_w: float | None = None,
) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    scale = 1000.0 if unit == "kWh" else 1.0
    if import_wh is not None:
        samples.append(
            {
                "value": import_wh / scale,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": unit},
            }
        )
    if export_wh is not None:
        samples.append(
            {
                "value": export_wh / scale,
                "measurand": "Energy.Active.Export.Register",
                "unitOfMeasure": {"unit": unit},
            }
        )
    if power_w is not None:
        samples.append({"value": power_w, "measurand": "Power.Active.Import"})
    return {"timestamp": at(minutes), "sampledValue": samples}


def tx_event(
    event_type: str,
    seq_no: int,
    minutes: float,
    transaction_id: str = "tx-1",
    *,
    import_wh: float | None = None,
    export_wh: float | None = None,
    unit: str = "Wh",
    offline: bool = False,
    id_token: str | None = None,
    stopped_reason: str | None = None,
    remote_start_id: int | None = None,
    evse_id: int = 1,
) -> dict[str, Any]:
    trigger = {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVDeparted"}
    info: dict[str, Any] = {"transactionId": transaction_id, "chargingState": "Charging"}
    if stopped_reason:
        info["stoppedReason"] = stopped_reason
    if remote_start_id is not None:
        info["remoteStartId"] = remote_start_id
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": at(minutes),
        "triggerReason": trigger[event_type],
        "seqNo": seq_no,
        "transactionInfo": info,
        "evse": {"id": evse_id, "connectorId": 1},
    }
    if offline:
        payload["offline"] = True
    if id_token:
        payload["idToken"] = {"idToken": id_token, "type": "ISO14443"}
    if import_wh is not None or export_wh is not None:
        payload["meterValue"] = [meter(minutes, import_wh, export_wh, unit)]
    return payload
