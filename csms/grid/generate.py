"""Realistic random charging instances: home/work/depot arrivals, time-of-use prices,
transformer limits below the uncontrolled peak, demand-response windows, VPP targets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from csms.grid.instance import DispatchTarget, Instance, Node, Session

TRANSFORMERS_PER_FEEDER = 20
PEAK_PRICE = 0.38
SHOULDER_PRICE = 0.20
VALLEY_PRICE = 0.09
EXPORT_DISCOUNT = 0.02
DEGRADATION_COST = 0.04


@dataclass(frozen=True, slots=True)
class GeneratorSettings:
    """Knobs of `generate_instance`; shares are fractions in [0, 1]."""

    sessions: int = 1000
    transformers: int = 20
    slots: int = 96
    v2g_share: float = 0.3
    seed: int = 0
    capacity_factor: float = 0.7
    """Transformer import limit as a fraction of its uncontrolled (charge-on-arrival) peak."""
    dispatch_share: float = 0.1
    """Fraction of transformers with a VPP target in the evening peak."""
    demand_response_share: float = 0.1
    """Fraction of transformers whose import limit drops for a demand-response window."""
    overask_share: float = 0.0
    """Fraction of drivers whose target is beyond what their stay can deliver."""


def _prices(slots: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    hours = (np.arange(slots) + 0.5) * 24.0 / slots
    price = np.full(slots, SHOULDER_PRICE)
    price[(hours < 6) | (hours >= 23)] = VALLEY_PRICE
    price[(hours >= 17) & (hours < 21)] = PEAK_PRICE
    price = np.round(price + rng.normal(0.0, 0.005, slots), 4)
    export = np.maximum(price - EXPORT_DISCOUNT, 0.0)
    return price, export


def _windows(kind: np.ndarray, slots: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Arrival and departure slots by kind: 0 home evening, 1 home overnight, 2 work, 3 depot."""
    per_hour = slots / 24.0
    n = len(kind)
    arrival = np.empty(n)
    departure = np.empty(n)
    for k, (arr_mean, arr_sd, stay_mean, stay_sd) in enumerate(
        [(18.5, 1.5, 13.0, 1.0), (0.0, 0.0, 7.0, 1.0), (8.3, 0.8, 8.5, 1.0), (19.0, 2.5, 10.0, 2.5)]
    ):
        mask = kind == k
        count = int(mask.sum())
        arrival[mask] = rng.normal(arr_mean, arr_sd, count)
        departure[mask] = arrival[mask] + np.maximum(rng.normal(stay_mean, stay_sd, count), 1.0)
    first = np.clip(np.round(arrival * per_hour), 0, slots - 1).astype(np.int64)
    last = np.clip(np.round(departure * per_hour), first + 1, slots).astype(np.int64)
    return first, last


