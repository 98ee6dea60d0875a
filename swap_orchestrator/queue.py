"""Swap queue policy: priority classes, first come first served within a class, ageing.

A waiting vehicle's effective rank is its class plus one step per `ageing_s` waited, so no
vehicle waits without bound behind a stream of higher classes. Order key, highest first:
(effective rank, class, earlier arrival).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from swap_orchestrator.scenario import Priority

DEFAULT_AGEING_S = 900.0
DEFAULT_MAX_QUEUE = 5000


class QueueFull(Exception):
    """The queue holds `max_queue` vehicles already."""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    vehicle: str
    priority: Priority
    battery_type: str
    queued_at: float


def effective_rank(entry: QueueEntry, now: float, ageing_s: float) -> int:
    return int(entry.priority) + int(max(0.0, now - entry.queued_at) // ageing_s)


def order_key(entry: QueueEntry, now: float, ageing_s: float) -> tuple[int, int, float]:
    """Larger is served first."""
    return (effective_rank(entry, now, ageing_s), int(entry.priority), -entry.queued_at)


class SwapQueue:
    """Vehicles waiting at one station, bucketed by (class, battery type).

    Within a bucket the oldest entry always has the largest key, so a decision looks at one
    head per bucket: O(classes x types), whatever the queue length.
    `max_queue` bounds memory (one entry of ~200 bytes per waiting vehicle).
    """

    def __init__(
        self, ageing_s: float = DEFAULT_AGEING_S, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> None:
        if ageing_s <= 0:
            raise ValueError("ageing_s must be positive")
        self.ageing_s = ageing_s
        self.max_queue = max_queue
        self._buckets: dict[tuple[Priority, str], dict[str, QueueEntry]] = {}
        self._where: dict[str, tuple[Priority, str]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, vehicle: str) -> bool:
        return vehicle in self._where

    def add(self, entry: QueueEntry) -> None:
        """Append a vehicle; a vehicle put back (e.g. after a bay fault) keeps its place."""
        if entry.vehicle in self._where:
            raise ValueError(f"{entry.vehicle} is already queued")
        if len(self._where) >= self.max_queue:
            raise QueueFull(entry.vehicle)
        key = (entry.priority, entry.battery_type)
        bucket = self._buckets.setdefault(key, {})
        last = next(reversed(bucket.values()), None)
        bucket[entry.vehicle] = entry
        if last is not None and last.queued_at > entry.queued_at:
            self._buckets[key] = dict(sorted(bucket.items(), key=lambda kv: kv[1].queued_at))
        self._where[entry.vehicle] = key

    def remove(self, vehicle: str) -> QueueEntry | None:
        """Take a vehicle out (called, cancelled, refused); None if it was not waiting."""
        key = self._where.pop(vehicle, None)
        if key is None:
            return None
        return self._buckets[key].pop(vehicle)

    def heads(self, now: float) -> list[QueueEntry]:
        """The first vehicle of every non-empty bucket, best key first."""
        heads = [next(iter(b.values())) for b in self._buckets.values() if b]
        heads.sort(key=lambda e: order_key(e, now, self.ageing_s), reverse=True)
        return heads

    def select(
        self, now: float, why_not: Callable[[QueueEntry], str | None]
    ) -> tuple[QueueEntry | None, list[tuple[QueueEntry, str]]]:
        """The best vehicle that can be served now (`why_not` returns None for it, or the
        reason it must wait, e.g. no compatible battery ready), and the better-placed ones
        passed over with their reasons (to be recorded as held)."""
        skipped: list[tuple[QueueEntry, str]] = []
        for head in self.heads(now):
            reason = why_not(head)
            if reason is None:
                return head, skipped
            skipped.append((head, reason))
        return None, skipped

    def ordered(self, now: float) -> Iterator[QueueEntry]:
        """All waiting vehicles in service order (lazy; do not change the queue meanwhile)."""
        streams = [
            self._keyed(bucket, index, now) for index, bucket in enumerate(self._buckets.values())
        ]
        for *_, entry in heapq.merge(*streams):
            yield entry

    def _keyed(
        self, bucket: dict[str, QueueEntry], index: int, now: float
    ) -> Iterator[tuple[tuple[int, int, float], int, int, QueueEntry]]:
        """A bucket's entries with ascending sort keys (its order is service order)."""
        for n, entry in enumerate(bucket.values()):
            yield _descending(order_key(entry, now, self.ageing_s)), index, n, entry

    def count_by_type(self) -> dict[str, int]:
        """Waiting vehicles per battery type."""
        counts: dict[str, int] = {}
        for (_, battery_type), bucket in self._buckets.items():
            counts[battery_type] = counts.get(battery_type, 0) + len(bucket)
        return counts

    def count_above(self, priority: Priority, battery_type: str) -> int:
        """Waiting vehicles of a higher class than `priority` needing `battery_type`."""
        return sum(
            len(bucket)
            for (cls, btype), bucket in self._buckets.items()
            if cls > priority and btype == battery_type
        )


def _descending(key: tuple[int, int, float]) -> tuple[int, int, float]:
    return (-key[0], -key[1], -key[2])
