"""The transaction state machine, pure: a fold of TransactionEvents.

Events may arrive late, twice, or out of order (a station replays its offline queue), so
the state is defined by the set of events seen, not by arrival order: fields take their
value from the event with the highest seqNo that carries them, energies from the register
readings with the earliest and latest (timestamp, seqNo) - an Ended event may carry the
session's Transaction.Begin reading. Applying an event twice changes nothing, and `apply`
says so.

Field data is judged before it is billed (see `Plausibility`): a reading that no meter on
this EVSE could have taken is kept in the event as sent, but left out of the energy and
counted in `quality` under a `Flag`. A register series is judged as a whole, never one
reading against the ones that came before it: the valid readings are the longest chain
that never falls and never rises faster than the EVSE can deliver, so one bad reading,
even the first, cannot outvote the good ones. Energy is the span of that chain. The
chain is judged over the newest `WINDOW` readings; older ones are settled for good, so a
transaction's state and the work per event stay bounded however long it runs. Event
level rules (after Ended, outside the transaction's span) still depend on what was known
when a reading came, so with dirty data the state is that of `fold`, the seqNo-order fold;
`apply` gives it as long as events come in order (the adapter folds again when one comes
late).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from csms.blocks.meter import parse_timestamp

#: Most disjoint seqNo runs one transaction may have; each costs a little per event, and a
#: real station's gaps (lost or not yet replayed events) are few.
MAX_SEQ_RANGES = 256

#: Readings of one register judged against each other, at least, before the oldest are
#: settled (kept in the valid chain or left out, for good); at most twice as many are
#: held. Bounds a transaction's state and the work per event; a run of bad readings
#: shorter than this is outvoted by the good ones after it.
WINDOW = 32

#: Chain length of the settled end of a series: more than any chain inside the window can
#: reach, so the valid chain always continues what was settled.
_SETTLED_LENGTH = 2 * WINDOW + 2


#: Rated power assumed for an EVSE the grid topology does not describe: above any charger
#: in service for cars and buses, so only readings no real EVSE could produce are refused.
DEFAULT_MAX_POWER_W = 1_000_000.0

#: stoppedReason recorded for a transaction ended because a newer one started on its EVSE.
SUPERSEDED_REASON = "Superseded"


class Flag(StrEnum):
    """Why a part of a transaction's data was stored but not billed."""

    #: An event with a seqNo after the transaction's Ended event.
    EVENT_AFTER_ENDED = "event_after_ended"
    #: A timestamp far from when the CSMS received it (a clock in 1970 or in 9999).
    TIMESTAMP_IMPLAUSIBLE = "timestamp_implausible"
    #: A reading timed far before the Started event or after the Ended event.
    TIMESTAMP_OUTSIDE_TRANSACTION = "timestamp_outside_transaction"
    NEGATIVE_REGISTER = "negative_register"
    #: Outside the valid chain, and lower than the valid reading before it or higher than
    #: the one after it: a reset, a replaced meter, a glitch.
    DECREASING_REGISTER = "decreasing_register"
    #: Outside the valid chain, between its neighbours' values but further from one of them
    #: than the EVSE's power (with a margin) allows in the time between.
    IMPOSSIBLE_JUMP = "impossible_jump"
    #: Ended by the CSMS because a newer transaction started on the same EVSE.
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Plausibility:
    """What a register reading may be before it counts as energy.

    :param max_power_w: the EVSE's rated power (import or export, the larger).
    :param power_margin: factor on `max_power_w`: meters and ratings disagree a little.
    :param register_slack_wh: a rise always allowed, for registers reported in whole kWh
        and readings a second apart.
    :param clock_ahead: how far a timestamp may be after the time the CSMS received it.
        Generous: it catches clocks in 9999, not drift (and lets emulators run simulated
        time ahead of the CSMS's clock for a while).
    :param clock_behind: how far before it: an offline queue replayed this much later is
        still billed; a clock in 1970 is not.
    :param span_slack: how far a reading may lie before Started or after Ended.
    """

    max_power_w: float = DEFAULT_MAX_POWER_W
    power_margin: float = 1.5
    register_slack_wh: float = 1000.0
    clock_ahead: timedelta = timedelta(days=7)
    clock_behind: timedelta = timedelta(days=365)
    span_slack: timedelta = timedelta(hours=1)

    def deliverable_wh(self, start: datetime, end: datetime) -> float:
        hours = max((end - start).total_seconds(), 0.0) / 3600
        return self.max_power_w * self.power_margin * hours + self.register_slack_wh

    def clock_plausible(self, moment: datetime, received_at: datetime | None) -> bool:
        if received_at is None:
            return True
        return received_at - self.clock_behind <= moment <= received_at + self.clock_ahead


