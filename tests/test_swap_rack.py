import logging
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swap_orchestrator.batteries import RackBattery
from swap_orchestrator.rack import (
    Demand,
    GridRequest,
    Rack,
    RackPlan,
    RackPlanParams,
    build_instance,
    edf_planner,
    match_deadlines,
    plan_rack,
    urgent_schedule,
)

START = datetime(2026, 11, 24, tzinfo=UTC)
PRICES = [0.1] * 12 + [0.2] * 12


def rack_battery(serial: str, soc: float, btype: str = "75kWh") -> RackBattery:
    return RackBattery(serial, btype, 75000.0, soc * 75000.0, 0.95)


def test_forecast_swaps_get_the_fullest_battery_of_their_type_earliest_first() -> None:
    batteries = [rack_battery("a", 0.5), rack_battery("b", 0.8), rack_battery("c", 0.9, "100kWh")]
    deadlines = match_deadlines(batteries, [Demand("75kWh", 900), Demand("75kWh", 300)])
    assert deadlines == {"b": 300, "a": 900}


def test_instance_follows_the_charging_instance_format() -> None:
    params = RackPlanParams(slot_s=300, horizon_slots=4, ready_margin_s=0.0)
    instance = build_instance(
        3600.0,
        START,
        [rack_battery("a", 0.5), rack_battery("b", 0.95)],
        [Demand("75kWh", 3600.0 + 650)],
        handout_soc=0.9,
        charge_w=60000,
        limit_w=lambda t: 100000.0 if t < 4200 else 50000.0,
        prices=PRICES,
        params=params,
    )
    assert instance["version"] == 1 and instance["start"] == "2026-11-24T01:00:00Z"
    assert (instance["slot_seconds"], instance["slots"]) == (300, 4)
    assert instance["import_price"] == [0.1] * 4
    root = instance["nodes"][0]
    assert root["import_limit_w_by_slot"] == [100000.0, 100000.0, 50000.0, 50000.0]
    sessions = {s["id"]: s for s in instance["sessions"]}
    # The fullest battery is the one the coming swap will get: it is due in slot 2.
    assert sessions["b"]["departure_slot"] == 2 and sessions["b"]["priority"] == 2
    assert sessions["a"]["departure_slot"] == 4
    assert sessions["a"]["target_wh"] == pytest.approx(0.902 * 75000)
    assert {n["id"] for n in instance["nodes"]} == {"station", "rack-a", "rack-b"}


SESSION_FIELDS = {
    "id": str, "node": str, "arrival_slot": int, "departure_slot": int, "battery_wh": float,
    "initial_wh": float, "target_wh": float, "min_wh": float, "max_charge_w": float,
    "max_discharge_w": float, "efficiency": float, "priority": int,
}  # fmt: skip


@given(
    st.lists(st.floats(0.0, 1.0), max_size=8),
    st.lists(st.floats(-600, 7200), max_size=8),
    st.floats(0, 86400),
)
def test_instance_is_valid_for_any_planner_of_the_format(
    socs: list[float], demand_times: list[float], now: float
) -> None:
    """What the kernel's parser insists on: whole numbers where the format has them,
    every session field, sessions inside the horizon, energies within the battery."""
    params = RackPlanParams()
    instance = build_instance(
        now,
        START,
        [rack_battery(f"b{i}", soc) for i, soc in enumerate(socs)],
        [Demand("75kWh", now + t) for t in demand_times],
        handout_soc=0.9,
        charge_w=60000,
        limit_w=lambda t: 500000.0,
        prices=PRICES,
        params=params,
    )
    assert type(instance["slot_seconds"]) is int and type(instance["slots"]) is int
    slots = instance["slots"]
    assert len(instance["import_price"]) == slots
    assert len(instance["nodes"][0]["import_limit_w_by_slot"]) == slots
    node_ids = {n["id"] for n in instance["nodes"]}
    for s in instance["sessions"]:
        for key, kind in SESSION_FIELDS.items():
            assert isinstance(s[key], kind if kind is not float else (int, float)), key
        assert s["node"] in node_ids
        assert 0 <= s["arrival_slot"] < s["departure_slot"] <= slots
        assert max(s["initial_wh"], s["target_wh"], s["min_wh"]) <= s["battery_wh"]


