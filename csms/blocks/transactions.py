"""Transactions block: TransactionEvent and MeterValues, stored before they are answered."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from csms.blocks import transaction_state as machine
from csms.blocks.authorization import Authorization
from csms.blocks.base import BlockContext
from csms.blocks.meter import (
    EXPORT_REGISTER,
    IMPORT_REGISTER,
    Reading,
    parse_timestamp,
    readings,
    register_values,
)
from csms.db.models import MeterValue, StationEvent, Transaction, TransactionEvent
from csms.db.writer import Batch
from csms.ocpp_errors import ErrorCode, OcppError

log = logging.getLogger(__name__)

#: Batch.shared key: states written earlier in the same batch, by (station, transaction).
_PENDING = "transactions.pending"
#: Batch.shared key: events inserted earlier in the same batch (not yet in the table).
_PENDING_EVENTS = "transactions.pending_events"

#: StationEvent kind logged when a Started event ends an older transaction on its EVSE.
SUPERSEDED_EVENT = "TransactionSuperseded"

#: (station id, EVSE id) -> the EVSE's rated power in W, or None if unknown.
EvsePower = Callable[[str, int], float | None]


def parse_event(
    payload: dict[str, Any], received_at: datetime | None = None
) -> tuple[machine.TxEvent, list[Reading]]:
    """TransactionEventRequest -> the state machine's event and its meter readings."""
    info = payload["transactionInfo"]
    evse = payload.get("evse") or {}
    token = payload.get("idToken") or {}
    samples = readings(payload.get("meterValue", ()))
    event = machine.TxEvent(
        transaction_id=info["transactionId"],
        event_type=machine.EventType(payload["eventType"]),
        seq_no=payload["seqNo"],
        timestamp=parse_timestamp(payload["timestamp"]),
        trigger_reason=payload["triggerReason"],
        offline=bool(payload.get("offline", False)),
        evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
        id_token=token.get("idToken"),
        id_token_type=token.get("type"),
        charging_state=info.get("chargingState"),
        stopped_reason=info.get("stoppedReason"),
        remote_start_id=info.get("remoteStartId"),
        import_readings=tuple(register_values(samples, IMPORT_REGISTER)),
        export_readings=tuple(register_values(samples, EXPORT_REGISTER)),
        received_at=received_at,
    )
    return event, samples


def meter_rows(
    station_id: str,
    evse_id: int,
    transaction_id: str | None,
    samples: Iterable[Reading],
) -> list[dict[str, Any]]:
    """MeterValue rows as field values, for `Batch.insert_values`."""
    return [
        {
            "station_id": station_id,
            "evse_id": evse_id,
            "transaction_id": transaction_id,
            "timestamp": sample.timestamp,
            "measurand": sample.measurand,
            "phase": sample.phase,
            "context": sample.context,
            "location": sample.location,
            "value": sample.value,
            "unit": sample.unit,
        }
        for sample in samples
    ]


