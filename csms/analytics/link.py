"""Station-level detectors, pure: reboot loops, link flapping and bursts of CALLERRORs.

Each keeps the times of its last `limit` events per station (bounded) and fires when
`limit` of them fall within `window_s`; while the burst goes on it fires again at most
once per window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from csms.analytics.findings import AlertKind, Finding, Severity


@dataclass(slots=True)
class BurstDetector:
    """`limit` events of one kind within `window_s` seconds on one station."""

    kind: AlertKind
    what: str
    limit: int
    window_s: float
    times: deque[datetime] = field(default_factory=deque)
    quiet_until: datetime | None = None

    def event(self, station_id: str, at: datetime) -> Finding | None:
        self.times.append(at)
        while len(self.times) > self.limit:
            self.times.popleft()
        span = (self.times[-1] - self.times[0]).total_seconds()
        if len(self.times) < self.limit or span > self.window_s:
            return None
        if self.quiet_until is not None and at < self.quiet_until:
            return None
        self.quiet_until = at + timedelta(seconds=self.window_s)
        return Finding(
            station_id,
            0,
            self.kind,
            Severity.WARNING,
            at,
            f"{self.limit} {self.what} within {span:.0f} s (limit {self.limit} in "
            f"{self.window_s:.0f} s)",
            float(self.limit),
            float(len(self.times)),
            {"events": float(len(self.times)), "span_s": span},
        )


@dataclass(slots=True)
class StationLink:
    """The link detectors of one station."""

    boots: BurstDetector = field(
        default_factory=lambda: BurstDetector(AlertKind.REBOOT_LOOP, "boots", 3, 1800.0)
    )
    drops: BurstDetector = field(
        default_factory=lambda: BurstDetector(AlertKind.LINK_FLAPPING, "disconnects", 6, 1800.0)
    )
    errors: BurstDetector = field(
        default_factory=lambda: BurstDetector(AlertKind.CALL_ERROR_BURST, "CALLERRORs", 10, 600.0)
    )
