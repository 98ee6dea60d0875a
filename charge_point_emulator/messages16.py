"""What an emulated 1.6 station says, pure: the 2.0.1 shapes the station's cores produce
(meter values, connector statuses, charging profiles) in 1.6's words, and back."""

from __future__ import annotations

from typing import Any

from charge_point_emulator.evse import ChargingState, ConnectorStatus

#: The purposes 1.6 names otherwise.
PURPOSE_FROM_16 = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}

#: 2.0.1 stoppedReason -> 1.6 Reason (the rest are the same word, or Other).
STOP_REASON = {
    "DeAuthorized": "DeAuthorized",
    "EmergencyStop": "EmergencyStop",
    "EVDisconnected": "EVDisconnected",
    "ImmediateReset": "HardReset",
    "Local": "Local",
    "PowerLoss": "PowerLoss",
    "Reboot": "Reboot",
    "Remote": "Remote",
}

_CHARGING_STATUS = {
    ChargingState.CHARGING: "Charging",
    ChargingState.SUSPENDED_EV: "SuspendedEV",
    ChargingState.SUSPENDED_EVSE: "SuspendedEVSE",
    ChargingState.EV_CONNECTED: "SuspendedEV",
    ChargingState.IDLE: "Finishing",
}


def meter_value(value: dict[str, Any]) -> dict[str, Any]:
    """A 2.0.1 MeterValueType dict (snake_case) as 1.6's: string values, a plain unit."""
    samples = []
    for sample in value["sampled_value"]:
        converted = {"value": f"{float(sample['value']):.1f}"}
        for key in ("context", "measurand", "phase", "location"):
            if sample.get(key) is not None:
                converted[key] = sample[key]
        unit = (sample.get("unit_of_measure") or {}).get("unit")
        if unit is not None:
            converted["unit"] = unit
        samples.append(converted)
    return {"timestamp": value["timestamp"], "sampled_value": samples}


def import_register(value: dict[str, Any]) -> float | None:
    for sample in value["sampled_value"]:
        if sample.get("measurand", "Energy.Active.Import.Register") == (
            "Energy.Active.Import.Register"
        ):
            return float(sample["value"])
    return None


def connector_status(status: ConnectorStatus, charging: ChargingState | None, plugged: bool) -> str:
    """1.6 ChargePointStatus of a connector with this 2.0.1 status."""
    if status is not ConnectorStatus.OCCUPIED:
        return status.value
    if charging is not None:
        return _CHARGING_STATUS[charging]
    return "Preparing" if plugged else "Finishing"


def profile_to_201(profile: dict[str, Any]) -> dict[str, Any]:
    """A 1.6 csChargingProfiles dict (snake_case) as the 2.0.1 ChargingProfileType the
    station's profile store reads."""
    converted: dict[str, Any] = {
        "id": profile["charging_profile_id"],
        "stack_level": profile["stack_level"],
        "charging_profile_purpose": PURPOSE_FROM_16.get(
            profile["charging_profile_purpose"], profile["charging_profile_purpose"]
        ),
        "charging_profile_kind": profile["charging_profile_kind"],
        "charging_schedule": [
            {"id": profile["charging_profile_id"], **profile["charging_schedule"]}
        ],
    }
    for key in ("recurrency_kind", "valid_from", "valid_to"):
        if profile.get(key) is not None:
            converted[key] = profile[key]
    if profile.get("transaction_id") is not None:
        converted["transaction_id"] = str(profile["transaction_id"])
    return converted


def composite_to_16(schedule: dict[str, Any]) -> dict[str, Any]:
    """The station's composite schedule (2.0.1 snake_case) as 1.6's
    GetCompositeSchedule.conf fields."""
    return {
        "status": "Accepted",
        "connector_id": schedule["evse_id"],
        "schedule_start": schedule["schedule_start"],
        "charging_schedule": {
            "duration": schedule["duration"],
            "start_schedule": schedule["schedule_start"],
            "charging_rate_unit": schedule["charging_rate_unit"],
            "charging_schedule_period": schedule["charging_schedule_period"],
        },
    }