def generate_instance(settings: GeneratorSettings) -> Instance:
    """A random instance of the given size; the same settings always give the same instance."""
    rng = np.random.default_rng(settings.seed)
    n, slots = settings.sessions, settings.slots
    slot_hours = 24.0 / slots
    price, export = _prices(slots, rng)
    kind = rng.choice(4, size=n, p=[0.35, 0.15, 0.3, 0.2])
    arrival, departure = _windows(kind, slots, rng)
    depot = kind == 3
    evse_power = np.select([kind <= 1, kind == 2], [7_400.0, 11_000.0], 22_000.0)
    max_charge = np.minimum(evse_power, rng.choice([7_400.0, 11_000.0, 22_000.0], n))
    efficiency = np.round(rng.uniform(0.9, 0.95, n), 3)
    battery = np.where(
        depot,
        rng.choice([100_000.0, 150_000.0, 200_000.0], n),
        rng.choice([40_000.0, 60_000.0, 75_000.0, 100_000.0], n),
    )
    initial = np.round(battery * rng.uniform(0.1, 0.6, n))
    target = np.round(battery * rng.uniform(0.75, 1.0, n))
    # Most drivers ask for what their stay can deliver; a few ask for more than it can.
    reachable = initial + max_charge * efficiency * slot_hours * (departure - arrival)
    modest = rng.random(n) >= settings.overask_share
    target = np.where(modest, np.minimum(target, np.round(0.9 * reachable)), target)
    target = np.minimum(np.maximum(target, initial), battery)
    reserve = np.round(battery * 0.2)
    bidirectional = rng.random(n) < settings.v2g_share
    max_discharge = np.where(bidirectional, np.minimum(max_charge, 11_000.0), 0.0)
    priority = np.where(depot, 2, rng.choice([0, 1], n, p=[0.8, 0.2]))
    transformer = rng.integers(0, settings.transformers, n)

    # Uncontrolled peak: every car charges at full power from arrival until it reaches target.
    uncontrolled = np.zeros((settings.transformers, slots))
    full_slots = np.ceil((target - initial) / (max_charge * efficiency * slot_hours)).astype(int)
    for i in range(n):
        end = min(int(departure[i]), int(arrival[i]) + int(full_slots[i]))
        uncontrolled[transformer[i], arrival[i] : end] += max_charge[i]
    tx_import = np.maximum(np.round(uncontrolled.max(axis=1) * settings.capacity_factor), 22_000.0)

    feeders = max(1, math.ceil(settings.transformers / TRANSFORMERS_PER_FEEDER))
    nodes: list[Node] = []
    tx_feeder = np.arange(settings.transformers) % feeders
    for f in range(feeders):
        limit = float(np.round(0.9 * tx_import[tx_feeder == f].sum()))
        nodes.append(Node(f"feeder-{f}", None, limit, round(limit * 0.5)))
    dispatch: list[DispatchTarget] = []
    per_hour = slots / 24.0
    peak_from, peak_to = int(17 * per_hour), int(21 * per_hour)
    for t in range(settings.transformers):
        limit = float(tx_import[t])
        by_slot: tuple[float, ...] | None = None
        if rng.random() < settings.demand_response_share:
            start = int(rng.integers(peak_from, peak_to))
            length = int(rng.integers(int(per_hour), int(3 * per_hour) + 1))
            series = np.full(slots, limit)
            series[start : start + length] = np.round(limit * 0.6)
            by_slot = tuple(float(v) for v in series)
        nodes.append(Node(f"tx-{t}", f"feeder-{tx_feeder[t]}", limit, round(limit * 0.5), by_slot))
        if rng.random() < settings.dispatch_share:
            start = int(rng.integers(peak_from, peak_to - int(per_hour)))
            wanted = -0.1 * limit if settings.v2g_share > 0 else 0.3 * limit
            dispatch.append(
                DispatchTarget(f"tx-{t}", start, start + int(2 * per_hour), float(round(wanted)))
            )
    sessions: list[Session] = []
    for i in range(n):
        evse = f"evse-{i}"
        nodes.append(
            Node(evse, f"tx-{transformer[i]}", float(evse_power[i]), float(max_discharge[i]))
        )
        sessions.append(
            Session(
                id=f"s-{i}",
                node=evse,
                arrival_slot=int(arrival[i]),
                departure_slot=int(departure[i]),
                battery_wh=float(battery[i]),
                initial_wh=float(initial[i]),
                target_wh=float(target[i]),
                min_wh=float(reserve[i]),
                max_charge_w=float(max_charge[i]),
                max_discharge_w=float(max_discharge[i]),
                efficiency=float(efficiency[i]),
                priority=int(priority[i]),
            )
        )
    return Instance(
        start="2026-11-24T00:00:00Z",
        slot_seconds=round(slot_hours * 3600),
        slots=slots,
        import_price=tuple(float(v) for v in price),
        export_price=tuple(float(v) for v in export),
        nodes=tuple(nodes),
        sessions=tuple(sessions),
        dispatch=tuple(dispatch),
        degradation_cost_per_kwh=DEGRADATION_COST,
    )
