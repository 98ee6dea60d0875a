"""The control core: back-off, circuit breaker, re-probe and disobedience, in given time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms.grid.control import Answer, ControlBook, ControlPolicy

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_refusals_back_off_exponentially_then_open_the_breaker() -> None:
    book = ControlBook(ControlPolicy(base_s=30, open_after=3, reprobe_s=3600))
    assert book.may_send("CS-1", at(0))
    change = book.answered("CS-1", Answer.REJECTED, at(0))
    assert change is not None and change.text.startswith("backing off")
    assert not change.managed_changed  # still managed: the plan need not change
    assert not book.may_send("CS-1", at(29)) and book.may_send("CS-1", at(30))
    # The second refusal is no new state: no log line; the delay doubles.
    assert book.answered("CS-1", Answer.REJECTED, at(30)) is None
    assert not book.may_send("CS-1", at(89)) and book.may_send("CS-1", at(90))
    assert book.status("CS-1", 1).managed
    change = book.answered("CS-1", Answer.REJECTED, at(90))
    assert change is not None and change.text.startswith("unmanaged")
    status = book.status("CS-1", 1)
    assert not status.managed and status.since == at(90)
    assert (
        status.text()
        == f"unmanaged: SetChargingProfile Rejected 3 times since {at(90).isoformat()}"
    )
    # Open: the next probe comes after the re-probe interval; a failed probe stays quiet.
    assert not book.may_send("CS-1", at(3689)) and book.may_send("CS-1", at(3690))
    assert book.answered("CS-1", Answer.REJECTED, at(3690)) is None
    assert not book.may_send("CS-1", at(3691))
    # An accepted probe closes it.
    change = book.answered("CS-1", Answer.ACCEPTED, at(7290))
    assert change is not None and change.text == "managed again: a profile was accepted"
    assert book.status("CS-1", 1).text() == "managed" and book.may_send("CS-1", at(7290))


def test_not_implemented_opens_at_once_and_boot_reprobes() -> None:
    book = ControlBook()
    change = book.answered("CS-1", Answer.NOT_SUPPORTED, at(0))
    assert change is not None and "not implemented" in change.text
    assert not book.status("CS-1", 2).managed  # every EVSE of the station
    assert book.status("CS-2", 1).managed
    assert not book.may_send("CS-1", at(60))
    book.reprobe("CS-1", at(60))
    assert book.may_send("CS-1", at(60))
    assert not book.status("CS-1", 1).managed  # until the probe is answered


def test_device_model_without_smart_charging_is_unmanaged() -> None:
    book = ControlBook()
    change = book.not_capable("CS-1", "SmartChargingCtrlr.Available is false", at(0))
    assert change is not None
    assert book.station_status("CS-1", [1]).reason == "SmartChargingCtrlr.Available is false"
    assert book.not_capable("CS-1", "again", at(1)) is None


def test_an_evse_clearly_above_its_limit_for_two_readings_is_disobeying() -> None:
    book = ControlBook(ControlPolicy(reprobe_s=3600))
    # Within the margin (limit * 1.1 + 500 W) is obeying: meters and cars are not exact.
    assert book.measured("CS-1", 1, 8_700, 7_500, at(0)) is None
    # Feeding back at the discharge limit it was given is obeying too.
    assert book.measured("CS-2", 1, -11_000, -11_000, at(0)) is None
    assert book.measured("CS-2", 1, -11_000, -11_000, at(60)) is None
    assert book.status("CS-2", 1).managed
    assert book.measured("CS-1", 1, 22_000, 7_500, at(60)) is None  # one reading: no verdict
    assert book.measured("CS-1", 1, 7_000, 7_500, at(120)) is None  # back under: count resets
    assert book.measured("CS-1", 1, 22_000, 7_500, at(180)) is None
    change = book.measured("CS-1", 1, 22_000, 7_500, at(240))
    assert change is not None and "disobeying" in change.text
    assert not book.status("CS-1", 1).managed and book.status("CS-1", 2).managed
    assert book.station_status("CS-1", [1, 2]).since == at(240)
    # Watched all the time: back within its limit for two readings, it is managed again.
    assert book.measured("CS-1", 1, 22_000, 7_500, at(300)) is None
    assert book.measured("CS-1", 1, 7_400, 7_500, at(360)) is None
    assert book.status("CS-1", 1).managed is False
    assert book.measured("CS-1", 1, 7_400, 7_500, at(420)) is not None
    assert book.status("CS-1", 1).managed