PLAUSIBLE = Plausibility()


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
    #: When the CSMS received the event, to judge the station's clock (None: not judged).
    received_at: datetime | None = None


#: A register reading ordered by (timestamp, seqNo).
Mark = tuple[datetime, int, float]
#: A reading that passed the per-reading rules, with the longest valid chain ending at it:
#: (timestamp, seqNo, Wh, chain length, index of the chain's previous reading or -1).
Link = tuple[datetime, int, float, int, int]


@dataclass(frozen=True, slots=True)
class Series:
    """One register (import or export) of a transaction, judged as a series.

    `links` are the newest readings that passed the per-reading rules, in (timestamp,
    seqNo) order, each with the longest chain ending at it. When more than 2 * `WINDOW`
    are held, all but the newest `WINDOW` are settled: a member of the valid chain
    becomes `links[0]`, the settled end, which every valid chain continues from then on;
    any other reading is left out for good and counted in `left_out`.
    """

    links: tuple[Link, ...] = ()
    #: The earliest valid reading, once one is settled (its successors are not kept).
    first: Mark | None = None
    #: (Flag value, count) of the settled readings left out of the chain, sorted by flag.
    left_out: tuple[tuple[str, int], ...] = ()

    @property
    def span_wh(self) -> float:
        members = _chain(self.links)
        if not members:
            return 0.0
        start = self.first if self.first is not None else self.links[members[0]]
        return self.links[members[-1]][2] - start[2]

    @property
    def bounds(self) -> tuple[Mark, Mark] | None:
        """The earliest and the latest valid reading."""
        members = _chain(self.links)
        if not members:
            return None
        start = self.first if self.first is not None else self.links[members[0]]
        return start[:3], self.links[members[-1]][:3]


@dataclass(frozen=True, slots=True)
class TxState:
    transaction_id: str
    #: Sorted, disjoint, inclusive ranges of seqNos seen.
    seq_ranges: tuple[tuple[int, int], ...] = ()
    #: seqNo of the event that last set the "latest" fields below.
    latest_seq: int = -1
    #: A Started event has been seen (started_at is then its time).
    started: bool = False
    ended: bool = False
    #: seqNo of the Ended event; None while none arrived (also when superseded).
    ended_seq: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    #: Import and export register readings that passed the per-reading rules; the valid
    #: ones are their longest chain.
    imports: Series = Series()
    exports: Series = Series()
    #: (Flag value, count) of the per-event and per-reading rules, sorted by flag.
    flags: tuple[tuple[str, int], ...] = ()
    #: (Flag value, how many events or readings it excluded), sorted by flag: `flags` and
    #: the readings outside the valid chains.
    quality: tuple[tuple[str, int], ...] = ()

    @property
    def energy_wh(self) -> float:
        return self.imports.span_wh

    @property
    def discharged_wh(self) -> float:
        return self.exports.span_wh

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


def _fits(before: Link | Mark, after: Mark, rules: Plausibility) -> bool:
    """Whether a register may read `after` once it read `before`."""
    rise = after[2] - before[2]
    return 0 <= rise <= rules.deliverable_wh(before[0], after[0])


def _link(links: list[Link], mark: Mark, rules: Plausibility) -> Link:
    """`mark` with the longest chain ending at it; among equals, the one through the
    earliest predecessor (it keeps the Begin reading)."""
    # A chain ending at index i is at most i + 1 long, plus the settled end's bonus.
    bonus = _SETTLED_LENGTH - 1 if links and links[0][3] == _SETTLED_LENGTH else 0
    length, previous = 1, -1
    for index in range(len(links) - 1, -1, -1):
        if index + 2 + bonus < length:
            break  # every chain ending this early is too short
        link = links[index]
        if link[3] + 1 >= length and _fits(link, mark, rules):
            length, previous = link[3] + 1, index
    return (*mark, length, previous)


def _relinked(head: list[Link], marks: Iterable[Mark], rules: Plausibility) -> tuple[Link, ...]:
    """`head` followed by `marks`, each linked to the longest chain before it.

    A reading costs one step when the readings before it form one chain, and at most one
    comparison per earlier reading otherwise.
    """
    out = list(head)
    for mark in marks:
        out.append(_link(out, mark, rules))
    return tuple(out)


