"""Properties of the pure transaction state machine: order and repetition never matter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.blocks.transaction_state import (
    EventType,
    TxEvent,
    TxState,
    apply,
    from_json,
    to_json,
)

T0 = datetime(2026, 11, 24, tzinfo=UTC)


def make_events(increments: list[int], ended: bool) -> list[TxEvent]:
    """A well-formed transaction: Started, Updated..., Ended, with a rising import register."""
    events = []
    register = 1000.0
    last = len(increments) - 1
    for seq_no, step in enumerate(increments):
        register += step
        kind = EventType.UPDATED
        if seq_no == 0:
            kind = EventType.STARTED
        elif seq_no == last and ended:
            kind = EventType.ENDED
        moment = T0 + timedelta(minutes=seq_no)
        events.append(
            TxEvent(
                transaction_id="tx",
                event_type=kind,
                seq_no=seq_no,
                timestamp=moment,
                trigger_reason="MeterValuePeriodic",
                evse_id=1,
                charging_state="Charging" if kind is not EventType.ENDED else "Idle",
                stopped_reason="EVDisconnected" if kind is EventType.ENDED else None,
                import_readings=((moment, register),),
            )
        )
    return events


def fold(events: list[TxEvent]) -> TxState | None:
    state = None
    for event in events:
        state, _ = apply(state, event)
    return state


transactions = st.builds(
    make_events,
    st.lists(st.integers(min_value=0, max_value=5000), min_size=2, max_size=25),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(transactions, st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_same_state(events: list[TxEvent], rnd: object) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert fold(shuffled) == fold(events)


@settings(max_examples=200, deadline=None)
@given(transactions, st.data())
def test_duplicates_are_detected_and_change_nothing(
    events: list[TxEvent], data: st.DataObject
) -> None:
    state = fold(events)
    assert state is not None
    again = data.draw(st.sampled_from(events))
    after, duplicate = apply(state, again)
    assert duplicate and after == state


@settings(max_examples=200, deadline=None)
@given(transactions)
def test_energy_is_last_minus_first_register(events: list[TxEvent]) -> None:
    state = fold(events)
    assert state is not None
    first = events[0].import_readings[0][1]
    last = events[-1].import_readings[0][1]
    assert state.energy_wh == last - first
    assert state.gaps == []
    assert state.ended == (events[-1].event_type is EventType.ENDED)


@settings(max_examples=200, deadline=None)
@given(transactions, st.data())
def test_gaps_are_exactly_the_missing_seq_nos(events: list[TxEvent], data: st.DataObject) -> None:
    kept = data.draw(st.lists(st.sampled_from(events), min_size=1, unique_by=lambda e: e.seq_no))
    state = fold(kept)
    assert state is not None
    seen = {event.seq_no for event in kept}
    missing = [n for n in range(min(seen), max(seen) + 1) if n not in seen]
    expanded = [n for first, last in state.gaps for n in range(first, last + 1)]
    assert expanded == missing
    assert all(state.has_seen(n) for n in seen)
    assert not any(state.has_seen(n) for n in missing)


@settings(max_examples=100, deadline=None)
@given(transactions)
def test_state_survives_its_json_round_trip(events: list[TxEvent]) -> None:
    state = fold(events)
    assert state is not None
    assert from_json(to_json(state)) == state
