"""Provisioning block: BootNotification, Heartbeat, and stations' connected / last-seen state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from csms.blocks.base import BlockContext, ocpp_time
from csms.db.models import Station
from csms.db.writer import Batch

#: How long a Rejected station is told to wait before it boots again (s).
REJECTED_RETRY_INTERVAL = 600


class Provisioning:
    def __init__(self, context: BlockContext):
        self.context = context
        #: Disconnects gathered for one write not yet started (station id -> when), and
        #: that write. Invariant: a write submitted after this bucket opened (a connect)
        #: closes it, so the bucket's write never overtakes a later reconnect.
        self._gone: dict[str, datetime] | None = None
        self._gone_written: asyncio.Future[None] | None = None

    async def boot_notification(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        charging_station = payload["chargingStation"]
        now = self.context.clock()

        async def write(batch: Batch) -> str:
            station = await Station.filter(id=station_id).using_db(batch.conn).first()
            if station is None:
                return "Rejected"
            await (
                Station.filter(id=station_id)
                .using_db(batch.conn)
                .update(
                    vendor_name=charging_station["vendorName"],
                    model=charging_station["model"],
                    serial_number=charging_station.get("serialNumber"),
                    firmware_version=charging_station.get("firmwareVersion"),
                    boot_reason=payload["reason"],
                    last_boot_at=now,
                    last_seen=now,
                )
            )
            return station.registration_status

        status = await self.context.writer.submit(write)
        interval = (
            REJECTED_RETRY_INTERVAL
            if status == "Rejected"
            else self.context.settings.heartbeat_interval
        )
        return {"currentTime": ocpp_time(now), "interval": interval, "status": status}

    async def heartbeat(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": ocpp_time(self.context.clock())}

    async def mark_connected(self, station_id: str, protocol: str) -> None:
        now = self.context.clock()
        self._gone = None  # a disconnect after this connect must be written after it

        async def write(batch: Batch) -> None:
            await (
                Station.filter(id=station_id)
                .using_db(batch.conn)
                .update(connected=True, last_seen=now, protocol=protocol)
            )

        await self.context.writer.submit(write)

    async def mark_disconnected(self, station_id: str) -> None:
        """Record a closed link. When thousands close at once (a network outage), one
        write records all that closed before it started, in a few UPDATEs."""
        if self._gone is None or self._gone_written is None:
            gone = self._gone = {}

            async def write(batch: Batch) -> None:
                if self._gone is gone:
                    self._gone = None  # later disconnects go into the next write
                now = max(gone.values())
                ids = list(gone)
                for start in range(0, len(ids), 500):
                    await (
                        Station.filter(id__in=ids[start : start + 500])
                        .using_db(batch.conn)
                        .update(connected=False, last_seen=now)
                    )

            self._gone_written = asyncio.ensure_future(self.context.writer.submit(write))
        self._gone[station_id] = self.context.clock()
        await asyncio.shield(self._gone_written)

    async def mark_all_disconnected(self, station_ids: Iterable[str]) -> None:
        """At shutdown: these links closed now (a few UPDATEs instead of one per station,
        which under thousands of links would hold the exit for seconds)."""
        ids = list(station_ids)
        now = self.context.clock()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]

            async def write(batch: Batch, chunk: list[str] = chunk) -> None:
                await (
                    Station.filter(id__in=chunk)
                    .using_db(batch.conn)
                    .update(connected=False, last_seen=now)
                )

            await self.context.writer.submit(write)

    async def touch(self, station_ids: Iterable[str]) -> None:
        """Record that these stations' links are alive now (one UPDATE for all)."""
        ids = list(station_ids)
        if not ids:
            return
        now = self.context.clock()

        async def write(batch: Batch) -> None:
            # Only last_seen: a link that closed meanwhile must stay disconnected.
            await (
                Station.filter(id__in=ids, connected=True)
                .using_db(batch.conn)
                .update(last_seen=now)
            )

        await self.context.writer.submit(write)

    async def disconnect_all(self) -> None:
        """At start-up no station is connected to this process yet."""
        await Station.filter(connected=True).update(connected=False)
