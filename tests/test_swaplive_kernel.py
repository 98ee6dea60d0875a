from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from swap_orchestrator.batteries import RackBattery
from swap_orchestrator.kernel_planner import kernel_planner
from swap_orchestrator.rack import Demand, GridRequest, RackPlanParams, build_instance
from swap_orchestrator.sim import Simulation

START = datetime(2026, 11, 24, tzinfo=UTC)
PRICES = [0.1] * 12 + [0.2] * 12


def rack_battery(serial: str, soc: float) -> RackBattery:
    return RackBattery(serial, "75kWh", 75000.0, soc * 75000.0, 0.95)


def test_kernel_charges_the_battery_due_first_to_the_handout_soc_by_its_deadline() -> None:
    params = RackPlanParams(slot_s=300, horizon_slots=8, ready_margin_s=0.0)
    instance = build_instance(
        0.0,
        START,
        [rack_battery("late", 0.2), rack_battery("soon", 0.6)],
        [Demand("75kWh", 1500.0)],
        handout_soc=0.9,
        charge_w=60000,
        limit_w=lambda t: 70000.0,
        prices=PRICES,
        params=params,
    )
    power = kernel_planner(instance)
    due = instance["sessions"][1]["departure_slot"]
    slot_h = params.slot_s / 3600
    stored = sum(p * params.efficiency * slot_h for p in power["soon"][:due])
    assert 0.6 * 75000 + stored >= 0.9 * 75000 - 1.0
    assert all(a + b <= 70000.0 + 1e-6 for a, b in zip(power["soon"], power["late"], strict=True))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10),
    st.lists(st.floats(0, 400000), min_size=6, max_size=6),
    st.floats(-200000, 100000),
)
def test_kernel_rack_plans_keep_every_slot_under_the_rack_limit_and_slot_charger(
    socs: list[float], limits: list[float], grid_net_w: float
) -> None:
    params = RackPlanParams(slot_s=600, horizon_slots=6, discharge_w=30000)
    batteries = [rack_battery(f"b{n}", soc) for n, soc in enumerate(socs)]
    instance = build_instance(
        0.0,
        START,
        batteries,
        [Demand("75kWh", 1800.0)],
        handout_soc=0.9,
        charge_w=60000,
        limit_w=lambda t: limits[int(t // 600)],
        prices=PRICES,
        grid_requests=[GridRequest(600.0, 1800.0, grid_net_w)],
        params=params,
    )
    power = kernel_planner(instance)
    assert set(power) == {b.serial for b in batteries}
    for k in range(params.horizon_slots):
        # The station node's limit is on net power (a battery may feed another).
        assert sum(p[k] for p in power.values()) <= limits[k] + 1e-3
        for series in power.values():
            assert -30000 - 1e-6 <= series[k] <= 60000 + 1e-6


def test_simulator_plans_rack_charging_with_the_kernel_by_default() -> None:
    assert Simulation.__init__.__kwdefaults__["planner"] is kernel_planner
