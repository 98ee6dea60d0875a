"""One EVSE of an emulated station: its connector status, the plugged-in EV, the running
transaction and its energy registers. Mutable state, no I/O; time is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from charge_point_emulator.clock import ocpp_time
from charge_point_emulator.ev import EvSpec, advance
from charge_point_emulator.scenario import EvseSpec


class ConnectorStatus(StrEnum):
    AVAILABLE = "Available"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ChargingState(StrEnum):
    CHARGING = "Charging"
    EV_CONNECTED = "EVConnected"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    IDLE = "Idle"


@dataclass(slots=True)
class PluggedEv:
    """The car on the cable: its battery as it evolves, and when it will leave."""

    spec: EvSpec
    soc: float
    target_soc: float
    departure: datetime
    plugged_at: datetime
    id_token: str


@dataclass(slots=True)
class Transaction:
    """A running transaction; `seq_no` is the next TransactionEvent sequence number."""

    transaction_id: str
    started_at: datetime
    id_token: str
    #: The idToken type as presented (RFID: ISO14443; a remote start keeps the CSMS's type).
    id_token_type: str = "ISO14443"
    seq_no: int = 0
    charging_state: ChargingState = ChargingState.EV_CONNECTED
    remote_start_id: int | None = None
    next_sample_at: datetime | None = None

    def next_seq(self) -> int:
        """Sequence numbers are strictly increasing per transaction, from 0."""
        seq = self.seq_no
        self.seq_no += 1
        return seq


@dataclass(slots=True)
class EvseState:
    evse_id: int
    spec: EvseSpec
    status: ConnectorStatus = ConnectorStatus.AVAILABLE
    operative: bool = True
    # ChangeAvailability asked while a transaction ran: applied when it ends.
    pending_operative: bool | None = None
    import_wh: float = 0.0
    export_wh: float = 0.0
    power_w: float = 0.0
    ev: PluggedEv | None = None
    tx: Transaction | None = None
    # A RequestStartTransaction that arrived before the EV: (id token, remote start id).
    #: A remote start waiting for the EV: (idToken, remoteStartId, idToken type).
    remote_start: tuple[str, int, str] | None = None
    #: A reservation holds the EVSE (only its token or group may start here).
    reserved: bool = False

    def wanted_status(self) -> ConnectorStatus:
        """The connector status the EVSE's state implies."""
        if self.ev is not None:
            return ConnectorStatus.OCCUPIED
        if not self.operative:
            return ConnectorStatus.UNAVAILABLE
        if self.reserved:
            return ConnectorStatus.RESERVED
        return ConnectorStatus.AVAILABLE

    def integrate(self, seconds: float) -> float:
        """Run the current power for `seconds`; return the energy moved (Wh, signed)."""
        if self.ev is None or self.power_w == 0 or seconds <= 0:
            return 0.0
        step = advance(self.ev.spec, self.ev.soc, self.power_w, seconds)
        self.ev.soc = step.soc
        if step.energy_wh >= 0:
            self.import_wh += step.energy_wh
        else:
            self.export_wh -= step.energy_wh
        return step.energy_wh

    def meter_value(self, at: datetime, context: str) -> dict[str, Any]:
        """A MeterValueType dict (snake_case) with the four measurands of the SampledDataCtrlr."""
        sampled: list[dict[str, Any]] = [
            {
                "value": round(self.import_wh, 1),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unit_of_measure": {"unit": "Wh"},
            },
            {
                "value": round(self.export_wh, 1),
                "context": context,
                "measurand": "Energy.Active.Export.Register",
                "unit_of_measure": {"unit": "Wh"},
            },
            {
                "value": round(max(self.power_w, 0.0), 1),
                "context": context,
                "measurand": "Power.Active.Import",
                "unit_of_measure": {"unit": "W"},
            },
        ]
        if self.power_w < 0:
            sampled.append(
                {
                    "value": round(-self.power_w, 1),
                    "context": context,
                    "measurand": "Power.Active.Export",
                    "unit_of_measure": {"unit": "W"},
                }
            )
        if self.ev is not None:
            sampled.append(
                {
                    "value": round(self.ev.soc * 100.0, 1),
                    "context": context,
                    "measurand": "SoC",
                    "location": "EV",
                    "unit_of_measure": {"unit": "Percent"},
                }
            )
        return {"timestamp": ocpp_time(at), "sampled_value": sampled}
