"""The smart-charging kernel: numba-compiled, feasible by construction, near the LP optimum.

1. Flow start (flow_start.py): priority classes one after the other, each served to a
   maximum flow through the grid tree (within dispatch targets first, then up to the
   limits, then with bidirectional cars as storage), then loads above dispatch targets
   lowered by cycles through other slots. Where capacity is short this settles who is
   served, which is nearly all of the objective.
2. Moves: sessions in order (priority, then least laxity) take their most profitable moves
   until none pays: cheapest slots, discharge into the dearest slots when the spread beats
   losses and degradation, dispatch relief, surplus sold; passes repeat while they gain.
3. Polish (polish_rounds; by default only in groups of up to AUTO_POLISH_MAX_SESSIONS
   sessions): first pair moves, where a full node stops a session's best sale or purchase
   in a slot, another session below it does the opposite there and each balances its
   stored energy elsewhere (V2G arbitrage under export limits); then, for sessions still
   short of target, augmenting paths (a chain of other
   sessions each shifting power to another slot until one reaches a slot with room) and
   exchanges (another session frees capacity by buying its energy in
   another slot, or gives it up when its shortfall is worth less), done when they cost
   less than the shortfall saved; rounds repeat while they gain.

Every change in steps 2 and 3 is a *move* of stored energy (a pair move is two, whose
changes in the shared slot cancel at the full node and above): a session buys energy in one
slot (charges more or discharges less) and sells it in another (charges less or
discharges more), or buys it into / sells it out of its departure energy. A move's amount
is clipped to the session's power bounds, the headroom of every ancestor node in the
slots it touches, and the battery's room above or floor below at every boundary in
between, so every hard limit holds after every move (and the flow keeps them too).
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

from csms.grid.check import check_schedule
from csms.grid.flow_start import (
    STAGES,
    FlowGraph,
    FlowState,
    FlowWork,
    flow_graph,
    flow_start,
    flow_work,
)
from csms.grid.instance import (
    FloatArray,
    Instance,
    InstanceArrays,
    IntArray,
    Schedule,
    parse_instance,
    session_paths,
    to_arrays,
)
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
    SESSION_COLUMNS,
    TARGET,
    WORTH,
    shift_power,
)

MAX_MOVE_PASSES = 3
"""Passes of single-session moves after the flow start (each until its moves stop paying)."""
AUTO_POLISH_ROUNDS = 2
"""Rounds of augmenting paths and exchanges after the moves when the caller leaves it to the
kernel (polish_rounds=None), in groups of at most AUTO_POLISH_MAX_SESSIONS sessions."""
AUTO_POLISH_MAX_SESSIONS = 250
"""Polish costs grow faster than a group's size (an exchange scans the cars under a full
node), 2-4x the solve time at 100-300 sessions: worth it there (on small random trees
with many bidirectional cars it takes the median gap to the LP from 0.09% to 0.002%),
not in city-sized groups, where the flow start leaves it ~0.1% to gain."""
MOVES_PER_SLOT = 3
"""A session makes at most this many moves per present slot in one pass (bounds a pass)."""
MAX_EXCHANGE_CANDIDATES = 48
"""Sessions an exchange examines per congested slot (bounds an exchange's cost)."""
MAX_PAIR_PASSES = 2
"""Passes of pair moves (two sessions opposite in a slot where a full node stops one)."""
MAX_PAIR_CANDIDATES = 16
"""Partners a pair move examines below the full node (bounds a pass to ~16 x slots x depth
per session)."""
MIN_MOVE_WH = 1e-3
"""Moves of less stored energy are not worth their time."""
MIN_GAIN_PER_WH = 1e-9
"""A move must gain at least this much per stored Wh (guards against float ties)."""
ROUND_GAIN_STOP = 1e-4
"""Stop once a round gains less than this fraction of the group's objective (the quality
budget is 1%); augmenting paths are skipped once a round of them gains less."""
MAX_PATH_STATES = 1024
"""(slot, full node) states an augmenting-path search may visit (bounds its time)."""
MAX_MOVERS_PER_STATE = 32
"""Sessions a path search tries to move out of one (slot, full node) state."""
FULL_W = 1.0
"""A node with less headroom than this (W) is full."""

_INF = np.inf


@njit(cache=True, nogil=True, inline="always")
def _buy(
    i: int,
    t: int,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
) -> tuple[float, float, float]:
    """Raise session i's power in slot t: (cost per stored Wh, stored Wh available, Wh per W)."""
    return _buy_below(i, t, paths.shape[1], power, loads, paths, limits, prices, scal, sess)


@njit(cache=True, nogil=True)
def _buy_below(
    i: int,
    t: int,
    levels: int,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
) -> tuple[float, float, float]:
    """As _buy, with only the first `levels` nodes of its path (those above are unchanged
    when another session below them lowers its power as much)."""
    room = _INF
    penalised = 0.0
    for level in range(levels):
        a = paths[i, level]
        if a < 0:
            break
        load = loads[a, t]
        room = min(room, limits[IMP, a, t] - load)
        # Caps at or below the load each charge for more; the next one above bounds the room.
        for plane in range(DCAP, limits.shape[0]):
            cap = limits[plane, a, t]
            if load < cap:
                room = min(room, cap - load)
                break
            penalised += 1.0
    p = power[i, t]
    eff = sess[i, EFF]
    hours = scal[1]
    if p >= 0.0:
        per_w = eff * hours
        room = min(room, sess[i, MAXC] - p)
        price = prices[0, t]
    else:
        per_w = hours / eff
        room = min(room, -p)
        price = prices[1, t]
    cost = (price + scal[0] * penalised) * hours / 1000.0
    return cost / per_w, max(room, 0.0) * per_w, per_w


@njit(cache=True, nogil=True, inline="always")
def _sell(
    i: int,
    t: int,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
) -> tuple[float, float, float]:
    """Lower session i's power in slot t: (value per stored Wh, stored Wh available, Wh per W)."""
    return _sell_below(i, t, paths.shape[1], power, loads, paths, limits, prices, scal, sess)


@njit(cache=True, nogil=True)
def _sell_below(
    i: int,
    t: int,
    levels: int,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
) -> tuple[float, float, float]:
    """As _sell, with only the first `levels` nodes of its path."""
    room = _INF
    relieved = 0.0
    for level in range(levels):
        a = paths[i, level]
        if a < 0:
            break
        load = loads[a, t]
        room = min(room, load + limits[EXP, a, t])
        # Caps below the load are each relieved; the nearest of them bounds the room.
        nearest = load
        for plane in range(DCAP, limits.shape[0]):
            cap = limits[plane, a, t]
            if cap >= load:
                break
            relieved += 1.0
            nearest = cap
        if nearest < load:
            room = min(room, load - nearest)
    p = power[i, t]
    eff = sess[i, EFF]
    hours = scal[1]
    if p > 0.0:
        per_w = eff * hours
        room = min(room, p)
        price = prices[0, t]
    else:
        per_w = hours / eff
        room = min(room, sess[i, MAXD] + p)
        price = prices[1, t]
    value = (price + scal[0] * relieved) * hours / 1000.0
    return value / per_w, max(room, 0.0) * per_w, per_w


@njit(cache=True, nogil=True, inline="always")
def _shift(
    i: int, t: int, delta: float, power: FloatArray, loads: FloatArray, paths: IntArray
) -> None:
    """Change session i's power in slot t by delta W, and every ancestor's load with it."""
    shift_power(i, t, delta, power, loads, paths, paths.shape[1])


@njit(cache=True, nogil=True)
def _energy(i: int, power: FloatArray, sess: FloatArray, hours: float, out: FloatArray) -> int:
    """Stored energy at session i's boundaries into out[0..length]; returns the length."""
    start = int(sess[i, ARR])
    length = int(sess[i, DEP]) - start
    eff = sess[i, EFF]
    out[0] = sess[i, INIT]
    for k in range(length):
        p = power[i, start + k]
        out[k + 1] = out[k] + (p * eff if p >= 0.0 else p / eff) * hours
    return length


@njit(cache=True, nogil=True)
def _improve_session(
    i: int,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
) -> float:
    """Apply session i's best single-session moves until none pays; return the gain."""
    start = int(sess[i, ARR])
    length = int(sess[i, DEP]) - start
    cap = sess[i, CAP]
    low = sess[i, FLOOR]
    target = sess[i, TARGET]
    worth = sess[i, WORTH]
    energy = np.empty(length + 1)
    buy_cost = np.empty(length)
    buy_wh = np.empty(length)
    buy_per_w = np.empty(length)
    sell_value = np.empty(length)
    sell_wh = np.empty(length)
    sell_per_w = np.empty(length)
    cap_suffix = np.empty(length + 1)
    floor_suffix = np.empty(length + 1)
    gained = 0.0
    # A car that only charges stays between its arrival and departure energy whatever
    # slots it charges in, so its slot-to-slot moves need no battery check.
    charging_only = sess[i, MAXD] <= 0.0
    for k in range(length):
        t = start + k
        buy_cost[k], buy_wh[k], buy_per_w[k] = _buy(
            i, t, power, loads, paths, limits, prices, scal, sess
        )
        sell_value[k], sell_wh[k], sell_per_w[k] = _sell(
            i, t, power, loads, paths, limits, prices, scal, sess
        )
    for _move in range(MOVES_PER_SLOT * length + 4):
        _energy(i, power, sess, scal[1], energy)
        # Room above / below every boundary after slot k, up to departure.
        cap_suffix[length] = _INF
        floor_suffix[length] = _INF
        for k in range(length - 1, -1, -1):
            cap_suffix[k] = min(cap_suffix[k + 1], cap - energy[k + 1])
            floor_suffix[k] = min(floor_suffix[k + 1], energy[k + 1] - low)
        final = energy[length]
        # A deficit too small to move counts as none: otherwise, once a move filled it
        # (up to rounding), it capped buying beyond the target where imports are paid.
        if final < target - MIN_MOVE_WH:
            end_buy_value, end_buy_wh = worth, target - final
        else:
            end_buy_value, end_buy_wh = 0.0, _INF
        if final > target:
            end_sell_cost, end_sell_wh = 0.0, final - target
        else:
            end_sell_cost, end_sell_wh = worth, _INF

        best_rate = MIN_GAIN_PER_WH
        best_b = -2
        best_s = -2
        best_q = 0.0
        cheapest = -1
        dearest = -1
        for k in range(length):
            if buy_wh[k] >= MIN_MOVE_WH and (cheapest < 0 or buy_cost[k] < buy_cost[cheapest]):
                cheapest = k
            if sell_wh[k] >= MIN_MOVE_WH and (dearest < 0 or sell_value[k] > sell_value[dearest]):
                dearest = k
        if charging_only and cheapest >= 0 and dearest >= 0:
            rate = sell_value[dearest] - buy_cost[cheapest]
            if rate > best_rate:
                best_rate, best_b, best_s = rate, cheapest, dearest
                best_q = min(buy_wh[cheapest], sell_wh[dearest])
        for b in range(length):
            if buy_wh[b] < MIN_MOVE_WH:
                continue
            # Buy at b and keep it to departure.
            rate = end_buy_value - buy_cost[b]
            q = min(buy_wh[b], end_buy_wh, cap_suffix[b])
            if rate > best_rate and q >= MIN_MOVE_WH:
                best_rate, best_b, best_s, best_q = rate, b, -1, q
            if charging_only:
                continue
            # Buy at b, sell later at s: boundaries b+1..s rise.
            room = _INF
            for s in range(b + 1, length):
                room = min(room, cap - energy[s])
                if room < MIN_MOVE_WH:
                    break
                rate = sell_value[s] - buy_cost[b]
                if rate > best_rate and sell_wh[s] >= MIN_MOVE_WH:
                    best_rate, best_b, best_s = rate, b, s
                    best_q = min(buy_wh[b], sell_wh[s], room)
            # Sell earlier at s, buy back at b: boundaries s+1..b fall.
            room = _INF
            for s in range(b - 1, -1, -1):
                room = min(room, energy[s + 1] - low)
                if room < MIN_MOVE_WH:
                    break
                rate = sell_value[s] - buy_cost[b]
                if rate > best_rate and sell_wh[s] >= MIN_MOVE_WH:
                    best_rate, best_b, best_s = rate, b, s
                    best_q = min(buy_wh[b], sell_wh[s], room)
        for s in range(length):
            # Sell at s, out of the departure energy.
            rate = sell_value[s] - end_sell_cost
            q = min(sell_wh[s], end_sell_wh, floor_suffix[s])
            if rate > best_rate and q >= MIN_MOVE_WH:
                best_rate, best_b, best_s, best_q = rate, -1, s, q
        if best_b == -2:
            break
        if best_b >= 0:
            _shift(i, start + best_b, best_q / buy_per_w[best_b], power, loads, paths)
        if best_s >= 0:
            _shift(i, start + best_s, -best_q / sell_per_w[best_s], power, loads, paths)
        gained += best_rate * best_q
        # Only this session moved, and only in these slots: refresh just them.
        for k in (best_b, best_s):
            if k >= 0:
                t = start + k
                buy_cost[k], buy_wh[k], buy_per_w[k] = _buy(
                    i, t, power, loads, paths, limits, prices, scal, sess
                )
                sell_value[k], sell_wh[k], sell_per_w[k] = _sell(
                    i, t, power, loads, paths, limits, prices, scal, sess
                )
    return gained


@njit(cache=True, nogil=True)
def _counter(
    i: int,
    t: int,
    buying: bool,
    energy: FloatArray,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
) -> tuple[float, int, float, float]:
    """Session i's best balance for a change in slot t that stores more (buying) or less:
    where it sells (or buys back) that stored energy, in another slot or its departure
    energy. Returns (value per stored Wh: sale value, or minus the buy-back cost; the slot,
    -1 for departure; stored Wh room; Wh per W there). `energy` holds its boundaries."""
    start = int(sess[i, ARR])
    length = int(sess[i, DEP]) - start
    k0 = t - start
    final = energy[length]
    target = sess[i, TARGET]
    worth = sess[i, WORTH]
    best_value, best_slot, best_wh, best_per_w = -_INF, -2, 0.0, 1.0
    # Departure: stored energy kept (buying) or given up (selling) at every boundary after t.
    battery = _INF
    for k in range(k0 + 1, length + 1):
        battery = min(battery, sess[i, CAP] - energy[k] if buying else energy[k] - sess[i, FLOOR])
    if buying:
        short = final < target - MIN_MOVE_WH
        value, wh = (worth, target - final) if short else (0.0, _INF)
    else:
        spare = final > target + MIN_MOVE_WH
        value, wh = (0.0, final - target) if spare else (-worth, _INF)
    if min(wh, battery) >= MIN_MOVE_WH:
        best_value, best_slot, best_wh = value, -1, min(wh, battery)
    # Other slots, outwards from t: the boundaries in between rise (buy first) or fall.
    for direction in (1, -1):
        battery = _INF
        k = k0 + direction
        while 0 <= k < length:
            b = k if direction > 0 else k + 1
            rise = (direction > 0) == buying
            battery = min(battery, sess[i, CAP] - energy[b] if rise else energy[b] - sess[i, FLOOR])
            if battery < MIN_MOVE_WH:
                break
            u = start + k
            if buying:
                value, wh, per_w = _sell(i, u, power, loads, paths, limits, prices, scal, sess)
            else:
                cost, wh, per_w = _buy(i, u, power, loads, paths, limits, prices, scal, sess)
                value = -cost
            if value > best_value and min(wh, battery) >= MIN_MOVE_WH:
                best_value, best_slot, best_wh, best_per_w = value, u, min(wh, battery), per_w
            k += direction
    return best_value, best_slot, best_wh, best_per_w


@njit(cache=True, nogil=True)
def _pair(
    i: int,
    t: int,
    raising: bool,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
    subtree_end: IntArray,
    by_node: IntArray,
    node_first: IntArray,
    energy_i: FloatArray,
    energy_j: FloatArray,
    touched: IntArray,
) -> float:
    """Session i raises (or lowers) its power in slot t where a full ancestor stops it:
    another session j below that ancestor does the opposite in t, so the ancestor's load
    and all above it stay put, and each balances its stored energy in its best other slot
    (or departure energy). Done when the four changes together gain; returns the gain.

    This is what single-session moves cannot see: a car sells into the evening peak where
    the transformer's export limit is reached only if another car there charges then."""
    hours = scal[1]
    # The first full ancestor on i's path in the direction of the change.
    level = -1
    for lv in range(paths.shape[1]):
        a = paths[i, lv]
        if a < 0:
            break
        room = limits[IMP, a, t] - loads[a, t] if raising else loads[a, t] + limits[EXP, a, t]
        if room < FULL_W:
            level = lv
            break
    if level < 0:
        return 0.0
    node = paths[i, level]
    if raising:
        cost, wh_i, per_w_i = _buy_below(
            i, t, level, power, loads, paths, limits, prices, scal, sess
        )
        gain_i = -cost
    else:
        gain_i, wh_i, per_w_i = _sell_below(
            i, t, level, power, loads, paths, limits, prices, scal, sess
        )
    if wh_i < MIN_MOVE_WH:
        return 0.0
    _energy(i, power, sess, hours, energy_i)
    value_i, slot_i, room_i, per_w_bi = _counter(
        i, t, raising, energy_i, power, loads, paths, limits, prices, scal, sess
    )
    if slot_i == -2:
        return 0.0
    # Per W of i's change in slot t.
    rate_i = per_w_i * (gain_i + value_i)
    w_i = min(wh_i, room_i) / per_w_i
    best_rate, best_j, best_w = MIN_GAIN_PER_WH, -1, 0.0
    best_slot_j, best_per_w_j, best_per_w_bj = -2, 1.0, 1.0
    first, last = node_first[node], node_first[subtree_end[node]]
    examined = 0
    for k in range(first, last):
        j = by_node[k]
        if j == i or not sess[j, ARR] <= t < sess[j, DEP]:
            continue
        p = power[j, t]
        own = (
            (p if p > 0.0 else sess[j, MAXD] + p)
            if raising
            else (sess[j, MAXC] - p if p >= 0.0 else -p)
        )
        if own < FULL_W:
            continue
        examined += 1
        if examined > MAX_PAIR_CANDIDATES:
            break
        depth = 0
        while paths[j, depth] != node:
            depth += 1
        if raising:
            gain_j, wh_j, per_w_j = _sell_below(
                j, t, depth, power, loads, paths, limits, prices, scal, sess
            )
        else:
            cost_j, wh_j, per_w_j = _buy_below(
                j, t, depth, power, loads, paths, limits, prices, scal, sess
            )
            gain_j = -cost_j
        if wh_j < MIN_MOVE_WH:
            continue
        _energy(j, power, sess, hours, energy_j)
        value_j, slot_j, room_j, per_w_bj = _counter(
            j, t, not raising, energy_j, power, loads, paths, limits, prices, scal, sess
        )
        if slot_j == -2:
            continue
        rate = rate_i + per_w_j * (gain_j + value_j)
        w = min(w_i, min(wh_j, room_j) / per_w_j)
        if rate > best_rate and w >= FULL_W:
            best_rate, best_j, best_w = rate, j, w
            best_slot_j, best_per_w_j, best_per_w_bj = slot_j, per_w_j, per_w_bj
    if best_j < 0:
        return 0.0
    touched[i] = touched[best_j] = 1
    sign = 1.0 if raising else -1.0
    _shift(i, t, sign * best_w, power, loads, paths)
    _shift(best_j, t, -sign * best_w, power, loads, paths)
    # Each balances the stored energy it changed in t in its own other slot.
    if slot_i >= 0:
        _shift(i, slot_i, -sign * best_w * per_w_i / per_w_bi, power, loads, paths)
    if best_slot_j >= 0:
        _shift(
            best_j, best_slot_j, sign * best_w * best_per_w_j / best_per_w_bj, power, loads, paths
        )
    return best_rate * best_w


@njit(cache=True, nogil=True)
def _pair_pass(
    order: IntArray,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
    subtree_end: IntArray,
    by_node: IntArray,
    node_first: IntArray,
    touched: IntArray,
) -> float:
    """For every session, pair moves in the slot it would most like to sell in and the one
    it would most like to buy in, where a full ancestor stops it; returns the gain and
    marks the sessions that moved in `touched`."""
    slots = power.shape[1]
    energy_i = np.empty(slots + 1)
    energy_j = np.empty(slots + 1)
    gained = 0.0
    for i in order:
        for raising in (False, True):
            best_t, best_price = -1, 0.0
            for t in range(int(sess[i, ARR]), int(sess[i, DEP])):
                p = power[i, t]
                if raising:
                    own = sess[i, MAXC] - p if p >= 0.0 else -p
                    price = -(prices[0, t] if p >= 0.0 else prices[1, t])
                else:
                    own = p if p > 0.0 else sess[i, MAXD] + p
                    price = prices[0, t] if p > 0.0 else prices[1, t]
                if own < FULL_W:
                    continue
                blocked = False
                for lv in range(paths.shape[1]):
                    a = paths[i, lv]
                    if a < 0:
                        break
                    room = (
                        limits[IMP, a, t] - loads[a, t]
                        if raising
                        else loads[a, t] + limits[EXP, a, t]
                    )
                    if room < FULL_W:
                        blocked = True
                        break
                if blocked and (best_t < 0 or price > best_price):
                    best_t, best_price = t, price
            if best_t >= 0:
                gained += _pair(
                    i,
                    best_t,
                    raising,
                    power,
                    loads,
                    paths,
                    limits,
                    prices,
                    scal,
                    sess,
                    subtree_end,
                    by_node,
                    node_first,
                    energy_i,
                    energy_j,
                    touched,
                )
    return gained


@njit(cache=True, nogil=True)
def _exchange(
    b_i: int,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
    subtree_end: IntArray,
    by_node: IntArray,
    node_first: IntArray,
    failed: FloatArray,
) -> float:
    """Let short session b_i buy where only a full ancestor stops it; return the gain.

    Another session A below that ancestor lowers its power by x there and buys the same
    stored energy in another slot (or gives it up from its departure energy); b_i takes
    the x freed and puts the energy where it is worth most to it (its shortfall, or a sale
    in a dearer slot). Done only when b_i gains more than A loses.
    """
    hours = scal[1]
    start = int(sess[b_i, ARR])
    length = int(sess[b_i, DEP]) - start
    eff = sess[b_i, EFF]
    energy = np.empty(length + 1)
    sell_value = np.empty(length)
    sell_wh = np.empty(length)
    sell_per_w = np.empty(length)
    scratch = np.empty(power.shape[1] + 1)
    gained = 0.0
    _energy(b_i, power, sess, hours, energy)
    if energy[length] > sess[b_i, TARGET] - MIN_MOVE_WH:
        return 0.0
    # Nothing paid in an earlier round: later rounds only fill the grid further, and
    # retrying such sessions cost a third of the time for no measured gain.
    if failed[b_i, 0] > 0.0:
        return 0.0
    stale = True
    for t_off in range(length):
        t = start + t_off
        p = power[b_i, t]
        own = sess[b_i, MAXC] - p if p >= 0.0 else -p
        per_w_b = eff * hours if p >= 0.0 else hours / eff
        if own * per_w_b < MIN_MOVE_WH:
            continue
        # The deepest ancestor that stops b_i; the candidates live below it.
        deepest = -1
        for level in range(paths.shape[1]):
            a = paths[b_i, level]
            if a < 0:
                break
            if limits[IMP, a, t] - loads[a, t] < own:
                deepest = level
                break
        if deepest < 0:
            continue
        binding = paths[b_i, deepest]
        if stale:
            _energy(b_i, power, sess, hours, energy)
            for k in range(length):
                sell_value[k], sell_wh[k], sell_per_w[k] = _sell(
                    b_i, start + k, power, loads, paths, limits, prices, scal, sess
                )
            stale = False
        cost_b, _, _ = _buy(b_i, t, power, loads, paths, limits, prices, scal, sess)
        # Where b_i puts the energy: its departure (shortfall) or a sale in another slot.
        partner = -2
        partner_value = cost_b + MIN_GAIN_PER_WH
        partner_wh = 0.0
        cap_room = _INF
        for k in range(t_off + 1, length + 1):
            cap_room = min(cap_room, sess[b_i, CAP] - energy[k])
        need = sess[b_i, TARGET] - energy[length]
        if need >= MIN_MOVE_WH and sess[b_i, WORTH] > partner_value and cap_room >= MIN_MOVE_WH:
            partner, partner_value, partner_wh = -1, sess[b_i, WORTH], min(need, cap_room)
        room = _INF
        for s in range(t_off + 1, length):
            room = min(room, sess[b_i, CAP] - energy[s])
            if room < MIN_MOVE_WH:
                break
            if sell_value[s] > partner_value and sell_wh[s] >= MIN_MOVE_WH:
                partner, partner_value, partner_wh = s, sell_value[s], min(sell_wh[s], room)
        room = _INF
        for s in range(t_off - 1, -1, -1):
            room = min(room, energy[s + 1] - sess[b_i, FLOOR])
            if room < MIN_MOVE_WH:
                break
            if sell_value[s] > partner_value and sell_wh[s] >= MIN_MOVE_WH:
                partner, partner_value, partner_wh = s, sell_value[s], min(sell_wh[s], room)
        if partner == -2:
            continue
        gain_b_per_w = (partner_value - cost_b) * per_w_b
        # Headroom below the binding node is b_i's own: A frees nothing there.
        limit_w = min(own, partner_wh / per_w_b)
        for level in range(deepest):
            a = paths[b_i, level]
            limit_w = min(limit_w, limits[IMP, a, t] - loads[a, t])
        if limit_w * per_w_b < MIN_MOVE_WH:
            continue
        best_gain = MIN_GAIN_PER_WH
        best_a = -1
        best_rebuy = -2
        best_x = 0.0
        best_sell_per_w = 1.0
        best_buy_per_w = 1.0
        seen = 0
        first = node_first[binding]
        count = node_first[subtree_end[binding]] - first
        # Start somewhere else for every session and slot, so that the bounded candidate
        # lists of many exchanges cover the whole subtree between them.
        offset = (b_i * 7919 + t * 104729) % max(count, 1)
        for step in range(count):
            a_i = by_node[first + (offset + step) % count]
            if a_i == b_i or t < sess[a_i, ARR] or t >= sess[a_i, DEP]:
                continue
            if power[a_i, t] <= 0.0 and sess[a_i, MAXD] <= 0.0:
                continue
            # For a shortfall, augmenting paths already move other cars' energy in time:
            # here a car that only charges can only give energy up, which it never holds
            # above its target, so that pays only if its own shortfall is worth less.
            if (
                partner == -1
                and sess[a_i, MAXD] <= 0.0
                and sess[a_i, WORTH] * sess[a_i, EFF] >= sess[b_i, WORTH] * eff
            ):
                continue
            seen += 1
            if seen > MAX_EXCHANGE_CANDIDATES:
                break
            value_a, sell_wh_a, sell_per_w_a = _sell(
                a_i, t, power, loads, paths, limits, prices, scal, sess
            )
            if sell_wh_a < MIN_MOVE_WH:
                continue
            a_start = int(sess[a_i, ARR])
            a_len = _energy(a_i, power, sess, hours, scratch)
            a_t = t - a_start
            # Option: A gives the energy up from its departure energy.
            floor_room = _INF
            for k in range(a_t + 1, a_len + 1):
                floor_room = min(floor_room, scratch[k] - sess[a_i, FLOOR])
            surplus = scratch[a_len] - sess[a_i, TARGET]
            if surplus >= MIN_MOVE_WH:
                give_cost, q = 0.0, min(sell_wh_a, floor_room, surplus)
            else:
                give_cost, q = sess[a_i, WORTH], min(sell_wh_a, floor_room)
            x = min(limit_w, q / sell_per_w_a)
            gain = gain_b_per_w - sell_per_w_a * (give_cost - value_a)
            if gain > best_gain and x * per_w_b >= MIN_MOVE_WH:
                best_gain, best_a, best_rebuy, best_x = gain, a_i, -1, x
                best_sell_per_w = sell_per_w_a
            if partner == -1 and sess[a_i, MAXD] <= 0.0:
                continue
            # Option: A buys the energy back in another slot.
            for direction in (-1, 1):
                room = _INF
                k = a_t + direction
                while 0 <= k < a_len:
                    if direction < 0:
                        room = min(room, sess[a_i, CAP] - scratch[k + 1])
                    else:
                        room = min(room, scratch[k] - sess[a_i, FLOOR])
                    if room < MIN_MOVE_WH:
                        break
                    cost_a, buy_wh_a, buy_per_w_a = _buy(
                        a_i, a_start + k, power, loads, paths, limits, prices, scal, sess
                    )
                    if buy_wh_a >= MIN_MOVE_WH:
                        gain = gain_b_per_w - sell_per_w_a * (cost_a - value_a)
                        x = min(limit_w, min(sell_wh_a, buy_wh_a, room) / sell_per_w_a)
                        if gain > best_gain and x * per_w_b >= MIN_MOVE_WH:
                            best_gain, best_a, best_rebuy, best_x = gain, a_i, a_start + k, x
                            best_sell_per_w = sell_per_w_a
                            best_buy_per_w = buy_per_w_a
                    k += direction
        if best_a < 0:
            continue
        _shift(best_a, t, -best_x, power, loads, paths)
        if best_rebuy >= 0:
            moved_w = best_x * best_sell_per_w / best_buy_per_w
            _shift(best_a, best_rebuy, moved_w, power, loads, paths)
        _shift(b_i, t, best_x, power, loads, paths)
        if partner >= 0:
            _shift(
                b_i, start + partner, -best_x * per_w_b / sell_per_w[partner], power, loads, paths
            )
        gained += best_gain * best_x
        stale = True
    failed[b_i, 0] = 1.0 if gained == 0.0 else 0.0
    return gained


@njit(cache=True, nogil=True)
def _augment(
    b_i: int,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
    subtree_end: IntArray,
    by_node: IntArray,
    node_first: IntArray,
    failed: FloatArray,
    visited: IntArray,
    round_index: int,
    epoch: IntArray,
) -> float:
    """Give short session b_i capacity of full nodes through a chain of shifts.

    An augmenting path: b_i charges more in slot t0 where node m0 is full; a session A1
    below m0 moves the same power from t0 to t1, where the deepest full node on its path
    is m1; A2 below m1 moves from t1 to t2, ... until a mover reaches a slot with room on
    its whole path. Found breadth first over (slot, full node) states. Each hop keeps the
    mover's power bounds, battery limits and the nodes below its full node; at every
    intermediate slot the full node and its ancestors see one session leave and one come.
    Worth it while the shortfall penalty exceeds any energy price plus dispatch penalty.
    A state a failed search expanded with every mover tried is dead (visited[1] ==
    epoch[0]) until a path is applied: later searches skip it instead of failing again.
    """
    hours = scal[1]
    kwh = hours / 1000.0
    slots = power.shape[1]
    depth = paths.shape[1]
    start = int(sess[b_i, ARR])
    length = int(sess[b_i, DEP]) - start
    per_w_b = sess[b_i, EFF] * hours
    dearest = 0.0
    for t in range(slots):
        dearest = max(dearest, prices[0, t])
    if sess[b_i, WORTH] * per_w_b <= (dearest + scal[0] * depth) * kwh:
        return 0.0
    energy = np.empty(length + 1)
    scratch = np.empty(slots + 1)
    state_slot = np.empty(MAX_PATH_STATES, dtype=np.int64)
    state_node = np.empty(MAX_PATH_STATES, dtype=np.int64)
    state_parent = np.empty(MAX_PATH_STATES, dtype=np.int64)
    state_mover = np.empty(MAX_PATH_STATES, dtype=np.int64)
    state_w = np.empty(MAX_PATH_STATES)
    state_whole = np.empty(MAX_PATH_STATES, dtype=np.bool_)
    gained = 0.0
    for attempt in range(length):
        _energy(b_i, power, sess, hours, energy)
        need = sess[b_i, TARGET] - energy[length]
        if need < MIN_MOVE_WH:
            break
        # This session's search failed before and no load on its path has changed since.
        signature = 0.0
        for level in range(depth):
            a = paths[b_i, level]
            if a < 0:
                break
            for t in range(slots):
                signature += loads[a, t] * (t + 1.5) * (level + 1)
        if failed[b_i, 1] == signature:
            break
        # Unique per round, session and attempt: `visited` never needs clearing.
        stamp = (round_index * sess.shape[0] + b_i) * (slots + 1) + attempt + 1
        tail = 0
        for k in range(length):
            t = start + k
            p = power[b_i, t]
            if p < 0.0:
                continue
            room = min(sess[b_i, MAXC] - p, need / per_w_b)
            for j in range(k + 1, length + 1):
                room = min(room, (sess[b_i, CAP] - energy[j]) / per_w_b)
            full = -1
            for level in range(depth):
                a = paths[b_i, level]
                if a < 0:
                    break
                if limits[IMP, a, t] - loads[a, t] < FULL_W:
                    full = a
                    break
                room = min(room, limits[IMP, a, t] - loads[a, t])
            if full < 0 or room * per_w_b < MIN_MOVE_WH or visited[0, full, t] == stamp:
                continue
            if visited[1, full, t] == epoch[0]:
                continue
            visited[0, full, t] = stamp
            state_slot[tail], state_node[tail], state_parent[tail] = t, full, -1
            state_mover[tail], state_w[tail] = b_i, room
            tail += 1
        head = 0
        end_slot, end_parent, end_mover, end_w = -1, -1, -1, 0.0
        while head < tail and end_slot < 0:
            u = state_slot[head]
            node = state_node[head]
            state_whole[head] = True
            first = node_first[node]
            count = node_first[subtree_end[node]] - first
            offset = (b_i * 7919 + u * 104729) % max(count, 1)
            movers = 0
            for step in range(count):
                a_i = by_node[first + (offset + step) % count]
                if u < sess[a_i, ARR] or u >= sess[a_i, DEP]:
                    continue
                if power[a_i, u] < FULL_W:
                    continue
                if a_i == b_i:
                    continue
                movers += 1
                if movers > MAX_MOVERS_PER_STATE:
                    state_whole[head] = False
                    break
                # A leaves u: its nodes below `node` lose load there (export side).
                leave = power[a_i, u]
                node_level = 0
                while paths[a_i, node_level] != node:
                    a = paths[a_i, node_level]
                    leave = min(leave, loads[a, u] + limits[EXP, a, u])
                    node_level += 1
                if leave < FULL_W:
                    continue
                a_start = int(sess[a_i, ARR])
                a_end = int(sess[a_i, DEP])
                # A car that only charges stays between its arrival and departure energy
                # whatever slots it charges in: no battery check needed.
                checked = sess[a_i, MAXD] > 0.0
                if checked:
                    _energy(a_i, power, sess, hours, scratch)
                a_per_w = sess[a_i, EFF] * hours
                for direction in (-1, 1):
                    battery_room = _INF
                    v = u + direction
                    while a_start <= v < a_end:
                        if checked:
                            if direction < 0:
                                battery_room = min(
                                    battery_room, sess[a_i, CAP] - scratch[v - a_start + 1]
                                )
                            else:
                                battery_room = min(
                                    battery_room, scratch[v - a_start] - sess[a_i, FLOOR]
                                )
                            if battery_room < MIN_MOVE_WH:
                                break
                        p_v = power[a_i, v]
                        if p_v >= 0.0 and sess[a_i, MAXC] - p_v >= FULL_W:
                            hop = min(leave, sess[a_i, MAXC] - p_v, battery_room / a_per_w)
                            full = -1
                            for level in range(depth):
                                a = paths[a_i, level]
                                if a < 0:
                                    break
                                room = limits[IMP, a, v] - loads[a, v]
                                if room < FULL_W:
                                    full = a
                                    break
                                hop = min(hop, room)
                            if hop >= FULL_W:
                                if full < 0:
                                    end_slot, end_parent, end_mover, end_w = v, head, a_i, hop
                                    break
                                if (
                                    visited[0, full, v] != stamp
                                    and visited[1, full, v] != epoch[0]
                                    and tail < MAX_PATH_STATES
                                ):
                                    visited[0, full, v] = stamp
                                    state_slot[tail], state_node[tail] = v, full
                                    state_parent[tail], state_mover[tail] = head, a_i
                                    state_w[tail] = hop
                                    tail += 1
                        v += direction
                    if end_slot >= 0:
                        break
                if end_slot >= 0:
                    break
            head += 1
        if end_slot < 0:
            failed[b_i, 1] = signature
            for j in range(head):
                if state_whole[j]:
                    visited[1, state_node[j], state_slot[j]] = epoch[0]
            break
        epoch[0] += 1
        amount = end_w
        j = end_parent
        while j >= 0:
            amount = min(amount, state_w[j])
            j = state_parent[j]
        # Apply from the free end backwards: each shift moves into room just made.
        _shift(end_mover, end_slot, amount, power, loads, paths)
        _shift(end_mover, state_slot[end_parent], -amount, power, loads, paths)
        j = end_parent
        while j >= 0:
            parent = state_parent[j]
            _shift(state_mover[j], state_slot[j], amount, power, loads, paths)
            if parent >= 0:
                _shift(state_mover[j], state_slot[parent], -amount, power, loads, paths)
            j = parent
        gained += sess[b_i, WORTH] * amount * per_w_b
    return gained


@njit(cache=True, nogil=True)
def _scale(
    order: IntArray, power: FloatArray, prices: FloatArray, hours: float, sess: FloatArray
) -> float:
    """Size of the group's objective: energy cost plus shortfall penalty, both absolute."""
    total = 0.0
    for i in order:
        stored = sess[i, INIT]
        for t in range(int(sess[i, ARR]), int(sess[i, DEP])):
            p = power[i, t]
            if p >= 0.0:
                stored += p * sess[i, EFF] * hours
                total += abs(prices[0, t] * p) * hours / 1000.0
            else:
                stored += p / sess[i, EFF] * hours
                total += abs(prices[1, t] * p) * hours / 1000.0
        total += sess[i, WORTH] * max(sess[i, TARGET] - stored, 0.0)
    return total


@njit(cache=True, nogil=True)
def _plan_group(
    order: IntArray,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
    subtree_end: IntArray,
    by_node: IntArray,
    node_first: IntArray,
    failed: FloatArray,
    visited: IntArray,
    polish_rounds: int,
    state: FlowState,
    graph: FlowGraph,
    work: FlowWork,
    touched: IntArray,
) -> int:
    """Plan one independent group of sessions (in service order); return the polish
    rounds run."""
    flow_start(order, state, graph, work, STAGES, relieve=True)
    tolerance = ROUND_GAIN_STOP * _scale(order, power, prices, scal[1], sess)
    for _ in range(MAX_MOVE_PASSES):
        gain = 0.0
        for i in order:
            gain += _improve_session(i, power, loads, paths, limits, prices, scal, sess)
        if gain <= tolerance + MIN_GAIN_PER_WH:
            break
    # Pair moves cost about as much as the moves again: part of the polish (small groups).
    for _ in range(MAX_PAIR_PASSES if polish_rounds > 0 else 0):
        gain = _pair_pass(
            order,
            power,
            loads,
            paths,
            limits,
            prices,
            scal,
            sess,
            subtree_end,
            by_node,
            node_first,
            touched,
        )
        # The sessions that moved are where new single-session moves are likely.
        for i in order:
            if touched[i]:
                touched[i] = 0
                gain += _improve_session(i, power, loads, paths, limits, prices, scal, sess)
        if gain <= tolerance + MIN_GAIN_PER_WH:
            break
    # Polish: augmenting paths and exchanges, then a pass of moves, per round.
    rounds = 0
    augmenting = True
    # Dead-state marks of augmenting-path searches (see _augment); groups own their nodes.
    epoch = np.ones(1, dtype=np.int64)
    for r in range(1, polish_rounds + 1):
        epoch[0] += 1
        augmented = 0.0
        for i in order[: len(order) if augmenting else 0]:
            augmented += _augment(
                i,
                power,
                loads,
                paths,
                limits,
                prices,
                scal,
                sess,
                subtree_end,
                by_node,
                node_first,
                failed,
                visited,
                r,
                epoch,
            )
        gain = augmented
        for i in order:
            gain += _exchange(
                i,
                power,
                loads,
                paths,
                limits,
                prices,
                scal,
                sess,
                subtree_end,
                by_node,
                node_first,
                failed,
            )
        for i in order:
            gain += _improve_session(i, power, loads, paths, limits, prices, scal, sess)
        rounds = r
        tolerance = ROUND_GAIN_STOP * _scale(order, power, prices, scal[1], sess)
        augmenting = augmented > tolerance
        if gain <= tolerance + MIN_GAIN_PER_WH:
            break
    return rounds


@njit(cache=True, nogil=True)
def _plan_serial(
    group_start: IntArray,
    order: IntArray,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
    subtree_end: IntArray,
    by_node: IntArray,
    node_first: IntArray,
    failed: FloatArray,
    visited: IntArray,
    polish: IntArray,
    state: FlowState,
    graph: FlowGraph,
    work: FlowWork,
    touched: IntArray,
) -> None:
    for g in range(len(group_start) - 1):
        _plan_group(
            order[group_start[g] : group_start[g + 1]],
            power,
            loads,
            paths,
            limits,
            prices,
            scal,
            sess,
            subtree_end,
            by_node,
            node_first,
            failed,
            visited,
            polish[g],
            state,
            graph,
            work,
            touched,
        )


@njit(cache=True, nogil=True, parallel=True)
def _plan_parallel(
    group_start: IntArray,
    order: IntArray,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    limits: FloatArray,
    prices: FloatArray,
    scal: FloatArray,
    sess: FloatArray,
    subtree_end: IntArray,
    by_node: IntArray,
    node_first: IntArray,
    failed: FloatArray,
    visited: IntArray,
    polish: IntArray,
    state: FlowState,
    graph: FlowGraph,
    work: FlowWork,
    touched: IntArray,
) -> None:
    # Groups are disjoint top-level subtrees: each writes only its own sessions and nodes.
    for g in prange(len(group_start) - 1):
        _plan_group(
            order[group_start[g] : group_start[g + 1]],
            power,
            loads,
            paths,
            limits,
            prices,
            scal,
            sess,
            subtree_end,
            by_node,
            node_first,
            failed,
            visited,
            polish[g],
            state,
            graph,
            work,
            touched,
        )


def _service_order(arrays: InstanceArrays) -> tuple[IntArray, IntArray]:
    """Sessions grouped by top-level node; in a group by priority, then least laxity.

    Group g is order[group_start[g] : group_start[g + 1]].
    """
    need = np.maximum(arrays.sess_target - arrays.sess_initial, 0.0)
    per_slot = np.maximum(arrays.sess_max_charge * arrays.sess_efficiency * arrays.slot_hours, 1e-9)
    laxity = (arrays.sess_departure - arrays.sess_arrival) - need / per_slot
    group = arrays.node_root[arrays.sess_node]
    order = np.lexsort((laxity, -arrays.sess_priority, group)).astype(np.int64)
    boundaries = np.flatnonzero(np.diff(group[order])) + 1
    group_start = np.concatenate(([0], boundaries, [len(order)])).astype(np.int64)
    return order, group_start


def _subtrees(arrays: InstanceArrays) -> tuple[IntArray, IntArray, IntArray]:
    """Node k's subtree is nodes [k, subtree_end[k]) (depth-first order); its sessions are
    by_node[node_first[k] : node_first[subtree_end[k]]]."""
    n = len(arrays.node_ids)
    size = np.ones(n, dtype=np.int64)
    for k in range(n - 1, 0, -1):
        parent = arrays.node_parent[k]
        if parent >= 0:
            size[parent] += size[k]
    subtree_end = np.arange(n, dtype=np.int64) + size
    by_node = np.argsort(arrays.sess_node, kind="stable").astype(np.int64)
    node_first = np.searchsorted(arrays.sess_node[by_node], np.arange(n + 1)).astype(np.int64)
    return subtree_end, by_node, node_first


def _limits(arrays: InstanceArrays) -> FloatArray:
    """Node limits and dispatch caps as one [plane, node, slot] cube (see IMP, EXP, DCAP)."""
    n, slots = arrays.node_import.shape
    count = np.zeros((n, slots), dtype=np.int64)
    for k in range(len(arrays.disp_node)):
        count[arrays.disp_node[k], arrays.disp_from[k] : arrays.disp_to[k]] += 1
    limits = np.full((DCAP + max(int(count.max(initial=0)), 1), n, slots), np.inf)
    limits[IMP] = arrays.node_import
    limits[EXP] = arrays.node_export
    count[:] = 0
    for k in range(len(arrays.disp_node)):
        node, window = arrays.disp_node[k], np.arange(arrays.disp_from[k], arrays.disp_to[k])
        limits[DCAP + count[node, window], node, window] = arrays.disp_max[k]
        count[node, window] += 1
    limits[DCAP:] = np.sort(limits[DCAP:], axis=0)
    return limits


def _sessions(arrays: InstanceArrays) -> FloatArray:
    """The session matrix (see ARR..WORTH); WORTH is the shortfall penalty per stored Wh."""
    columns = [
        arrays.sess_arrival,
        arrays.sess_departure,
        arrays.sess_battery,
        arrays.sess_initial,
        arrays.sess_target,
        arrays.sess_floor,
        arrays.sess_max_charge,
        arrays.sess_max_discharge,
        arrays.sess_efficiency,
        arrays.shortfall_penalty * (1.0 + arrays.sess_priority) / 1000.0,
    ]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns]).reshape(
        -1, SESSION_COLUMNS
    )


