"""Handshake admission core: the bound on handshakes checked at once, the log throttle."""

from __future__ import annotations

import pytest

from csms.gateway.admission import HandshakeBound, LogThrottle


def test_the_bound_admits_up_to_its_limit_and_again_after_a_leave() -> None:
    bound = HandshakeBound(2)
    assert bound.try_enter() and bound.try_enter()
    assert not bound.try_enter()
    assert bound.in_progress == 2
    bound.leave()
    assert bound.try_enter()
    with pytest.raises(ValueError):
        HandshakeBound(0)


def test_the_throttle_logs_a_few_per_window_then_reports_how_many_were_held_back() -> None:
    throttle = LogThrottle(per_window=2, window_s=60.0)
    assert [throttle.admit("10.0.0.1", t) for t in (0.0, 1.0, 2.0, 3.0, 4.0)] == [
        0,
        0,
        None,
        None,
        None,
    ]
    assert throttle.admit("10.0.0.2", 5.0) == 0  # another address has its own budget
    assert throttle.admit("10.0.0.1", 60.0) == 3
    assert throttle.admit("10.0.0.1", 61.0) == 0


def test_the_throttle_forgets_ended_windows_when_it_holds_too_many_addresses() -> None:
    throttle = LogThrottle(per_window=1, window_s=10.0, max_keys=3)
    for n in range(3):
        throttle.admit(f"10.0.0.{n}", 0.0)
    assert throttle.admit("10.0.0.9", 20.0) == 0
    assert len(throttle._windows) == 1
    for n in range(5):
        assert throttle.admit(f"10.0.1.{n}", 21.0) == 0  # a new address is always logged
        assert len(throttle._windows) <= 3
