"""What a detector reports: the kind of problem, how bad, and why it fired."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AlertKind(StrEnum):
    HOT_CONNECTOR = "hot_connector"  # hotter than peers at the same current
    VOLTAGE_OUT_OF_BAND = "voltage_out_of_band"
    PHASE_IMBALANCE = "phase_imbalance"
    OVER_LIMIT = "over_limit"  # draws more than the installed charging profile allows
    UNDER_LIMIT = "under_limit"  # far below its limit while the EV asks for more
    REGISTER_RESET = "register_reset"
    REGISTER_JUMP = "register_jump"
    METER_DRIFT = "meter_drift"  # register vs the integral of Power.Active.Import
    SOC_ANOMALY = "soc_anomaly"  # SoC rising faster than the energy can explain
    REBOOT_LOOP = "reboot_loop"
    LINK_FLAPPING = "link_flapping"
    CALL_ERROR_BURST = "call_error_burst"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector firing on one EVSE (0: the station as a whole).

    `readings` are the values it judged, `threshold` the bound they crossed and `score`
    how far (a robust z-score, a ratio or a count, as `reason` says).
    """

    station_id: str
    evse_id: int
    kind: AlertKind
    severity: Severity
    at: datetime
    reason: str
    threshold: float
    score: float
    readings: dict[str, float] = field(default_factory=dict)
    transaction_id: str | None = None
