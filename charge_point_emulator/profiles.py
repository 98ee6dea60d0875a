"""Charging-profile store and composite schedule (OCPP 2.0.1 K01-K08), a pure core.

Profiles are kept per EVSE (0 = the whole station) by purpose and stack level; the limit
at an instant is min(ChargingStationMaxProfile, the TxProfile or else TxDefaultProfile of
the highest stack level in effect). Limits are computed in W; amperes convert with the
number of phases at `VOLTAGE_V`. A negative limit means discharge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from charge_point_emulator.clock import ocpp_time, parse_ocpp_time

VOLTAGE_V = 230.0
DEFAULT_PHASES = 3
DAY_S = 86_400
WEEK_S = 7 * DAY_S


class Purpose(StrEnum):
    STATION_MAX = "ChargingStationMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    EXTERNAL = "ChargingStationExternalConstraints"


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(StrEnum):
    W = "W"
    A = "A"


class ProfileRejected(Exception):
    """The station refuses a charging profile; the message says why."""


@dataclass(frozen=True, slots=True)
class Period:
    start_s: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    unit: RateUnit
    periods: tuple[Period, ...]
    start: datetime | None = None
    duration_s: int | None = None
    min_rate: float | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: Schedule
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class Installed:
    evse_id: int
    profile: Profile


def to_watts(limit: float, unit: RateUnit, phases: int | None) -> float:
    """A schedule limit in W (amperes are per phase at `VOLTAGE_V`)."""
    if unit is RateUnit.W:
        return limit
    return limit * (phases or DEFAULT_PHASES) * VOLTAGE_V


def from_watts(watts: float, unit: RateUnit, phases: int) -> float:
    """Watts back into the requested rate unit."""
    return watts if unit is RateUnit.W else watts / (phases * VOLTAGE_V)


def _opt_time(value: Any) -> datetime | None:
    return parse_ocpp_time(value) if value else None


def profile_from_ocpp(data: dict[str, Any]) -> Profile:
    """A profile from the `ocpp` library's snake_case ChargingProfileType dict.

    Only the first chargingSchedule is used (the others are ISO 15118 alternatives).
    """
    raw = data["charging_schedule"][0]
    periods = tuple(
        Period(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
        for p in sorted(raw["charging_schedule_period"], key=lambda p: p["start_period"])
    )
    schedule = Schedule(
        id=int(raw["id"]),
        unit=RateUnit(raw["charging_rate_unit"]),
        periods=periods,
        start=_opt_time(raw.get("start_schedule")),
        duration_s=raw.get("duration"),
        min_rate=raw.get("min_charging_rate"),
    )
    recurrency = data.get("recurrency_kind")
    return Profile(
        id=int(data["id"]),
        stack_level=int(data["stack_level"]),
        purpose=Purpose(data["charging_profile_purpose"]),
        kind=Kind(data["charging_profile_kind"]),
        schedule=schedule,
        recurrency=Recurrency(recurrency) if recurrency else None,
        valid_from=_opt_time(data.get("valid_from")),
        valid_to=_opt_time(data.get("valid_to")),
        transaction_id=data.get("transaction_id"),
    )


def profile_to_ocpp(profile: Profile) -> dict[str, Any]:
    """The snake_case ChargingProfileType dict the `ocpp` library serialises."""
    s = profile.schedule
    schedule: dict[str, Any] = {
        "id": s.id,
        "charging_rate_unit": s.unit.value,
        "charging_schedule_period": [
            {"start_period": p.start_s, "limit": p.limit}
            | ({"number_phases": p.phases} if p.phases else {})
            for p in s.periods
        ],
    }
    if s.start is not None:
        schedule["start_schedule"] = ocpp_time(s.start)
    if s.duration_s is not None:
        schedule["duration"] = s.duration_s
    if s.min_rate is not None:
        schedule["min_charging_rate"] = s.min_rate
    out: dict[str, Any] = {
        "id": profile.id,
        "stack_level": profile.stack_level,
        "charging_profile_purpose": profile.purpose.value,
        "charging_profile_kind": profile.kind.value,
        "charging_schedule": [schedule],
    }
    if profile.recurrency is not None:
        out["recurrency_kind"] = profile.recurrency.value
    if profile.valid_from is not None:
        out["valid_from"] = ocpp_time(profile.valid_from)
    if profile.valid_to is not None:
        out["valid_to"] = ocpp_time(profile.valid_to)
    if profile.transaction_id is not None:
        out["transaction_id"] = profile.transaction_id
    return out


def _recurrence_s(profile: Profile) -> int | None:
    if profile.kind is not Kind.RECURRING:
        return None
    return WEEK_S if profile.recurrency is Recurrency.WEEKLY else DAY_S


def schedule_start(profile: Profile, at: datetime, anchor: datetime) -> datetime:
    """When the schedule that governs `at` started.

    `anchor` is the transaction start (or, with no transaction, the start of the window):
    relative schedules and absolute ones without startSchedule count from it.
    """
    s = profile.schedule
    if profile.kind is Kind.RELATIVE or s.start is None:
        return anchor
    period = _recurrence_s(profile)
    if period is None:
        return s.start
    cycles = math.floor((at - s.start).total_seconds() / period)
    return s.start + timedelta(seconds=cycles * period)


def _valid(profile: Profile, at: datetime) -> bool:
    if profile.valid_from is not None and at < profile.valid_from:
        return False
    return profile.valid_to is None or at < profile.valid_to


def limit_at(profile: Profile, at: datetime, anchor: datetime) -> float | None:
    """The profile's limit in W at `at`, or None when it is not in effect then."""
    if not _valid(profile, at):
        return None
    s = profile.schedule
    start = schedule_start(profile, at, anchor)
    offset = (at - start).total_seconds()
    if offset < 0 or (s.duration_s is not None and offset >= s.duration_s):
        return None
    current: Period | None = None
    for period in s.periods:
        if period.start_s > offset:
            break
        current = period
    if current is None:
        return None
    return to_watts(current.limit, s.unit, current.phases)


