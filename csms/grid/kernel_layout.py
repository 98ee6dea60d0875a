"""The kernel's array layout, shared by its stages: session-matrix columns, limit-cube
planes, and the one routine that changes a session's power together with its nodes' loads.
"""

from __future__ import annotations

from numba import njit

from csms.grid.instance import FloatArray, IntArray

# Columns of the session matrix [session, column].
ARR, DEP, CAP, INIT, TARGET, FLOOR, MAXC, MAXD, EFF, WORTH = range(10)
SESSION_COLUMNS = 10
# Planes of the node-limit cube [plane, node, slot]: import limit, export limit, then the
# node-slot's dispatch caps ascending, +inf padded (DCAP, the first, is the tightest; each
# target is penalised on its own, so a load between two caps pays for those below it only).
IMP, EXP, DCAP = range(3)

SNAP_W = 1e-7
"""A power closer to zero than this (W) after a change becomes exactly zero. Its sign
decides which efficiency and price apply, so rounding residues must not leave a car
'discharging' 1e-12 W. Residues of a move (an amount divided by Wh per W, later taken
back) on powers up to MW are ~1e-10 W; 1e-7 clears them with margin, stays four orders
below the flow's smallest step (FLOW_EPS_W, 1e-3 W), and changes stored energy by less
than 1e-7 Wh, far inside the 1 W / 1 Wh tolerance of a hard limit."""


@njit(cache=True, nogil=True)
def shift_power(
    i: int,
    t: int,
    delta: float,
    power: FloatArray,
    loads: FloatArray,
    paths: IntArray,
    levels: int,
) -> None:
    """Change session i's power in slot t by delta W (snapped to zero within SNAP_W), and
    the loads of its first `levels` path nodes with it (a -1 path entry ends the path)."""
    new = power[i, t] + delta
    if abs(new) < SNAP_W:
        new = 0.0
    delta = new - power[i, t]
    power[i, t] = new
    for level in range(levels):
        a = paths[i, level]
        if a < 0:
            break
        loads[a, t] += delta
