"""Power series -> OCPP ChargingProfile (2.0.1, or 2.1 with discharge), and the dead-band.

Pure. Power is W, charge positive; a profile is in W or, for stations that only take
amperes, in A per phase (W / (phases * voltage)). OCPP 2.0.1 expresses discharge as a
negative limit; OCPP 2.1 as `dischargeLimit` and a `setpoint` in CentralSetpoint mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from csms.blocks.base import ocpp_time
from csms.grid.topology import EvsePlace

#: Profile ids: the planner's TxProfile of EVSE e is TX_PROFILE_ID + e, its fallback
#: TxDefaultProfile FALLBACK_PROFILE_ID + e; one id per EVSE, so a new one replaces the old.
TX_PROFILE_ID = 1000
FALLBACK_PROFILE_ID = 2000
#: Watts are sent rounded to this step (finer is noise to a charger).
ROUND_W = 10.0


class RateUnit(StrEnum):
    W = "W"
    A = "A"


@dataclass(frozen=True, slots=True)
class SentSchedule:
    """A power series as sent: value i holds from start + i * slot_seconds on."""

    start: datetime
    slot_seconds: int
    power_w: tuple[float, ...]

    def at(self, moment: datetime) -> float:
        index = int((moment - self.start).total_seconds() // self.slot_seconds)
        return self.power_w[min(max(index, 0), len(self.power_w) - 1)]


def rate_unit_of(reported: str | None) -> RateUnit:
    """From SmartChargingCtrlr.RateUnit (a member list such as "A,W"): W when offered."""
    if reported is None:
        return RateUnit.W
    members = {m.strip() for m in reported.split(",")}
    return RateUnit.W if "W" in members or not members & {"A"} else RateUnit.A


def differs(old: SentSchedule | None, new: SentSchedule, now: datetime, dead_band_w: float) -> bool:
    """Whether `new` changes any instant from `now` on by more than the dead-band."""
    if old is None:
        return True
    moments = [now]
    for schedule in (old, new):
        step = timedelta(seconds=schedule.slot_seconds)
        moments += [schedule.start + i * step for i in range(len(schedule.power_w))]
    return any(abs(old.at(t) - new.at(t)) > dead_band_w for t in moments if t >= now)


def periods(power_w: Sequence[float], slot_seconds: int) -> list[tuple[int, float]]:
    """(startPeriod s, W) with consecutive equal values merged."""
    out: list[tuple[int, float]] = []
    for i, value in enumerate(power_w):
        rounded = round(value / ROUND_W) * ROUND_W + 0.0
        if not out or out[-1][1] != rounded:
            out.append((i * slot_seconds, rounded))
    return out or [(0, 0.0)]


def _rate(watts: float, unit: RateUnit, evse: EvsePlace) -> float:
    if unit is RateUnit.W:
        return watts
    # Truncated to 0.1 A towards zero: never more power, either way, than planned.
    return int(watts / (evse.phases * evse.voltage_v) * 10) / 10


def _period(
    start: int, watts: float, unit: RateUnit, evse: EvsePlace, version: str
) -> dict[str, Any]:
    period: dict[str, Any] = {"startPeriod": start}
    if unit is RateUnit.A:
        period["numberPhases"] = evse.phases
    if watts >= 0 or not evse.bidirectional:
        period["limit"] = _rate(max(watts, 0.0), unit, evse)
        if version == "v21":
            period["operationMode"] = "ChargingOnly"
        return period
    if version == "v21":
        period["limit"] = 0.0
        period["dischargeLimit"] = _rate(watts, unit, evse)
        period["setpoint"] = _rate(watts, unit, evse)
        period["operationMode"] = "CentralSetpoint"
    else:
        period["limit"] = _rate(watts, unit, evse)  # 2.0.1: a negative limit is discharge
    return period


def tx_profile(
    evse: EvsePlace,
    transaction_id: str,
    schedule: SentSchedule,
    unit: RateUnit,
    version: str,
) -> dict[str, Any]:
    """SetChargingProfileRequest of the planner's TxProfile for one session."""
    return {
        "evseId": evse.id,
        "chargingProfile": {
            "id": TX_PROFILE_ID + evse.id,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "transactionId": transaction_id,
            "chargingSchedule": [
                {
                    "id": TX_PROFILE_ID + evse.id,
                    "startSchedule": ocpp_time(schedule.start),
                    "chargingRateUnit": unit.value,
                    "chargingSchedulePeriod": [
                        _period(start, watts, unit, evse, version)
                        for start, watts in periods(schedule.power_w, schedule.slot_seconds)
                    ],
                }
            ],
        },
    }


def fallback_profile(evse: EvsePlace, limit_w: float, unit: RateUnit) -> dict[str, Any]:
    """SetChargingProfileRequest of an EVSE's offline-safe TxDefaultProfile (no discharge)."""
    # Whole watts, rounded down (but not 7499.9999 -> 7499): the node's sum stays within it.
    watts = math.floor(max(limit_w, 0.0) + 1e-6)
    period: dict[str, Any] = {"startPeriod": 0, "limit": _rate(watts, unit, evse)}
    if unit is RateUnit.A:
        period["numberPhases"] = evse.phases
    return {
        "evseId": evse.id,
        "chargingProfile": {
            "id": FALLBACK_PROFILE_ID + evse.id,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [
                {
                    "id": FALLBACK_PROFILE_ID + evse.id,
                    "chargingRateUnit": unit.value,
                    "chargingSchedulePeriod": [period],
                }
            ],
        },
    }


Key = tuple[str, int, str]


def forced_resends(
    kept: Mapping[Key, tuple[SentSchedule, SentSchedule]],
    sent: Mapping[Key, SentSchedule],
    nodes_of: Mapping[Key, Sequence[str]],
    limits_w: Mapping[str, Sequence[float]],
    moments: Sequence[datetime],
) -> set[Key]:
    """Sessions the dead-band would leave on their (old, new) schedule although the old one
    puts a node over its import limit at one of `moments` (limit i holds at moment i).

    Each session's dead-band is small, but many of them add up under one node.
    """
    load: dict[str, list[float]] = {}
    effective = {key: old for key, (old, _) in kept.items()} | dict(sent)
    for key, schedule in effective.items():
        values = [schedule.at(t) for t in moments]
        for node in nodes_of[key]:
            series = load.setdefault(node, [0.0] * len(moments))
            for i, value in enumerate(values):
                series[i] += value
    forced: set[Key] = set()
    for node, series in load.items():
        limits = limits_w.get(node)
        if limits is None:
            continue
        over = [i for i, value in enumerate(series) if value > limits[i] + 1.0]
        for key, (old, new) in kept.items():
            if node in nodes_of[key] and any(old.at(moments[i]) > new.at(moments[i]) for i in over):
                forced.add(key)
    return forced


def split_change(
    before: SentSchedule, new: SentSchedule
) -> tuple[SentSchedule | None, SentSchedule | None]:
    """The change from `before` to `new` as (cut, raise): first the pointwise minimum of
    both (None when that is `before` itself), then `new` (None when the cut already is it)."""
    step = timedelta(seconds=new.slot_seconds)
    lower = tuple(
        min(before.at(new.start + i * step), value) for i, value in enumerate(new.power_w)
    )
    cut = SentSchedule(new.start, new.slot_seconds, lower)
    if lower == new.power_w:
        return cut, None
    if all(low == before.at(new.start + i * step) for i, low in enumerate(lower)):
        return None, new
    return cut, new
