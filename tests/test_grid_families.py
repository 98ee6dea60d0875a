"""The kernel against the HiGHS reference on the broad randomized families (families.py)."""

from __future__ import annotations

import numpy as np
import pytest

from csms.grid.check import check_schedule, objective_gap
from csms.grid.families import FAMILIES, family_instance
from csms.grid.instance import Schedule, instance_to_dict, parse_instance
from csms.grid.kernel import solve
from csms.grid.reference import solve_lp

SMALL_SESSIONS = 8
SEEDS_PER_FAMILY = 80
LP_TOLERANCE = 1e-6
"""HiGHS's interior point stops within about this fraction of the optimum."""


def test_families_cover_the_field_knobs() -> None:
    # What an untuned planner meets: every knob of the acceptance list turns up somewhere.
    seen: dict[str, bool] = dict.fromkeys(
        [
            "export above import",
            "export equal to import",
            "export below import",
            "negative price",
            "per-slot import limit",
            "per-slot export limit",
            "zero limit in a window",
            "export target",
            "several targets on one node and slot",
            "arrival at the first slot",
            "departure at the last slot",
            "one slot",
            "200 slots",
        ],
        False,
    )
    slot_seconds: set[int] = set()
    efficiencies: list[float] = []
    priorities: set[int] = set()
    for family in FAMILIES:
        for seed in range(40):
            instance = parse_instance(
                instance_to_dict(family_instance(family, SMALL_SESSIONS, seed, small=True))
            )
            imp, exp = np.array(instance.import_price), np.array(instance.export_price)
            seen["export above import"] |= bool((exp > imp + 1e-9).any())
            seen["export equal to import"] |= bool((exp == imp).any())
            seen["export below import"] |= bool((exp < imp).any())
            seen["negative price"] |= bool((imp < 0).any())
            for node in instance.nodes:
                for series in (node.import_limit_w_by_slot, node.export_limit_w_by_slot):
                    if series is not None and min(series) == 0.0 < max(series):
                        seen["zero limit in a window"] = True
                seen["per-slot import limit"] |= node.import_limit_w_by_slot is not None
                seen["per-slot export limit"] |= node.export_limit_w_by_slot is not None
            seen["export target"] |= any(d.max_net_w < 0 for d in instance.dispatch)
            cover: set[tuple[str, int]] = set()
            for d in instance.dispatch:
                for t in range(d.from_slot, d.to_slot):
                    if (d.node, t) in cover:
                        seen["several targets on one node and slot"] = True
                    cover.add((d.node, t))
            seen["arrival at the first slot"] |= any(s.arrival_slot == 0 for s in instance.sessions)
            seen["departure at the last slot"] |= any(
                s.departure_slot == instance.slots for s in instance.sessions
            )
            seen["one slot"] |= instance.slots == 1
            seen["200 slots"] |= instance.slots == 200
            slot_seconds.add(instance.slot_seconds)
            efficiencies += [s.efficiency for s in instance.sessions]
            priorities |= {s.priority for s in instance.sessions}
    assert [knob for knob, found in seen.items() if not found] == []
    assert slot_seconds == {300, 900, 3600}
    assert 0.85 <= min(efficiencies) < 0.86 and 0.96 < max(efficiencies) <= 0.97
    assert priorities == {0, 1, 2}


@pytest.mark.parametrize("family", FAMILIES)
def test_kernel_keeps_every_hard_limit_and_never_beats_the_lp(family: str) -> None:
    gaps = []
    for seed in range(SEEDS_PER_FAMILY):
        instance = family_instance(family, SMALL_SESSIONS, seed, small=True)
        kernel = check_schedule(instance, solve(instance))
        lp = check_schedule(instance, solve_lp(instance))
        idle = check_schedule(
            instance,
            Schedule("idle", {s.id: [0.0] * instance.slots for s in instance.sessions}, 0.0, 0, 0),
        )
        assert kernel.violations == (), (family, seed)
        assert lp.violations == (), (family, seed)
        # The LP is the optimum: a kernel below it means one of the two is wrong.
        gaps.append(objective_gap(kernel, lp))
        assert gaps[-1] >= -LP_TOLERANCE * 10, (family, seed)
        assert kernel.objective <= idle.objective + 1e-6, (family, seed)
