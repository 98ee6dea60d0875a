"""Grid events (a grid operator's limits and targets) and what was delivered, from meter values.

`parse_event` validates a request (pure); `delivery` turns energy registers into net
power per slot (pure); the async functions store, list and read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from csms.blocks.meter import EXPORT_REGISTER, IMPORT_REGISTER
from csms.blocks.transaction_state import PLAUSIBLE, plausible_series
from csms.db.models import GridEvent, GridPlan, MeterValue, Transaction
from csms.db.writer import Batch, DurableWriter
from csms.grid.live_instance import EventKind, GridEventValue
from csms.grid.topology import Topology

POWER_IMPORT = "Power.Active.Import"
POWER_EXPORT = "Power.Active.Export"
#: Meter values older than this are not "live" for `grid show`.
LIVE_WINDOW = timedelta(minutes=15)
#: Largest power reading believed (the data-quality ceiling of any EVSE, with its margin).
MAX_LIVE_POWER_W = PLAUSIBLE.max_power_w * PLAUSIBLE.power_margin


class EventError(ValueError):
    """A grid event request is invalid; the message says which field and why."""


class EventNotFound(LookupError):
    pass


def _time(data: Mapping[str, Any], key: str) -> datetime:
    raw = data.get(key)
    if not isinstance(raw, str):
        raise EventError(f"{key}: missing (ISO 8601 with offset)")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as error:
        raise EventError(f"{key}: not ISO 8601: {raw!r}") from error
    if moment.tzinfo is None:
        raise EventError(f"{key}: needs a UTC offset")
    return moment


def parse_event(data: Mapping[str, Any], topology: Topology) -> GridEventValue:
    """`{node, start, end, kind, max_net_w}` -> a value with id 0; raise EventError."""
    node = data.get("node")
    if not isinstance(node, str):
        raise EventError("node: missing")
    if topology.node(node) is None:
        raise EventError(f"node: unknown node {node!r}")
    start, end = _time(data, "start"), _time(data, "end")
    if end <= start:
        raise EventError("end: not after start")
    try:
        kind = EventKind(str(data.get("kind")))
    except ValueError as error:
        raise EventError("kind: must be 'limit' or 'target'") from error
    value = data.get("max_net_w")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EventError("max_net_w: missing (a number, W)")
    if kind is EventKind.LIMIT and value < 0:
        raise EventError("max_net_w: a limit caps import, so it is >= 0")
    return GridEventValue(0, node, start, end, kind, float(value))


def event_json(event: GridEventValue) -> dict[str, Any]:
    return {
        "id": event.id,
        "node": event.node,
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
        "kind": event.kind.value,
        "max_net_w": event.max_net_w,
    }


def _value(row: GridEvent) -> GridEventValue:
    return GridEventValue(row.id, row.node, row.start, row.end, EventKind(row.kind), row.max_net_w)


async def add_event(writer: DurableWriter, event: GridEventValue, now: datetime) -> GridEventValue:
    async def write(batch: Batch) -> int:
        row = await GridEvent.create(
            node=event.node,
            start=event.start,
            end=event.end,
            kind=event.kind.value,
            max_net_w=event.max_net_w,
            created_at=now,
            using_db=batch.conn,
        )
        return int(row.id)

    event_id = await writer.submit(write)
    return GridEventValue(event_id, event.node, event.start, event.end, event.kind, event.max_net_w)


async def list_events(active_at: datetime | None = None) -> list[GridEventValue]:
    """All events, or those not yet over at `active_at`, oldest first."""
    query = GridEvent.all() if active_at is None else GridEvent.filter(end__gt=active_at)
    return [_value(row) for row in await query.order_by("id")]


async def get_event(event_id: int) -> GridEventValue:
    row = await GridEvent.filter(id=event_id).first()
    if row is None:
        raise EventNotFound(f"no grid event {event_id}")
    return _value(row)


async def delete_event(writer: DurableWriter, event_id: int) -> None:
    async def write(batch: Batch) -> int:
        return int(await GridEvent.filter(id=event_id).using_db(batch.conn).delete())

    if not await writer.submit(write):
        raise EventNotFound(f"no grid event {event_id}")


@dataclass(frozen=True, slots=True)
class SlotDelivery:
    start: datetime
    requested_w: float
    delivered_w: float

    @property
    def met(self) -> bool:
        return self.delivered_w <= self.requested_w


def _interpolate(series: Sequence[tuple[float, float]], t: float) -> float:
    """Register value at t (seconds) by linear interpolation, flat outside the samples."""
    if t <= series[0][0]:
        return series[0][1]
    if t >= series[-1][0]:
        return series[-1][1]
    lo, hi = 0, len(series) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if series[mid][0] <= t:
            lo = mid
        else:
            hi = mid
    (t0, v0), (t1, v1) = series[lo], series[hi]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1


def delivery(
    event: GridEventValue,
    slot_seconds: int,
    registers: Iterable[Sequence[tuple[datetime, float]]],
) -> list[SlotDelivery]:
    """Requested vs delivered net power per slot of the event window.

    `registers`: one net energy register series (import - export, Wh, time-ordered) per
    metered transaction below the event's node; a slot's delivered power is the sum of
    the registers' increase over the slot, divided by its length.
    """
    origin = event.start
    total = (event.end - origin).total_seconds()
    edges = [i * float(slot_seconds) for i in range(math.ceil(total / slot_seconds))] + [total]
    energy = [0.0] * (len(edges) - 1)
    for raw in registers:
        series = [((t - origin).total_seconds(), v) for t, v in raw]
        if len(series) < 2:
            continue
        values = [_interpolate(series, edge) for edge in edges]
        for i in range(len(energy)):
            energy[i] += values[i + 1] - values[i]
    return [
        SlotDelivery(
            origin + timedelta(seconds=edges[i]),
            event.max_net_w,
            energy[i] * 3600.0 / (edges[i + 1] - edges[i]),
        )
        for i in range(len(energy))
    ]


async def read_registers(
    station_ids: Sequence[str], since: datetime, until: datetime
) -> list[list[tuple[datetime, float]]]:
    """Net energy register series (import - export) per transaction, from stored meter values."""
    margin = timedelta(hours=1)
    rows = (
        await MeterValue.filter(
            station_id__in=list(station_ids),
            measurand__in=[IMPORT_REGISTER, EXPORT_REGISTER],
            timestamp__gte=since - margin,
            timestamp__lte=until + margin,
            phase=None,
        )
        .order_by("timestamp")
        .values_list("station_id", "evse_id", "transaction_id", "timestamp", "measurand", "value")
    )
    by_key: dict[tuple[Any, ...], dict[str, list[tuple[datetime, float]]]] = {}
    for station_id, evse_id, tx_id, timestamp, measurand, value in rows:
        by_key.setdefault((station_id, evse_id, tx_id), {}).setdefault(measurand, []).append(
            (timestamp, value)
        )
    out: list[list[tuple[datetime, float]]] = []
    for registers in by_key.values():
        # Only readings a meter could have taken (as billing judges them): a reset or a
        # register of 1e300 would otherwise become delivered power.
        imports = plausible_series(registers.get(IMPORT_REGISTER, ()))
        exports = plausible_series(registers.get(EXPORT_REGISTER, ()))
        series = []
        exported, index = 0.0, 0
        for moment, imported in imports:
            while index < len(exports) and exports[index][0] <= moment:
                exported, index = exports[index][1], index + 1
            series.append((moment, imported - exported))
        out.append(series)
    return out


async def delivery_report(event: GridEventValue, topology: Topology) -> dict[str, Any]:
    """The event with requested vs delivered net power per slot (JSON)."""
    stations = [s.id for s in topology.stations_under(event.node)]
    registers = await read_registers(stations, event.start, event.end)
    slots = delivery(event, topology.planning.slot_seconds, registers)
    tolerance = topology.planning.dead_band_w
    plan = await GridPlan.filter(id=1).first()
    alerts = [
        a
        for a in ((plan.document or {}).get("alerts", []) if plan else [])
        if event.id in a.get("event_ids", ()) or a.get("node") == event.node
    ]
    return {
        **event_json(event),
        # The current plan's word: uncontrollable load alone beyond the node's limit.
        "guaranteed": not alerts,
        "not_guaranteed_because": [a["reason"] for a in alerts],
        "slot_seconds": topology.planning.slot_seconds,
        "slots": [
            {
                "start": s.start.isoformat(),
                "requested_w": s.requested_w,
                "delivered_w": round(s.delivered_w, 1),
                "met": s.delivered_w <= s.requested_w + tolerance,
            }
            for s in slots
        ],
        "met_share": (
            sum(s.delivered_w <= s.requested_w + tolerance for s in slots) / len(slots)
            if slots
            else 1.0
        ),
    }


async def live_evse_power(now: datetime) -> dict[tuple[str, int], float]:
    """Latest net power (W) of each EVSE with an active transaction, from its meter values."""
    active = await Transaction.filter(state="active").values_list(
        "station_id", "evse_id", "transaction_id"
    )
    if not active:
        return {}
    rows = (
        await MeterValue.filter(
            transaction_id__in=[tx for _, _, tx in active],
            measurand__in=[POWER_IMPORT, POWER_EXPORT],
            timestamp__gte=now - LIVE_WINDOW,
            phase=None,
        )
        .order_by("timestamp")
        .values_list("station_id", "evse_id", "timestamp", "measurand", "value")
    )
    latest: dict[tuple[str, int], tuple[datetime, dict[str, float]]] = {}
    for station_id, evse_id, timestamp, measurand, value in rows:
        if not abs(value) <= MAX_LIVE_POWER_W:
            continue  # no EVSE draws this: a broken reading, not a load to plan around
        key = (station_id, evse_id)
        seen = latest.get(key)
        if seen is None or timestamp > seen[0]:
            latest[key] = (timestamp, {measurand: value})
        else:
            seen[1][measurand] = value
    return {
        key: values.get(POWER_IMPORT, 0.0) - values.get(POWER_EXPORT, 0.0)
        for key, (_, values) in latest.items()
    }
