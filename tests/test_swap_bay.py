from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swap_orchestrator.bay import Bay, BayState, IllegalTransition


def at_stage(state: BayState) -> Bay:
    bay = Bay(1)
    path: list[Callable[[Bay], Bay]] = [
        lambda b: b.reserve("car-1", 1.0),
        lambda b: b.start_approach(2.0),
        lambda b: b.vehicle_in_bay(3.0),
        lambda b: b.start_swap(4.0),
        lambda b: b.complete_swap(5.0),
    ]
    order = [
        BayState.IDLE,
        BayState.RESERVED,
        BayState.APPROACHING,
        BayState.CHECKING,
        BayState.SWAPPING,
        BayState.RELEASING,
    ]
    for step in path[: order.index(state)]:
        bay = step(bay)
    return bay


def test_happy_path_runs_every_stage_in_order_and_ends_idle() -> None:
    bay = at_stage(BayState.RELEASING)
    assert (bay.state, bay.vehicle, bay.since) == (BayState.RELEASING, "car-1", 5.0)
    bay = bay.vacate(6.0)
    assert (bay.state, bay.vehicle) == (BayState.IDLE, None)


def test_refused_vehicle_leaves_without_a_swap() -> None:
    bay = at_stage(BayState.CHECKING).refuse(4.0)
    assert bay.state is BayState.RELEASING and bay.vehicle == "car-1"
    assert bay.vacate(5.0).state is BayState.IDLE


@pytest.mark.parametrize("state", [BayState.RESERVED, BayState.APPROACHING])
def test_withdraw_frees_a_bay_whose_called_vehicle_never_arrives(state: BayState) -> None:
    bay = at_stage(state).withdraw(9.0)
    assert (bay.state, bay.vehicle) == (BayState.IDLE, None)


def test_swap_cannot_start_before_the_vehicle_is_checked_in_the_bay() -> None:
    with pytest.raises(IllegalTransition):
        at_stage(BayState.APPROACHING).start_swap(3.0)
    with pytest.raises(IllegalTransition):
        at_stage(BayState.RESERVED).start_swap(3.0)


def test_busy_bay_cannot_be_reserved_twice() -> None:
    with pytest.raises(IllegalTransition):
        at_stage(BayState.RESERVED).reserve("car-2", 2.0)


@pytest.mark.parametrize("state", [BayState.CHECKING, BayState.SWAPPING])
def test_fault_with_vehicle_on_platform_holds_it_and_rechecks_after_recovery(
    state: BayState,
) -> None:
    bay = at_stage(state).fault(10.0)
    assert (bay.state, bay.vehicle) == (BayState.FAULT, "car-1")
    with pytest.raises(IllegalTransition):
        bay.start_swap(11.0)  # nothing moves while the fault lasts
    with pytest.raises(IllegalTransition):
        bay.vacate(11.0)
    recovered = bay.recover(20.0)
    assert (recovered.state, recovered.vehicle) == (BayState.CHECKING, "car-1")


@pytest.mark.parametrize(
    "state", [BayState.IDLE, BayState.RESERVED, BayState.APPROACHING, BayState.RELEASING]
)
def test_fault_without_vehicle_on_platform_leaves_an_empty_faulty_bay(state: BayState) -> None:
    bay = at_stage(state).fault(10.0)
    assert (bay.state, bay.vehicle) == (BayState.FAULT, None)
    assert bay.recover(20.0).state is BayState.IDLE


def test_fault_bay_cannot_fault_again_or_take_a_vehicle() -> None:
    bay = Bay(1).fault(1.0)
    with pytest.raises(IllegalTransition):
        bay.fault(2.0)
    with pytest.raises(IllegalTransition):
        bay.reserve("car-1", 2.0)


def test_recover_only_from_fault() -> None:
    with pytest.raises(IllegalTransition):
        Bay(1).recover(1.0)


TRANSITIONS: dict[str, Callable[[Bay, float], Bay]] = {
    "reserve": lambda b, t: b.reserve("car-x", t),
    "start_approach": Bay.start_approach,
    "vehicle_in_bay": Bay.vehicle_in_bay,
    "start_swap": Bay.start_swap,
    "complete_swap": Bay.complete_swap,
    "refuse": Bay.refuse,
    "vacate": Bay.vacate,
    "withdraw": Bay.withdraw,
    "fault": Bay.fault,
    "recover": Bay.recover,
}


@given(st.lists(st.sampled_from(sorted(TRANSITIONS)), max_size=40))
def test_any_sequence_of_transitions_keeps_the_vehicle_invariant(names: list[str]) -> None:
    bay = Bay(1)
    for t, name in enumerate(names):
        before = bay
        try:
            bay = TRANSITIONS[name](bay, float(t))
        except IllegalTransition:
            assert bay == before
            continue
        if bay.state is BayState.IDLE:
            assert bay.vehicle is None
        elif bay.state is not BayState.FAULT:
            assert bay.vehicle is not None
        if name == "start_swap":
            assert before.state is BayState.CHECKING  # the only way into a swap
