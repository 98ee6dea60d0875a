"""OCPP 1.6 configuration keys (1.6 section 9) as views of the station's 2.0.1 device
model, pure: GetConfiguration reads them, ChangeConfiguration writes the writable ones."""

from __future__ import annotations

from typing import Any

from charge_point_emulator.device_model import DeviceModel, SetStatus, VariableKey

#: 1.6 key -> the device model variable holding its value.
KEYS: dict[str, VariableKey] = {
    "HeartbeatInterval": VariableKey("OCPPCommCtrlr", "HeartbeatInterval"),
    "MeterValueSampleInterval": VariableKey("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": VariableKey("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "StopTxnSampledData": VariableKey("SampledDataCtrlr", "TxEndedMeasurands"),
    "LocalAuthorizeOffline": VariableKey("AuthCtrlr", "LocalAuthorizeOffline"),
    "AuthorizeRemoteTxRequests": VariableKey("AuthCtrlr", "AuthorizeRemoteStart"),
    "ConnectionTimeOut": VariableKey("TxCtrlr", "EVConnectionTimeOut"),
    "StopTransactionOnEVSideDisconnect": VariableKey("TxCtrlr", "StopTxOnEVSideDisconnect"),
    "StopTransactionOnInvalidId": VariableKey("TxCtrlr", "StopTxOnInvalidId"),
    "TransactionMessageAttempts": VariableKey(
        "OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent"
    ),
    "TransactionMessageRetryInterval": VariableKey(
        "OCPPCommCtrlr", "MessageAttemptInterval", variable_instance="TransactionEvent"
    ),
    "ChargeProfileMaxStackLevel": VariableKey("SmartChargingCtrlr", "ProfileStackLevel"),
}

#: Profiles this emulator implements; without SmartCharging when it must not be managed.
FEATURE_PROFILES = (
    "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
)


def constants(connectors: int, smart_charging: bool) -> dict[str, str]:
    """Read-only keys that describe the station rather than configure it."""
    profiles = (
        FEATURE_PROFILES if smart_charging else FEATURE_PROFILES.replace(",SmartCharging", "")
    )
    return {
        "NumberOfConnectors": str(connectors),
        "SupportedFeatureProfiles": profiles,
        "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "LocalAuthListEnabled": "true",
        "LocalAuthListMaxLength": "1000",
        "SendLocalListMaxLength": "1000",
    }


def get_configuration(
    model: DeviceModel, fixed: dict[str, str], wanted: list[str] | None
) -> dict[str, Any]:
    """GetConfiguration.conf (snake_case): the keys asked for, or all of them."""
    names = wanted or [*KEYS, *fixed]
    found, unknown = [], []
    for name in names:
        if name in fixed:
            found.append({"key": name, "readonly": True, "value": fixed[name]})
            continue
        key = KEYS.get(name)
        variable = model.variables.get(key) if key is not None else None
        if variable is None:
            unknown.append(name)
            continue
        found.append(
            {
                "key": name,
                "readonly": variable.mutability.value == "ReadOnly",
                "value": variable.value,
            }
        )
    return {"configuration_key": found, "unknown_key": unknown or None}


def change_configuration(model: DeviceModel, fixed: dict[str, str], name: str, value: str) -> str:
    """ChangeConfiguration.conf status: Accepted, Rejected or NotSupported (unknown key)."""
    if name in fixed:
        return "Rejected"
    key = KEYS.get(name)
    if key is None:
        return "NotSupported"
    return "Accepted" if model.set(key, value) is SetStatus.ACCEPTED else "Rejected"
