"""Simulated clock: wall time scaled by `speed`, so a fleet can live an hour in a minute.

Every emulator component reads time through one `SimClock`; pure cores take the instant
as an argument instead.
"""

from __future__ import annotations

import asyncio
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


def ocpp_time(instant: datetime) -> str:
    """An OCPP date-time string (UTC, milliseconds, `Z`)."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ocpp_time(text: str) -> datetime:
    """Parse an OCPP date-time; a naive value is taken as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
