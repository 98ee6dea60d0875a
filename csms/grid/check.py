"""Independent schedule checker: recomputes energies, hard limits and the objective.

It trusts nothing in the schedule but `power_w`, so it judges the kernel and the LP alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csms.grid.instance import FloatArray, Instance, InstanceArrays, Schedule, to_arrays

TOLERANCE_W = 1.0
TOLERANCE_WH = 1.0
MAX_LISTED_VIOLATIONS = 1000
"""Violations beyond this many are counted but not described (bounds the report's size)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a schedule achieves and every hard limit it breaks."""

    objective: float
    energy_cost: float
    degradation_cost: float
    shortfall_cost: float
    dispatch_cost: float
    requested_wh: float
    delivered_wh: float
    unmet_wh: float
    imported_kwh: float
    exported_kwh: float
    traded_value: float
    """What the energy bought and sold is worth, all terms counted positive: the scale of
    a gap where the objective nets to about zero (arbitrage, negative prices)."""
    final_wh: dict[str, float]
    shortfall_wh: dict[str, float]
    peak_w: dict[str, tuple[float, float]]  # top-level node -> (peak import, import limit)
    violation_count: int
    violations: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.violation_count == 0


def objective_gap(candidate: CheckResult, reference: CheckResult) -> float:
    """How much worse the candidate is than the reference, as a fraction of the reference's
    objective, or of the value it trades when that is larger (an objective near zero
    would make any difference look huge)."""
    difference = candidate.objective - reference.objective
    scale = max(abs(reference.objective), reference.traded_value)
    if scale > 0.0:
        return difference / scale
    return 0.0 if difference <= 0.0 else float("inf")


def power_matrix(
    instance: Instance, schedule: Schedule, problems: list[str] | None = None
) -> FloatArray:
    """Power per session (instance order) per slot; missing or malformed rows become zero."""
    power = np.zeros((len(instance.sessions), instance.slots))
    for i, session in enumerate(instance.sessions):
        series = schedule.power_w.get(session.id)
        if series is None:
            if problems is not None:
                problems.append(f"power_w.{session.id}: missing")
            continue
        if len(series) != instance.slots:
            if problems is not None:
                problems.append(f"power_w.{session.id}: {len(series)} values, not {instance.slots}")
            continue
        power[i] = series
    if problems is not None:
        known = {s.id for s in instance.sessions}
        problems.extend(
            f"power_w.{key}: unknown session" for key in schedule.power_w if key not in known
        )
    return power


def stored_energy(arrays: InstanceArrays, power: FloatArray) -> FloatArray:
    """Stored energy at every slot boundary: [session, slots + 1] Wh."""
    eff = arrays.sess_efficiency[:, None]
    delta = np.where(power >= 0, power * eff, power / eff) * arrays.slot_hours
    energy = np.empty((power.shape[0], power.shape[1] + 1))
    energy[:, 0] = arrays.sess_initial
    np.cumsum(delta, axis=1, out=energy[:, 1:])
    energy[:, 1:] += arrays.sess_initial[:, None]
    return energy


def node_loads(arrays: InstanceArrays, power: FloatArray) -> FloatArray:
    """Net power of all sessions below each node: [node, slot] W (topological order)."""
    loads = np.zeros((len(arrays.node_ids), power.shape[1]))
    np.add.at(loads, arrays.sess_node, power)
    for k in range(len(arrays.node_ids) - 1, -1, -1):
        parent = arrays.node_parent[k]
        if parent >= 0:
            loads[parent] += loads[k]
    return loads


def _objective_parts(
    arrays: InstanceArrays, power: FloatArray, energy: FloatArray, loads: FloatArray
) -> tuple[float, float, float, float, FloatArray]:
    kwh = arrays.slot_hours / 1000.0
    charged = np.maximum(power, 0.0).sum(axis=0) * kwh
    discharged = np.maximum(-power, 0.0).sum(axis=0) * kwh
    energy_cost = float(charged @ arrays.import_price - discharged @ arrays.export_price)
    degradation = float(arrays.degradation_cost * discharged.sum())
    shortfall = np.maximum(arrays.sess_target - energy[:, -1], 0.0)
    weights = 1.0 + arrays.sess_priority
    shortfall_cost = float(arrays.shortfall_penalty * (weights * shortfall).sum() / 1000.0)
    dispatch_cost = 0.0
    for d in range(len(arrays.disp_node)):
        window = loads[arrays.disp_node[d], arrays.disp_from[d] : arrays.disp_to[d]]
        excess = np.maximum(window - arrays.disp_max[d], 0.0).sum()
        dispatch_cost += float(arrays.dispatch_penalty * excess * kwh)
    return energy_cost, degradation, shortfall_cost, dispatch_cost, shortfall


def _traded_value(arrays: InstanceArrays, power: FloatArray) -> float:
    kwh = arrays.slot_hours / 1000.0
    charged = np.maximum(power, 0.0).sum(axis=0) * kwh
    discharged = np.maximum(-power, 0.0).sum(axis=0) * kwh
    return float(
        charged @ np.abs(arrays.import_price)
        + discharged @ np.abs(arrays.export_price)
        + arrays.degradation_cost * discharged.sum()
    )


def check_schedule(instance: Instance, schedule: Schedule) -> CheckResult:
    """Recompute everything from `power_w` and list every broken hard limit."""
    arrays = to_arrays(instance)
    problems: list[str] = []
    power = power_matrix(instance, schedule, problems)
    count = len(problems)

    def report(found: list[str]) -> None:
        nonlocal count
        count += len(found)
        room = MAX_LISTED_VIOLATIONS - len(problems)
        if room > 0:
            problems.extend(found[:room])

    slots = np.arange(instance.slots)
    present = (slots[None, :] >= arrays.sess_arrival[:, None]) & (
        slots[None, :] < arrays.sess_departure[:, None]
    )
    ids = arrays.session_ids
    absent = np.argwhere(~present & (np.abs(power) > TOLERANCE_W))
    report(
        [f"sessions.{ids[i]} slot {t}: power {power[i, t]:.1f} W while absent" for i, t in absent]
    )
    over = np.argwhere(power > arrays.sess_max_charge[:, None] + TOLERANCE_W)
    report(
        [
            f"sessions.{ids[i]} slot {t}: charge {power[i, t]:.1f} W above max_charge_w"
            for i, t in over
        ]
    )
    under = np.argwhere(-power > arrays.sess_max_discharge[:, None] + TOLERANCE_W)
    report(
        [
            f"sessions.{ids[i]} slot {t}: discharge {-power[i, t]:.1f} W above max_discharge_w"
            for i, t in under
        ]
    )
    energy = stored_energy(arrays, power)
    full = np.argwhere(energy > arrays.sess_battery[:, None] + TOLERANCE_WH)
    report(
        [f"sessions.{ids[i]} boundary {k}: {energy[i, k]:.1f} Wh above battery_wh" for i, k in full]
    )
    empty = np.argwhere(energy < arrays.sess_floor[:, None] - TOLERANCE_WH)
    report([f"sessions.{ids[i]} boundary {k}: {energy[i, k]:.1f} Wh below floor" for i, k in empty])
    loads = node_loads(arrays, power)
    nodes = arrays.node_ids
    hot = np.argwhere(loads > arrays.node_import + TOLERANCE_W)
    report(
        [
            f"nodes.{nodes[n]} slot {t}: net {loads[n, t]:.1f} W above import limit "
            f"{arrays.node_import[n, t]:.1f} W"
            for n, t in hot
        ]
    )
    back = np.argwhere(-loads > arrays.node_export + TOLERANCE_W)
    report(
        [
            f"nodes.{nodes[n]} slot {t}: net {loads[n, t]:.1f} W beyond export limit "
            f"{arrays.node_export[n, t]:.1f} W"
            for n, t in back
        ]
    )

    energy_cost, degradation, shortfall_cost, dispatch_cost, shortfall = _objective_parts(
        arrays, power, energy, loads
    )
    kwh = arrays.slot_hours / 1000.0
    requested = np.maximum(arrays.sess_target - arrays.sess_initial, 0.0)
    roots = np.flatnonzero(arrays.node_parent < 0)
    return CheckResult(
        objective=energy_cost + degradation + shortfall_cost + dispatch_cost,
        energy_cost=energy_cost,
        degradation_cost=degradation,
        shortfall_cost=shortfall_cost,
        dispatch_cost=dispatch_cost,
        requested_wh=float(requested.sum()),
        delivered_wh=float((requested - np.minimum(shortfall, requested)).sum()),
        unmet_wh=float(shortfall.sum()),
        imported_kwh=float(np.maximum(power, 0.0).sum() * kwh),
        exported_kwh=float(np.maximum(-power, 0.0).sum() * kwh),
        traded_value=_traded_value(arrays, power),
        final_wh={ids[i]: float(energy[i, -1]) for i in range(len(ids))},
        shortfall_wh={ids[i]: float(shortfall[i]) for i in range(len(ids))},
        peak_w={
            nodes[n]: (float(loads[n].max(initial=0.0)), float(arrays.node_import[n].min()))
            for n in roots
        },
        violation_count=count,
        violations=tuple(problems),
    )
