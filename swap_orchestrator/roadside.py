"""Simulated roadside unit: perception reports drawn from a scenario's ground truth.

It reports with a small random delay and says nothing while offline, as the real one does;
the orchestrator only ever sees the reports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from swap_orchestrator.gates import PerceptionReport, Stage
from swap_orchestrator.scenario import Scenario


@dataclass(frozen=True, slots=True)
class RoadsideParams:
    """Report delay range (s) and the spread of a settled car's alignment."""

    min_delay_s: float = 0.05
    max_delay_s: float = 0.4
    settled_offset_mm: float = 20.0
    settled_yaw_deg: float = 0.5
    healthy_damage_max: float = 0.1


class SimulatedRoadsideUnit:
    def __init__(
        self, scenario: Scenario, seed: int = 0, params: RoadsideParams | None = None
    ) -> None:
        self.scenario = scenario
        self.params = params or RoadsideParams()
        self.rng = random.Random(seed)
        self.offline = [
            (f.station, f.at_s, f.end_s) for f in scenario.faults if f.kind == "rsu_offline"
        ]
        self.first_approach_check: dict[str, float] = {}
        self.realigns: dict[str, int] = {}
        self.count = 0

    def online(self, station: str, t: float) -> bool:
        return not any(s == station and start <= t < end for s, start, end in self.offline)

    def start_watching_approach(self, vehicle: str, now: float) -> None:
        """The vehicle's first approach check is now (`clears_after_s` counts from here)."""
        self.first_approach_check.setdefault(vehicle, now)

    def realigned(self, vehicle: str) -> None:
        self.realigns[vehicle] = self.realigns.get(vehicle, 0) + 1

    def observe(
        self, station: str, vehicle: str, stage: Stage, now: float
    ) -> PerceptionReport | None:
        """The newest report about `vehicle` at `stage` available at `now`, if online."""
        p = self.params
        observed_at = now - self.rng.uniform(p.min_delay_s, p.max_delay_s)
        if not (self.online(station, now) and self.online(station, observed_at)):
            return None
        self.count += 1
        rid = f"{station}-r{self.count}"
        if stage is Stage.APPROACH:
            truth = self.scenario.approach.get(vehicle)
            clear = True
            if truth is not None and truth.pedestrian_in_zone:
                first = self.first_approach_check.get(vehicle, now)
                clear = observed_at >= first + truth.clears_after_s
            return PerceptionReport(rid, vehicle, stage, observed_at, path_clear=clear)
        if stage is Stage.BAY:
            bay = self.scenario.bay.get(vehicle)
            if bay is not None and self.realigns.get(vehicle, 0) < bay.settles_after_tries:
                offset, yaw = bay.lateral_offset_mm, bay.yaw_deg
            else:
                offset = self.rng.uniform(-p.settled_offset_mm, p.settled_offset_mm)
                yaw = self.rng.uniform(-p.settled_yaw_deg, p.settled_yaw_deg)
            return PerceptionReport(
                rid, vehicle, stage, observed_at, lateral_offset_mm=offset, yaw_deg=yaw
            )
        under = self.scenario.underbody.get(vehicle)
        damage = under.casing_damage if under else self.rng.uniform(0, p.healthy_damage_max)
        return PerceptionReport(
            rid,
            vehicle,
            stage,
            observed_at,
            casing_damage=damage,
            thermal_anomaly=bool(under and under.thermal_anomaly),
        )