def solve_arrays(
    arrays: InstanceArrays, *, parallel: bool = False, polish_rounds: int | None = None
) -> FloatArray:
    """Power per session (instance order) per slot, W; every hard limit holds."""
    m, slots = len(arrays.session_ids), arrays.import_price.shape[0]
    power = np.zeros((m, slots))
    if m == 0:
        return power
    loads = np.zeros(arrays.node_import.shape)
    order, group_start = _service_order(arrays)
    subtree_end, by_node, node_first = _subtrees(arrays)
    # Discharging is worth the export price less the degradation cost.
    prices = np.stack([arrays.import_price, arrays.export_price - arrays.degradation_cost])
    scal = np.array([arrays.dispatch_penalty, arrays.slot_hours])
    paths = session_paths(arrays)
    limits = _limits(arrays)
    sess = _sessions(arrays)
    state = FlowState(power, loads, limits, sess, paths, arrays.slot_hours)
    graph = flow_graph(
        arrays.node_parent.astype(np.int64),
        paths,
        arrays.sess_arrival,
        arrays.sess_departure,
        slots,
        arrays.disp_node,
    )
    # Polish rounds per group: as asked, or by the group's size (AUTO_POLISH_MAX_SESSIONS).
    sizes = np.diff(group_start)
    if polish_rounds is None:
        polish = np.where(sizes <= AUTO_POLISH_MAX_SESSIONS, AUTO_POLISH_ROUNDS, 0)
    else:
        polish = np.full(len(sizes), polish_rounds)
    polish = polish.astype(np.int64)
    polished = arrays.node_import if polish.max() > 0 else np.zeros((1, 1))
    planner = _plan_parallel if parallel else _plan_serial
    planner(
        group_start,
        order,
        power,
        loads,
        paths,
        limits,
        prices,
        scal,
        sess,
        subtree_end,
        by_node,
        node_first,
        # Search state of the polish steps (a placeholder when there is no polish).
        np.stack([np.zeros(m), np.full(m, np.nan)], axis=1),
        np.zeros((2, *polished.shape), dtype=np.int64),
        polish,
        state,
        graph,
        flow_work(m, graph, slots),
        # Sessions a pair move changed (groups own their sessions).
        np.zeros(m, dtype=np.int64),
    )
    return power


