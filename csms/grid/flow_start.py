"""The kernel's start allocation: a maximum flow of energy to sessions, class by class.

Where capacity is short, who is served matters a thousand times more than when: the
shortfall penalty is ~100 per kWh, energy costs ~0.1-0.4. Delivering energy through the
grid tree is a network flow (source -> session -> (node, slot) -> parent node ... ->
sink, with session power bounds and node import limits as capacities), and the sets of
deliverable energies form a polymatroid, so serving priority classes one after the other,
each to its maximum flow, is optimal for the shortfall part of the objective. A class's
flow may move energy of classes already served to other slots (an augmenting path runs
backwards through their power) but never lowers what they receive. Within a class the
most efficient cars are served first (the penalty counts stored energy).

Each class runs three stages: within dispatch targets, then up to the hard limits (so a
target is exceeded only for energy that cannot go elsewhere), then with bidirectional
cars as storage: a car discharges in a full slot to make room and charges the stored
energy back in another, paying the round trip's losses. Such a path carries more power
at its far end than at its start (its `scale` grows by 1/efficiency^2).

Then dispatch relief: from every (node, slot) whose load exceeds a dispatch target, a
flow lowers that load by moving energy to other slots, or through cars as storage, within
every target elsewhere; a path may close its cycle at an ancestor of that node in the same
slot. A target is worth ~10 per kWh, far above any price difference or round-trip loss.

Maximum flow is Dinic's: breadth-first levels from every session of the class that still
needs energy, then a blocking flow by depth-first search with a current-arc pointer per
vertex. The graph is implicit: residual capacities are read from power and loads, which
every augmentation updates arc by arc, so a node's load always equals the power of the
sessions below it and no hard limit is ever crossed.

Vertices: session i is i; unfolded node c (compact index) in slot t is m + c * slots + t;
the sink is -1. Nodes whose subtree holds a single session (an EVSE) are folded into that
session's arcs, unless they carry a dispatch target. A node-slot's arcs, in order: up
(to its parent, or the sink from a top-level node), down to each unfolded child (lowering
that child's load), then to each session attached to the node and present in the slot
(lowering its power). A session's arcs are its present slots, earliest first: the moves
afterwards shift energy to cheaper slots, and a car that charged early can still
discharge for a dispatch target later (cheapest-first left bidirectional cars empty at
the evening peak: up to 3% worse). A session that a path entered by lowering its power
has one more arc, to the sink: it gives up energy it would depart with above its target
(a car with surplus discharges where a closed node lets another car charge only from it;
without it, 20% gaps on random trees with per-slot limits at zero).

numba caches each module's functions on their own file: after editing this module, clear
the cache (`__pycache__/*.nbi`, `*.nbc`) so kernel.py's compiled callers pick it up
(an installed release replaces both files, which invalidates both).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from csms.grid.instance import FloatArray, IntArray
from csms.grid.kernel_layout import (
    ARR,
    CAP,
    DCAP,
    DEP,
    EFF,
    EXP,
    FLOOR,
    IMP,
    INIT,
    MAXC,
    MAXD,
    TARGET,
    WORTH,
    shift_power,
)

FLOW_EPS_W = 1e-3
"""Residual capacities below this (W) count as none."""
MIN_WH = 1e-3
"""A session less than this short of its target (Wh) needs nothing more."""
MAX_PHASES = 64
"""Bound on the phases of one maximum flow (later phases find ever longer, thinner paths)."""
SOFT, HARD, STORAGE = 1, 0, 2
"""Stages: within dispatch targets; up to import limits; with bidirectional cars as storage."""
STAGES = np.array([SOFT, HARD, STORAGE], dtype=np.int64)

_SINK = -1
_NO_ARC = -2
_SENT = -1
_ROOT = -2
_DEAD = -3


class FlowGraph(NamedTuple):
    """The compressed flow graph of an instance (see the module docstring)."""

    fold: IntArray  # [session] path levels folded into the session's arcs
    attach: IntArray  # [session] compact id of the node it attaches to
    unode: IntArray  # [c] node index of unfolded node c
    uparent: IntArray  # [c] compact parent, -1 at the top
    uroot: IntArray  # [c] compact id of its top-level ancestor
    kid_first: IntArray  # [c + 1] unfolded children: kid_list[kid_first[c]:kid_first[c+1]]
    kid_list: IntArray  # compact ids
    present_first: IntArray  # [c * slots + t + 1] sessions attached at c present in t
    present_list: IntArray
    slot_order: IntArray  # the order a session's arcs are tried in: earliest first


class FlowWork(NamedTuple):
    """Scratch of the flow, allocated once per solve: groups touch disjoint sessions and
    nodes. Levels are -1 and arcs 0 between uses."""

    remaining: FloatArray  # [session] stored Wh still wanted
    level_s: IntArray  # [session]
    arc_s: IntArray  # [session]
    level_n: IntArray  # [compact node, slot]
    arc_n: IntArray  # [compact node, slot]


def flow_work(sessions: int, graph: FlowGraph, slots: int) -> FlowWork:
    units = len(graph.unode)
    return FlowWork(
        np.zeros(sessions),
        np.full(sessions, -1, dtype=np.int64),
        np.zeros(sessions, dtype=np.int64),
        np.full((units, slots), -1, dtype=np.int64),
        np.zeros((units, slots), dtype=np.int64),
    )


class FlowState(NamedTuple):
    """The arrays a flow reads and changes."""

    power: FloatArray
    loads: FloatArray
    limits: FloatArray
    sess: FloatArray
    paths: IntArray
    hours: float


def flow_graph(
    node_parent: IntArray,
    paths: IntArray,
    sess_arrival: IntArray,
    sess_departure: IntArray,
    slots: int,
    dispatched: IntArray,
) -> FlowGraph:
    """Build the compressed graph; nodes are in topological order, paths as session_paths.
    Nodes with a dispatch target (`dispatched`, node indices) are never folded: relief
    starts from them."""
    n, m = len(node_parent), paths.shape[0]
    on_path = paths[paths >= 0]
    subtree_sessions = np.bincount(on_path, minlength=n)
    safe = np.maximum(paths, 0)
    kept = np.zeros(n, dtype=np.bool_)
    kept[dispatched] = True
    single = (paths >= 0) & (subtree_sessions[safe] == 1) & (node_parent[safe] >= 0) & ~kept[safe]
    # A top-level node is never folded, so every row has a False.
    fold = np.argmin(single, axis=1).astype(np.int64) if m else np.zeros(0, dtype=np.int64)
    attach = paths[np.arange(m), fold]
    # A session's attach node and every ancestor of it are vertices.
    levels = np.arange(paths.shape[1])
    unfolded = np.zeros(n, dtype=np.bool_)
    unfolded[paths[(levels[None, :] >= fold[:, None]) & (paths >= 0)]] = True
    unode = np.flatnonzero(unfolded).astype(np.int64)
    ucid = np.full(n, -1, dtype=np.int64)
    ucid[unode] = np.arange(len(unode))
    parents = node_parent[unode]
    uparent = np.where(parents >= 0, ucid[np.maximum(parents, 0)], -1).astype(np.int64)
    uroot = np.arange(len(unode), dtype=np.int64)
    for c in range(len(unode)):  # parents come first
        if uparent[c] >= 0:
            uroot[c] = uroot[uparent[c]]
    kids = np.flatnonzero(uparent >= 0)
    kid_list = kids[np.argsort(uparent[kids], kind="stable")].astype(np.int64)
    kid_first = np.searchsorted(uparent[kid_list], np.arange(len(unode) + 1)).astype(np.int64)
    present_first, present_list = _present_lists(
        ucid[attach],
        sess_arrival.astype(np.int64),
        sess_departure.astype(np.int64),
        len(unode),
        slots,
    )
    slot_order = np.arange(slots, dtype=np.int64)
    return FlowGraph(
        fold,
        ucid[attach],
        unode,
        uparent,
        uroot,
        kid_first,
        kid_list,
        present_first,
        present_list,
        slot_order,
    )


@njit(cache=True, nogil=True)
def _present_lists(
    cid: IntArray, arrival: IntArray, departure: IntArray, units: int, slots: int
) -> tuple[IntArray, IntArray]:
    """Sessions by (attach node, present slot), a counting sort."""
    first = np.zeros(units * slots + 1, dtype=np.int64)
    for i in range(len(cid)):
        for t in range(arrival[i], departure[i]):
            first[cid[i] * slots + t + 1] += 1
    for k in range(units * slots):
        first[k + 1] += first[k]
    fill = first[:-1].copy()
    listed = np.empty(first[-1], dtype=np.int64)
    for i in range(len(cid)):
        for t in range(arrival[i], departure[i]):
            key = cid[i] * slots + t
            listed[fill[key]] = i
            fill[key] += 1
    return first, listed


@njit(cache=True, nogil=True, inline="always")
def _room(n: int, t: int, st: FlowState, soft: bool) -> float:
    """Room below node n's import limit (or dispatch cap, when soft) in slot t."""
    limit = st.limits[IMP, n, t]
    if soft:
        limit = min(limit, st.limits[DCAP, n, t])
    return limit - st.loads[n, t]


