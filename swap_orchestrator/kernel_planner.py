"""Rack charging by the planning kernel: a `RackPlanner` backed by `csms.grid.kernel`."""

from __future__ import annotations

from typing import Any

from csms.grid.instance import parse_instance, to_arrays
from csms.grid.kernel import solve_arrays, warm_up


def kernel_planner(instance: dict[str, Any]) -> dict[str, list[float]]:
    """Power per rack battery and slot (W) from the numba kernel; every hard limit holds.

    Calls the kernel directly (no schedule check) because the simulator re-plans a rack
    every slot; the kernel's own tests check its schedules against the instance.
    """
    warm_up()
    # The instance format wants whole seconds per slot; rack.py writes a float.
    parsed = parse_instance(dict(instance, slot_seconds=round(float(instance["slot_seconds"]))))
    arrays = to_arrays(parsed)
    power = solve_arrays(arrays)
    return {sid: power[i].tolist() for i, sid in enumerate(arrays.session_ids)}
