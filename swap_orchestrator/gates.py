"""Safety gates: approach (path clear), bay (alignment), underbody (casing and thermal).

Each gate decides on one perception report, valid only while fresh; a missing, stale or
future-dated report fails the gate, so a silent roadside unit stops every vehicle.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Stage(Enum):
    APPROACH = "approach"
    BAY = "bay"
    UNDERBODY = "underbody"


@dataclass(frozen=True, slots=True)
class PerceptionReport:
    """What the roadside unit observed about one vehicle at one stage, at `observed_at`."""

    id: str
    vehicle: str
    stage: Stage
    observed_at: float
    path_clear: bool = True
    lateral_offset_mm: float = 0.0
    yaw_deg: float = 0.0
    casing_damage: float = 0.0
    thermal_anomaly: bool = False


@dataclass(frozen=True, slots=True)
class GateLimits:
    """Thresholds of the gates. `freshness_s`: the oldest report a decision may use."""

    freshness_s: float = 1.0
    max_lateral_offset_mm: float = 50.0
    max_yaw_deg: float = 1.5
    max_casing_damage: float = 0.5
    max_realign: int = 3


@dataclass(frozen=True, slots=True)
class GateDecision:
    stage: Stage
    passed: bool
    report_id: str | None
    report_age_s: float | None
    reason: str | None = None


def check_gate(
    stage: Stage, report: PerceptionReport | None, now: float, limits: GateLimits
) -> GateDecision:
    """Decide one gate at `now` on the latest report for this vehicle and stage."""
    if report is None:
        return GateDecision(stage, False, None, None, "no_report")
    if report.stage is not stage:
        raise ValueError(f"report {report.id} is for stage {report.stage.value}")
    age = now - report.observed_at
    if age < 0:
        return GateDecision(stage, False, report.id, age, "report_from_future")
    if age > limits.freshness_s:
        return GateDecision(stage, False, report.id, age, "report_stale")
    reason = _reason(report, limits)
    return GateDecision(stage, reason is None, report.id, age, reason)


def _reason(report: PerceptionReport, limits: GateLimits) -> str | None:
    if report.stage is Stage.APPROACH:
        return None if report.path_clear else "path_not_clear"
    if report.stage is Stage.BAY:
        aligned = (
            abs(report.lateral_offset_mm) <= limits.max_lateral_offset_mm
            and abs(report.yaw_deg) <= limits.max_yaw_deg
        )
        return None if aligned else "misaligned"
    if report.thermal_anomaly:
        return "battery_thermal_anomaly"
    if report.casing_damage >= limits.max_casing_damage:
        return "battery_casing_damage"
    return None
