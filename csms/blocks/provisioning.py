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
        #: Links opened (connected=True) and closed (False) gathered for one write not yet
        #: started. Invariant: opening a bucket of one kind closes the open bucket of the
        #: other, so a station's connect and disconnect are written in the order they came
        #: and a reconnect is never overtaken by the disconnect before it.
        self._buckets: dict[bool, _LinkBucket] = {}

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
        """Record an open link. In a reconnect storm one write records all the links that
        opened before it started, in a few UPDATEs instead of one per station."""
        await self._record_link(station_id, True, protocol)

    async def mark_disconnected(self, station_id: str) -> None:
        """Record a closed link. When thousands close at once (a network outage), one
        write records all that closed before it started, in a few UPDATEs."""
        await self._record_link(station_id, False, None)

    async def _record_link(self, station_id: str, connected: bool, protocol: str | None) -> None:
        bucket = self._buckets.get(connected)
        if bucket is None:
            self._buckets.pop(not connected, None)  # later links of the other kind go after
            bucket = self._buckets[connected] = _LinkBucket(connected)

            async def write(batch: Batch, bucket: _LinkBucket = bucket) -> None:
                if self._buckets.get(connected) is bucket:
                    del self._buckets[connected]  # later links go into the next write
                await bucket.write(batch)

            bucket.written = asyncio.ensure_future(self.context.writer.submit(write))
        bucket.add(station_id, self.context.clock(), protocol)
        assert bucket.written is not None
        await asyncio.shield(bucket.written)

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


class _LinkBucket:
    """Stations whose link opened (or closed), written together: one UPDATE per 500
    stations and protocol, stamped with the latest of their times."""

    def __init__(self, connected: bool):
        self.connected = connected
        self.seen: dict[str, tuple[datetime, str | None]] = {}
        self.written: asyncio.Future[None] | None = None

    def add(self, station_id: str, at: datetime, protocol: str | None) -> None:
        self.seen[station_id] = (at, protocol)

    async def write(self, batch: Batch) -> None:
        now = max(at for at, _ in self.seen.values())
        by_protocol: dict[str | None, list[str]] = {}
        for station_id, (_, protocol) in self.seen.items():
            by_protocol.setdefault(protocol, []).append(station_id)
        for protocol, ids in by_protocol.items():
            fields: dict[str, Any] = {"connected": self.connected, "last_seen": now}
            if protocol is not None:
                fields["protocol"] = protocol
            for start in range(0, len(ids), 500):
                await (
                    Station.filter(id__in=ids[start : start + 500])
                    .using_db(batch.conn)
                    .update(**fields)
                )