def solve(
    instance: Instance, *, parallel: bool = False, polish_rounds: int | None = None
) -> Schedule:
    """Plan an instance; `solve_seconds` is the kernel's own time (JIT compiled beforehand)."""
    arrays = to_arrays(instance)
    warm_up()
    started = time.perf_counter()
    power = solve_arrays(arrays, parallel=parallel, polish_rounds=polish_rounds)
    elapsed = time.perf_counter() - started
    power_w = {sid: power[i].tolist() for i, sid in enumerate(arrays.session_ids)}
    draft = Schedule("kernel", power_w, objective=0.0, violations=0, solve_seconds=elapsed)
    checked = check_schedule(instance, draft)
    return Schedule(
        "kernel",
        power_w,
        objective=checked.objective,
        violations=checked.violation_count,
        solve_seconds=elapsed,
    )


_WARM_UP_INSTANCE = {
    "version": 1,
    "start": "2026-01-01T00:00:00Z",
    "slot_seconds": 900,
    "slots": 2,
    "import_price": [0.1, 0.2],
    "nodes": [{"id": "n", "parent": None, "import_limit_w": 1e4, "export_limit_w": 1e4}],
    "sessions": [
        {
            "id": "s",
            "node": "n",
            "arrival_slot": 0,
            "departure_slot": 2,
            "battery_wh": 1e4,
            "initial_wh": 1e3,
            "target_wh": 5e3,
            "min_wh": 0,
            "max_charge_w": 1e4,
            "max_discharge_w": 1e4,
            "efficiency": 0.9,
            "priority": 0,
        }
    ],
    "dispatch": [{"node": "n", "from_slot": 0, "to_slot": 1, "max_net_w": 0}],
}
_compile_seconds: list[float] = []


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel once per process; return the seconds."""
    if not _compile_seconds:
        started = time.perf_counter()
        arrays = to_arrays(parse_instance(_WARM_UP_INSTANCE))
        solve_arrays(arrays, parallel=False, polish_rounds=1)
        solve_arrays(arrays, parallel=True, polish_rounds=1)
        _compile_seconds.append(time.perf_counter() - started)
    return _compile_seconds[0]
