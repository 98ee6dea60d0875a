"""Data-quality judgement in the pure transaction fold: dirty readings are kept out of the
energy and counted, clean ones are billed as before."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.blocks.transaction_state import (
    PLAUSIBLE,
    SUPERSEDED_REASON,
    WINDOW,
    EventType,
    Flag,
    Plausibility,
    TxEvent,
    TxState,
    apply,
    from_json,
    plausible_series,
    supersede,
    superseded_by,
    to_json,
)
from csms.blocks.transaction_state import fold as fold_in_order
from tests.test_transaction_state import fold, make_events

T0 = datetime(2026, 11, 24, 8, tzinfo=UTC)
AC_22KW = Plausibility(max_power_w=22_000)


def event(
    kind: str,
    seq_no: int,
    minutes: float,
    wh: float | None = None,
    *,
    transaction_id: str = "tx",
    evse_id: int | None = 1,
    received_at: datetime | None = None,
    reading_at: datetime | None = None,
) -> TxEvent:
    moment = T0 + timedelta(minutes=minutes)
    readings = () if wh is None else ((reading_at or moment, wh),)
    return TxEvent(
        transaction_id=transaction_id,
        event_type=EventType(kind),
        seq_no=seq_no,
        timestamp=moment,
        trigger_reason="MeterValuePeriodic",
        evse_id=evse_id,
        stopped_reason="EVDisconnected" if kind == "Ended" else None,
        import_readings=readings,
        received_at=received_at,
    )


def fold_with(events: list[TxEvent], rules: Plausibility = AC_22KW) -> TxState:
    state = None
    for item in events:
        state, _ = apply(state, item, rules)
    assert state is not None
    return state


def test_events_after_ended_are_kept_out_of_energy_and_flagged() -> None:
    state = fold_with(
        [
            event("Started", 0, 0, 1000),
            event("Ended", 1, 30, 2000),
            event("Updated", 2, 31, 1e9),
            event("Updated", 3, 32, 2e9),
        ]
    )
    assert state.energy_wh == 1000
    assert dict(state.quality) == {Flag.EVENT_AFTER_ENDED: 2}
    assert state.ended_at == T0 + timedelta(minutes=30)
    assert state.stopped_reason == "EVDisconnected"


def test_a_falling_register_is_flagged_and_the_energy_keeps_the_valid_readings() -> None:
    state = fold_with(
        [
            event("Started", 0, 0, 1000),
            event("Updated", 1, 10, 1500),
            event("Updated", 2, 20, 100),
            event("Ended", 3, 30, 1800),
        ]
    )
    assert state.energy_wh == 800
    assert dict(state.quality) == {Flag.DECREASING_REGISTER: 1}


def test_negative_registers_are_flagged() -> None:
    state = fold_with([event("Started", 0, 0, -5), event("Updated", 1, 10, 500)])
    assert state.energy_wh == 0
    assert dict(state.quality) == {Flag.NEGATIVE_REGISTER: 1}


def test_a_jump_beyond_the_evse_power_is_flagged_and_a_possible_one_is_billed() -> None:
    # 22 kW for 10 minutes is 3.7 kWh; with the margin and slack 6.5 kWh is the most allowed.
    state = fold_with(
        [
            event("Started", 0, 0, 0),
            event("Updated", 1, 10, 3_600),
            event("Updated", 2, 20, 1e300),
            event("Updated", 3, 30, 7_000),
        ]
    )
    assert state.energy_wh == 7_000
    assert dict(state.quality) == {Flag.IMPOSSIBLE_JUMP: 1}


def test_a_reading_between_two_valid_ones_must_lie_between_their_values() -> None:
    state = fold_with(
        [
            event("Started", 0, 0, 1000),
            event("Ended", 3, 30, 2000),
            event("Updated", 1, 10, 5000),  # late and higher than the end reading
            event("Updated", 2, 20, 1500),
        ]
    )
    assert state.energy_wh == 1000
    assert dict(state.quality) == {Flag.DECREASING_REGISTER: 1}


def test_a_clock_in_9999_or_1900_is_replaced_by_the_receive_time_and_not_billed() -> None:
    received = T0 + timedelta(minutes=1)
    started = event("Started", 0, 0, 0, received_at=received)
    future = TxEvent(
        transaction_id="tx",
        event_type=EventType.UPDATED,
        seq_no=1,
        timestamp=datetime(9999, 12, 31, tzinfo=UTC),
        trigger_reason="MeterValuePeriodic",
        import_readings=((datetime(9999, 12, 31, tzinfo=UTC), 500.0),),
        received_at=received,
    )
    past = event(
        "Updated", 2, 2, 700, received_at=received, reading_at=datetime(1900, 1, 1, tzinfo=UTC)
    )
    state = fold_with([started, future, past])
    assert state.energy_wh == 0
    # the event's own time and its reading: two counts for the 9999 event, one for 1900
    assert dict(state.quality) == {Flag.TIMESTAMP_IMPLAUSIBLE: 3}

    late_start = TxEvent(
        transaction_id="tx2",
        event_type=EventType.STARTED,
        seq_no=0,
        timestamp=datetime(1970, 1, 1, tzinfo=UTC),
        trigger_reason="Authorized",
        received_at=received,
    )
    assert fold_with([late_start]).started_at == received


def test_readings_far_after_the_end_are_outside_the_transaction() -> None:
    state = fold_with(
        [
            event("Started", 0, 0, 0),
            event("Ended", 2, 30, 2000),
            event("Updated", 1, 20, 1000, reading_at=T0 + timedelta(hours=5)),
        ]
    )
    assert state.energy_wh == 2000
    assert dict(state.quality) == {Flag.TIMESTAMP_OUTSIDE_TRANSACTION: 1}


junk_values = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@settings(max_examples=300, deadline=None)
@given(
    st.builds(make_events, st.lists(st.integers(0, 5000), min_size=2, max_size=15), st.just(True)),
    st.lists(junk_values, min_size=1, max_size=5),
    st.randoms(use_true_random=False),
)
def test_events_after_the_end_are_not_billed_in_any_arrival_order(
    events: list[TxEvent], junk: list[float], rnd: random.Random
) -> None:
    clean = fold(events)
    assert clean is not None
    last = events[-1]
    extra = [
        replace(last, event_type=EventType.UPDATED, seq_no=last.seq_no + 1 + n,
                import_readings=((last.timestamp + timedelta(minutes=n + 1), value),))
        for n, value in enumerate(junk)
    ]  # fmt: skip
    shuffled = events + extra
    rnd.shuffle(shuffled)
    dirty = fold_in_order(shuffled)
    assert dirty is not None
    assert dirty.energy_wh == clean.energy_wh
    assert dirty.ended_at == clean.ended_at and dirty.stopped_reason == clean.stopped_reason
    assert dict(dirty.quality).get(Flag.EVENT_AFTER_ENDED) == len(junk)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 600), junk_values), min_size=1, max_size=30))
def test_billed_energy_is_finite_and_within_what_the_evse_could_deliver(
    readings: list[tuple[int, float]],
) -> None:
    events = [
        event("Started" if n == 0 else "Updated", n, minute, value)
        for n, (minute, value) in enumerate(readings)
    ]
    state = fold_with(events)
    assert 0 <= state.energy_wh < float("inf")
    bounds = state.imports.bounds
    if bounds is not None:
        excluded = sum(count for _, count in state.quality)
        valid = len(readings) - excluded
        ceiling = AC_22KW.deliverable_wh(bounds[0][0], bounds[1][0])
        assert state.energy_wh <= ceiling + valid * AC_22KW.register_slack_wh
    assert from_json(to_json(state)) == state


def test_a_newer_start_on_the_evse_supersedes_the_older_transaction() -> None:
    old = fold_with([event("Started", 0, 0, 100), event("Updated", 1, 10, 900)])
    new = fold_with([event("Started", 0, 20, 900, transaction_id="tx-new")])
    assert superseded_by(old, new)
    ended = supersede(old, T0 + timedelta(minutes=20))
    assert ended.ended and ended.stopped_reason == SUPERSEDED_REASON
    assert ended.energy_wh == 800
    assert dict(ended.quality) == {Flag.SUPERSEDED: 1}
    assert not superseded_by(ended, new)


def test_a_replayed_older_start_never_ends_a_newer_transaction() -> None:
    newer = fold_with([event("Started", 0, 20, 0, transaction_id="tx-new")])
    replayed = fold_with([event("Started", 0, 0, 0)])
    assert not superseded_by(newer, replayed)
    other_evse = fold_with([event("Started", 0, 30, 0, transaction_id="tx-3", evse_id=2)])
    assert not superseded_by(newer, other_evse)


def test_a_raw_register_series_keeps_only_what_billing_would() -> None:
    times = [T0 + timedelta(minutes=m) for m in range(6)]
    raw = list(zip(times, [1000.0, 1200.0, 1e300, -5.0, 100.0, 1500.0], strict=True))
    kept = plausible_series(raw, AC_22KW)
    assert [value for _, value in kept] == [1000.0, 1200.0, 1500.0]


AC_11KW = Plausibility(max_power_w=11_000)


def session(values: list[float], rules: Plausibility = PLAUSIBLE) -> TxState:
    """One event per reading, 15 minutes apart: Started, Updated..., Ended."""
    kinds = ["Started"] + ["Updated"] * (len(values) - 2) + ["Ended"]
    state = fold_in_order(
        [
            event(kind, n, 15 * n, wh)
            for n, (kind, wh) in enumerate(zip(kinds, values, strict=True))
        ],
        rules,
    )
    assert state is not None
    return state


def eleven_kw(samples: int = 9) -> list[float]:
    return [50_000.0 + 2_750 * n for n in range(samples)]


def test_a_glitch_that_passes_the_jump_bound_never_hides_the_readings_after_it() -> None:
    # 11 kW for 2 h: 22 kWh; sample 2 glitches up by 300 kWh, which 1 MW x 1.5 (the
    # default rating) allows in 15 minutes, so only the readings after it expose it.
    values = eleven_kw()
    values[2] += 300_000
    state = session(values)
    assert state.energy_wh == 22_000
    assert dict(state.quality) == {Flag.DECREASING_REGISTER: 1}


def test_a_corrupt_begin_reading_is_outvoted_by_the_readings_after_it() -> None:
    values = eleven_kw()
    values[0] = 9_999_999.0
    state = session(values)
    assert state.energy_wh == 22_000 - 2_750  # billed from the first valid reading
    assert dict(state.quality) == {Flag.DECREASING_REGISTER: 1}


def test_a_register_reset_keeps_the_longer_run_of_readings() -> None:
    # Two readings before a reset to zero, five after: the five are billed.
    state = session([5000, 6000, 0, 1000, 2000, 3000, 4000], AC_22KW)
    assert state.energy_wh == 4000
    assert dict(state.quality) == {Flag.DECREASING_REGISTER: 2}


BAD_KINDS = ("spike", "drop", "negative", "far_future")


@settings(max_examples=300, deadline=None)
@given(
    base=st.floats(min_value=1e6, max_value=1e9),
    rises=st.lists(st.floats(min_value=0, max_value=4_000), min_size=1, max_size=12),
    position=st.integers(min_value=0),
    kind=st.sampled_from(BAD_KINDS),
)
def test_one_bad_reading_anywhere_changes_no_bill_and_is_the_only_one_flagged(
    base: float, rises: list[float], position: int, kind: str
) -> None:
    check_one_bad_reading(base, rises, position, kind)


@settings(max_examples=60, deadline=None)
@given(
    base=st.floats(min_value=1e6, max_value=1e9),
    rises=st.lists(
        st.floats(min_value=0, max_value=4_000), min_size=WINDOW + 1, max_size=4 * WINDOW
    ),
    position=st.integers(min_value=0),
    kind=st.sampled_from(BAD_KINDS),
)
def test_one_bad_reading_in_a_session_longer_than_the_window_changes_no_bill(
    base: float, rises: list[float], position: int, kind: str
) -> None:
    check_one_bad_reading(base, rises, position, kind)


def check_one_bad_reading(base: float, rises: list[float], position: int, kind: str) -> None:
    # True readings every 15 minutes from an 11 kW EVSE (at most 2.75 kWh apart, 4 kWh
    # with the rules' slack); one bad reading goes in anywhere, as its own event.
    minutes = [15.0 * n for n in range(len(rises) + 1)]
    values = [base]
    for rise in rises:
        values.append(values[-1] + rise)
    at = position % (len(values) + 1)
    moment = minutes[at - 1] + 7.5 if at > 0 else -7.5
    slot = T0 + timedelta(minutes=moment)
    bad = {
        "spike": values[-1] * 100,
        "drop": base - 500_000,
        "negative": -values[min(at, len(values) - 1)],
        "far_future": values[-1] + 1,
    }[kind]
    reading_at = datetime(9999, 1, 1, tzinfo=UTC) if kind == "far_future" else slot
    series = [(T0 + timedelta(minutes=m),) * 2 + (v,) for m, v in zip(minutes, values, strict=True)]
    dirty = [*series[:at], (slot, reading_at, bad), *series[at:]]

    def events(readings: list[tuple[datetime, datetime, float]]) -> list[TxEvent]:
        last = len(readings) - 1
        return [
            TxEvent(
                transaction_id="tx",
                event_type=EventType.STARTED if n == 0 else
                EventType.ENDED if n == last else EventType.UPDATED,
                seq_no=n,
                timestamp=sent,
                trigger_reason="MeterValuePeriodic",
                evse_id=1,
                import_readings=((taken, wh),),
                received_at=T0 + timedelta(days=1),
            )
            for n, (sent, taken, wh) in enumerate(readings)
        ]  # fmt: skip

    clean_state = fold_in_order(events(series), AC_11KW)
    dirty_state = fold_in_order(events(dirty), AC_11KW)
    assert clean_state is not None and dirty_state is not None
    assert dirty_state.energy_wh == clean_state.energy_wh == values[-1] - base
    assert dict(clean_state.quality) == {}
    assert sum(dict(dirty_state.quality).values()) == 1


def clean_session(count: int) -> list[TxEvent]:
    """A clean 11 kW session of `count` readings, 15 minutes apart."""
    kinds = ["Started"] + ["Updated"] * (count - 2) + ["Ended"]
    return [event(kind, n, 15 * n, 50_000.0 + 2_000 * n) for n, kind in enumerate(kinds)]


def test_a_long_session_keeps_a_bounded_state_and_bills_every_reading() -> None:
    events = clean_session(20 * WINDOW)
    state = fold_with(events, AC_11KW)
    assert state.energy_wh == 2_000 * (20 * WINDOW - 1)
    assert dict(state.quality) == {}
    assert len(state.imports.links) <= 2 * WINDOW + 1
    short = fold_with(clean_session(2 * WINDOW), AC_11KW)
    assert len(str(to_json(state))) < 1.1 * len(str(to_json(short)))
    assert from_json(to_json(state)) == state


@settings(max_examples=50, deadline=None)
@given(st.integers(WINDOW + 1, 5 * WINDOW), st.randoms(use_true_random=False))
def test_a_long_session_replayed_in_any_order_bills_the_same(count: int, rnd: object) -> None:
    events = clean_session(count)
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    state = fold_with(shuffled, AC_11KW)
    assert state.energy_wh == 2_000 * (count - 1)
    assert dict(state.quality) == {}


@settings(max_examples=50, deadline=None)
@given(st.integers(1, WINDOW - 1), st.integers(2 * WINDOW, 5 * WINDOW))
def test_a_run_of_corrupt_begin_readings_shorter_than_the_window_is_outvoted(
    bad: int, good: int
) -> None:
    values = [9_999_999.0 + n for n in range(bad)] + [50_000.0 + 2_000 * n for n in range(good)]
    state = session(values, AC_11KW)
    assert state.energy_wh == 2_000 * (good - 1)
    assert sum(dict(state.quality).values()) == bad


def test_a_register_reset_late_in_a_long_session_keeps_what_was_settled() -> None:
    # The valid chain continues what was settled: readings after a reset to zero are left
    # out (flagged) rather than replacing the whole session's energy.
    before = [50_000.0 + 2_000 * n for n in range(3 * WINDOW)]
    after = [1_000.0 * n for n in range(2 * WINDOW)]
    state = session(before + after, AC_11KW)
    assert state.energy_wh == before[-1] - before[0]
    assert dict(state.quality) == {Flag.DECREASING_REGISTER: len(after)}
