"""Broad randomized instance families, for the kernel's property tests and benchmarks.

Unlike `generate.py` (one realistic day with one generator's habits), each family draws
the knobs a planner meets in the field at random, and stresses one side of the objective:

- `arbitrage`: export prices above import in the evening peak (degradation cost covers
  the spread), cheap nights, many bidirectional cars: value from storage;
- `negative`: a midday surplus with negative import and export prices;
- `limits`: per-slot import and export limits at any level (0 included) on many nodes;
- `dispatch`: export targets and caps on several nodes, overlapping windows, several
  targets on one node and slot;
- `mixed`: all of the above at once, home/work/depot stays, priorities 0-2.

Every family draws 5-, 15- or 60-minute slots, 1 to 200 slots, efficiencies 0.85-0.97,
priorities 0-2, arrivals at the first slot and departures at the last. Export prices are
drawn above, equal to and below import within the format's rule (export <= import +
degradation). Zero power is always feasible, so every instance has a schedule.
"""

from __future__ import annotations

import math

import numpy as np

from csms.grid.instance import DispatchTarget, Instance, Node, Session

FAMILIES = ("arbitrage", "negative", "limits", "dispatch", "mixed")
SLOT_SECONDS = (300, 900, 3600)
MAX_SLOTS = 200
MIN_EFFICIENCY, MAX_EFFICIENCY = 0.85, 0.97
BURN_FACTOR = (1.0 / MIN_EFFICIENCY - MIN_EFFICIENCY) / MIN_EFFICIENCY
SESSIONS_PER_TRANSFORMER = 50
"""Transformers of a large instance: one per this many sessions (as in generate.py)."""


def _hour_of(slots: int, slot_seconds: int, start_hour: float) -> np.ndarray:
    return (start_hour + (np.arange(slots) + 0.5) * slot_seconds / 3600.0) % 24.0


def _window(slots: int, rng: np.random.Generator) -> tuple[int, int]:
    """A random slot window [start, stop), at least one slot long."""
    start = int(rng.integers(0, slots))
    stop = int(rng.integers(start + 1, slots + 1))
    return start, stop


