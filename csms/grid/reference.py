"""The planning problem as a linear program solved by HiGHS: the reference optimum.

Per session and present slot: charge c and discharge d (grid side, W) and the stored
energy after the slot; per session a shortfall; per dispatch target and slot an excess.
Node limits are rows over the sessions below each node. Minimises the format's objective.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from csms.grid.check import check_schedule
from csms.grid.instance import Instance, Schedule, session_paths, to_arrays

TIE_BREAK_PER_KWH = 1e-5
"""Cost added to each kWh charged or discharged (see solve_lp), far below any price step."""


TOLERANCES = {"dual_feasibility_tolerance": 1e-10, "ipm_optimality_tolerance": 1e-10}
"""HiGHS's defaults (1e-7) are absolute on cost coefficients, and a Wh at 5-minute slots
costs ~5e-6: with them the optimum was off by up to 0.03% of small objectives."""


class ReferenceError(RuntimeError):
    """HiGHS did not return an optimal solution."""


def solve_lp(instance: Instance, *, method: str = "highs-ipm") -> Schedule:
    """Solve the instance exactly (to HiGHS tolerances) and return its schedule."""
    arrays = to_arrays(instance)
    started = time.perf_counter()
    m, slots = len(arrays.session_ids), instance.slots
    hours = arrays.slot_hours
    kwh = hours / 1000.0
    lengths = arrays.sess_departure - arrays.sess_arrival
    pairs = int(lengths.sum())
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    pair_session = np.repeat(np.arange(m), lengths)
    pair_slot = arrays.sess_arrival[pair_session] + (np.arange(pairs) - offsets[pair_session])
    first_pair = offsets
    last_pair = offsets + lengths - 1
    targets = len(arrays.disp_node)
    dispatch_slots = arrays.disp_to - arrays.disp_from
    excess_count = int(dispatch_slots.sum())

    # Variable blocks: c[pairs], d[pairs], e[pairs], shortfall[m], excess[excess_count].
    c0, d0, e0, s0, u0 = 0, pairs, 2 * pairs, 3 * pairs, 3 * pairs + m
    n_vars = u0 + excess_count
    cost = np.zeros(n_vars)
    # Charging and discharging one car in one slot never pays (the format requires
    # export <= import + degradation), but where it costs nothing (a tie, energy above
    # target) the solver may do both and burn energy, which one net power per slot cannot
    # express: a tiny cost per kWh on either breaks the tie. The reported objective is
    # recomputed from the net power, without it.
    cost[c0:d0] = (arrays.import_price[pair_slot] + TIE_BREAK_PER_KWH) * kwh
    cost[d0:e0] = (
        arrays.degradation_cost - arrays.export_price[pair_slot] + TIE_BREAK_PER_KWH
    ) * kwh
    cost[s0:u0] = arrays.shortfall_penalty * (1.0 + arrays.sess_priority) / 1000.0
    cost[u0:] = arrays.dispatch_penalty * kwh
    lower = np.zeros(n_vars)
    upper = np.full(n_vars, np.inf)
    upper[c0:d0] = arrays.sess_max_charge[pair_session]
    upper[d0:e0] = arrays.sess_max_discharge[pair_session]
    lower[e0:s0] = arrays.sess_floor[pair_session]
    upper[e0:s0] = arrays.sess_battery[pair_session]

    # Energy balance: e_k - e_{k-1} - h*eff*c_k + h/eff*d_k = 0 (e_{-1} = initial).
    eff = arrays.sess_efficiency[pair_session]
    rows = np.arange(pairs)
    not_first = np.ones(pairs, dtype=bool)
    not_first[first_pair] = False
    eq_rows = np.concatenate([rows, rows, rows, rows[not_first]])
    eq_cols = np.concatenate([e0 + rows, c0 + rows, d0 + rows, e0 + rows[not_first] - 1])
    eq_vals = np.concatenate(
        [np.ones(pairs), -hours * eff, hours / eff, -np.ones(int(not_first.sum()))]
    )
    eq_rhs = np.zeros(pairs)
    eq_rhs[first_pair] = arrays.sess_initial
    a_eq = sp.csr_matrix((eq_vals, (eq_rows, eq_cols)), shape=(pairs, n_vars))

    # Node rows: net power of the sessions below each node, per slot, within its limits.
    paths = session_paths(arrays)
    pair_paths = paths[pair_session]
    level_rows: list[np.ndarray] = []
    level_pairs: list[np.ndarray] = []
    for level in range(paths.shape[1]):
        live = np.flatnonzero(pair_paths[:, level] >= 0)
        level_rows.append(pair_paths[live, level] * slots + pair_slot[live])
        level_pairs.append(live)
    keys = np.concatenate(level_rows)
    members = np.concatenate(level_pairs)
    unique_keys, node_row = np.unique(keys, return_inverse=True)
    n_node_rows = len(unique_keys)
    key_node, key_slot = unique_keys // slots, unique_keys % slots

    # Shortfall: final energy + shortfall >= target, written as -e_last - s <= -target.
    # Dispatch: node net - excess <= max_net_w.
    ub_rows = [node_row, node_row, n_node_rows + np.arange(m), n_node_rows + np.arange(m)]
    ub_cols = [c0 + members, d0 + members, e0 + last_pair, s0 + np.arange(m)]
    ub_vals = [np.ones(len(members)), -np.ones(len(members)), -np.ones(m), -np.ones(m)]
    row_upper = [arrays.node_import[key_node, key_slot], -arrays.sess_target]
    row_lower = [-arrays.node_export[key_node, key_slot], np.full(m, -np.inf)]
    next_row = n_node_rows + m
    excess = u0
    for k in range(targets):
        node, start, stop = arrays.disp_node[k], arrays.disp_from[k], arrays.disp_to[k]
        below = np.flatnonzero(
            (pair_paths == node).any(axis=1) & (pair_slot >= start) & (pair_slot < stop)
        )
        row = next_row + (pair_slot[below] - start)
        window = np.arange(stop - start)
        ub_rows += [row, row, next_row + window]
        ub_cols += [c0 + below, d0 + below, excess + window]
        ub_vals += [np.ones(len(below)), -np.ones(len(below)), -np.ones(len(window))]
        row_upper.append(np.full(len(window), arrays.disp_max[k]))
        row_lower.append(np.full(len(window), -np.inf))
        next_row += len(window)
        excess += len(window)
    a_ub_full = sp.csr_matrix(
        (np.concatenate(ub_vals), (np.concatenate(ub_rows), np.concatenate(ub_cols))),
        shape=(next_row, n_vars),
    )
    hi = np.concatenate(row_upper)
    lo = np.concatenate(row_lower)
    # linprog takes only A x <= b: two-sided node rows appear twice, once negated.
    two_sided = np.flatnonzero(np.isfinite(lo))
    a_ub = sp.vstack([a_ub_full, -a_ub_full[two_sided]], format="csr")
    b_ub = np.concatenate([hi, -lo[two_sided]])
    result = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=eq_rhs,
        bounds=np.column_stack([lower, upper]),
        method=method,
        options=TOLERANCES,
    )
    if result.status != 0:
        raise ReferenceError(f"HiGHS: {result.message}")
    x = result.x
    power = np.zeros((m, slots))
    power[pair_session, pair_slot] = x[c0:d0] - x[d0:e0]
    elapsed = time.perf_counter() - started
    schedule = Schedule(
        solver="lp",
        power_w={sid: power[i].tolist() for i, sid in enumerate(arrays.session_ids)},
        objective=float(result.fun),
        violations=0,
        solve_seconds=elapsed,
    )
    checked = check_schedule(instance, schedule)
    return Schedule(
        solver="lp",
        power_w=schedule.power_w,
        objective=checked.objective,
        violations=checked.violation_count,
        solve_seconds=elapsed,
    )
