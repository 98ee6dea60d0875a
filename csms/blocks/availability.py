"""Availability block: StatusNotification keeps each connector's live status."""

from __future__ import annotations

from typing import Any

from csms.blocks.base import BlockContext
from csms.blocks.meter import parse_timestamp
from csms.db.models import Connector
from csms.db.writer import Batch


class Availability:
    def __init__(self, context: BlockContext):
        self.context = context

    async def status_notification(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        status_at = parse_timestamp(payload["timestamp"])
        key = {
            "station_id": station_id,
            "evse_id": payload["evseId"],
            "connector_id": payload["connectorId"],
        }

        async def write(batch: Batch) -> None:
            row = await Connector.filter(**key).using_db(batch.conn).first()
            if row is None:
                await Connector.create(
                    **key,
                    status=payload["connectorStatus"],
                    status_at=status_at,
                    using_db=batch.conn,
                )
            elif row.status_at <= status_at:
                # A late (replayed) notification must not overwrite a newer status.
                await (
                    Connector.filter(id=row.id)
                    .using_db(batch.conn)
                    .update(status=payload["connectorStatus"], status_at=status_at)
                )

        await self.context.writer.submit(write)
        return {}