def _linked(links: tuple[Link, ...], mark: Mark, rules: Plausibility) -> tuple[Link, ...]:
    """Insert a reading; the chains of the readings after it are found again."""
    index = bisect_right(links, mark[:2], key=lambda link: link[:2])
    return _relinked(list(links[:index]), (mark, *(link[:3] for link in links[index:])), rules)


def _chain(links: tuple[Link, ...]) -> list[int]:
    """Indices of the valid readings: the longest chain, among equals the one ending last
    (it keeps the End reading)."""
    if not links:
        return []
    end = max(range(len(links)), key=lambda index: (links[index][3], index))
    members = []
    while end >= 0:
        members.append(end)
        end = links[end][4]
    return members[::-1]


def _outside_flag(mark: Mark, before: Mark | None, after: Mark | None, rules: Plausibility) -> Flag:
    """Why a reading outside the valid chain is, given its chain neighbours."""
    if before is not None and mark[2] < before[2]:
        return Flag.DECREASING_REGISTER
    if before is not None and not _fits(before, mark, rules):
        return Flag.IMPOSSIBLE_JUMP
    if after is not None and mark[2] > after[2]:
        return Flag.DECREASING_REGISTER
    return Flag.IMPOSSIBLE_JUMP


def _chain_flags(links: tuple[Link, ...], rules: Plausibility) -> Counter[str]:
    """Why each reading outside the valid chain is: compared with its chain neighbours."""
    members = _chain(links)
    flags: Counter[str] = Counter()
    position = 0
    for index, link in enumerate(links):
        if position < len(members) and members[position] == index:
            position += 1
            continue
        before = links[members[position - 1]][:3] if position > 0 else None
        after = links[members[position]][:3] if position < len(members) else None
        flags[_outside_flag(link[:3], before, after, rules).value] += 1
    return flags


def _series_flags(series: Series, rules: Plausibility) -> Counter[str]:
    """Why each reading of a series is left out of its valid chain."""
    flags = _chain_flags(series.links, rules)
    flags.update(dict(series.left_out))
    return flags


def _left_out(series: Series, flag: Flag) -> Series:
    return replace(series, left_out=_counted(series.left_out, Counter({flag.value: 1})))


def _settled(series: Series, rules: Plausibility) -> Series:
    """Settle the oldest readings until `WINDOW` are left unsettled: members of the valid
    chain move the settled end forward, the others are left out for good."""
    links = series.links
    start = 0 if series.first is None else 1
    count = len(links) - start - WINDOW
    if count <= 0:
        return series
    members = _chain(links)
    in_chain = set(members)
    first = series.first
    end = links[0][:3] if first is not None else None
    flags: Counter[str] = Counter()
    for index in range(start, start + count):
        mark = links[index][:3]
        if index in in_chain:
            end = mark
            first = first if first is not None else mark
            continue
        position = bisect_left(members, index)
        before = links[members[position - 1]][:3] if position > 0 else None
        after = links[members[position]][:3] if position < len(members) else None
        flags[_outside_flag(mark, before, after, rules).value] += 1
    head: list[Link] = [] if end is None else [(*end, _SETTLED_LENGTH, -1)]
    return Series(
        links=_relinked(head, (link[:3] for link in links[start + count :]), rules),
        first=first,
        left_out=_counted(series.left_out, flags),
    )


def _before_settled(series: Series, mark: Mark, rules: Plausibility) -> Series:
    """A reading timed before the settled end (a replay, a clock that stepped back): it
    may only move the first valid reading earlier; inside the settled span it changes no
    energy when its value lies within the span's."""
    assert series.first is not None
    first, end = series.first, series.links[0]
    if mark[:2] < first[:2]:
        if _fits(mark, first, rules):
            return replace(series, first=mark)
        flag = _outside_flag(mark, None, first, rules)
    elif first[2] <= mark[2] <= end[2]:
        return series
    else:
        flag = _outside_flag(mark, first, end[:3], rules)
    return _left_out(series, flag)


def _inserted(series: Series, mark: Mark, rules: Plausibility) -> Series:
    """`series` with one more reading that passed the per-reading rules."""
    if series.first is not None and mark[:2] < series.links[0][:2]:
        return _before_settled(series, mark, rules)
    series = replace(series, links=_linked(series.links, mark, rules))
    if len(series.links) - (series.first is not None) > 2 * WINDOW:
        # Settled in batches, so that settling costs O(1) per reading.
        series = _settled(series, rules)
    return series


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


