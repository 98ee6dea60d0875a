"""A simulated fleet's meter values at high speed, pure: no sockets, no CSMS.

The stations here are one-EVSE emulated chargers reduced to their physics and sensors
(the same `EvseState`, EV model and `Sensors` as the websocket emulator) so a week of
hundreds of stations runs in seconds: `fleet_stream` yields, interval by interval, the
MeterValue every charging EVSE sends and every BootNotification, each with the ground
truth of which safety fault is in force and whether it can show in that record.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from charge_point_emulator.ev import EvSpec, clamp_power
from charge_point_emulator.evse import EvseState, PluggedEv
from charge_point_emulator.faults import Fault, FaultKind, FaultPlan
from charge_point_emulator.scenario import EvseSpec, EvseType
from charge_point_emulator.telemetry import Sensors, rated_current_a

#: Station models of the simulated fleet: the detectors learn a baseline per model.
MODELS: dict[str, EvseSpec] = {
    "EMU-AC11": EvseSpec(EvseType.AC, 11_000.0),
    "EMU-AC22": EvseSpec(EvseType.AC, 22_000.0),
    "EMU-DC150": EvseSpec(EvseType.DC, 150_000.0),
}


@dataclass(frozen=True, slots=True)
class StreamStation:
    id: str
    model: str
    faults: tuple[Fault, ...] = ()


@dataclass(frozen=True, slots=True)
class MeterRecord:
    """One MeterValue (snake_case MeterValueType) of EVSE 1 of a station.

    `limit_w` is the charging profile limit installed (None: none), `ev_max_w` what the
    car would take; `fault` the safety fault in force and `visible` whether the physics
    lets it show in this record (a hot contact needs current, a drift needs energy).
    """

    station_id: str
    model: str
    transaction_id: str
    elapsed_s: float
    meter_value: dict[str, Any]
    temperature_c: float | None  # the connector's, as its NotifyEvent reports it
    limit_w: float | None
    ev_max_w: float
    fault: FaultKind | None
    visible: bool


@dataclass(frozen=True, slots=True)
class BootRecord:
    station_id: str
    model: str
    elapsed_s: float
    fault: FaultKind | None


@dataclass(slots=True)
class _Station:
    spec: StreamStation
    evse: EvseState
    sensors: Sensors
    faults: FaultPlan
    limit_w: float | None = None
    departs_s: float = 0.0
    next_arrival_s: float = 0.0
    transaction: str = ""
    sessions: int = 0
    next_boot_s: float = 0.0


def random_fleet(
    stations: int, faulty_share: float, horizon_s: float, interval_s: float, seed: int
) -> list[StreamStation]:
    """`stations` stations of random models; a `faulty_share` of them gets one safety
    fault of a random kind beginning at a random time (after a day of learning)."""
    rng = random.Random(seed)
    kinds = sorted(
        {
            FaultKind.HOT_CONNECTOR,
            FaultKind.METER_DRIFT,
            FaultKind.REGISTER_RESET,
            FaultKind.IGNORES_PROFILE,
            FaultKind.SOC_ANOMALY,
            FaultKind.PHASE_IMBALANCE,
            FaultKind.REBOOT_LOOP,
        }
    )
    out = []
    for n in range(1, stations + 1):
        model = rng.choice(sorted(MODELS))
        faults: tuple[Fault, ...] = ()
        if rng.random() < faulty_share:
            # A DC EVSE has no phases to unbalance.
            choices = [k for k in kinds if not (k is FaultKind.PHASE_IMBALANCE and "DC" in model)]
            kind = rng.choice(choices)
            at = rng.uniform(86_400.0, horizon_s - 86_400.0)
            faults = (Fault(kind, at_s=at, delay_s=interval_s, evse=1),)
        out.append(StreamStation(f"SIM{n:04d}", model, faults))
    return out


def fleet_stream(
    stations: list[StreamStation],
    start: datetime,
    horizon_s: float,
    interval_s: float = 300.0,
    arrivals_per_hour: float = 0.25,
    reboots_per_day: float = 0.05,
    seed: int = 1,
) -> Iterator[MeterRecord | BootRecord]:
    """Every interval, the meter value of every charging EVSE and every boot, in time order."""
    rng = random.Random(seed)
    fleet = [
        _Station(
            s,
            EvseState(1, MODELS[s.model]),
            Sensors(ambient_c=rng.uniform(15.0, 30.0)),
            FaultPlan(list(s.faults)),
            next_arrival_s=rng.expovariate(arrivals_per_hour / 3600.0),
        )
        for s in stations
    ]
    for st in fleet:
        yield BootRecord(st.spec.id, st.spec.model, 0.0, None)
        st.next_boot_s = rng.expovariate(reboots_per_day / 86_400.0)
    t = 0.0
    while t < horizon_s:
        t += interval_s
        for st in fleet:
            yield from _boots(st, t, interval_s)
            while st.next_boot_s <= t:
                yield BootRecord(st.spec.id, st.spec.model, st.next_boot_s, None)
                st.next_boot_s += rng.expovariate(reboots_per_day / 86_400.0)
            record = _step(st, start, t, interval_s, rng)
            if record is not None:
                yield record


def _boots(st: _Station, t: float, interval_s: float) -> Iterator[BootRecord]:
    for fault in st.faults.pending:
        if fault.kind is FaultKind.REBOOT_LOOP and fault.holds(t):
            period = fault.delay_s or interval_s
            # The boots of the loop falling in (t - interval, t].
            k = int((t - fault.at_s) // period)
            first = fault.at_s + k * period
            moment = first
            while moment > t - interval_s and moment >= fault.at_s:
                yield BootRecord(st.spec.id, st.spec.model, moment, FaultKind.REBOOT_LOOP)
                moment -= period


def _step(
    st: _Station, start: datetime, t: float, interval_s: float, rng: random.Random
) -> MeterRecord | None:
    """Advance one interval; the EVSE's meter value at `t` if a session runs."""
    evse, spec = st.evse, st.evse.spec
    context = "Sample.Periodic"
    if evse.ev is not None:
        evse.integrate(interval_s)
        if t >= st.departs_s:
            evse.ev = None
            evse.power_w = 0.0
            st.next_arrival_s = t + rng.expovariate(0.25 / 3600.0)
            context = "Transaction.End"
    elif t >= st.next_arrival_s:
        car = EvSpec(
            capacity_wh=rng.choice((40_000.0, 60_000.0, 77_000.0, 100_000.0)),
            max_ac_w=rng.choice((7_400.0, 11_000.0, 22_000.0)),
            max_dc_w=rng.choice((50_000.0, 150_000.0, 250_000.0)),
        )
        now = start + timedelta(seconds=t)
        stay = rng.uniform(1800.0, 4 * 3600.0)
        evse.ev = PluggedEv(car, rng.uniform(0.1, 0.5), rng.uniform(0.8, 1.0), now, now, "SIM")
        st.departs_s = t + stay
        st.sessions += 1
        st.transaction = f"{st.spec.id}-{st.sessions}"
        # Half the sessions run under a planner's profile limit below the hardware.
        st.limit_w = spec.max_power_w * rng.uniform(0.3, 0.9) if rng.random() < 0.5 else None
        context = "Transaction.Begin"
    else:
        return None
    ignores = st.faults.holds(FaultKind.IGNORES_PROFILE, t, 1)
    wanted = 0.0
    if evse.ev is not None:
        offered = spec.max_power_w if st.limit_w is None or ignores else st.limit_w
        evse.power_w = clamp_power(evse.ev.spec, evse.ev.soc, offered, spec.dc, evse.ev.target_soc)
        wanted = clamp_power(
            evse.ev.spec, evse.ev.soc, spec.max_power_w, spec.dc, evse.ev.target_soc
        )
    fault = next((f.kind for f in st.faults.pending if f.holds(t, 1)), None)
    heated_by_a = st.sensors.last_load * rated_current_a(spec)
    meter_value = evse.meter_value(start + timedelta(seconds=t), context)
    meter_value = st.sensors.instrument(
        meter_value,
        1,
        spec,
        evse.power_w,
        evse.import_wh,
        evse.ev.soc if evse.ev else None,
        t,
        st.faults,
        rng,
    )
    return MeterRecord(
        st.spec.id,
        st.spec.model,
        st.transaction,
        t,
        meter_value,
        st.sensors.reported_c,
        st.limit_w,
        spec.max_power_w if evse.ev is None else wanted,
        fault,
        fault is not None
        and context != "Transaction.Begin"  # an interval's faults show at its end
        and _visible(fault, st, heated_by_a, wanted),
    )


def _visible(fault: FaultKind, st: _Station, heated_by_a: float, wanted: float) -> bool:
    """Whether the physics lets `fault` show in the record just taken."""
    evse = st.evse
    if fault is FaultKind.HOT_CONNECTOR:
        # Heating needs current through the worn contact (below 6 A it is sensor noise).
        return heated_by_a >= 6.0
    if fault is FaultKind.IGNORES_PROFILE:
        return st.limit_w is not None and wanted > st.limit_w * 1.05 + 300.0
    if fault in (FaultKind.SOC_ANOMALY, FaultKind.METER_DRIFT, FaultKind.PHASE_IMBALANCE):
        return evse.power_w > 1000.0
    return True
