import pytest

from csms.grid.check import check_schedule
from csms.grid.instance import parse_instance
from csms.grid.reference import solve_lp
from tests.grid_factories import instance_doc, session


def test_lp_charges_in_the_cheapest_slots_under_the_transformer_limit() -> None:
    doc = instance_doc(
        sessions=[
            session(target_wh=30_000),
            session("s-2", "evse-2", target_wh=30_000, initial_wh=10_000),
        ]
    )
    instance = parse_instance(doc)
    schedule = solve_lp(instance)
    check = check_schedule(instance, schedule)
    assert check.ok
    # 40 kWh in total through a 15 kW transformer: 15 at 0.1, 15 at 0.2, 10 at 0.3.
    assert check.energy_cost == pytest.approx(1.5 + 3.0 + 3.0, abs=1e-4)
    assert check.unmet_wh == pytest.approx(0, abs=1e-3)
    assert schedule.objective == pytest.approx(check.objective)


def test_lp_serves_the_higher_priority_when_energy_is_short() -> None:
    doc = instance_doc(
        sessions=[
            session(target_wh=60_000, priority=0),
            session("s-2", "evse-2", target_wh=60_000, priority=3),
        ]
    )
    instance = parse_instance(doc)
    check = check_schedule(instance, solve_lp(instance))
    assert check.ok
    assert check.shortfall_wh["s-2"] == pytest.approx(60_000 - 10_000 - 44_000, abs=1e-2)
    assert check.final_wh["s-1"] == pytest.approx(10_000 + 60_000 - 44_000, abs=1e-2)


def test_lp_discharges_into_the_dearest_slot_when_the_spread_pays() -> None:
    doc = instance_doc(
        degradation_cost_per_kwh=0.02,
        sessions=[session(max_discharge_w=11_000, initial_wh=30_000, target_wh=30_000)],
    )
    instance = parse_instance(doc)
    schedule = solve_lp(instance)
    assert check_schedule(instance, schedule).ok
    power = schedule.power_w["s-1"]
    assert power[3] == pytest.approx(-10_000)  # sells at 0.4, up to the export limit of tx
    assert power[1] == pytest.approx(11_000)  # buys back at 0.1
