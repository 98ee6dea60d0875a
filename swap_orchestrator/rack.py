"""Rack charging: rack batteries as sessions of a charging instance, and the rack's energy.

`build_instance` writes the charging-instance format (shared/formats/charging-instance.md):
deadlines come from the forecast of coming swaps, the limit is the station's connection
less auxiliaries. Any `RackPlanner` solves it; `edf_planner` is a small stand-in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from swap_orchestrator.batteries import RackBattery

log = logging.getLogger(__name__)

RackPlanner = Callable[[dict[str, Any]], dict[str, list[float]]]
"""A charging instance (dict, charging-instance format) -> power per session and slot (W).
The planning kernel fits as `lambda d: solve(parse_instance(d)).power_w`."""

STATION_NODE = "station"


@dataclass(frozen=True, slots=True)
class Demand:
    """A forecast swap: a battery of `battery_type` must be ready at `at_s`."""

    battery_type: str
    at_s: float


@dataclass(frozen=True, slots=True)
class GridRequest:
    """The grid asks to keep net power at or below `max_net_w` (negative: feed back) from
    `from_s` to `to_s`. In an instance it applies to the rack: take auxiliaries off first."""

    from_s: float
    to_s: float
    max_net_w: float


@dataclass(frozen=True, slots=True)
class RackPlanParams:
    """`slot_s` x `horizon_slots` is the look-ahead; each re-plan costs one planner call."""

    slot_s: int = 60  # whole seconds, as the charging-instance format wants
    horizon_slots: int = 60
    efficiency: float = 0.95
    # Charge a little past the hand-out SoC so rounding never leaves a battery just below.
    target_margin_soc: float = 0.002
    discharge_w: float = 0.0  # per rack slot; 0 = racks cannot feed back
    min_soc: float = 0.2  # discharge floor of batteries no forecast swap needs
    # Plan a forecast swap's battery ready this much before the swap is expected: the
    # forecast is only as good as the gates and re-aligns ahead of it, and a battery the
    # cost-minimising kernel finishes just in time is late at the first slip (measured at
    # saturation: 88% of the bay bound with no margin, 92% with 15 minutes).
    ready_margin_s: float = 900.0


def price_at(prices: Sequence[float], start: datetime, t_s: float) -> float:
    """The hourly price (24 values, by UTC hour of day) in force at `t_s` after `start`."""
    moment = start + timedelta(seconds=t_s)
    return prices[moment.hour]


def match_deadlines(
    batteries: Iterable[RackBattery], demands: Iterable[Demand]
) -> dict[str, float]:
    """Give each forecast swap, earliest first, the fullest battery of its type still free."""
    free: dict[str, list[RackBattery]] = {}
    for battery in sorted(batteries, key=lambda b: (b.soc, b.soh), reverse=True):
        free.setdefault(battery.type, []).append(battery)
    deadlines: dict[str, float] = {}
    for demand in sorted(demands, key=lambda d: d.at_s):
        pool = free.get(demand.battery_type)
        if pool:
            deadlines[pool.pop(0).serial] = demand.at_s
    return deadlines


def build_instance(
    now: float,
    start: datetime,
    batteries: Sequence[RackBattery],
    demands: Iterable[Demand],
    *,
    handout_soc: float,
    charge_w: float,
    limit_w: Callable[[float], float],
    prices: Sequence[float],
    grid_requests: Iterable[GridRequest] = (),
    params: RackPlanParams = RackPlanParams(),
    reserved_w: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The rack's planning problem from `now` on; `limit_w(t)` is the rack's share of the
    connection at time t (grid limit less auxiliaries), of which `reserved_w` (per slot)
    is already taken by batteries planned outside the instance."""
    slots = params.horizon_slots
    slot_starts = [now + k * params.slot_s for k in range(slots)]
    reserved = list(reserved_w) if reserved_w is not None else [0.0] * slots
    limits = [max(0.0, limit_w(t) - r) for t, r in zip(slot_starts, reserved, strict=True)]
    deadlines = match_deadlines(batteries, demands)
    nodes: list[dict[str, Any]] = [
        {
            "id": STATION_NODE,
            "parent": None,
            "import_limit_w": max(limits),
            "export_limit_w": params.discharge_w * len(batteries),
            "import_limit_w_by_slot": limits,
        }
    ]
    sessions = []
    for battery in batteries:
        node = f"rack-{battery.serial}"
        nodes.append(
            {
                "id": node,
                "parent": STATION_NODE,
                "import_limit_w": charge_w,
                "export_limit_w": params.discharge_w,
            }
        )
        target_soc = min(1.0, handout_soc + params.target_margin_soc)
        target = target_soc * battery.capacity_wh
        deadline = deadlines.get(battery.serial)
        if deadline is None:
            departure, floor, priority = slots, params.min_soc * battery.capacity_wh, 0
        else:
            ready_by = deadline - params.ready_margin_s
            departure = min(slots, max(1, int((ready_by - now) // params.slot_s)))
            floor, priority = target, 2
        sessions.append(
            {
                "id": battery.serial,
                "node": node,
                "arrival_slot": 0,
                "departure_slot": departure,
                "battery_wh": battery.capacity_wh,
                "initial_wh": battery.energy_wh,
                "target_wh": target,
                "min_wh": floor,
                "max_charge_w": charge_w,
                "max_discharge_w": params.discharge_w,
                "efficiency": params.efficiency,
                "priority": priority,
            }
        )
    dispatch = []
    for request in grid_requests:
        first, last = request_slots(request, now, params)
        if first >= last:
            continue
        if not any(reserved[first:last]):
            dispatch.append(
                {
                    "node": STATION_NODE,
                    "from_slot": first,
                    "to_slot": last,
                    "max_net_w": request.max_net_w,
                }
            )
            continue
        for k in range(first, last):  # what is reserved counts against the request
            dispatch.append(
                {
                    "node": STATION_NODE,
                    "from_slot": k,
                    "to_slot": k + 1,
                    "max_net_w": request.max_net_w - reserved[k],
                }
            )
    return {
        "version": 1,
        "start": (start + timedelta(seconds=now)).isoformat().replace("+00:00", "Z"),
        "slot_seconds": int(params.slot_s),
        "slots": slots,
        "import_price": [price_at(prices, start, t) for t in slot_starts],
        "nodes": nodes,
        "sessions": sessions,
        "dispatch": dispatch,
    }


def request_slots(request: GridRequest, now: float, params: RackPlanParams) -> tuple[int, int]:
    """The plan slots [first, last) a grid request touches."""
    first = max(0, int((request.from_s - now) // params.slot_s))
    last = min(params.horizon_slots, int(-(-(request.to_s - now) // params.slot_s)))
    return first, last


def urgent_schedule(
    batteries: Sequence[RackBattery],
    demands: Iterable[Demand],
    short_types: Collection[str],
    *,
    handout_soc: float,
    charge_w: float,
    limits_w: Sequence[float],
    params: RackPlanParams = RackPlanParams(),
) -> dict[str, list[float]]:
    """Flat-out charging of every battery below the hand-out SoC of a type vehicles wait
    for (`short_types`): each slot's rack limit goes to them at full power, price-blind,
    since every minute a battery is late is a bay standing idle.

    Order under a binding connection: first the batteries matched (`match_deadlines`) to
    the earliest forecast swaps, so the types share the power in the order their demand
    comes; then the rest, fullest first (the one closest to ready). A battery stops at
    the hand-out target; what is left of a slot's limit stays for the price-aware plan.
    """
    slot_h = params.slot_s / 3600.0
    target_soc = min(1.0, handout_soc + params.target_margin_soc)
    waiting = [b for b in batteries if b.type in short_types and b.soc < handout_soc]
    if not waiting:
        return {}
    deadlines = match_deadlines(waiting, demands)
    waiting.sort(key=lambda b: (deadlines.get(b.serial, math.inf), -b.soc, b.serial))
    headroom = list(limits_w)
    plan: dict[str, list[float]] = {}
    for battery in waiting:
        need_wh = target_soc * battery.capacity_wh - battery.energy_wh
        power = [0.0] * len(headroom)
        for k, free_w in enumerate(headroom):
            if need_wh <= 0:
                break
            p = max(0.0, min(charge_w, free_w, need_wh / params.efficiency / slot_h))
            power[k] = p
            headroom[k] -= p
            need_wh -= p * params.efficiency * slot_h
        plan[battery.serial] = power
    return plan


@dataclass(frozen=True, slots=True)
class RackPlan:
    """Power per rack battery and slot (W), and the slot from which it must be made again
    (a forecast swap falls due, or a battery charged flat out reaches its target)."""

    power_w: dict[str, list[float]]
    replan_slot: int


def plan_rack(
    planner: RackPlanner,
    now: float,
    start: datetime,
    batteries: Sequence[RackBattery],
    demands: Sequence[Demand],
    short_types: Collection[str],
    *,
    handout_soc: float,
    charge_w: float,
    limit_w: Callable[[float], float],
    prices: Sequence[float],
    grid_requests: Sequence[GridRequest] = (),
    params: RackPlanParams = RackPlanParams(),
) -> RackPlan:
    """The rack's plan: batteries of types vehicles wait for charge flat out
    (`urgent_schedule`); the others share what is left of the connection through
    `planner`, which weighs price against the forecast swaps' deadlines."""
    slots = params.horizon_slots
    limits = [max(0.0, limit_w(now + k * params.slot_s)) for k in range(slots)]
    for request in grid_requests:  # the grid's request caps flat-out charging too
        first, last = request_slots(request, now, params)
        for k in range(first, last):
            limits[k] = min(limits[k], max(0.0, request.max_net_w))
    urgent = urgent_schedule(
        batteries,
        demands,
        short_types,
        handout_soc=handout_soc,
        charge_w=charge_w,
        limits_w=limits,
        params=params,
    )
    reserved = [sum(series[k] for series in urgent.values()) for k in range(slots)]
    rest = [b for b in batteries if b.serial not in urgent]
    instance = build_instance(
        now,
        start,
        rest,
        demands,
        handout_soc=handout_soc,
        charge_w=charge_w,
        limit_w=limit_w,
        prices=prices,
        grid_requests=grid_requests,
        params=params,
        reserved_w=reserved,
    )
    power = dict(planner(instance)) if rest else {}
    replan = min((s["departure_slot"] for s in instance["sessions"]), default=slots)
    for series in urgent.values():
        # The slot after its last charging slot: the battery is ready, its power is free.
        charging = [k for k, p in enumerate(series) if p > 0]
        replan = min(replan, charging[-1] + 1 if charging else 1)
    power.update(urgent)
    return RackPlan(power, max(1, replan))


def edf_planner(instance: dict[str, Any]) -> dict[str, list[float]]:
    """Stand-in planner: earliest deadline first under the root node's limit, as soon as
    possible (price-blind); discharges latest-deadline batteries for dispatch targets below
    zero. Handles the rack's shape only: one root node with one leaf per session."""
    slots = int(instance["slots"])
    slot_h = float(instance["slot_seconds"]) / 3600.0
    nodes = {n["id"]: n for n in instance["nodes"]}
    roots = [n for n in nodes.values() if n.get("parent") is None]
    if len(roots) != 1 or any(
        n.get("parent") not in (None, roots[0]["id"]) for n in nodes.values()
    ):
        raise ValueError("edf_planner handles one root node with leaves only")
    root = roots[0]
    import_cap = list(root.get("import_limit_w_by_slot") or [root["import_limit_w"]] * slots)
    export_cap = [float(root.get("export_limit_w", 0.0))] * slots
    wanted_net: list[float | None] = [None] * slots
    for target in instance.get("dispatch", []):
        for k in range(int(target["from_slot"]), int(target["to_slot"])):
            wanted_net[k] = float(target["max_net_w"])
            import_cap[k] = min(import_cap[k], max(0.0, float(target["max_net_w"])))
    sessions = sorted(
        instance["sessions"], key=lambda s: (s["departure_slot"], -s.get("priority", 0), s["id"])
    )
    plans = [_EdfSession.of(s, nodes[s["node"]], slots) for s in sessions]
    for k in range(slots):
        headroom = float(import_cap[k])
        for plan in plans:
            if headroom <= 0:
                break
            if plan.arrival <= k < plan.departure and plan.energy < plan.target:
                p = min(plan.charge_w, (plan.target - plan.energy) / plan.eff / slot_h, headroom)
                plan.power[k] = p
                plan.energy += p * plan.eff * slot_h
                headroom -= p
        net = wanted_net[k]
        if net is not None and net < 0:
            shortfall = min(-net, export_cap[k])
            for plan in reversed(plans):
                if shortfall <= 0:
                    break
                if plan.arrival <= k < plan.departure and plan.power[k] == 0:
                    spare_w = (plan.energy - plan.floor) * plan.eff / slot_h
                    p = max(0.0, min(plan.discharge_w, spare_w, shortfall))
                    plan.power[k] = -p
                    plan.energy -= p / plan.eff * slot_h
                    shortfall -= p
    return {plan.id: plan.power for plan in plans}


@dataclass(slots=True)
class _EdfSession:
    """One session's numbers, read once from the instance, and its plan so far."""

    id: str
    arrival: int
    departure: int
    eff: float
    charge_w: float
    discharge_w: float
    target: float
    floor: float
    energy: float
    power: list[float]

    @classmethod
    def of(cls, s: dict[str, Any], node: dict[str, Any], slots: int) -> _EdfSession:
        return cls(
            id=s["id"],
            arrival=int(s["arrival_slot"]),
            departure=int(s["departure_slot"]),
            eff=float(s.get("efficiency", 1.0)),
            charge_w=min(float(s["max_charge_w"]), float(node["import_limit_w"])),
            discharge_w=min(float(s["max_discharge_w"]), float(node.get("export_limit_w", 0.0))),
            target=float(s["target_wh"]),
            floor=min(float(s["min_wh"]), float(s["initial_wh"])),
            energy=float(s["initial_wh"]),
            power=[0.0] * slots,
        )


class Rack:
    """The batteries in one station's rack and the power each draws now (the physics the
    simulator and a live adapter update; the orchestrator reads it)."""

    def __init__(
        self,
        batteries: Iterable[RackBattery],
        charge_w: float,
        efficiency: float,
        now: float = 0.0,
        station: str = "",
    ) -> None:
        self.station = station
        self.batteries: dict[str, RackBattery] = {b.serial: b for b in batteries}
        self.charge_w = charge_w
        self.efficiency = efficiency
        self.power_w: dict[str, float] = {}
        self.updated_at = now

    @property
    def total_w(self) -> float:
        return sum(self.power_w.values())

    def advance(self, now: float) -> float:
        """Let the current powers run until `now`; returns the energy drawn (Wh)."""
        dt_h = (now - self.updated_at) / 3600.0
        if dt_h < 0:
            raise ValueError("time went backwards")
        self.updated_at = now
        drawn = 0.0
        if dt_h == 0:
            return drawn
        for serial, p in self.power_w.items():
            b = self.batteries[serial]
            stored = p * self.efficiency * dt_h if p >= 0 else p / self.efficiency * dt_h
            energy = min(b.capacity_wh, max(0.0, b.energy_wh + stored))
            self.batteries[serial] = replace(b, energy_wh=energy)
            drawn += p * dt_h
        return drawn

    def set_power(self, power_w: dict[str, float], limit_w: float, slot_s: float) -> None:
        """Apply a plan's first slot, made safe: within each slot's charger, the battery's
        room and, scaled down if needed, the rack's share of the connection."""
        slot_h = slot_s / 3600.0
        safe: dict[str, float] = {}
        for serial, p in power_w.items():
            b = self.batteries.get(serial)
            if b is None or p == 0:
                continue
            room_w = (b.capacity_wh - b.energy_wh) / self.efficiency / slot_h
            safe[serial] = max(-self.charge_w, min(p, self.charge_w, room_w))
        total = sum(p for p in safe.values() if p > 0)
        if total > limit_w + 1e-6:
            log.warning(
                "station %s: planner exceeded the rack limit (%.0f W > %.0f W); scaled",
                self.station,
                total,
                limit_w,
            )
            scale = limit_w / total
            safe = {s: (p * scale if p > 0 else p) for s, p in safe.items()}
        self.power_w = {s: p for s, p in safe.items() if p != 0}

    def take(self, serial: str) -> RackBattery:
        self.power_w.pop(serial, None)
        return self.batteries.pop(serial)

    def put(self, battery: RackBattery) -> None:
        self.batteries[battery.serial] = battery