def test_edf_charges_the_earliest_deadline_first_under_the_limit() -> None:
    instance = build_instance(
        0.0,
        START,
        [rack_battery("late", 0.2), rack_battery("soon", 0.3)],
        [Demand("75kWh", 1200.0)],
        handout_soc=0.9,
        charge_w=60000,
        limit_w=lambda t: 70000.0,
        prices=PRICES,
        params=RackPlanParams(slot_s=300, horizon_slots=8),
    )
    power = edf_planner(instance)
    # The fuller battery is promised to the swap due at 1200 s: it charges at full power,
    # the other gets what the connection has left.
    assert power["soon"][0] == 60000 and power["late"][0] == pytest.approx(10000)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
    st.lists(st.floats(0, 400000), min_size=6, max_size=6),
    st.lists(st.floats(0, 3600), max_size=6),
)
def test_edf_plan_respects_limits_energy_and_targets(
    socs: list[float], limits: list[float], demand_times: list[float]
) -> None:
    params = RackPlanParams(slot_s=600, horizon_slots=6)
    batteries = [rack_battery(f"b{i}", soc) for i, soc in enumerate(socs)]
    instance = build_instance(
        0.0,
        START,
        batteries,
        [Demand("75kWh", t) for t in demand_times],
        handout_soc=0.9,
        charge_w=60000,
        limit_w=lambda t: limits[int(t // 600)],
        prices=PRICES,
        params=params,
    )
    power = edf_planner(instance)
    for k in range(6):
        assert sum(series[k] for series in power.values()) <= limits[k] + 1e-6
    for s in instance["sessions"]:
        series = power[s["id"]]
        assert all(0 <= p <= 60000 + 1e-9 for p in series)
        assert all(p == 0 for p in series[s["departure_slot"] :])
        stored = s["initial_wh"] + sum(series) * s["efficiency"] * 600 / 3600
        assert stored <= max(s["target_wh"], s["initial_wh"]) + 1e-6


def test_grid_request_to_feed_back_discharges_batteries_no_swap_needs() -> None:
    params = RackPlanParams(slot_s=900, horizon_slots=4, discharge_w=20000)
    instance = build_instance(
        0.0,
        START,
        [rack_battery("spare", 0.95), rack_battery("due", 0.95)],
        [Demand("75kWh", 1800.0)],
        handout_soc=0.9,
        charge_w=60000,
        limit_w=lambda t: 200000.0,
        prices=PRICES,
        grid_requests=[GridRequest(900.0, 2700.0, -15000.0)],
        params=params,
    )
    assert instance["dispatch"] == [
        {"node": "station", "from_slot": 1, "to_slot": 3, "max_net_w": -15000.0}
    ]
    power = edf_planner(instance)
    due = next(s["id"] for s in instance["sessions"] if s["priority"] == 2)
    spare = "spare" if due == "due" else "due"
    assert power[spare][1:3] == [-15000.0, -15000.0]
    assert all(p >= 0 for p in power[due])  # a battery promised to a swap is not drained


def test_rack_clamps_a_plan_to_chargers_room_and_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rack = Rack(
        [rack_battery("a", 0.5), rack_battery("b", 0.99)],
        charge_w=60000,
        efficiency=1.0,
        station="pss-1",
    )
    with caplog.at_level(logging.WARNING):
        rack.set_power({"a": 90000, "b": 60000}, limit_w=50000, slot_s=300)
    assert "pss-1" in caplog.text
    # "a" is capped at its charger, "b" at its room (750 Wh in 5 min = 9 kW), then both are
    # scaled down to the connection's 50 kW.
    assert rack.total_w == pytest.approx(50000)
    assert rack.power_w["a"] / rack.power_w["b"] == pytest.approx(60000 / 9000)


def test_rack_energy_follows_power_and_time() -> None:
    rack = Rack([rack_battery("a", 0.5)], charge_w=60000, efficiency=0.9)
    rack.set_power({"a": 30000}, limit_w=100000, slot_s=3600)
    drawn = rack.advance(1800.0)
    assert drawn == pytest.approx(15000)
    assert rack.batteries["a"].energy_wh == pytest.approx(37500 + 13500)


def test_a_forecast_swap_s_battery_is_planned_ready_a_margin_ahead() -> None:
    def due_slot(margin: float) -> int:
        instance = build_instance(
            0.0,
            START,
            [rack_battery("a", 0.5)],
            [Demand("75kWh", 3000.0)],
            handout_soc=0.9,
            charge_w=60000,
            limit_w=lambda t: 100000.0,
            prices=PRICES,
            params=RackPlanParams(slot_s=60, horizon_slots=60, ready_margin_s=margin),
        )
        slot: int = instance["sessions"][0]["departure_slot"]
        return slot

    assert due_slot(0.0) == 50
    assert due_slot(900.0) == 35
    assert due_slot(5000.0) == 1  # never before the next slot


def test_batteries_of_a_type_vehicles_wait_for_charge_flat_out_fullest_first() -> None:
    params = RackPlanParams(slot_s=600, horizon_slots=12)
    batteries = [
        rack_battery("low", 0.3),
        rack_battery("high", 0.7),
        rack_battery("ready", 0.95),
        rack_battery("other", 0.2, "100kWh"),
    ]
    plan = urgent_schedule(
        batteries,
        [],
        {"75kWh"},
        handout_soc=0.9,
        charge_w=60000.0,
        limits_w=[100000.0] * 12,
        params=params,
    )
    # Only the waiting type's batteries below hand-out; the limit binds: the fullest gets
    # its charger's full power, the other what is left, price-blind.
    assert set(plan) == {"low", "high"}
    assert plan["high"][0] == 60000.0 and plan["low"][0] == pytest.approx(40000.0)
    assert all(sum(series[k] for series in plan.values()) <= 100000.0 + 1e-6 for k in range(12))
    for serial, series in plan.items():
        stored = sum(series) * 0.95 * params.slot_s / 3600
        start = next(b for b in batteries if b.serial == serial).energy_wh
        assert start + stored == pytest.approx(0.902 * 75000)  # stops at the target


def test_forecast_swaps_order_flat_out_charging_across_types() -> None:
    params = RackPlanParams(slot_s=600, horizon_slots=6)
    batteries = [rack_battery("a", 0.6), rack_battery("b", 0.5, "100kWh")]
    plan = urgent_schedule(
        batteries,
        [Demand("100kWh", 100.0), Demand("75kWh", 400.0)],
        {"75kWh", "100kWh"},
        handout_soc=0.9,
        charge_w=60000.0,
        limits_w=[60000.0] * 6,
        params=params,
    )
    # The 100kWh swap is due first: its battery gets the power although it is emptier.
    assert plan["b"][0] == 60000.0 and plan["a"][0] == 0.0


def test_rack_plan_leaves_the_rest_of_the_connection_to_the_price_aware_planner() -> None:
    params = RackPlanParams(slot_s=600, horizon_slots=6)
    seen: list[dict[str, object]] = []

    def planner(instance: dict[str, object]) -> dict[str, list[float]]:
        seen.append(instance)
        return edf_planner(instance)

    plan = plan_rack(
        planner,
        0.0,
        START,
        [rack_battery("w", 0.5), rack_battery("x", 0.5, "100kWh")],
        [],
        {"75kWh"},
        handout_soc=0.9,
        charge_w=60000.0,
        limit_w=lambda t: 100000.0,
        prices=PRICES,
        grid_requests=[GridRequest(1200.0, 2400.0, 30000.0)],
        params=params,
    )
    assert isinstance(plan, RackPlan) and set(plan.power_w) == {"w", "x"}
    (instance,) = seen
    assert [s["id"] for s in instance["sessions"]] == ["x"]  # type: ignore[index]
    limits = instance["nodes"][0]["import_limit_w_by_slot"]  # type: ignore[index]
    w = plan.power_w["w"]
    assert w[0] == 60000.0 and limits[0] == pytest.approx(40000.0)
    assert w[2] == 30000.0  # the grid's request caps flat-out charging too
    # Re-planned once the battery charged flat out is ready.
    assert plan.replan_slot == max(k for k, p in enumerate(w) if p > 0) + 1