def breakpoints(profile: Profile, lo: datetime, hi: datetime, anchor: datetime) -> set[datetime]:
    """Instants in (lo, hi) at which the profile's limit may change."""
    s = profile.schedule
    starts: list[datetime] = []
    period = _recurrence_s(profile)
    if period is None:
        starts.append(schedule_start(profile, lo, anchor))
    else:
        first = schedule_start(profile, lo, anchor)
        while first < hi:
            starts.append(first)
            first += timedelta(seconds=period)
    edges: set[datetime] = set()
    for start in starts:
        edges.update(start + timedelta(seconds=p.start_s) for p in s.periods)
        if s.duration_s is not None:
            edges.add(start + timedelta(seconds=s.duration_s))
    edges.update(t for t in (profile.valid_from, profile.valid_to) if t is not None)
    return {t for t in edges if lo < t < hi}


@dataclass(frozen=True, slots=True)
class CompositePeriod:
    start_s: int
    limit_w: float


@dataclass(slots=True)
class ProfileStore:
    """Installed profiles of one station; mutable, but pure (no I/O, time passed in).

    A profile with the id of an installed one replaces it (K01.FR.05); another id with the
    same purpose and stack level on the same EVSE and overlapping validity is rejected.
    """

    installed: list[Installed] = field(default_factory=list)

    def install(self, evse_id: int, profile: Profile, active_tx: str | None) -> None:
        """Install or replace a profile; raise ProfileRejected when the spec forbids it.

        `active_tx` is the transaction id running on `evse_id`, if any.
        """
        if profile.purpose is Purpose.EXTERNAL:
            raise ProfileRejected("ChargingStationExternalConstraints is set locally only")
        if profile.purpose is Purpose.STATION_MAX and evse_id != 0:
            raise ProfileRejected("ChargingStationMaxProfile must be set on evseId 0")
        if profile.purpose is Purpose.TX:
            if evse_id == 0:
                raise ProfileRejected("TxProfile needs a specific EVSE")
            if active_tx is None:
                raise ProfileRejected("no transaction on this EVSE")
            if profile.transaction_id is not None and profile.transaction_id != active_tx:
                raise ProfileRejected("transactionId does not match the running transaction")
        if profile.kind is Kind.RECURRING and profile.recurrency is None:
            raise ProfileRejected("a recurring profile needs recurrencyKind")
        if profile.kind is not Kind.RELATIVE and profile.schedule.start is None:
            raise ProfileRejected(
                "an absolute or recurring profile needs startSchedule (K01.FR.40)"
            )
        if profile.kind is Kind.RELATIVE and profile.schedule.start is not None:
            raise ProfileRejected("a relative profile has no startSchedule (K01.FR.41)")
        if not profile.schedule.periods or profile.schedule.periods[0].start_s != 0:
            raise ProfileRejected("the first schedule period must start at 0")
        kept = [i for i in self.installed if i.profile.id != profile.id]
        for other in kept:
            o = other.profile
            if (
                other.evse_id == evse_id
                and o.purpose is profile.purpose
                and o.stack_level == profile.stack_level
                and _overlap(o, profile)
            ):
                # K01.FR.06 (and K01.FR.39 for TxProfiles): refused, not replaced as in 1.6.
                raise ProfileRejected(
                    f"profile {o.id} already holds stackLevel {o.stack_level} for "
                    f"{o.purpose.value} on EVSE {evse_id}"
                )
        if profile.purpose is Purpose.TX and profile.transaction_id is None:
            profile = _with_tx(profile, active_tx)
        kept.append(Installed(evse_id, profile))
        self.installed = kept

    def clear(
        self,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> int:
        """Remove profiles matching every given criterion; return how many."""

        def matches(i: Installed) -> bool:
            return (
                (profile_id is None or i.profile.id == profile_id)
                and (evse_id is None or i.evse_id == evse_id)
                and (purpose is None or i.profile.purpose is purpose)
                and (stack_level is None or i.profile.stack_level == stack_level)
            )

        before = len(self.installed)
        self.installed = [i for i in self.installed if not matches(i)]
        return before - len(self.installed)

    def end_transaction(self, transaction_id: str) -> None:
        """TxProfiles live as long as their transaction (K01.FR.19-style clean-up)."""
        self.installed = [
            i
            for i in self.installed
            if not (i.profile.purpose is Purpose.TX and i.profile.transaction_id == transaction_id)
        ]

    def select(
        self,
        evse_id: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
        ids: tuple[int, ...] = (),
    ) -> list[Installed]:
        """Installed profiles matching the GetChargingProfiles criteria."""
        return [
            i
            for i in self.installed
            if (evse_id is None or i.evse_id == evse_id)
            and (purpose is None or i.profile.purpose is purpose)
            and (stack_level is None or i.profile.stack_level == stack_level)
            and (not ids or i.profile.id in ids)
        ]

    def _relevant(self, evse_id: int, tx_id: str | None) -> list[Installed]:
        def relevant(i: Installed) -> bool:
            p = i.profile
            if p.purpose is Purpose.TX_DEFAULT:
                return i.evse_id in (0, evse_id)
            if p.purpose is Purpose.TX:
                return i.evse_id == evse_id and tx_id is not None and p.transaction_id == tx_id
            return p.purpose is Purpose.STATION_MAX

        out = [i for i in self.installed if relevant(i)]
        return out

    def limit_w(
        self, evse_id: int, at: datetime, tx_id: str | None, anchor: datetime
    ) -> float | None:
        """The composite limit (W) on `evse_id` at `at`; None when no profile limits it."""
        return _composite_limit(self._relevant(evse_id, tx_id), evse_id, at, anchor)

    def change_points(
        self, lo: datetime, hi: datetime, anchors: dict[int, datetime]
    ) -> list[datetime]:
        """Sorted instants in (lo, hi) where any installed profile's limit may change;
        `anchors` maps an EVSE to the start of its relative schedules."""
        edges: set[datetime] = set()
        for i in self.installed:
            edges |= breakpoints(i.profile, lo, hi, anchors.get(i.evse_id, lo))
        return sorted(edges)

    def station_max_w(self, at: datetime, anchor: datetime) -> float | None:
        """The ChargingStationMaxProfile limit for the whole station at `at`."""
        maxes = [i for i in self.installed if i.profile.purpose is Purpose.STATION_MAX]
        return _highest(maxes, at, anchor, prefer_evse=0)

    def composite(
        self,
        evse_id: int,
        start: datetime,
        duration_s: int,
        tx_id: str | None,
        tx_start: datetime | None,
        hardware_max_w: float,
    ) -> list[CompositePeriod]:
        """The composite schedule of `evse_id` (0: the station) from `start`, in W.

        Periods where no profile limits the EVSE carry the hardware maximum.
        """
        end = start + timedelta(seconds=duration_s)
        anchor = tx_start or start
        relevant = (
            [i for i in self.installed if i.profile.purpose is Purpose.STATION_MAX]
            if evse_id == 0
            else self._relevant(evse_id, tx_id)
        )
        edges = {start}
        for i in relevant:
            edges |= breakpoints(i.profile, start, end, anchor)
        out: list[CompositePeriod] = []
        for t in sorted(edges):
            limit = _composite_limit(relevant, evse_id, t, anchor)
            value = hardware_max_w if limit is None else min(limit, hardware_max_w)
            if out and out[-1].limit_w == value:
                continue
            out.append(CompositePeriod(int((t - start).total_seconds()), value))
        return out


def _with_tx(profile: Profile, tx_id: str | None) -> Profile:
    return Profile(
        id=profile.id,
        stack_level=profile.stack_level,
        purpose=profile.purpose,
        kind=profile.kind,
        schedule=profile.schedule,
        recurrency=profile.recurrency,
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        transaction_id=tx_id,
    )


def _overlap(a: Profile, b: Profile) -> bool:
    """Whether the validity windows of two profiles share an instant."""
    a_first = a.valid_to is not None and b.valid_from is not None and a.valid_to <= b.valid_from
    b_first = b.valid_to is not None and a.valid_from is not None and b.valid_to <= a.valid_from
    return not (a_first or b_first)


def _highest(
    candidates: list[Installed], at: datetime, anchor: datetime, prefer_evse: int
) -> float | None:
    """Limit of the highest-stack-level profile in effect; the EVSE's own wins a tie."""
    ranked = sorted(
        candidates,
        key=lambda i: (i.profile.stack_level, i.evse_id == prefer_evse),
        reverse=True,
    )
    for i in ranked:
        limit = limit_at(i.profile, at, anchor)
        if limit is not None:
            return limit
    return None


def _composite_limit(
    relevant: list[Installed], evse_id: int, at: datetime, anchor: datetime
) -> float | None:
    station = _highest(
        [i for i in relevant if i.profile.purpose is Purpose.STATION_MAX], at, anchor, 0
    )
    tx = _highest([i for i in relevant if i.profile.purpose is Purpose.TX], at, anchor, evse_id)
    if tx is None:
        tx = _highest(
            [i for i in relevant if i.profile.purpose is Purpose.TX_DEFAULT], at, anchor, evse_id
        )
    limits = [v for v in (station, tx) if v is not None]
    return min(limits) if limits else None


def share_station_max(demand: dict[int, float], station_max_w: float | None) -> dict[int, float]:
    """Scale the EVSEs' charging demands (W) down in proportion so that their sum stays
    within the ChargingStationMaxProfile limit; power fed back (negative) is left alone."""
    total = sum(p for p in demand.values() if p > 0)
    if station_max_w is None or total <= max(station_max_w, 0.0):
        return dict(demand)
    scale = max(station_max_w, 0.0) / total
    return {evse: p * scale if p > 0 else p for evse, p in demand.items()}
