"""The greedy perfect-information reference for a swap day: what a station could do
knowing every vehicle's truth in advance and ignoring every safety delay.

Rules (issue 17): every rack battery charges as fast as the connection allows, fullest
first (those below the hand-out SoC before those topping up); a free bay takes the
longest-waiting vehicle whose type has a ready battery. Vehicles the orchestrator must
refuse whatever it does (unsupported type, no-show, damaged or hot battery, a car that
never aligns) are left out; there are no gates, no perception delays, no re-aligns and
no roadside outages. Bay faults and grid limits still apply: they are physics. Not an
optimum (fullest first is a heuristic), a yardstick measured in the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from swap_orchestrator.gates import GateLimits
from swap_orchestrator.scenario import Scenario, StationSpec, VehicleSpec
from swap_orchestrator.station_setup import SimTiming


@dataclass(slots=True)
class _Battery:
    type: str
    capacity_wh: float
    energy_wh: float

    @property
    def soc(self) -> float:
        return self.energy_wh / self.capacity_wh


def servable(scenario: Scenario, vehicle: VehicleSpec, limits: GateLimits) -> bool:
    """Whether any orchestrator could swap this vehicle's battery at all."""
    station = next(s for s in scenario.stations if s.id == vehicle.station)
    underbody = scenario.underbody.get(vehicle.id)
    bay = scenario.bay.get(vehicle.id)
    return not (
        vehicle.no_show
        or vehicle.battery.type not in station.battery_types
        or (
            underbody is not None
            and (underbody.thermal_anomaly or underbody.casing_damage >= limits.max_casing_damage)
        )
        or (bay is not None and bay.settles_after_tries > limits.max_realign)
    )


def greedy_swaps(
    scenario: Scenario,
    *,
    timing: SimTiming = SimTiming(),
    efficiency: float = 0.95,
    limits: GateLimits = GateLimits(),
    step_s: float = 5.0,
) -> int:
    """Swaps completed by the reference over the scenario's duration, all stations.

    `step_s` is the time step of the charging and dispatch loop: costs
    duration / step_s iterations per station (17,280 for a day at 5 s).
    """
    return sum(
        _station_swaps(scenario, station, timing, efficiency, limits, step_s)
        for station in scenario.stations
    )


def _station_swaps(
    scenario: Scenario,
    station: StationSpec,
    timing: SimTiming,
    efficiency: float,
    limits: GateLimits,
    step_s: float,
) -> int:
    arrivals = [
        v for v in scenario.vehicles if v.station == station.id and servable(scenario, v, limits)
    ]
    rack = [_Battery(b.type, b.capacity_wh, b.soc * b.capacity_wh) for b in station.batteries]
    bay_faults = [f for f in scenario.faults if f.station == station.id and f.kind == "bay_fault"]
    grid_caps = [f for f in scenario.faults if f.station == station.id and f.kind == "grid_limit"]
    bay_free_at = [0.0] * station.bays
    returns: list[tuple[float, _Battery]] = []  # (swap end, the car's battery)
    waiting: list[VehicleSpec] = []
    swaps, next_arrival = 0, 0
    steps = math.ceil(scenario.duration_s / step_s)
    for step in range(steps):
        t = step * step_s
        while next_arrival < len(arrivals) and arrivals[next_arrival].arrive_s <= t:
            waiting.append(arrivals[next_arrival])
            next_arrival += 1
        for back in [r for r in returns if r[0] <= t]:
            returns.remove(back)
            rack.append(back[1])
        for bay in range(station.bays):
            faulty = any(f.bay == bay + 1 and f.at_s <= t < f.end_s for f in bay_faults)
            if faulty or bay_free_at[bay] > t:
                continue
            for vehicle in waiting:  # in arrival order: the longest-waiting first
                ready = [
                    b
                    for b in rack
                    if b.type == vehicle.battery.type and b.soc >= station.min_handout_soc
                ]
                if ready:
                    rack.remove(max(ready, key=lambda b: b.soc))
                    waiting.remove(vehicle)
                    ready_s = timing.ready_s if vehicle.autonomous else timing.manual_ready_s
                    swap_end = t + ready_s + station.approach_s + station.swap_s
                    bay_free_at[bay] = swap_end + timing.release_s
                    if swap_end <= scenario.duration_s:
                        swaps += 1
                    theirs = vehicle.battery
                    returns.append(
                        (
                            swap_end,
                            _Battery(
                                theirs.type, theirs.capacity_wh, theirs.soc * theirs.capacity_wh
                            ),
                        )
                    )
                    break
        connection_w = min(
            [station.grid_limit_w] + [f.limit_w or 0.0 for f in grid_caps if f.at_s <= t < f.end_s]
        )
        headroom = max(0.0, connection_w - station.aux_w)
        order = sorted(rack, key=lambda b: (b.soc >= station.min_handout_soc, -b.soc))
        for battery in order:
            if headroom <= 0:
                break
            room_w = (battery.capacity_wh - battery.energy_wh) / efficiency / (step_s / 3600)
            p = min(station.rack_charge_w, room_w, headroom)
            battery.energy_wh += p * efficiency * step_s / 3600
            headroom -= p
    return swaps
