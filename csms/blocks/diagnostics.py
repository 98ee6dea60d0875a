"""Notifications kept as a station event log: NotifyEvent, SecurityEventNotification,
FirmwareStatusNotification and LogStatusNotification."""

from __future__ import annotations

from typing import Any

from csms.blocks.base import BlockContext
from csms.blocks.meter import parse_timestamp
from csms.db.models import StationEvent
from csms.db.writer import Batch

#: The field that dates each kind of notification (absent: the time it was received).
_TIME_FIELD = {"NotifyEvent": "generatedAt", "SecurityEventNotification": "timestamp"}


class Diagnostics:
    def __init__(self, context: BlockContext):
        self.context = context

    async def record(self, station_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        field = _TIME_FIELD.get(kind)
        timestamp = parse_timestamp(payload[field]) if field else self.context.clock()

        async def write(batch: Batch) -> None:
            await StationEvent.create(
                station_id=station_id,
                kind=kind,
                timestamp=timestamp,
                payload=payload,
                using_db=batch.conn,
            )

        await self.context.writer.submit(write)
        return {}

    async def events(self, station_id: str, kind: str | None = None) -> list[StationEvent]:
        query = StationEvent.filter(station_id=station_id)
        if kind:
            query = query.filter(kind=kind)
        return await query.order_by("id")
