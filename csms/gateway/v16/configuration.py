"""A 1.6 station's configuration keys as the 2.0.1 device model stores them, pure.

Every key is kept as it is under the component CONFIGURATION (variable = the key), so the
operator sees what the station calls it; the keys with a 2.0.1 counterpart (OCPP 2.0.1
part 2, the 1.6 migration table) are kept under that name too, where the planner reads
them: SmartChargingCtrlr.RateUnit from ChargingScheduleAllowedChargingRateUnit, and
SmartChargingCtrlr.Available from SupportedFeatureProfiles (no SmartCharging: the
station is planned as the load it draws).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]

#: The component holding every 1.6 key under its own name.
CONFIGURATION = "OCPP16Configuration"


def _units(value: str) -> str:
    names = {"Current": "A", "Power": "W"}
    return ",".join(names.get(v.strip(), v.strip()) for v in value.split(",") if v.strip())


def _smart_charging(value: str) -> str:
    return str("SmartCharging" in {v.strip() for v in value.split(",")}).lower()


def _same(value: str) -> str:
    return value


#: 1.6 key -> (component, variable, value conversion) in 2.0.1.
MIGRATED: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval", _same),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval", _same),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands", _same),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands", _same),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval", _same),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut", _same),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline", _same),
    "AuthorizeRemoteTxRequests": ("AuthCtrlr", "AuthorizeRemoteStart", _same),
    "LocalAuthListEnabled": ("LocalAuthListCtrlr", "Enabled", _same),
    "ChargeProfileMaxStackLevel": ("SmartChargingCtrlr", "ProfileStackLevel", _same),
    "ChargingScheduleAllowedChargingRateUnit": ("SmartChargingCtrlr", "RateUnit", _units),
    "SupportedFeatureProfiles": ("SmartChargingCtrlr", "Available", _smart_charging),
}


def _item(component: str, variable: str, value: str | None, readonly: bool) -> Payload:
    attribute: Payload = {"type": "Actual", "mutability": "ReadOnly" if readonly else "ReadWrite"}
    if value is not None:
        attribute["value"] = value[:2500]
    return {
        "component": {"name": component},
        "variable": {"name": variable},
        "variableAttribute": [attribute],
        "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
    }


def report_data(keys: list[Payload]) -> list[Payload]:
    """GetConfiguration.conf configurationKey[] -> NotifyReport reportData[]."""
    items = []
    for entry in keys:
        key, value, readonly = entry["key"], entry.get("value"), bool(entry["readonly"])
        items.append(_item(CONFIGURATION, key, value, readonly))
        migrated = MIGRATED.get(key)
        if migrated is not None and value is not None:
            component, variable, convert = migrated
            items.append(_item(component, variable, convert(value), readonly))
    return items
