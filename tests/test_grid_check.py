import pytest

from csms.grid.check import check_schedule
from csms.grid.instance import Schedule, parse_instance
from tests.grid_factories import instance_doc, session


def _schedule(**power: list[float]) -> Schedule:
    return Schedule(
        solver="test",
        power_w={key.replace("_", "-"): value for key, value in power.items()},
        objective=0.0,
        violations=0,
        solve_seconds=0.0,
    )


def test_idle_schedule_is_safe_and_pays_the_weighted_shortfall() -> None:
    instance = parse_instance(instance_doc(sessions=[session(priority=2)]))
    result = check_schedule(instance, _schedule(s_1=[0, 0, 0, 0]))
    assert result.ok
    # 10 kWh short, weight 1 + priority = 3, 100 per kWh.
    assert result.shortfall_cost == pytest.approx(3_000)
    assert result.objective == pytest.approx(3_000)
    assert result.unmet_wh == pytest.approx(10_000)
    assert result.requested_wh == pytest.approx(10_000)


def test_objective_counts_import_export_degradation_and_dispatch() -> None:
    doc = instance_doc(
        export_price=[0.25, 0.1, 0.2, 0.35],
        degradation_cost_per_kwh=0.05,
        sessions=[session(max_discharge_w=10_000, efficiency=0.9, target_wh=10_000)],
        dispatch=[{"node": "tx", "from_slot": 1, "to_slot": 2, "max_net_w": 4_000}],
    )
    instance = parse_instance(doc)
    result = check_schedule(instance, _schedule(s_1=[0, 10_000, 0, -5_000]))
    # Charge 10 kWh at 0.1; discharge 5 kWh paid 0.35, degradation 0.05 each.
    assert result.energy_cost == pytest.approx(1.0 - 1.75)
    assert result.degradation_cost == pytest.approx(0.25)
    # 6 kW above the 4 kW target for one hour at 10 per kWh.
    assert result.dispatch_cost == pytest.approx(60.0)
    # Stored 10 kWh * 0.9 = 9 kWh, removed 5 / 0.9 kWh: final above the target, no shortfall.
    assert result.final_wh["s-1"] == pytest.approx(10_000 + 9_000 - 5_000 / 0.9)
    assert result.shortfall_cost == 0
    assert result.exported_kwh == pytest.approx(5.0)
    assert result.ok


def test_every_broken_limit_is_listed_with_what_and_where() -> None:
    doc = instance_doc(
        sessions=[
            session(target_wh=60_000, battery_wh=60_000, initial_wh=50_000),
            session("s-2", "evse-2", arrival_slot=1, departure_slot=3),
        ]
    )
    instance = parse_instance(doc)
    result = check_schedule(
        instance, _schedule(s_1=[11_000, 11_000, -3_000, 0], s_2=[1_000, 9_000, 0, 0])
    )
    joined = "\n".join(result.violations)
    assert "sessions.s-2 slot 0: power 1000.0 W while absent" in joined
    assert "sessions.s-1 slot 2: discharge 3000.0 W above max_discharge_w" in joined
    assert "sessions.s-1 boundary 1: 61000.0 Wh above battery_wh" in joined
    assert "nodes.tx slot 1: net 20000.0 W above import limit 15000.0 W" in joined
    assert result.violation_count == len(result.violations)
    assert not result.ok


def test_energy_floor_is_the_reserve_or_arrival_energy() -> None:
    instance = parse_instance(
        instance_doc(sessions=[session(initial_wh=4_000, min_wh=5_000, max_discharge_w=5_000)])
    )
    result = check_schedule(instance, _schedule(s_1=[-2_000, 0, 0, 0]))
    assert result.violations == tuple(
        f"sessions.s-1 boundary {k}: 2000.0 Wh below floor" for k in range(1, 5)
    )


def test_missing_and_unknown_sessions_are_violations() -> None:
    instance = parse_instance(instance_doc())
    result = check_schedule(instance, _schedule(s_9=[0, 0, 0, 0]))
    assert set(result.violations) == {"power_w.s-1: missing", "power_w.s-9: unknown session"}


def test_tolerance_is_one_watt_and_one_watt_hour() -> None:
    instance = parse_instance(instance_doc())
    result = check_schedule(instance, _schedule(s_1=[11_000.5, 0, 0, 0]))
    assert result.ok
