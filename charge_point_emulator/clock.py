"""Simulated clocks: wall time scaled by `speed`, so a fleet can live an hour in a minute,
or time a driver steps (`SteppedClock`), so a test judges on simulated time under any load.

Every emulator component reads time through one `SimClock`; pure cores take the instant
as an argument instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SimClock:
    """Simulated UTC time that advances `speed` simulated seconds per real second."""

    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._monotonic = monotonic
        self._real_origin = monotonic()
        self.start = (start or datetime.now(UTC)).astimezone(UTC)

    def now(self) -> datetime:
        """The current simulated instant (timezone-aware UTC)."""
        return self.start + timedelta(seconds=self.elapsed())

    def elapsed(self) -> float:
        """Simulated seconds since the clock started."""
        return (self._monotonic() - self._real_origin) * self.speed

    def real_seconds(self, simulated_seconds: float) -> float:
        """How long `simulated_seconds` last in real time."""
        return max(0.0, simulated_seconds) / self.speed

    async def sleep(self, simulated_seconds: float) -> None:
        """Sleep for `simulated_seconds` of simulated time."""
        await asyncio.sleep(self.real_seconds(simulated_seconds))

    async def sleep_until(self, instant: datetime) -> None:
        """Sleep until the simulated clock reaches `instant`."""
        await self.sleep((instant - self.now()).total_seconds())


class SteppedClock(SimClock):
    """Simulated time that moves only when `advance_to` moves it.

    For runs judged on simulated time: a driver advances the clock a step, waits until the
    CSMS and the stations have settled, and only then advances again, so however slowly a
    busy machine runs them, nothing is late in simulated time. `speed` only converts the
    simulated timeouts some components derive (`real_seconds`) into real ones.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        super().__init__(speed, start)
        self._elapsed = 0.0
        # (deadline, arrival order, waiter): the order keeps equal deadlines first-come.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def elapsed(self) -> float:
        return self._elapsed

    async def sleep(self, simulated_seconds: float) -> None:
        if simulated_seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter = asyncio.get_running_loop().create_future()
        deadline = self._elapsed + simulated_seconds
        heapq.heappush(self._sleepers, (deadline, next(self._order), waiter))
        await waiter

    def next_wake(self) -> float | None:
        """The elapsed time at which the next sleeper wakes, or None if nobody sleeps."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)  # cancelled while asleep
        return self._sleepers[0][0] if self._sleepers else None

    def advance_to(self, elapsed_s: float) -> None:
        """Move simulated time forward to `elapsed_s` and wake every sleeper due by then."""
        if elapsed_s < self._elapsed:
            raise ValueError("a stepped clock never goes back")
        self._elapsed = elapsed_s
        while self._sleepers and self._sleepers[0][0] <= elapsed_s:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)


def ocpp_time(instant: datetime) -> str:
    """An OCPP date-time string (UTC, milliseconds, `Z`)."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ocpp_time(text: str) -> datetime:
    """Parse an OCPP date-time; a naive value is taken as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