class Transactions:
    """TransactionEvent and MeterValues.

    :param cache_stations: stations whose transactions' states are kept in memory, so that
        an event costs no read. A station's messages reach one process at a time and one by
        one; its entries are dropped when it (re)connects and updated only after a commit,
        so the cache stays true. Each entry holds at most `cache_per_station` transactions.
    :param evse_power: the rated power of an EVSE (from the grid topology), which bounds
        how fast its register may rise; unknown EVSEs get machine.DEFAULT_MAX_POWER_W.
    """

    def __init__(
        self,
        context: BlockContext,
        authorization: Authorization,
        cache_stations: int = 20_000,
        cache_per_station: int = 16,
        evse_power: EvsePower | None = None,
    ):
        self.context = context
        self.authorization = authorization
        self.evse_power = evse_power
        self.cache_stations = cache_stations
        self.cache_per_station = cache_per_station
        self._cache: OrderedDict[str, OrderedDict[str, tuple[int, machine.TxState]]] = OrderedDict()
        #: Late events refolded inside a write op (their state was not cached beforehand).
        self.refolds_in_commit = 0

    def forget_station(self, station_id: str) -> None:
        """Drop cached states: another process may have written them while we were away."""
        self._cache.pop(station_id, None)

    async def _current(
        self, batch: Batch, station_id: str, transaction_id: str
    ) -> tuple[int | None, machine.TxState | None]:
        # Earlier events of this transaction in the same (not yet committed) batch come first.
        pending = batch.shared.setdefault(_PENDING, {})
        if (station_id, transaction_id) in pending:
            found: tuple[int, machine.TxState] = pending[(station_id, transaction_id)]
            return found
        entries = self._cache.get(station_id)
        cached = None if entries is None else entries.get(transaction_id)
        if cached is not None:
            return cached
        row = (
            await Transaction.filter(station_id=station_id, transaction_id=transaction_id)
            .using_db(batch.conn)
            .only("id", "machine")
            .first()
        )
        return (None, None) if row is None else (row.id, machine.from_json(row.machine))

    def _remember(self, station_id: str, row_id: int, state: machine.TxState) -> None:
        entries = self._cache.setdefault(station_id, OrderedDict())
        self._cache.move_to_end(station_id)
        entries[state.transaction_id] = (row_id, state)
        entries.move_to_end(state.transaction_id)
        while len(entries) > self.cache_per_station:
            entries.popitem(last=False)
        while len(self._cache) > self.cache_stations:
            self._cache.popitem(last=False)

    def _rules(self, station_id: str, evse_id: int | None) -> machine.Plausibility:
        power = None
        if self.evse_power is not None and evse_id is not None:
            power = self.evse_power(station_id, evse_id)
        return machine.PLAUSIBLE if not power else machine.Plausibility(max_power_w=power)

    async def _history(
        self, station_id: str, transaction_id: str, conn: BaseDBAsyncClient | None = None
    ) -> list[machine.TxEvent]:
        rows = (
            await TransactionEvent.filter(station_id=station_id, transaction_id=transaction_id)
            .using_db(conn)
            .values_list("payload", "received_at")
        )
        return [parse_event(payload, received)[0] for payload, received in rows]

    @staticmethod
    def _refolded(
        history: list[machine.TxEvent],
        event: machine.TxEvent,
        before: machine.TxState,
        rules: machine.Plausibility,
    ) -> machine.TxState:
        """The state with a late event folded in seqNo order with every stored one."""
        state = machine.fold([*history, event], rules)
        assert state is not None
        if machine.Flag.SUPERSEDED.value in dict(before.quality) and not state.ended:
            assert before.ended_at is not None
            state = machine.supersede(state, before.ended_at)
        return state

    async def _prefold(
        self, station_id: str, event: machine.TxEvent
    ) -> tuple[machine.TxState, machine.TxState] | None:
        """(cached state, state after it) for a late event, folded before the write op.

        Refolding reads every stored event of the transaction; done inside the op, a station
        replaying its queue newest first would hold the single writer for O(N) per event.
        A station's messages are handled one at a time, so none of its events is in flight
        meanwhile; the op uses the result only if the state it finds is the cached one.
        """
        entries = self._cache.get(station_id)
        cached = None if entries is None else entries.get(event.transaction_id)
        if cached is None:
            return None
        before = cached[1]
        if event.seq_no >= before.latest_seq or before.has_seen(event.seq_no):
            return None
        history = await self._history(station_id, event.transaction_id)
        rules = self._rules(station_id, _evse_of(before, event))
        try:
            return before, self._refolded(history, event, before, rules)
        except machine.TooFragmented:
            return None  # the op refuses it

    async def _supersede_others(
        self, batch: Batch, station_id: str, state: machine.TxState
    ) -> None:
        """End every other active transaction on the EVSE that `state` started on."""
        pending: dict[tuple[str, str], tuple[int, machine.TxState]] = batch.shared[_PENDING]
        stored = await (
            Transaction.filter(station_id=station_id, evse_id=state.evse_id, state="active")
            .exclude(transaction_id=state.transaction_id)
            .using_db(batch.conn)
            .values_list("transaction_id", flat=True)
        )
        unwritten = [
            tid
            for (sid, tid), (_, other) in pending.items()
            if sid == station_id and other.evse_id == state.evse_id
        ]
        for transaction_id in sorted({str(tid) for tid in stored} | set(unwritten)):
            row_id, old = await self._current(batch, station_id, transaction_id)
            if row_id is None or old is None or not machine.superseded_by(old, state):
                continue
            at = state.started_at or self.context.clock()
            ended = machine.supersede(old, at)
            batch.update_values(Transaction, row_id, _transaction_fields(ended))
            batch.insert(
                StationEvent(
                    station_id=station_id,
                    kind=SUPERSEDED_EVENT,
                    timestamp=at,
                    payload={
                        "transactionId": transaction_id,
                        "supersededBy": state.transaction_id,
                        "evseId": state.evse_id,
                        "stoppedReason": machine.SUPERSEDED_REASON,
                        "energyWh": ended.energy_wh,
                    },
                )
            )
            pending[(station_id, transaction_id)] = (row_id, ended)
            batch.on_commit(partial(self._remember, station_id, row_id, ended))
            log.info(
                "[%s] transaction %s ended: %s started on EVSE %s",
                station_id,
                transaction_id,
                state.transaction_id,
                state.evse_id,
            )

    async def transaction_event(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        received_at = self.context.clock()
        event, samples = parse_event(payload, received_at)

        prefolded = await self._prefold(station_id, event)

        async def write(batch: Batch) -> str | None:
            """Returns why the event is refused, or None; it never raises for that: an op
            that raises makes the writer retry its whole batch one op at a time."""
            row_id, before = await self._current(batch, station_id, event.transaction_id)
            rules = self._rules(station_id, _evse_of(before, event))
            try:
                state, duplicate = machine.apply(before, event, rules)
            except machine.TooFragmented as error:
                return str(error)
            if duplicate:
                return None
            if before is not None and event.seq_no < before.latest_seq:
                # Late (an offline replay, a retry): judged as if it had come in order.
                if prefolded is not None and prefolded[0] is before:
                    state = prefolded[1]
                else:
                    self.refolds_in_commit += 1
                    history = await self._history(station_id, event.transaction_id, batch.conn)
                    unwritten = batch.shared.setdefault(_PENDING_EVENTS, {})
                    history += unwritten.get((station_id, event.transaction_id), [])
                    state = self._refolded(history, event, before, rules)
            batch.shared.setdefault(_PENDING_EVENTS, {}).setdefault(
                (station_id, event.transaction_id), []
            ).append(event)
            batch.insert_values(
                TransactionEvent,
                {
                    "station_id": station_id,
                    "transaction_id": event.transaction_id,
                    "seq_no": event.seq_no,
                    "event_type": event.event_type.value,
                    "trigger_reason": event.trigger_reason,
                    "timestamp": event.timestamp,
                    "offline": event.offline,
                    "payload": payload,
                    "received_at": received_at,
                },
            )
            fields = _transaction_fields(state)
            if row_id is None:
                row = await Transaction.create(
                    station_id=station_id,
                    transaction_id=event.transaction_id,
                    using_db=batch.conn,
                    **fields,
                )
                row_id = row.id
            else:
                batch.update_values(Transaction, row_id, fields)
            evse_id = state.evse_id if state.evse_id is not None else 0
            for meter_row in meter_rows(station_id, evse_id, event.transaction_id, samples):
                batch.insert_values(MeterValue, meter_row)
            committed_id = row_id
            batch.shared[_PENDING][(station_id, event.transaction_id)] = (committed_id, state)
            batch.on_commit(lambda: self._remember(station_id, committed_id, state))
            if event.event_type is machine.EventType.STARTED and not state.ended:
                await self._supersede_others(batch, station_id, state)
            return None

        refused = await self.context.writer.submit(write)
        if refused is not None:
            raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, refused)
        response: dict[str, Any] = {}
        if event.id_token is not None and event.id_token_type is not None:
            response["idTokenInfo"] = await self.authorization.info(
                event.id_token, event.id_token_type
            )
        return response

    async def meter_values(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        samples = readings(payload["meterValue"])
        rows = meter_rows(station_id, payload["evseId"], None, samples)

        async def write(batch: Batch) -> None:
            for row in rows:
                batch.insert_values(MeterValue, row)

        await self.context.writer.submit(write)
        return {}


def _evse_of(before: machine.TxState | None, event: machine.TxEvent) -> int | None:
    """The EVSE whose rating judges the transaction: the one it started on."""
    return event.evse_id if before is None or before.evse_id is None else before.evse_id


def _transaction_fields(state: machine.TxState) -> dict[str, Any]:
    started: datetime | None = state.started_at
    return {
        "evse_id": state.evse_id,
        "connector_id": state.connector_id,
        "id_token": state.id_token,
        "id_token_type": state.id_token_type,
        "state": "ended" if state.ended else "active",
        "charging_state": state.charging_state,
        "started_at": started,
        "ended_at": state.ended_at,
        "stopped_reason": state.stopped_reason,
        "remote_start_id": state.remote_start_id,
        "energy_wh": state.energy_wh,
        "discharged_wh": state.discharged_wh,
        "machine": machine.to_json(state),
        "seq_gaps": state.gaps,
        "data_quality": dict(state.quality),
    }


def transaction_json(row: Transaction) -> dict[str, Any]:
    return {
        "transaction_id": row.transaction_id,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "connector_id": row.connector_id,
        "id_token": row.id_token,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "energy_wh": row.energy_wh,
        "discharged_wh": row.discharged_wh,
        "state": row.state,
        "charging_state": row.charging_state,
        "stopped_reason": row.stopped_reason,
        "remote_start_id": row.remote_start_id,
        "seq_gaps": row.seq_gaps,
        "data_quality": row.data_quality,
    }


async def list_transactions(station_id: str | None = None, limit: int = 1000) -> list[Transaction]:
    query = Transaction.all()
    if station_id is not None:
        query = query.filter(station_id=station_id)
    return await query.order_by("-id").limit(limit)
