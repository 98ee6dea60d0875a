"""The transaction state machine, pure: a fold of TransactionEvents in any arrival order.

Events may arrive late, twice, or out of order (a station replays its offline queue), so
the state is defined by the set of events seen, not by arrival order: fields take their
value from the event with the highest seqNo that carries them, energies from the register
readings with the earliest and latest (timestamp, seqNo) - an Ended event may carry the
session's Transaction.Begin reading. Applying an event twice changes nothing, and `apply`
says so.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from csms.blocks.meter import parse_timestamp

#: Most disjoint seqNo runs one transaction may have; each costs a little per event, and a
#: real station's gaps (lost or not yet replayed events) are few.
MAX_SEQ_RANGES = 256


class TooFragmented(ValueError):
    """The seqNos of a transaction are scattered beyond MAX_SEQ_RANGES runs."""


class EventType(StrEnum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


@dataclass(frozen=True, slots=True)
class TxEvent:
    """The parts of one TransactionEventRequest that change a transaction's state."""

    transaction_id: str
    event_type: EventType
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    #: (timestamp, Wh) whole-meter register readings carried by this event, in time order.
    import_readings: tuple[tuple[datetime, float], ...] = ()
    export_readings: tuple[tuple[datetime, float], ...] = ()


#: A register reading ordered by (timestamp, seqNo).
Mark = tuple[datetime, int, float]


@dataclass(frozen=True, slots=True)
class TxState:
    transaction_id: str
    #: Sorted, disjoint, inclusive ranges of seqNos seen.
    seq_ranges: tuple[tuple[int, int], ...] = ()
    #: seqNo of the event that last set the "latest" fields below.
    latest_seq: int = -1
    ended: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    first_import: Mark | None = None
    last_import: Mark | None = None
    first_export: Mark | None = None
    last_export: Mark | None = None

    @property
    def energy_wh(self) -> float:
        return _delta(self.first_import, self.last_import)

    @property
    def discharged_wh(self) -> float:
        return _delta(self.first_export, self.last_export)

    @property
    def gaps(self) -> list[list[int]]:
        """Runs of seqNos missing between the lowest and highest seen: [[first, last], ...]."""
        return [
            [end + 1, start - 1]
            for (_, end), (start, _) in zip(self.seq_ranges, self.seq_ranges[1:], strict=False)
        ]

    def has_seen(self, seq_no: int) -> bool:
        index = bisect_left(self.seq_ranges, (seq_no + 1,)) - 1
        return index >= 0 and self.seq_ranges[index][1] >= seq_no


def _delta(first: Mark | None, last: Mark | None) -> float:
    if first is None or last is None:
        return 0.0
    return max(0.0, last[2] - first[2])


def _add_seq(ranges: tuple[tuple[int, int], ...], seq_no: int) -> tuple[tuple[int, int], ...]:
    """Insert an unseen seqNo, joining it to its neighbour runs."""
    merged = list(ranges)
    index = bisect_left(merged, (seq_no,))
    joins_left = index > 0 and merged[index - 1][1] == seq_no - 1
    joins_right = index < len(merged) and merged[index][0] == seq_no + 1
    if joins_left and joins_right:
        merged[index - 1 : index + 1] = [(merged[index - 1][0], merged[index][1])]
    elif joins_left:
        merged[index - 1] = (merged[index - 1][0], seq_no)
    elif joins_right:
        merged[index] = (seq_no, merged[index][1])
    else:
        merged.insert(index, (seq_no, seq_no))
    if len(merged) > MAX_SEQ_RANGES:
        raise TooFragmented(f"seqNos of this transaction form more than {MAX_SEQ_RANGES} runs")
    return tuple(merged)


def _extremes(
    first: Mark | None, last: Mark | None, seq_no: int, readings: tuple[tuple[datetime, float], ...]
) -> tuple[Mark | None, Mark | None]:
    for timestamp, value in readings:
        mark = (timestamp, seq_no, value)
        if first is None or mark[:2] < first[:2]:
            first = mark
        if last is None or mark[:2] > last[:2]:
            last = mark
    return first, last


def apply(state: TxState | None, event: TxEvent) -> tuple[TxState, bool]:
    """Fold one event into the state. Returns (new state, True if it was a duplicate)."""
    if state is None:
        state = TxState(transaction_id=event.transaction_id)
    elif state.has_seen(event.seq_no):
        return state, True
    changes: dict[str, Any] = {"seq_ranges": _add_seq(state.seq_ranges, event.seq_no)}
    lowest = not state.seq_ranges or event.seq_no < state.seq_ranges[0][0]
    if event.event_type is EventType.STARTED or lowest:
        changes["started_at"] = event.timestamp
    if event.event_type is EventType.ENDED:
        changes["ended"] = True
        changes["ended_at"] = event.timestamp
        if event.stopped_reason is not None:
            changes["stopped_reason"] = event.stopped_reason
    newest = event.seq_no > state.latest_seq
    if newest:
        changes["latest_seq"] = event.seq_no
    for name in ("evse_id", "connector_id", "id_token", "id_token_type", "charging_state"):
        value = getattr(event, name)
        if value is not None and (newest or getattr(state, name) is None):
            changes[name] = value
    if event.remote_start_id is not None:
        changes["remote_start_id"] = event.remote_start_id
    changes["first_import"], changes["last_import"] = _extremes(
        state.first_import, state.last_import, event.seq_no, event.import_readings
    )
    changes["first_export"], changes["last_export"] = _extremes(
        state.first_export, state.last_export, event.seq_no, event.export_readings
    )
    return replace(state, **changes), False


def to_json(state: TxState) -> dict[str, Any]:
    """The state as JSON-safe values, for the `machine` column."""

    def mark(value: Mark | None) -> list[Any] | None:
        return None if value is None else [value[0].isoformat(), value[1], value[2]]

    def moment(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "transaction_id": state.transaction_id,
        "seq_ranges": [list(pair) for pair in state.seq_ranges],
        "latest_seq": state.latest_seq,
        "ended": state.ended,
        "started_at": moment(state.started_at),
        "ended_at": moment(state.ended_at),
        "evse_id": state.evse_id,
        "connector_id": state.connector_id,
        "id_token": state.id_token,
        "id_token_type": state.id_token_type,
        "charging_state": state.charging_state,
        "stopped_reason": state.stopped_reason,
        "remote_start_id": state.remote_start_id,
        "first_import": mark(state.first_import),
        "last_import": mark(state.last_import),
        "first_export": mark(state.first_export),
        "last_export": mark(state.last_export),
    }


def from_json(data: dict[str, Any]) -> TxState:
    def mark(value: list[Any] | None) -> Mark | None:
        return None if value is None else (parse_timestamp(value[0]), int(value[1]), value[2])

    def moment(value: str | None) -> datetime | None:
        return None if value is None else parse_timestamp(value)

    return TxState(
        transaction_id=data["transaction_id"],
        seq_ranges=tuple((int(a), int(b)) for a, b in data["seq_ranges"]),
        latest_seq=data["latest_seq"],
        ended=data["ended"],
        started_at=moment(data["started_at"]),
        ended_at=moment(data["ended_at"]),
        evse_id=data["evse_id"],
        connector_id=data["connector_id"],
        id_token=data["id_token"],
        id_token_type=data["id_token_type"],
        charging_state=data["charging_state"],
        stopped_reason=data["stopped_reason"],
        remote_start_id=data["remote_start_id"],
        first_import=mark(data["first_import"]),
        last_import=mark(data["last_import"]),
        first_export=mark(data["first_export"]),
        last_export=mark(data["last_export"]),
    )
