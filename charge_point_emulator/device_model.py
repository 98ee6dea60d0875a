"""Device model of an emulated station: standard components and variables (OCPP 2.0.1 B).

Answers GetVariables/SetVariables and builds GetBaseReport data; pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DataType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DECIMAL = "decimal"
    OPTION_LIST = "OptionList"
    MEMBER_LIST = "MemberList"


class Mutability(StrEnum):
    READ_ONLY = "ReadOnly"
    READ_WRITE = "ReadWrite"


class GetStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"


class SetStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"


# Components every report is expected to contain (Part 2, "Referenced components").
STANDARD_COMPONENTS = (
    "ChargingStation",
    "EVSE",
    "Connector",
    "OCPPCommCtrlr",
    "TxCtrlr",
    "SmartChargingCtrlr",
    "AuthCtrlr",
    "SampledDataCtrlr",
    "DeviceDataCtrlr",
    "LocalAuthListCtrlr",
    "ReservationCtrlr",
)


@dataclass(frozen=True, slots=True)
class VariableKey:
    component: str
    variable: str
    evse_id: int | None = None
    connector_id: int | None = None
    component_instance: str | None = None
    variable_instance: str | None = None


@dataclass(slots=True)
class Variable:
    value: str
    data_type: DataType
    mutability: Mutability = Mutability.READ_ONLY
    unit: str | None = None


@dataclass(slots=True)
class DeviceModel:
    """Variables by key; only the `Actual` attribute is supported."""

    variables: dict[VariableKey, Variable] = field(default_factory=dict)

    def define(
        self,
        key: VariableKey,
        value: object,
        data_type: DataType,
        mutability: Mutability = Mutability.READ_ONLY,
        unit: str | None = None,
    ) -> None:
        self.variables[key] = Variable(_text(value), data_type, mutability, unit)

    def _find(self, key: VariableKey) -> tuple[Variable | None, bool]:
        """(variable, component known)."""
        if key in self.variables:
            return self.variables[key], True
        known = any(
            k.component == key.component
            and k.evse_id == key.evse_id
            and k.connector_id == key.connector_id
            and k.component_instance == key.component_instance
            for k in self.variables
        )
        return None, known

    def get(self, key: VariableKey, attribute: str = "Actual") -> tuple[GetStatus, str | None]:
        variable, component_known = self._find(key)
        if variable is None:
            status = GetStatus.UNKNOWN_VARIABLE if component_known else GetStatus.UNKNOWN_COMPONENT
            return status, None
        if attribute != "Actual":
            return GetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE, None
        return GetStatus.ACCEPTED, variable.value

    def set(self, key: VariableKey, value: str, attribute: str = "Actual") -> SetStatus:
        variable, component_known = self._find(key)
        if variable is None:
            return SetStatus.UNKNOWN_VARIABLE if component_known else SetStatus.UNKNOWN_COMPONENT
        if attribute != "Actual":
            return SetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE
        if variable.mutability is Mutability.READ_ONLY or not _fits(value, variable.data_type):
            return SetStatus.REJECTED
        variable.value = value
        return SetStatus.ACCEPTED

    def value(self, key: VariableKey) -> str:
        """The actual value of a variable the station itself defined."""
        return self.variables[key].value

    def int_value(self, component: str, variable: str, default: int) -> int:
        found = self.variables.get(VariableKey(component, variable))
        return int(found.value) if found is not None else default

    def report(self, configuration_only: bool = False) -> list[dict[str, Any]]:
        """ReportDataType dicts (snake_case) for NotifyReport, in a stable order."""
        out = []
        for key, v in self.variables.items():
            if configuration_only and v.mutability is Mutability.READ_ONLY:
                continue
            component: dict[str, Any] = {"name": key.component}
            if key.component_instance:
                component["instance"] = key.component_instance
            if key.evse_id is not None:
                component["evse"] = {"id": key.evse_id}
                if key.connector_id is not None:
                    component["evse"]["connector_id"] = key.connector_id
            variable: dict[str, Any] = {"name": key.variable}
            if key.variable_instance:
                variable["instance"] = key.variable_instance
            characteristics: dict[str, Any] = {
                "data_type": v.data_type.value,
                "supports_monitoring": False,
            }
            if v.unit:
                characteristics["unit"] = v.unit
            out.append(
                {
                    "component": component,
                    "variable": variable,
                    "variable_attribute": [
                        {"type": "Actual", "value": v.value, "mutability": v.mutability.value}
                    ],
                    "variable_characteristics": characteristics,
                }
            )
        return out


def chunks(items: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    """Split report data into NotifyReport parts of at most `size` entries."""
    for start in range(0, max(len(items), 1), size):
        yield items[start : start + size]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fits(value: str, data_type: DataType) -> bool:
    if data_type is DataType.INTEGER:
        try:
            int(value)
        except ValueError:
            return False
        return True
    if data_type is DataType.DECIMAL:
        try:
            float(value)
        except ValueError:
            return False
        return True
    if data_type is DataType.BOOLEAN:
        return value in ("true", "false")
    return True


@dataclass(frozen=True, slots=True)
class EvseHardware:
    """What the device model says about one EVSE."""

    evse_id: int
    max_power_w: float
    phases: int
    dc: bool
    bidirectional: bool


def standard_model(
    vendor: str,
    model: str,
    evses: Iterable[EvseHardware],
    heartbeat_interval_s: int,
    sample_interval_s: int,
    safety_telemetry: bool = False,
) -> DeviceModel:
    """The standard components of Part 2 with the values an emulated station has.

    With `safety_telemetry` the periodic samples also carry per-phase Voltage and
    Current.Import (the CSMS may change the list through SetVariables either way).
    """
    dm = DeviceModel()
    # ReadWrite only where the emulator acts on a change; setting anything else is Rejected.
    rw = Mutability.READ_WRITE
    dm.define(VariableKey("ChargingStation", "Model"), model, DataType.STRING)
    dm.define(VariableKey("ChargingStation", "VendorName"), vendor, DataType.STRING)
    dm.define(VariableKey("ChargingStation", "Available"), True, DataType.BOOLEAN)
    dm.define(VariableKey("ChargingStation", "AvailabilityState"), "Available", DataType.STRING)
    for e in evses:
        dm.define(VariableKey("EVSE", "Available", e.evse_id), True, DataType.BOOLEAN)
        dm.define(VariableKey("EVSE", "AvailabilityState", e.evse_id), "Available", DataType.STRING)
        dm.define(
            VariableKey("EVSE", "Power", e.evse_id, variable_instance=None),
            int(e.max_power_w),
            DataType.DECIMAL,
            unit="W",
        )
        dm.define(VariableKey("EVSE", "SupplyPhases", e.evse_id), e.phases, DataType.INTEGER)
        dm.define(
            VariableKey("EVSE", "DCBidirectional" if e.dc else "ACBidirectional", e.evse_id),
            e.bidirectional,
            DataType.BOOLEAN,
        )
        connector_type = "cCCS2" if e.dc else "cType2"
        dm.define(VariableKey("Connector", "Available", e.evse_id, 1), True, DataType.BOOLEAN)
        dm.define(
            VariableKey("Connector", "ConnectorType", e.evse_id, 1), connector_type, DataType.STRING
        )
    comm = "OCPPCommCtrlr"
    dm.define(VariableKey(comm, "HeartbeatInterval"), heartbeat_interval_s, DataType.INTEGER, rw)
    dm.define(VariableKey(comm, "OfflineThreshold"), 60, DataType.INTEGER)
    dm.define(
        VariableKey(comm, "MessageTimeout", component_instance="Default"),
        30,
        DataType.INTEGER,
    )
    dm.define(VariableKey(comm, "RetryBackOffRepeatTimes"), 5, DataType.INTEGER, rw)
    dm.define(VariableKey(comm, "RetryBackOffRandomRange"), 10, DataType.INTEGER, rw)
    dm.define(VariableKey(comm, "RetryBackOffWaitMinimum"), 2, DataType.INTEGER, rw)
    dm.define(
        VariableKey(comm, "MessageAttempts", variable_instance="TransactionEvent"),
        3,
        DataType.INTEGER,
        rw,
    )
    dm.define(
        VariableKey(comm, "MessageAttemptInterval", variable_instance="TransactionEvent"),
        10,
        DataType.INTEGER,
        rw,
    )
    tx = "TxCtrlr"
    dm.define(VariableKey(tx, "EVConnectionTimeOut"), 60, DataType.INTEGER)
    dm.define(VariableKey(tx, "StopTxOnEVSideDisconnect"), True, DataType.BOOLEAN)
    dm.define(VariableKey(tx, "StopTxOnInvalidId"), True, DataType.BOOLEAN)
    dm.define(VariableKey(tx, "TxStartPoint"), "PowerPathClosed", DataType.MEMBER_LIST)
    dm.define(VariableKey(tx, "TxStopPoint"), "PowerPathClosed", DataType.MEMBER_LIST)
    sc = "SmartChargingCtrlr"
    dm.define(VariableKey(sc, "Enabled"), True, DataType.BOOLEAN)
    dm.define(VariableKey(sc, "RateUnit"), "A,W", DataType.MEMBER_LIST)
    dm.define(VariableKey(sc, "PeriodsPerSchedule"), 48, DataType.INTEGER)
    dm.define(VariableKey(sc, "ProfileStackLevel"), 8, DataType.INTEGER)
    dm.define(VariableKey(sc, "Entries", variable_instance="ChargingProfiles"), 0, DataType.INTEGER)
    dm.define(VariableKey(sc, "LimitChangeSignificance"), 0.1, DataType.DECIMAL)
    auth = "AuthCtrlr"
    dm.define(VariableKey(auth, "Enabled"), True, DataType.BOOLEAN)
    dm.define(VariableKey(auth, "AuthorizeRemoteStart"), False, DataType.BOOLEAN)
    dm.define(VariableKey(auth, "LocalAuthorizeOffline"), True, DataType.BOOLEAN)
    dm.define(VariableKey(auth, "LocalPreAuthorize"), False, DataType.BOOLEAN)
    sd = "SampledDataCtrlr"
    dm.define(VariableKey(sd, "Enabled"), True, DataType.BOOLEAN)
    dm.define(VariableKey(sd, "TxUpdatedInterval"), sample_interval_s, DataType.INTEGER, rw)
    measurands = (
        "Energy.Active.Import.Register,Energy.Active.Export.Register,Power.Active.Import,SoC"
    )
    dm.define(
        VariableKey(sd, "TxUpdatedMeasurands"),
        measurands + (",Voltage,Current.Import" if safety_telemetry else ""),
        DataType.MEMBER_LIST,
        rw,
    )
    dm.define(
        VariableKey(sd, "TxEndedMeasurands"),
        "Energy.Active.Import.Register,Energy.Active.Export.Register",
        DataType.MEMBER_LIST,
    )
    dm.define(VariableKey(sd, "TxEndedInterval"), 0, DataType.INTEGER)
    # How much one request may carry (B06.FR.05, D01): the CSMS splits what exceeds it.
    dd = "DeviceDataCtrlr"
    for instance in ("GetReport", "GetVariables", "SetVariables"):
        dm.define(
            VariableKey(dd, "ItemsPerMessage", variable_instance=instance),
            MESSAGE_ITEMS,
            DataType.INTEGER,
        )
        dm.define(
            VariableKey(dd, "BytesPerMessage", variable_instance=instance),
            MESSAGE_BYTES,
            DataType.INTEGER,
        )
    la = "LocalAuthListCtrlr"
    dm.define(VariableKey(la, "Enabled"), True, DataType.BOOLEAN)
    dm.define(VariableKey(la, "Entries"), 0, DataType.INTEGER)
    dm.define(VariableKey(la, "ItemsPerMessage"), MESSAGE_ITEMS, DataType.INTEGER)
    dm.define(VariableKey(la, "BytesPerMessage"), MESSAGE_BYTES, DataType.INTEGER)
    dm.define(VariableKey("ReservationCtrlr", "Enabled"), True, DataType.BOOLEAN)
    dm.define(VariableKey("ReservationCtrlr", "NonEvseSpecific"), True, DataType.BOOLEAN)
    return dm


#: Default items and bytes the emulated station takes in one GetVariables, SetVariables or
#: SendLocalList (tests lower them through `DeviceModel.define`).
MESSAGE_ITEMS = 50
MESSAGE_BYTES = 65_000
