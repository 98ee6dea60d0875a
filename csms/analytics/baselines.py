"""Fleet baselines: what is normal for a station model, learned with robust statistics.

Each quantity of each model keeps a ring buffer of its last `window` healthy values and
recomputes median and MAD every `refresh` additions, so an outlier (or a faulty station)
barely moves it and the cost per value stays a few array writes.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

#: MAD of a normal distribution times this is its standard deviation.
MAD_TO_SIGMA = 1.4826


class RobustBaseline:
    """Median, MAD and low quantile of the last `window` values (memory: 8 * window bytes)."""

    def __init__(self, window: int = 512, refresh: int = 32, warm_up: int = 50) -> None:
        self._values = np.empty(window, dtype=np.float64)
        self._count = 0
        self._refresh = refresh
        self.warm_up = warm_up
        self.median = 0.0
        self.sigma = 0.0
        self.low = 0.0  # 2nd percentile

    @property
    def ready(self) -> bool:
        return self._count >= self.warm_up

    def add(self, value: float) -> None:
        self._values[self._count % len(self._values)] = value
        self._count += 1
        if self._count <= self.warm_up or self._count % self._refresh == 0:
            held = self._values[: min(self._count, len(self._values))]
            self.median = float(np.median(held))
            self.sigma = MAD_TO_SIGMA * float(np.median(np.abs(held - self.median)))
            self.low = float(np.quantile(held, 0.02))

    def z(self, value: float, floor: float) -> float:
        """Robust z-score of `value`; `floor` bounds the spread from below (a quiet fleet)."""
        return (value - self.median) / max(self.sigma, floor)


class FleetBaselines:
    """Baselines by (model, quantity); at most `max_keys` of them (least recently used go)."""

    def __init__(self, max_keys: int = 4096, window: int = 512) -> None:
        self._by_key: OrderedDict[tuple[str, str], RobustBaseline] = OrderedDict()
        self._max_keys = max_keys
        self._window = window

    def get(self, model: str, quantity: str) -> RobustBaseline:
        key = (model, quantity)
        baseline = self._by_key.get(key)
        if baseline is None:
            baseline = self._by_key[key] = RobustBaseline(self._window)
            if len(self._by_key) > self._max_keys:
                self._by_key.popitem(last=False)
        else:
            self._by_key.move_to_end(key)
        return baseline
