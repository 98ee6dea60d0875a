"""Smart charging, station side (K): limits an EMS or the grid operator set at a station
(NotifyChargingLimit / ClearedChargingLimit), profiles a station reports
(ReportChargingProfiles) and the schedule an EV chose (NotifyEVChargingSchedule).

Limits in force reach the planner as caps per EVSE (`caps_at`, pure), so that it never plans
above what the station was told by someone else.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from csms.blocks.base import BlockContext
from csms.blocks.meter import parse_timestamp
from csms.db.block_models import ChargingLimit, EvChargingSchedule, ReportedProfile
from csms.db.models import Command, Transaction
from csms.db.writer import Batch

log = logging.getLogger(__name__)

#: Volts per phase assumed when a limit is given in amperes (OCPP's AC nominal voltage).
NOMINAL_VOLTAGE_V = 230.0
#: Phases assumed when an ampere period leaves out numberPhases (OCPP's default: 3).
DEFAULT_PHASES = 3


@dataclass(frozen=True, slots=True)
class LimitInForce:
    """A stored, not cleared, external limit: its schedules and when it arrived."""

    station_id: str
    evse_id: int  # 0: the station as a whole
    source: str
    schedules: tuple[dict[str, Any], ...]
    received_at: datetime


def schedule_limit_w(
    schedule: Mapping[str, Any], received_at: datetime, now: datetime
) -> float | None:
    """The limit (W) one chargingSchedule sets at `now`, or None outside it (pure).

    A schedule without startSchedule runs from when it arrived; amperes become watts with
    the period's phases (3 when absent) at the nominal voltage.
    """
    start = schedule.get("startSchedule")
    began = parse_timestamp(start) if start else received_at
    elapsed = (now - began).total_seconds()
    duration = schedule.get("duration")
    if elapsed < 0 or (duration is not None and elapsed >= duration):
        return None
    current = None
    for period in schedule["chargingSchedulePeriod"]:
        if period["startPeriod"] <= elapsed:
            current = period
    if current is None:
        return None
    limit = float(current["limit"])
    if schedule["chargingRateUnit"] == "A":
        limit *= current.get("numberPhases", DEFAULT_PHASES) * NOMINAL_VOLTAGE_V
    return limit


def limit_w(limit: LimitInForce, now: datetime) -> float | None:
    """The tightest of a limit's schedules at `now` (None: none sets a value now).

    A schedule the planner cannot read (a 2.1 period without a limit, a date no calendar
    has) sets nothing: one station's odd data must never stop the plan of all."""
    values = []
    for schedule in limit.schedules:
        try:
            value = schedule_limit_w(schedule, limit.received_at, now)
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            log.warning(
                "[%s] unreadable %s limit schedule: %r", limit.station_id, limit.source, error
            )
            continue
        if value is not None and math.isfinite(value):
            values.append(value)
    return min(values) if values else None


def caps_at(
    limits: Iterable[LimitInForce], sessions: Iterable[tuple[str, int]], now: datetime
) -> dict[tuple[str, int], float]:
    """(station, EVSE) -> the cap external limits put on a session there now (pure).

    An EVSE limit caps its session; a station-wide limit is shared evenly among the
    station's sessions (conservative: their sum never exceeds it). Discharge limits
    (negative) are kept as they are: the session may not draw at all then.
    """
    by_station: dict[str, list[int]] = {}
    for station_id, evse_id in sessions:
        by_station.setdefault(station_id, []).append(evse_id)
    caps: dict[tuple[str, int], float] = {}

    def cap(key: tuple[str, int], watts: float) -> None:
        caps[key] = min(caps.get(key, watts), watts)

    for limit in limits:
        value = limit_w(limit, now)
        evses = by_station.get(limit.station_id, [])
        if value is None or not evses:
            continue
        if limit.evse_id:
            if limit.evse_id in evses:
                cap((limit.station_id, limit.evse_id), max(value, 0.0))
        else:
            for evse_id in evses:
                cap((limit.station_id, evse_id), max(value, 0.0) / len(evses))
    return caps


