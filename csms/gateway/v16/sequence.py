"""SeqNos for a 1.6 transaction's messages, pure: 1.6 numbers nothing, the transaction
model orders and deduplicates by seqNo.

A message gets the next number the first time it is seen, keyed by its kind and time (the
kind: the event type, and for Updated events what triggered them and a digest of what they
carry, since meter values and a status change may share a second, and many stations send
one MeterValues per measurand with the same timestamp). The same message sent again (a
retry after a lost response, an offline queue replayed twice) gets the same number, so the
model sees a duplicate and stores it once. Numbers follow arrival order, which OCPP 1.6 makes the
order the station sent them (it delivers transaction messages in order, section 4.9);
they stay contiguous, as 2.0.1's do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class SeqBook:
    """The numbers given to one transaction's messages: (kind, time) -> seqNo."""

    given: dict[tuple[str, datetime], int] = field(default_factory=dict)
    next_seq: int = 0

    @classmethod
    def of(cls, stored: Iterable[tuple[str, str, datetime, int, Mapping[str, Any]]]) -> SeqBook:
        """The book of a transaction whose events (type, trigger, time, seqNo, payload) are
        stored."""
        book = cls()
        for event_type, trigger, at, seq, payload in stored:
            book.given.setdefault((kind_of(event_type, trigger, payload), at), seq)
            book.next_seq = max(book.next_seq, seq + 1)
        return book

    def number(self, kind: str, at: datetime) -> int:
        seq = self.given.get((kind, at))
        if seq is None:
            seq = self.given[(kind, at)] = self.next_seq
            self.next_seq += 1
        return seq


def kind_of(event_type: str, trigger_reason: str, event: Mapping[str, Any]) -> str:
    """The key's kind of a TransactionEvent (`event`, its 2.0.1 payload)."""
    if event_type != "Updated":
        return event_type
    content = {key: value for key, value in event.items() if key != "seqNo"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    return f"{event_type}:{trigger_reason}:{digest}"
