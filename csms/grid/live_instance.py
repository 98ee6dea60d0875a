"""Live state -> charging instance, pure: topology, live sessions and grid events at `now`.

Reported data wins over defaults: SoC from meter values, departure, energy and battery
size from NotifyEVChargingNeeds, V2X power limits from OCPP 2.1 needs; the topology's
[defaults] fill the rest. Session ids are the OCPP transaction ids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from csms.blocks.meter import parse_timestamp
from csms.grid.instance import DispatchTarget, Instance, Node, Session
from csms.grid.topology import EvsePlace, Topology

#: One-way efficiency assumed for every car (the planner asks for a little more energy
#: than the battery stores, so a car reaches its target rather than falling just short).
EFFICIENCY = 0.95


class EventKind(StrEnum):
    LIMIT = "limit"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class GridEventValue:
    id: int
    node: str
    start: datetime
    end: datetime
    kind: EventKind
    max_net_w: float


@dataclass(frozen=True, slots=True)
class Needs:
    """What a car announced in NotifyEVChargingNeeds (None = not said)."""

    departure: datetime | None = None
    energy_wh: float | None = None
    capacity_wh: float | None = None
    soc: float | None = None  # 0..1, at the time of the announcement
    target_soc: float | None = None
    max_charge_w: float | None = None
    max_discharge_w: float | None = None


@dataclass(frozen=True, slots=True)
class LiveSession:
    station_id: str
    evse_id: int
    transaction_id: str
    started_at: datetime
    energy_wh: float = 0.0  # imported in this transaction so far
    discharged_wh: float = 0.0
    soc: float | None = None  # latest reported, 0..1
    needs: Needs | None = None
    priority: int = 0  # from the id token that started it


@dataclass(frozen=True, slots=True)
class PlacedSession:
    """Where a planned session runs, for turning its power series into a profile."""

    session_id: str
    station_id: str
    evse_id: int
    transaction_id: str
    evse: EvsePlace


def needs_from_payload(payload: Mapping[str, Any]) -> Needs:
    """NotifyEVChargingNeedsRequest (2.0.1 or 2.1) -> Needs."""
    needs = payload.get("chargingNeeds") or {}
    departure = needs.get("departureTime")
    ac = needs.get("acChargingParameters") or {}
    dc = needs.get("dcChargingParameters") or {}
    v2x = needs.get("v2xChargingParameters") or {}
    energy = ac.get("energyAmount", dc.get("energyAmount", v2x.get("evTargetEnergyRequest")))
    soc = dc.get("stateOfCharge")
    target = v2x.get("targetSoC", dc.get("fullSoC"))
    charge = v2x.get("maxChargePower", dc.get("evMaxPower"))
    if charge is None and "evMaxCurrent" in ac and "evMaxVoltage" in ac:
        charge = float(ac["evMaxCurrent"]) * float(ac["evMaxVoltage"]) * 3
    discharge = v2x.get("maxDischargePower")
    return Needs(
        departure=parse_timestamp(departure) if departure else None,
        energy_wh=None if energy is None else float(energy),
        capacity_wh=float(dc["evEnergyCapacity"]) if dc.get("evEnergyCapacity") else None,
        soc=None if soc is None else float(soc) / 100,
        target_soc=None if target is None else float(target) / 100,
        max_charge_w=None if charge is None else float(charge),
        max_discharge_w=None if discharge is None else abs(float(discharge)),
    )


def evse_node_id(station_id: str, evse_id: int) -> str:
    """The instance node of an EVSE ('/' is no OCPP identifier character: no clash)."""
    return f"{station_id}/{evse_id}"


def hourly_prices(
    prices: Sequence[float], zone: str, start: datetime, slot_s: int, slots: int
) -> tuple[float, ...]:
    """One price per slot: the price of the local hour the slot starts in."""
    tz = ZoneInfo(zone)
    return tuple(
        prices[(start + timedelta(seconds=i * slot_s)).astimezone(tz).hour] for i in range(slots)
    )


def _slot_range(
    start: datetime, slot_s: int, slots: int, lo: datetime, hi: datetime
) -> tuple[int, int]:
    """Slots [a, b) overlapping the window [lo, hi)."""
    a = math.floor((lo - start).total_seconds() / slot_s)
    b = math.ceil((hi - start).total_seconds() / slot_s)
    return max(0, a), min(slots, b)


def _session(
    topology: Topology, live: LiveSession, evse: EvsePlace, now: datetime, slot_s: int, slots: int
) -> Session:
    d = topology.defaults
    needs = live.needs or Needs()
    battery = needs.capacity_wh or d.battery_wh
    delivered = live.energy_wh - live.discharged_wh
    if live.soc is not None:
        initial = live.soc * battery
    elif needs.soc is not None:
        initial = needs.soc * battery + delivered
    else:
        initial = d.arrival_soc * battery + delivered
    initial = min(max(initial, 0.0), battery)
    if needs.energy_wh is not None:
        target = initial + max(0.0, needs.energy_wh - delivered)
    else:
        target = (needs.target_soc if needs.target_soc is not None else d.target_soc) * battery
    target = min(max(target, 0.0), battery)
    departure = needs.departure or live.started_at + timedelta(hours=d.dwell_hours)
    # Whole slots counted from now (slot 0 has begun, yet the kernel sees it whole): the
    # plan ends early rather than late, and the next replan uses the time left over.
    departure_slot = min(slots, max(1, math.floor((departure - now).total_seconds() / slot_s)))
    max_charge = evse.max_import_w
    if needs.max_charge_w is not None:
        max_charge = min(max_charge, needs.max_charge_w)
    max_discharge = evse.max_export_w if evse.bidirectional else 0.0
    if needs.max_discharge_w is not None:
        max_discharge = min(max_discharge, needs.max_discharge_w)
    return Session(
        id=live.transaction_id,
        node=evse_node_id(live.station_id, live.evse_id),
        arrival_slot=0,
        departure_slot=departure_slot,
        battery_wh=battery,
        initial_wh=initial,
        target_wh=target,
        min_wh=min(d.min_soc * battery, battery),
        max_charge_w=max_charge,
        max_discharge_w=max_discharge,
        efficiency=EFFICIENCY,
        priority=live.priority,
    )


@dataclass(frozen=True, slots=True)
class Overload:
    """A node whose uncontrollable load alone exceeds its import limit (or a limit event's
    cap): the plan cannot keep it within, whatever it does with the managed sessions."""

    node: str
    fixed_w: float
    limit_w: float
    event_ids: tuple[int, ...]  # limit events whose cap the fixed load alone exceeds


def _slots(topology: Topology, now: datetime) -> tuple[datetime, int, int]:
    plan = topology.planning
    slot_s = plan.slot_seconds
    slots = max(1, round(plan.horizon_hours * 3600 / slot_s))
    # Slots on the wall clock's grid (the first one already begun), so that successive
    # replans see the same slots and prices and a profile is not resent for a shift alone.
    start = datetime.fromtimestamp(now.timestamp() // slot_s * slot_s, tz=now.tzinfo)
    return start, slot_s, slots


def _event_caps(
    topology: Topology,
    events: Sequence[GridEventValue],
    start: datetime,
    slot_s: int,
    slots: int,
) -> tuple[dict[str, list[float]], list[DispatchTarget]]:
    """Per node the import cap of each slot where a limit event applies, and the targets."""
    caps: dict[str, list[float]] = {}
    dispatch: list[DispatchTarget] = []
    for event in events:
        a, b = _slot_range(start, slot_s, slots, event.start, event.end)
        if a >= b or topology.node(event.node) is None:
            continue
        if event.kind is EventKind.LIMIT:
            node = topology.node(event.node)
            assert node is not None
            series = caps.setdefault(event.node, [node.import_limit_w] * slots)
            for i in range(a, b):
                series[i] = min(series[i], max(0.0, event.max_net_w))
        else:
            dispatch.append(DispatchTarget(event.node, a, b, event.max_net_w))
    return caps, dispatch


def _by_node(topology: Topology, watts: Mapping[tuple[str, int], float]) -> dict[str, float]:
    """(station, EVSE) -> W summed on every node above the EVSE."""
    out: dict[str, float] = {}
    for (station_id, _), w in watts.items():
        place = topology.station(station_id)
        if place is None:
            continue
        for node in topology.ancestors(place.node):
            out[node.id] = out.get(node.id, 0.0) + w
    return out


def overloads(
    topology: Topology,
    events: Sequence[GridEventValue],
    fixed_w: Mapping[tuple[str, int], float],
    now: datetime,
) -> list[Overload]:
    """Nodes whose fixed (unmanaged) load alone exceeds their limit in some slot."""
    start, slot_s, slots = _slots(topology, now)
    caps, _ = _event_caps(topology, events, start, slot_s, slots)
    out = []
    for node_id, watts in sorted(_by_node(topology, fixed_w).items()):
        node = topology.node(node_id)
        assert node is not None
        limit = min(caps.get(node_id, [node.import_limit_w]))
        if watts <= limit:
            continue
        ids = tuple(
            e.id
            for e in events
            if e.node == node_id and e.kind is EventKind.LIMIT and e.max_net_w < watts
        )
        out.append(Overload(node_id, watts, limit, ids))
    return out


def build_instance(
    topology: Topology,
    sessions: Sequence[LiveSession],
    events: Sequence[GridEventValue],
    now: datetime,
    reserve_w: Mapping[tuple[str, int], float] | None = None,
    fixed_w: Mapping[tuple[str, int], float] | None = None,
) -> tuple[Instance, list[PlacedSession]]:
    """The planning problem from `now` over the remaining horizon, and where each session runs.

    Sessions on stations or EVSEs the topology does not place are left out (the caller
    reports them); a `limit` event caps its node's import in the slots it overlaps, a
    `target` event becomes a dispatch target. `reserve_w` (station, EVSE) -> W is kept
    free above every EVSE without a session: a car that plugs in there draws its
    fallback limit before the next plan, or forever if the CSMS is gone. `fixed_w`
    (station, EVSE) -> W: EVSEs the CSMS does not control; their sessions are not
    planned, their load is taken off every node above them in every slot.
    """
    fixed = fixed_w or {}
    start, slot_s, slots = _slots(topology, now)
    caps, dispatch = _event_caps(topology, events, start, slot_s, slots)
    busy = {(live.station_id, live.evse_id) for live in sessions}
    taken = {
        key: watts
        for key, watts in (reserve_w or {}).items()
        if key not in busy and key not in fixed
    } | dict(fixed)
    for node_id, watts in _by_node(topology, taken).items():
        node = topology.node(node_id)
        assert node is not None
        series = caps.setdefault(node_id, [node.import_limit_w] * slots)
        caps[node_id] = [max(0.0, limit - watts) for limit in series]
    nodes = [
        Node(
            n.id,
            n.parent,
            n.import_limit_w,
            n.export_limit_w,
            tuple(caps[n.id]) if n.id in caps else None,
        )
        for n in topology.nodes
    ]
    planned: list[Session] = []
    placed: list[PlacedSession] = []
    seen: set[str] = set()
    evse_nodes: set[str] = set()
    for live in sessions:
        station = topology.station(live.station_id)
        evse = station.evse(live.evse_id) if station else None
        if station is None or evse is None or live.transaction_id in seen:
            continue
        if (live.station_id, live.evse_id) in fixed:
            continue
        seen.add(live.transaction_id)
        session = _session(topology, live, evse, now, slot_s, slots)
        if session.node not in evse_nodes:
            evse_nodes.add(session.node)
            nodes.append(Node(session.node, station.node, evse.max_import_w, evse.max_export_w))
        planned.append(session)
        placed.append(
            PlacedSession(session.id, live.station_id, live.evse_id, live.transaction_id, evse)
        )
    tariff = topology.tariff
    instance = Instance(
        start=start.isoformat(),
        slot_seconds=slot_s,
        slots=slots,
        import_price=hourly_prices(
            tariff.import_price_by_hour, tariff.timezone, start, slot_s, slots
        ),
        export_price=hourly_prices(
            tariff.export_price_by_hour, tariff.timezone, start, slot_s, slots
        ),
        nodes=tuple(nodes),
        sessions=tuple(planned),
        dispatch=tuple(dispatch),
        degradation_cost_per_kwh=tariff.degradation_cost_per_kwh,
    )
    return instance, placed