def _counted(
    quality: tuple[tuple[str, int], ...], flags: Counter[str]
) -> tuple[tuple[str, int], ...]:
    total = Counter(dict(quality))
    total.update(flags)
    return tuple(sorted(total.items()))


def _judge(
    mark: Mark,
    span: tuple[datetime | None, datetime | None],
    received_at: datetime | None,
    rules: Plausibility,
) -> Flag | None:
    """Why a reading cannot count on its own, or None (the series rules come after)."""
    moment, _, value = mark
    if not rules.clock_plausible(moment, received_at):
        return Flag.TIMESTAMP_IMPLAUSIBLE
    started_at, ended_at = span
    if (started_at is not None and moment < started_at - rules.span_slack) or (
        ended_at is not None and moment > ended_at + rules.span_slack
    ):
        return Flag.TIMESTAMP_OUTSIDE_TRANSACTION
    if value < 0:
        return Flag.NEGATIVE_REGISTER
    return None


def _judged(
    series: Series,
    event: TxEvent,
    readings: tuple[tuple[datetime, float], ...],
    span: tuple[datetime | None, datetime | None],
    rules: Plausibility,
    flags: Counter[str],
) -> Series:
    """`series` with the readings that pass the per-reading rules; the others are counted
    in `flags`."""
    for timestamp, value in readings:
        mark = (timestamp, event.seq_no, value)
        flag = _judge(mark, span, event.received_at, rules)
        if flag is not None:
            flags[flag.value] += 1
        else:
            series = _inserted(series, mark, rules)
    return series


def plausible_series(
    readings: Iterable[tuple[datetime, float]], rules: Plausibility = PLAUSIBLE
) -> list[tuple[datetime, float]]:
    """The readings of one register series that the rules accept, judged as a
    transaction's would be: for consumers of raw meter values (delivery reports)."""
    links: tuple[Link, ...] = ()
    for moment, value in readings:
        if value >= 0:
            links = _linked(links, (moment, 0, value), rules)
    return [(links[index][0], links[index][2]) for index in _chain(links)]


def apply(
    state: TxState | None, event: TxEvent, rules: Plausibility = PLAUSIBLE
) -> tuple[TxState, bool]:
    """Fold one event into the state. Returns (new state, True if it was a duplicate)."""
    if state is None:
        state = TxState(transaction_id=event.transaction_id)
    elif state.has_seen(event.seq_no):
        return state, True
    changes: dict[str, Any] = {"seq_ranges": _add_seq(state.seq_ranges, event.seq_no)}
    flags: Counter[str] = Counter()
    if state.ended_seq is not None and event.seq_no > state.ended_seq:
        # Kept as sent (the event row), but nothing after the end is billed or believed.
        flags[Flag.EVENT_AFTER_ENDED.value] += 1
        return replace(
            state,
            **changes,
            flags=_counted(state.flags, flags),
            quality=_counted(state.quality, flags),
        ), False
    moment = event.timestamp
    if event.received_at is not None and not rules.clock_plausible(moment, event.received_at):
        flags[Flag.TIMESTAMP_IMPLAUSIBLE.value] += 1
        moment = event.received_at
    lowest = not state.seq_ranges or event.seq_no < state.seq_ranges[0][0]
    if event.event_type is EventType.STARTED or (lowest and not state.started):
        changes["started_at"] = moment
    if event.event_type is EventType.STARTED:
        changes["started"] = True
    if event.event_type is EventType.ENDED:
        changes["ended"] = True
        changes["ended_at"] = moment
        changes["ended_seq"] = event.seq_no
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
    started = changes.get("started", state.started)
    span = (
        changes.get("started_at", state.started_at) if started else None,
        changes.get("ended_at", state.ended_at) if changes.get("ended", state.ended) else None,
    )
    changes["imports"] = _judged(state.imports, event, event.import_readings, span, rules, flags)
    changes["exports"] = _judged(state.exports, event, event.export_readings, span, rules, flags)
    changes["flags"] = _counted(state.flags, flags)
    chains = _series_flags(changes["imports"], rules) + _series_flags(changes["exports"], rules)
    changes["quality"] = _counted(changes["flags"], chains)
    return replace(state, **changes), False


def fold(events: Iterable[TxEvent], rules: Plausibility = PLAUSIBLE) -> TxState | None:
    """The state of a set of events, folded in seqNo order.

    That order is the canonical one: a reading is judged against the valid readings before
    it, so events folded as they arrive give this same state only if they arrived in
    order. The adapter folds again with this when an event arrives late.
    """
    state = None
    for event in sorted(events, key=lambda item: item.seq_no):
        state, _ = apply(state, event, rules)
    return state


