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

Maximum flow is Dinic's: breadth-first levels from every session of the class that still
needs energy, then a blocking flow by depth-first search with a current-arc pointer per
vertex. The graph is implicit: residual capacities are read from power and loads, which
every augmentation updates arc by arc, so a node's load always equals the power of the
sessions below it and no hard limit is ever crossed.

Vertices: session i is i; unfolded node c (compact index) in slot t is m + c * slots + t;
the sink is -1. Nodes whose subtree holds a single session (an EVSE) are folded into that
session's arcs. A node-slot's arcs, in order: up (to its parent, or the sink from a
top-level node), down to each unfolded child (lowering that child's load), then to each
session attached to the node and present in the slot (lowering its power). A session's
arcs are its present slots, earliest first: the moves afterwards shift energy to cheaper
slots, and a car that charged early can still discharge for a dispatch target later
(cheapest-first left bidirectional cars empty at the evening peak: up to 3% worse).

numba caches each module's functions on their own file: after editing this module, clear
the cache (`__pycache__/*.nbi`, `*.nbc`) so kernel.py's compiled callers pick it up.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from csms.grid.instance import FloatArray, IntArray

FLOW_EPS_W = 1e-3
"""Residual capacities below this (W) count as none."""
MIN_WH = 1e-3
"""A session less than this short of its target (Wh) needs nothing more."""
MAX_PHASES = 64
"""Bound on the phases of one maximum flow (later phases find ever longer, thinner paths)."""
SOFT, HARD, STORAGE = 1, 0, 2
"""Stages: within dispatch targets; up to import limits; with bidirectional cars as storage."""
STAGES = np.array([SOFT, HARD, STORAGE], dtype=np.int64)

DEBUG = False
_SINK = -1
_NO_ARC = -2
_DEAD = -3
# Columns of the session matrix and planes of the limit cube (as in kernel.py).
_ARR, _DEP, _CAP, _INIT, _TARGET, _FLOOR, _MAXC, _MAXD, _EFF, _WORTH = range(10)
_IMP, _EXP, _DCAP = 0, 1, 2


class FlowGraph(NamedTuple):
    """The compressed flow graph of an instance (see the module docstring)."""

    fold: IntArray  # [session] path levels folded into the session's arcs
    attach: IntArray  # [session] compact id of the node it attaches to
    unode: IntArray  # [c] node index of unfolded node c
    uparent: IntArray  # [c] compact parent, -1 at the top
    kid_first: IntArray  # [c + 1] unfolded children: kid_list[kid_first[c]:kid_first[c+1]]
    kid_list: IntArray  # compact ids
    present_first: IntArray  # [c * slots + t + 1] sessions attached at c present in t
    present_list: IntArray
    slot_order: IntArray  # the order a session's arcs are tried in: earliest first


class FlowState(NamedTuple):
    """The arrays a flow reads and changes; margin is kept up to date for bidirectional
    sessions (see _refresh_margin)."""

    power: FloatArray
    loads: FloatArray
    limits: FloatArray
    sess: FloatArray
    paths: IntArray
    margin: FloatArray
    hours: float


def flow_graph(
    node_parent: IntArray,
    paths: IntArray,
    sess_arrival: IntArray,
    sess_departure: IntArray,
    slots: int,
) -> FlowGraph:
    """Build the compressed graph; nodes are in topological order, paths as session_paths."""
    n, m = len(node_parent), paths.shape[0]
    on_path = paths[paths >= 0]
    subtree_sessions = np.bincount(on_path, minlength=n)
    safe = np.maximum(paths, 0)
    single = (paths >= 0) & (subtree_sessions[safe] == 1) & (node_parent[safe] >= 0)
    # A top-level node is never folded, so every row has a False.
    fold = np.argmin(single, axis=1).astype(np.int64) if m else np.zeros(0, dtype=np.int64)
    attach = paths[np.arange(m), fold]
    unfolded = subtree_sessions >= 2
    unfolded[attach] = True
    unode = np.flatnonzero(unfolded).astype(np.int64)
    ucid = np.full(n, -1, dtype=np.int64)
    ucid[unode] = np.arange(len(unode))
    parents = node_parent[unode]
    uparent = np.where(parents >= 0, ucid[np.maximum(parents, 0)], -1).astype(np.int64)
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
    limit = st.limits[_IMP, n, t]
    if soft:
        limit = min(limit, st.limits[_DCAP, n, t])
    return limit - st.loads[n, t]


@njit(cache=True, nogil=True, inline="always")
def _down_room(n: int, t: int, st: FlowState, storage: bool) -> float:
    """Room to lower node n's load in slot t: to zero, or (storage) to its export limit."""
    return st.loads[n, t] + (st.limits[_EXP, n, t] if storage else 0.0)


@njit(cache=True, nogil=True, inline="always")
def _raise_room(i: int, t: int, st: FlowState, fold: IntArray, soft: bool) -> float:
    """Room to raise session i's power in slot t without crossing zero."""
    if not st.sess[i, _ARR] <= t < st.sess[i, _DEP]:
        return 0.0
    p = st.power[i, t]
    room = -p if p < 0.0 else st.sess[i, _MAXC] - p
    for level in range(fold[i]):
        room = min(room, _room(st.paths[i, level], t, st, soft))
    return room


@njit(cache=True, nogil=True, inline="always")
def _lower_room(i: int, t: int, st: FlowState, fold: IntArray, storage: bool) -> float:
    """Room to lower session i's power in slot t without crossing zero: what it charges,
    or (storage, a bidirectional car) more discharge."""
    sess = st.sess
    if not sess[i, _ARR] <= t < sess[i, _DEP]:
        return 0.0
    p = st.power[i, t]
    if sess[i, _MAXD] <= 0.0:
        return max(p, 0.0)
    # A bidirectional car may dip on the way: keep its floor at every later boundary.
    if p > 0.0:
        return min(p, st.margin[i, t] / (sess[i, _EFF] * st.hours))
    if not storage:
        return 0.0
    room = min(sess[i, _MAXD] + p, st.margin[i, t] * sess[i, _EFF] / st.hours)
    for level in range(fold[i]):
        room = min(room, _down_room(st.paths[i, level], t, st, True))
    return room


@njit(cache=True, nogil=True, inline="always")
def _stored_per_w(i: int, t: int, st: FlowState, rising: bool) -> float:
    """Stored Wh per Wh of a change in slot t: charging stores eff, discharging costs
    1/eff; a change stays on its side of zero."""
    p = st.power[i, t]
    charging = p >= 0.0 if rising else p > 0.0
    return st.sess[i, _EFF] if charging else 1.0 / st.sess[i, _EFF]


@njit(cache=True, nogil=True, inline="always")
def _battery_room(i: int, lowered: int, raised: int, st: FlowState) -> float:
    """Stored Wh session i can take out of slot `lowered` (-1: nowhere, the departure
    energy grows) and put into slot `raised`, within its floor and capacity at every
    boundary in between; unbounded for a car that only charges (it never dips)."""
    if st.sess[i, _MAXD] <= 0.0:
        return np.inf
    return _bidirectional_battery_room(i, lowered, raised, st)


@njit(cache=True, nogil=True)
def _bidirectional_battery_room(i: int, lowered: int, raised: int, st: FlowState) -> float:
    sess = st.sess
    eff = sess[i, _EFF]
    stored = sess[i, _INIT]
    room = np.inf
    for t in range(int(sess[i, _ARR]), int(sess[i, _DEP])):
        p = st.power[i, t]
        stored += (p * eff if p >= 0.0 else p / eff) * st.hours
        if lowered < 0 or raised < lowered:
            if t >= raised and (lowered < 0 or t < lowered):
                room = min(room, sess[i, _CAP] - stored)
        elif lowered <= t < raised:
            room = min(room, stored - sess[i, _FLOOR])
    return max(room, 0.0)


@njit(cache=True, nogil=True)
def _refresh_margin(i: int, st: FlowState) -> None:
    """margin[i, t]: how far session i's stored energy may fall at every boundary after
    slot t without going below its floor."""
    sess = st.sess
    start, end = int(sess[i, _ARR]), int(sess[i, _DEP])
    eff = sess[i, _EFF]
    stored = sess[i, _INIT]
    for t in range(start, end):
        p = st.power[i, t]
        stored += (p * eff if p >= 0.0 else p / eff) * st.hours
        st.margin[i, t] = stored - sess[i, _FLOOR]
    lowest = np.inf
    for t in range(end - 1, start - 1, -1):
        lowest = min(lowest, st.margin[i, t])
        st.margin[i, t] = max(lowest, 0.0)


@njit(cache=True, nogil=True)
def _change(i: int, t: int, delta: float, st: FlowState, fold: IntArray) -> None:
    """Change session i's power in slot t, and its folded nodes' loads with it."""
    new = st.power[i, t] + delta
    if abs(new) < 1e-9:
        new = 0.0
    delta = new - st.power[i, t]
    st.power[i, t] = new
    for level in range(fold[i]):
        st.loads[st.paths[i, level], t] += delta
    if st.sess[i, _MAXD] > 0.0:
        _refresh_margin(i, st)


@njit(cache=True, nogil=True)
def _levels(
    sources: IntArray,
    remaining: FloatArray,
    queue: IntArray,
    entries: IntArray,
    level_s: IntArray,
    level_n: IntArray,
    st: FlowState,
    g: FlowGraph,
    soft: bool,
    storage: bool,
) -> tuple[int, int]:
    """Breadth-first levels from the sources; returns (sink level or -1, vertices queued).

    A session's battery limits depend on the slot a path enters it by; the levels use the
    first such slot (entries), the depth-first search checks the one it takes."""
    m, slots = st.power.shape
    tail = 0
    for i in sources:
        if remaining[i] > MIN_WH:
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
            for t in range(int(st.sess[v, _ARR]), int(st.sess[v, _DEP])):
                if (
                    level_n[c, t] < 0
                    and _raise_room(v, t, st, g.fold, soft) > FLOW_EPS_W
                    and _battery_room(v, entry, t, st) > FLOW_EPS_W * st.hours
                ):
                    level_n[c, t] = d + 1
                    queue[tail] = m + c * slots + t
                    tail += 1
            continue
        c, t = (v - m) // slots, (v - m) % slots
        d = level_n[c, t]
        if sink_level >= 0 and d + 1 >= sink_level:
            break
        n = g.unode[c]
        if _room(n, t, st, soft) > FLOW_EPS_W:
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
        return _NO_ARC
    c, t = (v - m) // slots, (v - m) % slots
    want = level_n[c, t] + 1
    kids = g.kid_first[c + 1] - g.kid_first[c]
    key = c * slots + t
    last = kids + g.present_first[key + 1] - g.present_first[key]
    while arc_n[c, t] <= last:
        k = arc_n[c, t]
        if k == 0:
            if _room(g.unode[c], t, st, soft) > FLOW_EPS_W:
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
    st: FlowState,
    g: FlowGraph,
    soft: bool,
    storage: bool,
) -> bool:
    """Send the most the path stack[0..top] -> sink carries; False if it carries nothing.

    Amounts are W at the path's first arc; arc k carries that times scale[k], which grows
    where a car discharges to make room and charges the stored energy back elsewhere."""
    m, slots = st.power.shape
    hours = st.hours
    s = stack[0]
    t0 = (stack[1] - m) % slots
    per_w = _stored_per_w(s, t0, st, True) * hours
    amount = min(
        remaining[s] / per_w,
        _raise_room(s, t0, st, g.fold, soft),
        _battery_room(s, -1, t0, st) / per_w,
    )
    scale[0] = 1.0
    factor = 1.0
    taken = 1.0  # stored Wh per path W taken out of the session being passed through
    for k in range(1, top + 1):
        v = stack[k]
        w = stack[k + 1] if k < top else _SINK
        if v < m:
            t = (w - m) % slots
            entry = (stack[k - 1] - m) % slots
            factor = taken / _stored_per_w(v, t, st, True)
            amount = min(
                amount,
                _raise_room(v, t, st, g.fold, soft) / factor,
                _battery_room(v, entry, t, st) / (taken * hours),
            )
        else:
            c, t = (v - m) // slots, (v - m) % slots
            if w == _SINK or (w >= m and (w - m) // slots == g.uparent[c]):
                room = _room(g.unode[c], t, st, soft)
            elif w >= m:
                room = _down_room(g.unode[(w - m) // slots], t, st, storage)
            else:
                room = _lower_room(w, t, st, g.fold, storage)
                taken = factor * _stored_per_w(w, t, st, False)
            amount = min(amount, room / factor)
        scale[k] = factor
    if amount <= FLOW_EPS_W:
        return False
    for k in range(top + 1):
        v = stack[k]
        w = stack[k + 1] if k < top else _SINK
        step = amount * scale[k]
        if v < m:
            _change(v, (w - m) % slots, step, st, g.fold)
            continue
        c, t = (v - m) // slots, (v - m) % slots
        if w == _SINK or (w >= m and (w - m) // slots == g.uparent[c]):
            st.loads[g.unode[c], t] += step
        elif w >= m:
            st.loads[g.unode[(w - m) // slots], t] -= step
        else:
            _change(w, t, -step, st, g.fold)
    remaining[s] -= amount * per_w
    return True


@njit(cache=True, nogil=True)
def _max_flow(
    sources: IntArray,
    remaining: FloatArray,
    level_s: IntArray,
    arc_s: IntArray,
    level_n: IntArray,
    arc_n: IntArray,
    st: FlowState,
    g: FlowGraph,
    soft: bool,
    storage: bool,
) -> int:
    """Serve `sources` (each up to `remaining` stored Wh) to a maximum flow; return the
    phases run. Levels are -1 and arcs 0 on entry, and are left so."""
    m, slots = st.power.shape
    size = m + level_n.size + 1
    queue = np.empty(size, dtype=np.int64)
    entries = np.empty(size, dtype=np.int64)
    stack = np.empty(size, dtype=np.int64)
    scale = np.empty(size)
    phases = 0
    while phases < MAX_PHASES:
        sink_level, queued = _levels(
            sources, remaining, queue, entries, level_s, level_n, st, g, soft, storage
        )
        sent = 0
        if sink_level >= 0:
            phases += 1
            for s in sources:
                if level_s[s] != 0:
                    continue
                top = 0
                stack[0] = s
                while top >= 0 and remaining[s] > MIN_WH:
                    v = stack[top]
                    entry = (stack[top - 1] - m) % slots if top > 0 else -1
                    w = _next_arc(
                        v,
                        entry,
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
                    elif _augment_path(stack, top, scale, remaining, st, g, soft, storage):
                        sent += 1
                        top = 0
                    else:
                        # A battery bound the levels could not see: drop the last vertex.
                        level_n[(stack[top] - m) // slots, (stack[top] - m) % slots] = _DEAD
                        top -= 1
        for k in range(queued):
            v = queue[k]
            if v < m:
                level_s[v] = -1
                arc_s[v] = 0
            else:
                level_n[(v - m) // slots, (v - m) % slots] = -1
                arc_n[(v - m) // slots, (v - m) % slots] = 0
        if DEBUG:
            left = 0.0
            for s in sources:
                left += remaining[s]
            print(soft, storage, phases, sink_level, sent, queued, left)
        if sent == 0:
            break
    return phases


@njit(cache=True, nogil=True)
def _direct_fill(
    sources: IntArray, remaining: FloatArray, st: FlowState, g: FlowGraph, soft: bool
) -> None:
    """The paths of one hop, without levels: each source takes the room its own path
    has, cheapest slots first (what the first phase would find, at a fraction of it)."""
    slots = st.power.shape[1]
    for s in sources:
        if remaining[s] <= MIN_WH:
            continue
        start, end = st.sess[s, _ARR], st.sess[s, _DEP]
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
            if remaining[s] <= MIN_WH:
                break


@njit(cache=True, nogil=True)
def flow_start(group: IntArray, st: FlowState, g: FlowGraph, stages: IntArray) -> int:
    """Serve the group's sessions class by class (equal worth, contiguous in the group's
    service order) to a maximum flow in each stage; return the phases run."""
    m, slots = st.power.shape
    sess = st.sess
    remaining = np.zeros(m)
    for i in group:
        stored = sess[i, _INIT]
        for t in range(int(sess[i, _ARR]), int(sess[i, _DEP])):
            p = st.power[i, t]
            stored += (p * sess[i, _EFF] if p >= 0.0 else p / sess[i, _EFF]) * st.hours
        remaining[i] = max(min(sess[i, _TARGET], sess[i, _CAP]) - stored, 0.0)
        if sess[i, _MAXD] > 0.0:
            _refresh_margin(i, st)
    units = len(g.unode)
    level_s = np.full(m, -1, dtype=np.int64)
    arc_s = np.zeros(m, dtype=np.int64)
    level_n = np.full((units, slots), -1, dtype=np.int64)
    arc_n = np.zeros((units, slots), dtype=np.int64)
    phases = 0
    first = 0
    while first < len(group):
        last = first + 1
        while last < len(group) and sess[group[last], _WORTH] == sess[group[first], _WORTH]:
            last += 1
        sources = group[first:last]
        sources = sources[np.argsort(-sess[sources, _EFF], kind="mergesort")]
        for stage in stages:
            if stage != STORAGE:
                _direct_fill(sources, remaining, st, g, stage == SOFT)
            phases += _max_flow(
                sources,
                remaining,
                level_s,
                arc_s,
                level_n,
                arc_n,
                st,
                g,
                stage == SOFT,
                stage == STORAGE,
            )
        first = last
    return phases
