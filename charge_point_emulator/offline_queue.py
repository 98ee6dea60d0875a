"""Messages a station holds while offline, and the reconnect back-off; a pure core.

TransactionEvents are queued in order and replayed in order; each keeps its message id so a
resend after a lost response is the same message (same seqNo).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One CALL waiting to be delivered: the `ocpp` payload object and its message id."""

    unique_id: str
    payload: Any
    # Intermediate meter values may be dropped when the queue is full; Started/Ended never.
    droppable: bool = False


class OfflineQueue:
    """FIFO of CALLs held until the CSMS acknowledges them.

    `max_messages` bounds memory: each entry is one TransactionEvent (about 1 kB).
    When full, the oldest droppable entry is discarded to make room.
    """

    def __init__(self, max_messages: int = 10_000) -> None:
        self.max_messages = max_messages
        self._items: deque[QueuedMessage] = deque()
        self.dropped = 0

    def push(self, message: QueuedMessage) -> bool:
        """Append; return False when the queue is full of messages that must not be lost."""
        if len(self._items) >= self.max_messages:
            for index, item in enumerate(self._items):
                if item.droppable:
                    del self._items[index]
                    self.dropped += 1
                    break
            else:
                return False
        self._items.append(message)
        return True

    def peek(self) -> QueuedMessage | None:
        return self._items[0] if self._items else None

    def pop(self) -> QueuedMessage:
        """Remove the head once the CSMS has acknowledged it."""
        return self._items.popleft()

    def discard(self, lost: Callable[[QueuedMessage], bool]) -> int:
        """Forget the messages `lost` picks (a power cut wipes a volatile queue); only while
        no message is on the wire. Returns how many were forgotten."""
        kept = [m for m in self._items if not lost(m)]
        forgotten = len(self._items) - len(kept)
        self._items = deque(kept)
        return forgotten

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[QueuedMessage]:
        """The queued messages, oldest first."""
        return iter(tuple(self._items))


def backoff_delay(
    attempt: int,
    wait_minimum_s: float,
    random_range_s: float,
    repeat_times: int,
    rng: random.Random,
) -> float:
    """Seconds before reconnect attempt `attempt` (0-based), as OCPP 2.0.1 B.FR describes.

    The wait doubles from `wait_minimum_s` for up to `repeat_times` attempts, then stays;
    a uniform jitter in [0, random_range_s) keeps a fleet from reconnecting in lockstep.
    """
    doublings = min(max(attempt, 0), repeat_times)
    return wait_minimum_s * (2**doublings) + rng.uniform(0.0, random_range_s)