@njit(cache=True, nogil=True, inline="always")
def _down_room(n: int, t: int, st: FlowState, storage: bool) -> float:
    """Room to lower node n's load in slot t: to zero, or (storage) to its export limit."""
    return st.loads[n, t] + (st.limits[EXP, n, t] if storage else 0.0)


@njit(cache=True, nogil=True, inline="always")
def _raise_room(i: int, t: int, st: FlowState, fold: IntArray, soft: bool) -> float:
    """Room to raise session i's power in slot t without crossing zero."""
    if not st.sess[i, ARR] <= t < st.sess[i, DEP]:
        return 0.0
    p = st.power[i, t]
    room = -p if p < 0.0 else st.sess[i, MAXC] - p
    for level in range(fold[i]):
        room = min(room, _room(st.paths[i, level], t, st, soft))
    return room


@njit(cache=True, nogil=True, inline="always")
def _lower_room(i: int, t: int, st: FlowState, fold: IntArray, storage: bool) -> float:
    """Room to lower session i's power in slot t without crossing zero: what it charges,
    or (storage, a bidirectional car) more discharge."""
    sess = st.sess
    if not sess[i, ARR] <= t < sess[i, DEP]:
        return 0.0
    p = st.power[i, t]
    if p > 0.0:
        return p
    if not storage or sess[i, MAXD] <= 0.0:
        return 0.0
    # Its battery is checked where the path leaves it: between the two slots it moves.
    room = sess[i, MAXD] + p
    for level in range(fold[i]):
        room = min(room, _down_room(st.paths[i, level], t, st, True))
    return room