def profile_drift(
    installed: Mapping[int, Sequence[dict[str, Any]]],
    reported: Mapping[int, Sequence[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Where a station's reported profiles differ from those the CSMS installed (pure):
    one item per EVSE and profile id that is missing, extra or different."""
    drift = []
    for evse_id in sorted(set(installed) | set(reported)):
        ours = {p["id"]: p for p in installed.get(evse_id, ())}
        theirs = {p["id"]: p for p in reported.get(evse_id, ())}
        for profile_id in sorted(set(ours) | set(theirs)):
            mine, station = ours.get(profile_id), theirs.get(profile_id)
            if station is None:
                drift.append({"evse_id": evse_id, "profile_id": profile_id, "drift": "missing"})
            elif mine is None:
                drift.append({"evse_id": evse_id, "profile_id": profile_id, "drift": "extra"})
            elif _schedule_key(mine) != _schedule_key(station):
                drift.append({"evse_id": evse_id, "profile_id": profile_id, "drift": "different"})
    return drift


def _schedule_key(profile: Mapping[str, Any]) -> Any:
    """What must match between an installed and a reported profile: stack level, purpose
    and the periods (stations may rewrite times and leave out defaults)."""
    return (
        profile.get("stackLevel"),
        profile.get("chargingProfilePurpose"),
        [
            [(p["startPeriod"], float(p["limit"])) for p in s["chargingSchedulePeriod"]]
            for s in profile.get("chargingSchedule", ())
        ],
    )


class ChargingLimits:
    def __init__(self, context: BlockContext):
        self.context = context

    async def notify_charging_limit(
        self, station_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Store the limit; it replaces a limit in force of the same source and EVSE."""
        limit = payload["chargingLimit"]
        evse_id = payload.get("evseId", 0)
        source = limit["chargingLimitSource"]
        now = self.context.clock()

        async def write(batch: Batch) -> None:
            await (
                ChargingLimit.filter(
                    station_id=station_id, evse_id=evse_id, source=source, cleared_at=None
                )
                .using_db(batch.conn)
                .update(cleared_at=now)
            )
            await ChargingLimit.create(
                station_id=station_id,
                evse_id=evse_id,
                source=source,
                grid_critical=limit.get("isGridCritical"),
                schedule=payload.get("chargingSchedule"),
                received_at=now,
                using_db=batch.conn,
            )

        await self.context.writer.submit(write)
        log.info("[%s] %s limit on EVSE %d stored", station_id, source, evse_id)
        return {}

    async def cleared_charging_limit(
        self, station_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """End the limits of that source (on that EVSE, or on all when none is named)."""
        now = self.context.clock()
        query = ChargingLimit.filter(
            station_id=station_id, source=payload["chargingLimitSource"], cleared_at=None
        )
        if "evseId" in payload:
            query = query.filter(evse_id=payload["evseId"])

        async def write(batch: Batch) -> None:
            await query.using_db(batch.conn).update(cleared_at=now)

        await self.context.writer.submit(write)
        return {}

    async def report_charging_profiles(
        self, station_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        now = self.context.clock()
        rows = [
            ReportedProfile(
                station_id=station_id,
                request_id=payload["requestId"],
                evse_id=payload["evseId"],
                source=payload["chargingLimitSource"],
                profile_id=profile["id"],
                profile=profile,
                received_at=now,
            )
            for profile in payload["chargingProfile"]
        ]

        async def write(batch: Batch) -> None:
            for row in rows:
                batch.insert(row)

        await self.context.writer.submit(write)
        return {}

    async def notify_ev_charging_schedule(
        self, station_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        fields = {
            "time_base": parse_timestamp(payload["timeBase"]),
            "schedule": payload["chargingSchedule"],
            "received_at": self.context.clock(),
        }
        evse_id = payload["evseId"]

        async def write(batch: Batch) -> None:
            updated = (
                await EvChargingSchedule.filter(station_id=station_id, evse_id=evse_id)
                .using_db(batch.conn)
                .update(**fields)
            )
            if not updated:
                await EvChargingSchedule.create(
                    station_id=station_id, evse_id=evse_id, using_db=batch.conn, **fields
                )

        await self.context.writer.submit(write)
        return {"status": "Accepted"}


async def limits_in_force(station_id: str | None = None) -> list[LimitInForce]:
    query = ChargingLimit.filter(cleared_at=None)
    if station_id is not None:
        query = query.filter(station_id=station_id)
    return [
        LimitInForce(
            row.station_id, row.evse_id, row.source, tuple(row.schedule or ()), row.received_at
        )
        for row in await query.order_by("id")
    ]


def limit_json(row: ChargingLimit) -> dict[str, Any]:
    return {
        "id": row.id,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "source": row.source,
        "grid_critical": row.grid_critical,
        "charging_schedule": row.schedule,
        "received_at": row.received_at.isoformat(),
        "cleared_at": row.cleared_at.isoformat() if row.cleared_at else None,
    }


async def list_limits(station_id: str, include_cleared: bool = False) -> list[dict[str, Any]]:
    query = ChargingLimit.filter(station_id=station_id)
    if not include_cleared:
        query = query.filter(cleared_at=None)
    return [limit_json(row) for row in await query.order_by("id")]


async def reported_profiles(station_id: str) -> list[dict[str, Any]]:
    """The profiles of the station's latest report (the newest requestId it answered)."""
    newest = (
        await ReportedProfile.filter(station_id=station_id)
        .order_by("-id")
        .first()
        .values_list("request_id", flat=True)
    )
    if newest is None:
        return []
    rows = await ReportedProfile.filter(station_id=station_id, request_id=newest).order_by("id")
    return [
        {
            "request_id": row.request_id,
            "evse_id": row.evse_id,
            "source": row.source,
            "charging_profile": row.profile,
            "received_at": row.received_at.isoformat(),
        }
        for row in rows
    ]


async def installed_profiles(station_id: str) -> dict[int, list[dict[str, Any]]]:
    """EVSE -> the profiles the CSMS installed and the station should still hold, from the
    command journal: accepted SetChargingProfile CALLs, less those an accepted
    ClearChargingProfile removed by id, less TxProfiles of transactions that ended."""
    commands = await Command.filter(
        station_id=station_id,
        action__in=("SetChargingProfile", "ClearChargingProfile"),
        status="answered",
    ).order_by("id")
    held: dict[int, tuple[int, dict[str, Any]]] = {}  # profile id -> (EVSE, profile)
    for command in commands:
        if (command.response or {}).get("status") != "Accepted":
            continue
        if command.action == "SetChargingProfile":
            profile = command.payload["chargingProfile"]
            held[profile["id"]] = (command.payload["evseId"], profile)
        elif "chargingProfileId" in command.payload:
            held.pop(command.payload["chargingProfileId"], None)
        else:
            held.clear()  # cleared by criteria: what remains is for the report to say
    ended = set(
        await Transaction.filter(station_id=station_id, state="ended").values_list(
            "transaction_id", flat=True
        )
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for evse_id, profile in held.values():
        if profile.get("transactionId") in ended:
            continue
        out.setdefault(evse_id, []).append(profile)
    return out


async def drift(station_id: str) -> dict[str, Any]:
    """Installed against the station's latest ReportChargingProfiles (CSO profiles only:
    limits of other sources are not ours to install)."""
    reported: dict[int, list[dict[str, Any]]] = {}
    latest = await reported_profiles(station_id)
    request_id = latest[0]["request_id"] if latest else None
    for item in latest:
        if item["source"] == "CSO":
            reported.setdefault(item["evse_id"], []).append(item["charging_profile"])
    # A station holding no profile answers NoProfiles and sends no report: an empty one.
    asked = (
        await Command.filter(station_id=station_id, action="GetChargingProfiles", status="answered")
        .order_by("-id")
        .first()
    )
    newest_report = latest[0]["received_at"] if latest else None
    if (
        asked is not None
        and (asked.response or {}).get("status") == "NoProfiles"
        and asked.completed_at is not None
        and (newest_report is None or asked.completed_at.isoformat() > newest_report)
    ):
        reported, request_id = {}, asked.payload["requestId"]
    return {
        "request_id": request_id,
        "drift": profile_drift(await installed_profiles(station_id), reported),
    }
