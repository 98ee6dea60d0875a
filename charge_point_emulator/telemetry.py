"""The sensors of one EVSE, pure: what its meter values say beside energy and power.

`Sensors.instrument` adds phase voltages and currents to a MeterValue built from the
EVSE's state and updates the connector temperature, which OCPP 2.0.1 has no measurand
for: a station reports it through its device model, as a periodic monitor's NotifyEvent
on component TemperatureSensor (of the EVSE), variable Temperature (`temperature_event`).
It lets the safety faults of `faults.py` distort
what a faulty station reports (a hot contact, a drifting or reset register, a BMS whose
SoC runs ahead, a phase that no longer carries its share). Time and randomness come in
as arguments, so the same sensors run in a live station and in a simulated week.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from charge_point_emulator.faults import FaultKind, FaultPlan
from charge_point_emulator.scenario import EvseSpec

NOMINAL_AC_V = 230.0
NOMINAL_DC_V = 400.0
#: Temperature rise of a healthy connector over ambient at its rated current (°C).
HEALTHY_RISE_C = 35.0
#: A worn contact with this much more resistance heats this many times more.
HOT_FACTOR = 8.0
#: Thermal time constant of connector and cable (s).
THERMAL_TAU_S = 180.0
#: Share of the current a phase with a failing contactor still carries.
WEAK_PHASE_SHARE = 0.3
#: How much too much a drifting register counts.
DRIFT_SHARE = 0.15
#: How many times faster than the energy explains a faulty BMS reports SoC rising.
SOC_RUNAWAY = 5.0


def rated_current_a(spec: EvseSpec) -> float:
    """The current the EVSE is built for (per phase on AC)."""
    if spec.dc:
        return spec.max_power_w / NOMINAL_DC_V
    return spec.max_power_w / (NOMINAL_AC_V * max(spec.phases, 1))


@dataclass(slots=True)
class Sensors:
    """One EVSE's sensor state; `ambient_c` is the air around it."""

    ambient_c: float
    temperature_c: float | None = None
    #: What the temperature sensor read at the last sample (with its noise).
    reported_c: float | None = None
    #: The load (share of rated current) since the last sample: what heated the contact.
    last_load: float = 0.0
    last_elapsed_s: float | None = None
    last_import_wh: float | None = None
    last_soc: float | None = None
    register_offset_wh: float = 0.0
    drift_wh: float = 0.0
    reset_done: bool = False
    soc_extra: float = 0.0

    def instrument(
        self,
        meter_value: dict[str, Any],
        evse_id: int,
        spec: EvseSpec,
        power_w: float,
        import_wh: float,
        soc: float | None,
        elapsed_s: float,
        faults: FaultPlan,
        rng: random.Random,
        measurands: frozenset[str] = frozenset({"Voltage", "Current.Import"}),
    ) -> dict[str, Any]:
        """`meter_value` (snake_case MeterValueType) as this EVSE's sensors report it, with
        Voltage and Current.Import per phase when they are among `measurands`."""
        dt = 0.0 if self.last_elapsed_s is None else max(0.0, elapsed_s - self.last_elapsed_s)
        self.last_elapsed_s = elapsed_s

        def holds(kind: FaultKind) -> bool:
            return faults.holds(kind, elapsed_s, evse_id)

        current = abs(power_w) / (NOMINAL_DC_V if spec.dc else NOMINAL_AC_V * max(spec.phases, 1))
        heating = HEALTHY_RISE_C * self.last_load * self.last_load
        steady = self.ambient_c + heating * (HOT_FACTOR if holds(FaultKind.HOT_CONNECTOR) else 1.0)
        if self.temperature_c is None:
            self.temperature_c = self.ambient_c
        self.temperature_c += (steady - self.temperature_c) * (1.0 - math.exp(-dt / THERMAL_TAU_S))
        self.last_load = current / rated_current_a(spec)

        grown = 0.0 if self.last_import_wh is None else max(0.0, import_wh - self.last_import_wh)
        self.last_import_wh = import_wh
        if holds(FaultKind.METER_DRIFT):
            self.drift_wh += DRIFT_SHARE * grown
        if holds(FaultKind.REGISTER_RESET) and not self.reset_done:
            self.reset_done = True
            self.register_offset_wh = import_wh + self.drift_wh
        if soc is None:
            self.soc_extra = 0.0  # the next car has a BMS of its own
        elif self.last_soc is not None and holds(FaultKind.SOC_ANOMALY):
            self.soc_extra += (SOC_RUNAWAY - 1.0) * max(0.0, soc - self.last_soc)
        self.last_soc = soc

        context = None
        for sample in meter_value["sampled_value"]:
            context = sample.get("context")
            if sample["measurand"] == "Energy.Active.Import.Register":
                sample["value"] = round(import_wh + self.drift_wh - self.register_offset_wh, 1)
            elif sample["measurand"] == "SoC" and soc is not None:
                sample["value"] = round(min(1.0, soc + self.soc_extra) * 100.0, 1)
        self.reported_c = round(self.temperature_c + rng.gauss(0.0, 0.3), 1)
        extra: list[dict[str, Any]] = []
        if spec.dc:
            phases: list[tuple[str | None, float]] = [(None, current)]
        else:
            shares = [1.0] * max(spec.phases, 1)
            if holds(FaultKind.PHASE_IMBALANCE) and len(shares) == 3:
                shares[2] = WEAK_PHASE_SHARE
            phases = [(f"L{n + 1}", current * share) for n, share in enumerate(shares)]
        for phase, amperes in phases:
            nominal = NOMINAL_DC_V if spec.dc else NOMINAL_AC_V
            voltage: dict[str, Any] = {
                "value": round(nominal + rng.gauss(0.0, 1.5), 1),
                "context": context,
                "measurand": "Voltage",
                "unit_of_measure": {"unit": "V"},
            }
            ampere: dict[str, Any] = {
                "value": round(amperes, 2),
                "context": context,
                "measurand": "Current.Import",
                "unit_of_measure": {"unit": "A"},
            }
            if phase is not None:
                voltage["phase"] = f"{phase}-N"
                ampere["phase"] = phase
            extra += [m for m in (voltage, ampere) if m["measurand"] in measurands]
        meter_value["sampled_value"] = [*meter_value["sampled_value"], *extra]
        return meter_value


def temperature_event(
    evse_id: int, temperature_c: float, at: str, event_id: int, transaction_id: str | None
) -> dict[str, Any]:
    """A NotifyEvent EventDataType (snake_case): a periodic monitor's connector temperature."""
    event: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": at,
        "trigger": "Periodic",
        "actual_value": f"{temperature_c:.1f}",
        "event_notification_type": "PreconfiguredMonitor",
        "component": {"name": "TemperatureSensor", "evse": {"id": evse_id, "connector_id": 1}},
        "variable": {"name": "Temperature"},
    }
    if transaction_id is not None:
        event["transaction_id"] = transaction_id
    return event