@njit(cache=True, nogil=True, inline="always")
def _stored_per_w(i: int, t: int, st: FlowState, rising: bool) -> float:
    """Stored Wh per Wh of a change in slot t: charging stores eff, discharging costs
    1/eff; a change stays on its side of zero."""
    p = st.power[i, t]
    charging = p >= 0.0 if rising else p > 0.0
    return st.sess[i, EFF] if charging else 1.0 / st.sess[i, EFF]


@njit(cache=True, nogil=True, inline="always")
def _battery_room(i: int, lowered: int, raised: int, st: FlowState) -> float:
    """Stored Wh session i can take out of slot `lowered` (-1: nowhere, the departure
    energy grows) and put into slot `raised`, within its floor and capacity at every
    boundary in between; unbounded for a car that only charges (it never dips)."""
    if st.sess[i, MAXD] <= 0.0:
        return np.inf
    return _bidirectional_battery_room(i, lowered, raised, st)


@njit(cache=True, nogil=True)
def _bidirectional_battery_room(i: int, lowered: int, raised: int, st: FlowState) -> float:
    sess = st.sess
    eff = sess[i, EFF]
    stored = sess[i, INIT]
    room = np.inf
    for t in range(int(sess[i, ARR]), int(sess[i, DEP])):
        p = st.power[i, t]
        stored += (p * eff if p >= 0.0 else p / eff) * st.hours
        if lowered < 0 or raised < lowered:
            if t >= raised and (lowered < 0 or t < lowered):
                room = min(room, sess[i, CAP] - stored)
        elif lowered <= t < raised:
            room = min(room, stored - sess[i, FLOOR])
    return max(room, 0.0)


