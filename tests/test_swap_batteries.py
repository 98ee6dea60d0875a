from hypothesis import given
from hypothesis import strategies as st

from swap_orchestrator.batteries import RackBattery, choose_battery


def battery(serial: str, soc: float, soh: float = 0.95, btype: str = "75kWh") -> RackBattery:
    return RackBattery(serial, btype, 75000.0, soc * 75000.0, soh)


def test_fullest_then_healthiest_compatible_battery_is_handed_out() -> None:
    rack = [
        battery("a", 0.95, 0.90),
        battery("b", 0.97, 0.85),
        battery("c", 0.97, 0.95),
        battery("d", 1.0, 0.99, "100kWh"),
    ]
    chosen = choose_battery(rack, "75kWh", 0.9)
    assert chosen is not None and chosen.serial == "c"


def test_no_battery_under_the_hand_out_soc_leaves() -> None:
    assert choose_battery([battery("a", 0.8999)], "75kWh", 0.9) is None
    assert choose_battery([battery("a", 0.9)], "75kWh", 0.9) is not None


def test_reserve_keeps_batteries_for_waiting_priority_vehicles() -> None:
    rack = [battery("a", 0.95), battery("b", 0.96)]
    assert choose_battery(rack, "75kWh", 0.9, reserve=1) is not None
    assert choose_battery(rack, "75kWh", 0.9, reserve=2) is None


socs = st.lists(st.floats(0.0, 1.0), max_size=15)


@given(socs, st.integers(0, 5))
def test_choice_is_ready_compatible_and_leaves_the_reserve(
    values: list[float], reserve: int
) -> None:
    rack = [battery(f"s{i}", v, btype="75kWh" if i % 2 else "100kWh") for i, v in enumerate(values)]
    chosen = choose_battery(rack, "75kWh", 0.9, reserve)
    ready = [b for b in rack if b.type == "75kWh" and b.soc >= 0.9]
    if chosen is None:
        assert len(ready) <= reserve
    else:
        assert chosen in ready and len(ready) > reserve
        assert chosen.soc == max(b.soc for b in ready)
