"""Log-rate limit per station, pure: decides which records to write, counts the others.

A station that repeats a bad message forever must not fill the log (one did with 86,946
tracebacks): each station gets `burst` records per `window`, and the next record let
through says how many were left out meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Budget:
    window_start: float
    written: int = 0
    suppressed: int = 0


class LogThrottle:
    """
    :param burst: records written per station and window (each costs a log line).
    :param window: seconds after which a station's budget is whole again.
    :param max_stations: stations whose budgets are remembered (about 100 bytes each);
        the least recently logged are forgotten beyond it.
    """

    def __init__(self, burst: int = 5, window: float = 60.0, max_stations: int = 100_000):
        self.burst = burst
        self.window = window
        self.max_stations = max_stations
        self._budgets: OrderedDict[str, _Budget] = OrderedDict()

    def admit(self, station_id: str, now: float) -> int | None:
        """None if this record is to be left out (it is counted); else how many records of
        this station were left out since the last one written."""
        budget = self._budgets.get(station_id)
        if budget is None or now - budget.window_start >= self.window:
            suppressed = 0 if budget is None else budget.suppressed
            budget = _Budget(window_start=now)
            budget.suppressed = suppressed
            self._budgets[station_id] = budget
            while len(self._budgets) > self.max_stations:
                self._budgets.popitem(last=False)
        self._budgets.move_to_end(station_id)
        if budget.written >= self.burst:
            budget.suppressed += 1
            return None
        budget.written += 1
        suppressed, budget.suppressed = budget.suppressed, 0
        return suppressed