@njit(cache=True, nogil=True)
def _surplus_room(i: int, entry: int, st: FlowState) -> float:
    """Stored Wh session i can give up from what it departs with above its target, by
    lowering its power in slot `entry`, within its floor at every later boundary."""
    sess = st.sess
    # Paths keep what a session stores and sources get no more than their target, so
    # only a session that arrived above its target departs above it during the flow.
    if sess[i, INIT] <= sess[i, TARGET]:
        return 0.0
    eff = sess[i, EFF]
    stored = sess[i, INIT]
    room = np.inf
    for t in range(int(sess[i, ARR]), int(sess[i, DEP])):
        p = st.power[i, t]
        stored += (p * eff if p >= 0.0 else p / eff) * st.hours
        if t >= entry:
            room = min(room, stored - sess[i, FLOOR])
    return max(min(room, stored - sess[i, TARGET]), 0.0)


@njit(cache=True, nogil=True)
def _change(i: int, t: int, delta: float, st: FlowState, fold: IntArray) -> None:
    """Change session i's power in slot t, and its folded nodes' loads with it."""
    shift_power(i, t, delta, st.power, st.loads, st.paths, fold[i])


@njit(cache=True, nogil=True, inline="always")
def _wants(i: int, remaining: FloatArray, st: FlowState) -> bool:
    """Whether session i still needs more than a path could carry at the least (a residue
    that no arc can carry would end every phase it takes part in)."""
    eff = st.sess[i, EFF]
    return remaining[i] > max(MIN_WH, FLOW_EPS_W * st.hours * max(eff, 1.0 / eff))


