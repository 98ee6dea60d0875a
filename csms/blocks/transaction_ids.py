"""OCPP 1.6 transaction ids: the integer the CSMS assigns to a StartTransaction, and the
seqNos under which a 1.6 transaction's messages join the one transaction model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from csms.blocks.base import BlockContext
from csms.db.models import Ocpp16Transaction, TransactionEvent
from csms.db.writer import Batch

#: (eventType, triggerReason, timestamp, seqNo) of one stored event of a transaction.
StoredEvent = tuple[str, str, datetime, int, dict[str, Any]]


class TransactionIds:
    def __init__(self, context: BlockContext):
        self.context = context

    async def assign(
        self,
        station_id: str,
        connector_id: int,
        started_at: datetime,
        meter_start: int,
        id_tag: str,
    ) -> int:
        """The transactionId of this start: the one given before if the station sends the
        same StartTransaction again (committed before it is returned)."""

        async def write(batch: Batch) -> int:
            key = {"station_id": station_id, "connector_id": connector_id, "started_at": started_at}
            row = await Ocpp16Transaction.filter(**key).using_db(batch.conn).first()
            if row is None:
                row = await Ocpp16Transaction.create(
                    **key,
                    meter_start=meter_start,
                    id_tag=id_tag,
                    created_at=self.context.clock(),
                    using_db=batch.conn,
                )
            return int(row.id)

        return await self.context.writer.submit(write)

    async def stored_events(self, station_id: str, transaction_id: str) -> list[StoredEvent]:
        """The events stored for a transaction, to number the next ones after them."""
        rows = await TransactionEvent.filter(
            station_id=station_id, transaction_id=transaction_id
        ).values_list("event_type", "trigger_reason", "timestamp", "seq_no", "payload")
        return [
            (str(kind), str(trigger), at, int(seq), payload)
            for kind, trigger, at, seq, payload in rows
        ]
