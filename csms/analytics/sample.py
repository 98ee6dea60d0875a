"""One instant of one EVSE's telemetry, built from normalised meter readings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from csms.blocks.meter import IMPORT_REGISTER, Reading


@dataclass(frozen=True, slots=True)
class Sample:
    """What the detectors see of one EVSE at one timestamp (W, Wh, °C, V, A, percent).

    The connector temperature comes from the station's device model (NotifyEvent on
    TemperatureSensor.Temperature), the rest from meter values. `model` keys the fleet
    baselines (peers share a model); `limit_w` is the charging
    profile limit installed at that moment, when the CSMS knows one.
    """

    station_id: str
    evse_id: int
    at: datetime
    model: str = ""
    transaction_id: str | None = None
    power_w: float | None = None
    import_wh: float | None = None
    soc: float | None = None
    temperature_c: float | None = None
    voltages: tuple[float, ...] = ()
    currents: tuple[float, ...] = ()
    limit_w: float | None = None
    #: Where `limit_w` comes from: "profile" (one the CSMS installed) or "rated" (the EVSE's
    #: rated power, when no profile is known).
    limit_source: str = "profile"
    #: The power the EV asks for (csms.analytics.ev_demand), None when unknown or none.
    ev_max_w: float | None = None


def samples_from_readings(
    station_id: str,
    evse_id: int,
    transaction_id: str | None,
    model: str,
    readings: Iterable[Reading],
) -> list[Sample]:
    """Group the readings of one message by timestamp into samples, in time order."""
    by_time: dict[datetime, list[Reading]] = {}
    for reading in readings:
        by_time.setdefault(reading.timestamp, []).append(reading)
    out = []
    for at in sorted(by_time):
        fields: dict[str, float] = {}
        voltages: dict[str, float] = {}
        currents: dict[str, float] = {}
        for r in by_time[at]:
            outlet = r.location in (None, "Outlet")
            if r.measurand == "Voltage" and r.phase:
                voltages[r.phase] = r.value
            elif r.measurand == "Current.Import" and outlet:
                currents[r.phase or ""] = r.value
            elif r.measurand == "SoC":
                fields["soc"] = r.value
            elif r.phase is None and outlet and r.measurand == IMPORT_REGISTER:
                fields["import_wh"] = r.value
            elif r.phase is None and outlet and r.measurand == "Power.Active.Import":
                fields["power_w"] = r.value
        out.append(
            Sample(
                station_id,
                evse_id,
                at,
                model,
                transaction_id,
                power_w=fields.get("power_w"),
                import_wh=fields.get("import_wh"),
                soc=fields.get("soc"),
                temperature_c=fields.get("temperature_c"),
                voltages=tuple(voltages[k] for k in sorted(voltages)),
                currents=tuple(currents[k] for k in sorted(currents)),
            )
        )
    return out
