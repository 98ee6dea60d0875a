"""A station repeating a bad message cannot flood the log: a few records a minute, with
the count of those left out."""

from __future__ import annotations

import logging

import pytest

from csms.app import Csms
from csms.blocks.stations import add_station
from csms.gateway.log_throttle import LogThrottle
from tests.ocpp_wire import open_peer

PASSWORD = "correct-horse-battery"


def test_each_station_gets_its_burst_per_window_and_learns_the_count_left_out() -> None:
    throttle = LogThrottle(burst=3, window=60.0)
    assert [throttle.admit("A", 0.0) for _ in range(5)] == [0, 0, 0, None, None]
    assert throttle.admit("B", 1.0) == 0  # another station has its own budget
    assert throttle.admit("A", 59.9) is None
    assert throttle.admit("A", 60.0) == 3  # the next window reports the three left out
    assert throttle.admit("A", 60.1) == 0


def test_budgets_are_bounded_in_number() -> None:
    throttle = LogThrottle(burst=1, window=60.0, max_stations=2)
    for station in ("A", "B", "C"):
        throttle.admit(station, 0.0)
    assert throttle.admit("A", 1.0) == 0  # forgotten, so a fresh budget


async def test_a_station_repeating_a_bad_event_is_logged_a_few_times_with_a_count(
    csms: Csms, caplog: pytest.LogCaptureFixture
) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    try:
        caplog.set_level(logging.INFO, logger="csms.gateway.connection")
        for _ in range(50):
            answer = await peer.call("Authorize", {"idToken": {"idToken": "A", "type": "Nope"}})
            assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
        await peer.send_raw("not json")
        assert (await peer.call("Heartbeat", {}))[0] == 3
    finally:
        await peer.close()
    records = [r for r in caplog.records if r.name == "csms.gateway.connection"]
    station_records = [r for r in records if "[CS-1]" in r.getMessage()]
    assert 1 <= len(station_records) <= LogThrottle().burst