def _prices(
    family: str, hour: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """Import and export price per slot and the degradation cost per kWh."""
    slots = len(hour)
    valley, shoulder, peak = rng.uniform(0.03, 0.12), rng.uniform(0.15, 0.25), rng.uniform(0.3, 0.6)
    night = (hour < 6) | (hour >= 23)
    evening = (hour >= 17) & (hour < 21)
    price = np.where(night, valley, np.where(evening, peak, shoulder))
    price = price + rng.normal(0.0, 0.01, slots)
    if family in ("negative", "mixed") or rng.random() < 0.2:
        midday = (hour >= 11) & (hour < 15)
        price = np.where(midday, rng.uniform(-0.15, 0.02), price)
    degradation = float(rng.choice([0.0, rng.uniform(0.01, 0.12)], p=[0.2, 0.8]))
    # Per slot: export above (up to the degradation cost), equal to or below import.
    mode = rng.choice(3, size=slots, p=[0.4, 0.2, 0.4])
    if family == "arbitrage":
        mode = np.where(evening, 0, mode)
    above = price + degradation * rng.uniform(0.2, 1.0, slots)
    below = price - rng.uniform(0.0, 0.15, slots)
    export = np.select([mode == 0, mode == 1], [above, price], below)
    price, export = np.round(price, 4), np.round(export, 4)
    # The format's rule (export <= import + degradation), with a margin where imports are
    # paid: charging and discharging a car in one slot then burns energy that frees
    # battery room for paid imports, which a net power per slot cannot express (the LP
    # would, so it would no longer be the optimum of the format's problem).
    export = np.minimum(export, price + degradation - burn_margin(price))
    return price, export, degradation


def burn_margin(import_price: np.ndarray) -> float:
    """How far below import + degradation export must stay so that burning energy never
    pays: a pair of x Wh in and out burns (1/eff - eff) x stored Wh, which make room for
    at most 1/eff grid Wh each at the most negative price; with eff >= MIN_EFFICIENCY that
    is worth at most BURN_FACTOR * |price| per Wh of the pair."""
    return BURN_FACTOR * max(0.0, -float(np.min(import_price, initial=0.0)))


def _slots(rng: np.random.Generator, small: bool) -> tuple[int, int]:
    slot_seconds = int(rng.choice(SLOT_SECONDS))
    if small:
        # Short horizons are common, the longest still occur.
        slots = int(min(MAX_SLOTS, math.ceil(math.exp(rng.uniform(0.0, math.log(MAX_SLOTS))))))
        edge = rng.random()
        if edge < 0.1:
            slots = 1
        elif edge < 0.2:
            slots = MAX_SLOTS
        return slot_seconds, slots
    return slot_seconds, min(MAX_SLOTS, 86_400 // slot_seconds)


def _per_slot(base: float, slots: int, rng: np.random.Generator, windows: int) -> tuple[float, ...]:
    """A limit series: `windows` random windows at any level from 0 to the base."""
    series = np.full(slots, base)
    for _ in range(windows):
        start, stop = _window(slots, rng)
        series[start:stop] = np.round(base * rng.choice([0.0, rng.uniform(0.0, 1.0)], p=[0.2, 0.8]))
    return tuple(float(v) for v in series)


def family_instance(family: str, sessions: int, seed: int, *, small: bool = False) -> Instance:
    """A random instance of the family; the same arguments always give the same instance.

    `small` draws horizons of 1 to 200 slots starting at any hour and a tiny tree (for
    property tests against the LP); otherwise a day from 14:00 (at most 200 slots) under
    one transformer per SESSIONS_PER_TRANSFORMER sessions.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    rng = np.random.default_rng([FAMILIES.index(family), sessions, seed, int(small)])
    slot_seconds, slots = _slots(rng, small)
    slot_hours = slot_seconds / 3600.0
    start_hour = float(rng.uniform(0.0, 24.0)) if small else 14.0
    hour = _hour_of(slots, slot_seconds, start_hour)
    price, export, degradation = _prices(family, hour, rng)

    v2g_share = {"arbitrage": 0.6, "negative": 0.4, "limits": 0.3, "dispatch": 0.5}.get(family, 0.3)
    n = sessions
    # Stays: home evening, home overnight, work, depot, anywhere (hours from the start).
    kind = rng.choice(5, size=n, p=[0.3, 0.15, 0.2, 0.15, 0.2])
    arrive_hour = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            rng.normal(18.5, 1.5, n),
            rng.normal(22.0, 1.0, n),
            rng.normal(8.3, 0.8, n),
            rng.normal(19.0, 2.5, n),
        ],
        rng.uniform(0.0, 24.0, n),
    )
    stay_hours = np.select(
        [kind <= 1, kind == 2, kind == 3],
        [rng.normal(12.0, 2.0, n), rng.normal(8.5, 1.0, n), rng.normal(10.0, 2.5, n)],
        rng.uniform(0.25, 24.0, n),
    )
    arrival = np.floor(((arrive_hour - start_hour) % 24.0) / slot_hours).astype(np.int64)
    arrival = np.where(rng.random(n) < 0.15, 0, np.clip(arrival, 0, slots - 1))
    length = np.maximum(np.round(np.maximum(stay_hours, 0.1) / slot_hours), 1).astype(np.int64)
    departure = np.minimum(arrival + length, slots)
    departure = np.where(rng.random(n) < 0.15, slots, departure)

    max_charge = rng.choice([3_700.0, 7_400.0, 11_000.0, 22_000.0, 50_000.0], n)
    bidirectional = rng.random(n) < v2g_share
    max_discharge = np.where(
        bidirectional, np.minimum(max_charge, rng.choice([3_700.0, 7_400.0, 11_000.0], n)), 0.0
    )
    efficiency = np.round(rng.uniform(MIN_EFFICIENCY, MAX_EFFICIENCY, n), 3)
    battery = rng.choice([20_000.0, 40_000.0, 60_000.0, 75_000.0, 100_000.0, 200_000.0], n)
    initial = np.round(battery * rng.uniform(0.0, 0.9, n))
    target = np.round(battery * rng.uniform(0.0, 1.0, n))
    # Most drivers ask for what their stay can deliver; some for more.
    reachable = initial + max_charge * efficiency * slot_hours * (departure - arrival)
    modest = rng.random(n) < 0.8
    target = np.where(modest, np.minimum(target, np.floor(0.95 * reachable)), target)
    target = np.clip(target, 0.0, battery)
    reserve = np.round(battery * rng.uniform(0.0, 0.3, n))
    priority = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])

    transformers = (
        int(rng.integers(1, 4)) if small else max(1, math.ceil(n / SESSIONS_PER_TRANSFORMER))
    )
    feeders = max(1, math.ceil(transformers / 20))
    tx_of = rng.integers(0, transformers, n)
    # Sites group EVSEs under some transformers (a site limit between EVSE and transformer).
    site_of = np.where(rng.random(n) < 0.5, rng.integers(0, 3, n), -1)
    scarce = family == "limits" or rng.random() < 0.3
    capacity = rng.uniform(0.15, 0.6) if scarce else rng.uniform(0.4, 1.0)
    windows = {"limits": 3, "mixed": 1}.get(family, 0)

    def limit_pair(drawn: float) -> tuple[float, float]:
        load = max(round(drawn * capacity), 0.0)
        return float(load), float(
            round(load * rng.choice([0.0, rng.uniform(0.1, 1.0)], p=[0.1, 0.9]))
        )

    nodes: list[Node] = []
    dispatch_nodes: list[tuple[str, float]] = []
    for f in range(feeders):
        on_feeder = (tx_of % feeders) == f
        imp, exp = limit_pair(float(max_charge[on_feeder].sum()) * 0.8)
        nodes.append(Node(f"feeder-{f}", None, imp, exp))
        dispatch_nodes.append((f"feeder-{f}", imp))
    for t in range(transformers):
        under = tx_of == t
        imp, exp = limit_pair(float(max_charge[under].sum()))
        by_import = by_export = None
        if windows or rng.random() < 0.2:
            by_import = _per_slot(imp, slots, rng, max(windows, 1))
        if windows > 1 or rng.random() < 0.2:
            by_export = _per_slot(exp, slots, rng, max(windows, 1))
        nodes.append(Node(f"tx-{t}", f"feeder-{t % feeders}", imp, exp, by_import, by_export))
        dispatch_nodes.append((f"tx-{t}", imp))
        for site in range(3):
            here = under & (site_of == site)
            if here.any():
                imp, exp = limit_pair(float(max_charge[here].sum()) * 1.2)
                by_import = _per_slot(imp, slots, rng, windows) if windows > 1 else None
                nodes.append(Node(f"site-{t}-{site}", f"tx-{t}", imp, exp, by_import))
                dispatch_nodes.append((f"site-{t}-{site}", imp))

    session_list: list[Session] = []
    for i in range(n):
        parent = f"site-{tx_of[i]}-{site_of[i]}" if site_of[i] >= 0 else f"tx-{tx_of[i]}"
        evse = f"evse-{i}"
        evse_export = max_discharge[i] if rng.random() < 0.9 else max_discharge[i] * 0.5
        nodes.append(Node(evse, parent, float(max_charge[i]), float(round(evse_export))))
        session_list.append(
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

    targets = {"dispatch": 3, "mixed": 1}.get(family, 0)
    dispatch: list[DispatchTarget] = []
    for node_id, imp in dispatch_nodes:
        if not targets and rng.random() >= 0.15:
            continue
        for _ in range(int(rng.integers(1, max(targets, 1) + 1))):
            start, stop = _window(slots, rng)
            # Export targets (negative) and caps below the limit; several on one node overlap.
            level = rng.choice([rng.uniform(-0.5, 0.0), rng.uniform(0.0, 0.8)], p=[0.5, 0.5])
            dispatch.append(DispatchTarget(node_id, start, stop, float(round(level * imp))))
            if rng.random() < 0.3:
                # A second target on the same node and slots (a VPP and the DSO each ask).
                dispatch.append(
                    DispatchTarget(
                        node_id, start, stop, float(round(level * imp * rng.uniform(0.3, 1.5)))
                    )
                )
    return Instance(
        start="2026-11-24T00:00:00Z",
        slot_seconds=slot_seconds,
        slots=slots,
        import_price=tuple(float(v) for v in price),
        export_price=tuple(float(v) for v in export),
        nodes=tuple(nodes),
        sessions=tuple(session_list),
        dispatch=tuple(dispatch),
        degradation_cost_per_kwh=degradation,
    )
