"""Handshake admission core: the bound on handshakes checked at once (the log throttle of
refused handshakes is the gateway's one LogThrottle, tests/test_log_throttle.py)."""

from __future__ import annotations

import pytest

from csms.gateway.admission import HandshakeBound


def test_the_bound_admits_up_to_its_limit_and_again_after_a_leave() -> None:
    bound = HandshakeBound(2)
    assert bound.try_enter() and bound.try_enter()
    assert not bound.try_enter()
    assert bound.in_progress == 2
    bound.leave()
    assert bound.try_enter()
    with pytest.raises(ValueError):
        HandshakeBound(0)
