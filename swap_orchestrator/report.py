"""The simulation report (format in swap-scenario.md): figures, power log and event log."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from swap_orchestrator.scenario import Scenario
from swap_orchestrator.sim import SimResult


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def waits(events: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Seconds from arrival (first `queued`) to the first `swap_started`, per vehicle."""
    queued: dict[str, float] = {}
    waited: dict[str, float] = {}
    for e in events:
        vid = e.get("vehicle")
        if vid is None:
            continue
        if e["kind"] == "queued":
            queued.setdefault(vid, e["t"])
        elif e["kind"] == "swap_started" and vid not in waited:
            waited[vid] = e["t"] - queued[vid]
    return waited


def build_report(scenario: Scenario, result: SimResult) -> dict[str, Any]:
    events = result.events
    waited = waits(events)
    priority = {v.id: v.priority.label for v in scenario.vehicles}
    by_priority: dict[str, dict[str, float]] = {}
    for label in ("emergency", "fleet", "normal"):
        values = [w for vid, w in waited.items() if priority[vid] == label]
        if values:
            by_priority[label] = {"p95": round(percentile(values, 95), 1)}
    all_waits = list(waited.values())
    accounts = [result.stations[s.id] for s in scenario.stations]
    return {
        "version": 1,
        "swaps": sum(e["kind"] == "swap_completed" for e in events),
        "refused": [
            {"vehicle": e["vehicle"], "reason": e["reason"]}
            for e in events
            if e["kind"] == "refused"
        ],
        "no_shows": sum(e["kind"] == "no_show" for e in events),
        "wait_s": {
            "p50": round(percentile(all_waits, 50), 1),
            "p95": round(percentile(all_waits, 95), 1),
            "max": round(max(all_waits, default=0.0), 1),
        },
        "by_priority": by_priority,
        "bay_utilisation": [round(u, 4) for a in accounts for u in a.utilisation],
        "min_handout_soc": min(s.min_handout_soc for s in scenario.stations),
        "grid_peak_w": round(max(a.peak_w for a in accounts), 1),
        "energy_kwh": round(sum(a.energy_wh for a in accounts) / 1000.0, 3),
        "energy_cost": round(sum(a.cost for a in accounts), 2),
        "flagged_for_service": {
            "vehicles": list(result.flagged_vehicles),
            "batteries": list(result.flagged_batteries),
        },
        # Total station power (racks + auxiliaries) as steps [t, w], per station: the
        # evidence that the grid limit held.
        "grid_w": {s.id: a.power_w for s, a in zip(scenario.stations, accounts, strict=True)},
        "events": events,
    }