def superseded_by(old: TxState, new: TxState) -> bool:
    """True if `new` starting on `old`'s EVSE means `old` is over: the station never sent
    its Ended (a lost event, a reboot). A replayed older Started never ends a newer one."""
    return (
        not old.ended
        and old.evse_id is not None
        and old.evse_id == new.evse_id
        and old.transaction_id != new.transaction_id
        and (old.started_at is None or new.started_at is None or old.started_at <= new.started_at)
    )


def supersede(state: TxState, at: datetime) -> TxState:
    """End `state` at `at` (when its successor started); energy stays its valid readings'."""
    return replace(
        state,
        ended=True,
        ended_at=at,
        stopped_reason=SUPERSEDED_REASON,
        flags=_counted(state.flags, Counter({Flag.SUPERSEDED.value: 1})),
        quality=_counted(state.quality, Counter({Flag.SUPERSEDED.value: 1})),
    )


def to_json(state: TxState) -> dict[str, Any]:
    """The state as JSON-safe values, for the `machine` column."""

    def series(value: Series) -> dict[str, Any]:
        first = value.first
        return {
            "links": [[link[0].isoformat(), *link[1:]] for link in value.links],
            "first": None if first is None else [first[0].isoformat(), *first[1:]],
            "left_out": dict(value.left_out),
        }

    def moment(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "transaction_id": state.transaction_id,
        "seq_ranges": [list(pair) for pair in state.seq_ranges],
        "latest_seq": state.latest_seq,
        "started": state.started,
        "ended": state.ended,
        "ended_seq": state.ended_seq,
        "started_at": moment(state.started_at),
        "ended_at": moment(state.ended_at),
        "evse_id": state.evse_id,
        "connector_id": state.connector_id,
        "id_token": state.id_token,
        "id_token_type": state.id_token_type,
        "charging_state": state.charging_state,
        "stopped_reason": state.stopped_reason,
        "remote_start_id": state.remote_start_id,
        "imports": series(state.imports),
        "exports": series(state.exports),
        "flags": dict(state.flags),
        "quality": dict(state.quality),
    }


def from_json(data: dict[str, Any]) -> TxState:
    def links(values: list[list[Any]]) -> tuple[Link, ...]:
        return tuple(
            (parse_timestamp(at), int(seq), value, int(length), int(previous))
            for at, seq, value, length, previous in values
        )

    def series(value: dict[str, Any] | list[list[Any]]) -> Series:
        if isinstance(value, list):
            # Rows written before the window kept every reading; the next event settles them.
            return Series(links=links(value))
        first = value["first"]
        return Series(
            links=links(value["links"]),
            first=None if first is None else (parse_timestamp(first[0]), int(first[1]), first[2]),
            left_out=tuple(sorted(value["left_out"].items())),
        )

    def legacy(first: list[Any] | None, last: list[Any] | None) -> Series:
        # Rows written before series judgement kept only the first and last valid reading.
        ends = [[*end, n + 1, n - 1] for n, end in enumerate(e for e in (first, last) if e)]
        return Series(links=links(ends[:1] if first == last else ends))

    def moment(value: str | None) -> datetime | None:
        return None if value is None else parse_timestamp(value)

    return TxState(
        transaction_id=data["transaction_id"],
        seq_ranges=tuple((int(a), int(b)) for a, b in data["seq_ranges"]),
        latest_seq=data["latest_seq"],
        # Rows written before data-quality judgement lack the newer keys.
        started=data.get("started", False),
        ended=data["ended"],
        ended_seq=data.get("ended_seq"),
        started_at=moment(data["started_at"]),
        ended_at=moment(data["ended_at"]),
        evse_id=data["evse_id"],
        connector_id=data["connector_id"],
        id_token=data["id_token"],
        id_token_type=data["id_token_type"],
        charging_state=data["charging_state"],
        stopped_reason=data["stopped_reason"],
        remote_start_id=data["remote_start_id"],
        imports=(
            series(data["imports"])
            if "imports" in data
            else legacy(data["first_import"], data["last_import"])
        ),
        exports=(
            series(data["exports"])
            if "exports" in data
            else legacy(data["first_export"], data["last_export"])
        ),
        flags=tuple(sorted(data.get("flags", data.get("quality", {})).items())),
        quality=tuple(sorted(data.get("quality", {}).items())),
    )
