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
            # One statement for a known connector (every reconnect sends one per connector):
            # a late (replayed) notification must not overwrite a newer status.
            updated = await (
                Connector.filter(**key, status_at__lte=status_at)
                .using_db(batch.conn)
                .update(status=payload["connectorStatus"], status_at=status_at)
            )
            if updated or await Connector.filter(**key).using_db(batch.conn).exists():
                return
            await Connector.create(
                **key, status=payload["connectorStatus"], status_at=status_at, using_db=batch.conn
            )

        await self.context.writer.submit(write)
        return {}
