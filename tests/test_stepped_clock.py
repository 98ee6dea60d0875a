"""The stepped clock: simulated time moves only when a driver moves it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from charge_point_emulator.clock import SteppedClock

T0 = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


async def test_time_stands_still_until_advanced() -> None:
    clock = SteppedClock(900, start=T0)
    await asyncio.sleep(0.05)
    assert clock.elapsed() == 0.0 and clock.now() == T0
    clock.advance_to(90)
    assert clock.now() == T0 + timedelta(seconds=90)


async def test_sleepers_wake_in_deadline_order_when_their_time_comes() -> None:
    clock = SteppedClock(start=T0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.elapsed()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("late", 60), ("early", 10))]
    await asyncio.sleep(0)
    assert clock.next_wake() == 10
    clock.advance_to(30)
    await asyncio.sleep(0)
    assert woke == [("early", 30)]
    assert clock.next_wake() == 60
    clock.advance_to(60)
    await asyncio.gather(*tasks)
    assert woke == [("early", 30), ("late", 60)]
    assert clock.next_wake() is None


async def test_a_cancelled_sleeper_is_forgotten() -> None:
    clock = SteppedClock(start=T0)
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.next_wake() is None


async def test_a_stepped_clock_never_goes_back() -> None:
    clock = SteppedClock(start=T0)
    clock.advance_to(5)
    with pytest.raises(ValueError):
        clock.advance_to(4)