@njit(cache=True, nogil=True, inline="always")
def _closes(c: int, t: int, start: int, m: int, slots: int, g: FlowGraph) -> bool:
    """Whether node c in slot t is a strict ancestor of the node-slot `start` whose load
    falls: a path reaching it closes a cycle (c's load is unchanged) and ends there."""
    if start < m or (start - m) % slots != t:
        return False
    a = g.uparent[(start - m) // slots]
    while a >= 0:
        if a == c:
            return True
        a = g.uparent[a]
    return False


@njit(cache=True, nogil=True)
def _levels(
    sources: IntArray,
    remaining: FloatArray,
    start: int,
    queue: IntArray,
    entries: IntArray,
    level_s: IntArray,
    level_n: IntArray,
    st: FlowState,
    g: FlowGraph,
    soft: bool,
    storage: bool,
) -> tuple[int, int]:
    """Breadth-first levels from the sources, or from node-slot vertex `start` (>= 0) whose
    load is to fall; returns (sink level or -1, vertices queued).

    A session's battery limits depend on the slot a path enters it by; the levels use the
    first such slot (entries), the depth-first search checks the one it takes."""
    m, slots = st.power.shape
    tail = 0
    if start >= 0:
        level_n[(start - m) // slots, (start - m) % slots] = 0
        queue[0] = start
        entries[0] = -1
        tail = 1
    for i in sources[: len(sources) if start < 0 else 0]:
        if _wants(i, remaining, st):
            level_s[i] = 0
            queue[tail] = i
            entries[tail] = -1
            tail += 1
    head = 0
    sink_level = -1
    while head < tail:
        v = queue[head]
        entry = entries[head]
        head += 1
        if v < m:
            d = level_s[v]
            if sink_level >= 0 and d + 1 >= sink_level:
                break
            c = g.attach[v]
            for t in range(int(st.sess[v, ARR]), int(st.sess[v, DEP])):
                if (
                    level_n[c, t] < 0
                    and _raise_room(v, t, st, g.fold, soft) > FLOW_EPS_W
                    and _battery_room(v, entry, t, st) > FLOW_EPS_W * st.hours
                ):
                    level_n[c, t] = d + 1
                    queue[tail] = m + c * slots + t
                    tail += 1
            if (
                entry >= 0
                and sink_level < 0
                and _surplus_room(v, entry, st) > FLOW_EPS_W * st.hours
            ):
                sink_level = d + 1
            continue
        c, t = (v - m) // slots, (v - m) % slots
        d = level_n[c, t]
        if sink_level >= 0 and d + 1 >= sink_level:
            break
        n = g.unode[c]
        if v != start and _closes(c, t, start, m, slots, g):
            sink_level = d + 1
        elif v != start and _room(n, t, st, soft) > FLOW_EPS_W:
            parent = g.uparent[c]
            if parent < 0:
                sink_level = d + 1
            elif level_n[parent, t] < 0:
                level_n[parent, t] = d + 1
                queue[tail] = m + parent * slots + t
                tail += 1
        for k in range(g.kid_first[c], g.kid_first[c + 1]):
            kid = g.kid_list[k]
            if level_n[kid, t] < 0 and _down_room(g.unode[kid], t, st, storage) > FLOW_EPS_W:
                level_n[kid, t] = d + 1
                queue[tail] = m + kid * slots + t
                tail += 1
        key = c * slots + t
        for k in range(g.present_first[key], g.present_first[key + 1]):
            i = g.present_list[k]
            if level_s[i] < 0 and _lower_room(i, t, st, g.fold, storage) > FLOW_EPS_W:
                level_s[i] = d + 1
                queue[tail] = i
                entries[tail] = t
                tail += 1
    return sink_level, tail


@njit(cache=True, nogil=True)
def _next_arc(
    v: int,
    entry: int,
    start: int,
    level_s: IntArray,
    level_n: IntArray,
    arc_s: IntArray,
    arc_n: IntArray,
    sink_level: int,
    st: FlowState,
    g: FlowGraph,
    soft: bool,
    storage: bool,
) -> int:
    """The first admissible arc of v from its current arc on: a vertex, the sink or _NO_ARC.

    entry: the slot session vertex v was entered by (-1 for the source)."""
    m, slots = st.power.shape
    if v < m:
        want = level_s[v] + 1
        c = g.attach[v]
        while arc_s[v] < slots:
            t = g.slot_order[arc_s[v]]
            if (
                level_n[c, t] == want
                and _raise_room(v, t, st, g.fold, soft) > FLOW_EPS_W
                and _battery_room(v, entry, t, st) > FLOW_EPS_W * st.hours
            ):
                return m + c * slots + t
            arc_s[v] += 1
        if arc_s[v] == slots:
            # Past its slots: a session entered by lowering gives up surplus energy.
            if (
                entry >= 0
                and want == sink_level
                and _surplus_room(v, entry, st) > FLOW_EPS_W * st.hours
            ):
                return _SINK
            arc_s[v] += 1
        return _NO_ARC
    c, t = (v - m) // slots, (v - m) % slots
    want = level_n[c, t] + 1
    kids = g.kid_first[c + 1] - g.kid_first[c]
    key = c * slots + t
    last = kids + g.present_first[key + 1] - g.present_first[key]
    while arc_n[c, t] <= last:
        k = arc_n[c, t]
        if k == 0:
            if v != start and _closes(c, t, start, m, slots, g):
                if want == sink_level:
                    return _SINK
            elif v != start and _room(g.unode[c], t, st, soft) > FLOW_EPS_W:
                parent = g.uparent[c]
                if parent < 0:
                    if want == sink_level:
                        return _SINK
                elif level_n[parent, t] == want:
                    return m + parent * slots + t
        elif k <= kids:
            kid = g.kid_list[g.kid_first[c] + k - 1]
            if level_n[kid, t] == want and _down_room(g.unode[kid], t, st, storage) > FLOW_EPS_W:
                return m + kid * slots + t
        else:
            i = g.present_list[g.present_first[key] + k - 1 - kids]
            if level_s[i] == want and _lower_room(i, t, st, g.fold, storage) > FLOW_EPS_W:
                return i
        arc_n[c, t] += 1
    return _NO_ARC


@njit(cache=True, nogil=True)
def _augment_path(
    stack: IntArray,
    top: int,
    scale: FloatArray,
    remaining: FloatArray,
    budget: FloatArray,
    st: FlowState,
    g: FlowGraph,
    soft: bool,
    storage: bool,
) -> int:
    """Send the most the path stack[0..top] -> sink carries. Returns _SENT, or when it
    carries nothing what bound it: _ROOT (the source's need or the relief budget) or k,
    the arc out of stack[k].

    Amounts are W at the path's first arc; arc k carries that times scale[k], which grows
    where a car discharges to make room and charges the stored energy back elsewhere."""
    m, slots = st.power.shape
    hours = st.hours
    s = stack[0]
    scale[0] = 1.0
    binding = _ROOT
    if s < m:
        t0 = (stack[1] - m) % slots
        per_w = _stored_per_w(s, t0, st, True) * hours
        amount = remaining[s] / per_w
        bound = min(_raise_room(s, t0, st, g.fold, soft), _battery_room(s, -1, t0, st) / per_w)
        if bound < amount:
            amount, binding = bound, 0
        first = 1
    else:
        # A node-slot whose load falls: it and its ancestors lose the amount.
        t0 = (s - m) % slots
        per_w = 0.0
        amount = budget[0]
        c = (s - m) // slots
        while c >= 0:
            amount = min(amount, _down_room(g.unode[c], t0, st, storage))
            c = g.uparent[c]
        first = 0
    factor = 1.0
    taken = 1.0  # stored Wh per path W taken out of the session being passed through
    for k in range(first, top + 1):
        v = stack[k]
        w = stack[k + 1] if k < top else _SINK
        if v < m:
            entry = (stack[k - 1] - m) % slots
            if w == _SINK:
                bound = _surplus_room(v, entry, st) / (taken * hours)
            else:
                t = (w - m) % slots
                factor = taken / _stored_per_w(v, t, st, True)
                bound = min(
                    _raise_room(v, t, st, g.fold, soft) / factor,
                    _battery_room(v, entry, t, st) / (taken * hours),
                )
        else:
            c, t = (v - m) // slots, (v - m) % slots
            if w == _SINK and _closes(c, t, s, m, slots, g):
                # Node c gains what arrives and loses what the start gave up: with gains on
                # the way those differ, and c and its ancestors take the difference.
                bound = np.inf
                a = c
                while a >= 0:
                    if factor > 1.0:
                        bound = min(bound, _room(g.unode[a], t, st, soft) / (factor - 1.0))
                    elif factor < 1.0:
                        bound = min(bound, _down_room(g.unode[a], t, st, storage) / (1.0 - factor))
                    a = g.uparent[a]
            elif w == _SINK or (w >= m and (w - m) // slots == g.uparent[c]):
                bound = _room(g.unode[c], t, st, soft) / factor
            elif w >= m:
                bound = _down_room(g.unode[(w - m) // slots], t, st, storage) / factor
            else:
                bound = _lower_room(w, t, st, g.fold, storage) / factor
                taken = factor * _stored_per_w(w, t, st, False)
        if bound < amount:
            amount, binding = bound, k
        scale[k] = factor
    if amount <= FLOW_EPS_W:
        return binding
    end = -1
    for k in range(top + 1):
        v = stack[k]
        w = stack[k + 1] if k < top else _SINK
        step = amount * scale[k]
        if v < m:
            if w != _SINK:
                _change(v, (w - m) % slots, step, st, g.fold)
            continue
        c, t = (v - m) // slots, (v - m) % slots
        if w == _SINK and _closes(c, t, s, m, slots, g):
            end = c  # the cycle closes here: c and its ancestors change by the difference
            a = c
            while a >= 0:
                st.loads[g.unode[a], t] += step - amount
                a = g.uparent[a]
        elif w == _SINK or (w >= m and (w - m) // slots == g.uparent[c]):
            st.loads[g.unode[c], t] += step
        elif w >= m:
            st.loads[g.unode[(w - m) // slots], t] -= step
        else:
            _change(w, t, -step, st, g.fold)
    if s < m:
        remaining[s] -= amount * per_w
    else:
        budget[0] -= amount
        c = (s - m) // slots
        while c >= 0 and c != end:
            st.loads[g.unode[c], t0] -= amount
            c = g.uparent[c]
    return _SENT


@njit(cache=True, nogil=True)
def _max_flow(
    sources: IntArray,
    work: FlowWork,
    size: int,
    st: FlowState,
    g: FlowGraph,
    soft: bool,
    storage: bool,
    start: int,
    budget: FloatArray,
) -> int:
    """Serve `sources` (each up to `remaining` stored Wh) to a maximum flow, or lower the
    load of node-slot vertex `start` by up to budget[0] W; return the phases run. Levels
    are -1 and arcs 0 on entry, and are left so."""
    m, slots = st.power.shape
    remaining, level_s, arc_s, level_n, arc_n = work
    queue = np.empty(size, dtype=np.int64)
    entries = np.empty(size, dtype=np.int64)
    stack = np.empty(size, dtype=np.int64)
    scale = np.empty(size)
    lowered = budget
    roots = sources if start < 0 else np.full(1, start, dtype=np.int64)
    phases = 0
    while phases < MAX_PHASES:
        sink_level, queued = _levels(
            sources, remaining, start, queue, entries, level_s, level_n, st, g, soft, storage
        )
        sent = 0
        if sink_level >= 0:
            phases += 1
            for s in roots:
                if (level_s[s] if s < m else level_n[(s - m) // slots, (s - m) % slots]) != 0:
                    continue
                top = 0
                stack[0] = s
                while top >= 0 and (_wants(s, remaining, st) if s < m else lowered[0] > FLOW_EPS_W):
                    v = stack[top]
                    entry = (stack[top - 1] - m) % slots if top > 0 else -1
                    w = _next_arc(
                        v,
                        entry,
                        start,
                        level_s,
                        level_n,
                        arc_s,
                        arc_n,
                        sink_level,
                        st,
                        g,
                        soft,
                        storage,
                    )
                    if w == _NO_ARC:
                        # Dead end: nothing more passes through v in this phase.
                        if v < m:
                            level_s[v] = _DEAD
                        else:
                            level_n[(v - m) // slots, (v - m) % slots] = _DEAD
                        top -= 1
                    elif w != _SINK:
                        top += 1
                        stack[top] = w
                    else:
                        bound = _augment_path(
                            stack, top, scale, remaining, lowered, st, g, soft, storage
                        )
                        if bound == _SENT:
                            sent += 1
                            top = 0
                        elif bound == _ROOT:
                            break  # too little left to send from this root
                        else:
                            # An arc the levels could not see was full (a battery bound,
                            # a residue): try the next arc of its tail.
                            u = stack[bound]
                            if u < m:
                                arc_s[u] += 1
                            else:
                                arc_n[(u - m) // slots, (u - m) % slots] += 1
                            top = bound
        for k in range(queued):
            v = queue[k]
            if v < m:
                level_s[v] = -1
                arc_s[v] = 0
            else:
                level_n[(v - m) // slots, (v - m) % slots] = -1
                arc_n[(v - m) // slots, (v - m) % slots] = 0
        if sent == 0:
            break
    return phases


@njit(cache=True, nogil=True)
def _direct_fill(
    sources: IntArray, remaining: FloatArray, st: FlowState, g: FlowGraph, soft: bool
) -> None:
    """The paths of one hop, without levels: each source takes the room its own path
    has, earliest slots first (what the first phase would find, at a fraction of it)."""
    slots = st.power.shape[1]
    for s in sources:
        if not _wants(s, remaining, st):
            continue
        start, end = st.sess[s, ARR], st.sess[s, DEP]
        for k in range(slots):
            t = g.slot_order[k]
            if not start <= t < end:
                continue
            per_w = _stored_per_w(s, t, st, True) * st.hours
            amount = min(
                remaining[s] / per_w,
                _raise_room(s, t, st, g.fold, soft),
                _battery_room(s, -1, t, st) / per_w,
            )
            c = g.attach[s]
            while c >= 0 and amount > FLOW_EPS_W:
                amount = min(amount, _room(g.unode[c], t, st, soft))
                c = g.uparent[c]
            if amount <= FLOW_EPS_W:
                continue
            _change(s, t, amount, st, g.fold)
            c = g.attach[s]
            while c >= 0:
                st.loads[g.unode[c], t] += amount
                c = g.uparent[c]
            remaining[s] -= amount * per_w
            if not _wants(s, remaining, st):
                break


@njit(cache=True, nogil=True)
def flow_start(
    group: IntArray,
    st: FlowState,
    g: FlowGraph,
    work: FlowWork,
    stages: IntArray,
    relieve: bool,
) -> int:
    """Serve the group's sessions class by class (equal worth, contiguous in the group's
    service order) to a maximum flow in each stage, then (relieve) lower loads above
    dispatch targets; return the phases run."""
    slots = st.power.shape[1]
    sess = st.sess
    remaining = work.remaining
    for i in group:
        stored = sess[i, INIT]
        for t in range(int(sess[i, ARR]), int(sess[i, DEP])):
            p = st.power[i, t]
            stored += (p * sess[i, EFF] if p >= 0.0 else p / sess[i, EFF]) * st.hours
        remaining[i] = max(min(sess[i, TARGET], sess[i, CAP]) - stored, 0.0)
    # The group's unfolded nodes: a contiguous run of compact ids from its root.
    root = g.uroot[g.attach[group[0]]]
    root_end = root + 1
    while root_end < len(g.unode) and g.uroot[root_end] == root:
        root_end += 1
    size = len(group) + (root_end - root) * slots + 1
    budget = np.zeros(1)
    phases = 0
    first = 0
    while first < len(group):
        last = first + 1
        while last < len(group) and sess[group[last], WORTH] == sess[group[first], WORTH]:
            last += 1
        sources = group[first:last]
        sources = sources[np.argsort(-sess[sources, EFF], kind="mergesort")]
        for stage in stages:
            if stage != STORAGE:
                _direct_fill(sources, remaining, st, g, stage == SOFT)
            phases += _max_flow(
                sources,
                work,
                size,
                st,
                g,
                stage == SOFT,
                stage == STORAGE,
                -1,
                budget,
            )
        first = last
    if relieve:
        units = np.arange(root, root_end)
        phases += _relieve_dispatch(group, work, size, units, st, g)
    return phases


@njit(cache=True, nogil=True)
def _relieve_dispatch(
    group: IntArray, work: FlowWork, size: int, units: IntArray, st: FlowState, g: FlowGraph
) -> int:
    """Lower every load above a dispatch target by moving energy to slots (or through cars
    as storage) within every target and limit: a target is worth ~10 per kWh, far above
    any price difference or round-trip loss. Returns the phases run."""
    m, slots = st.power.shape
    budget = np.zeros(1)
    phases = 0
    for c in units:
        n = g.unode[c]
        for t in range(slots):
            if st.limits[DCAP, n, t] == np.inf:
                continue
            budget[0] = st.loads[n, t] - st.limits[DCAP, n, t]
            if budget[0] > FLOW_EPS_W:
                phases += _max_flow(
                    group,
                    work,
                    size,
                    st,
                    g,
                    True,
                    True,
                    m + c * slots + t,
                    budget,
                )
    return phases
