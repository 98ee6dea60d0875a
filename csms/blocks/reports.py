"""Multi-part answers a station sends for a request it accepted, kept by requestId:
NotifyMonitoringReport (N), NotifyCustomerInformation (N) and NotifyDisplayMessages (O).

A part sent again (a lost answer) is stored once; a report is complete once a part with
`tbc` false arrived.
"""

from __future__ import annotations

from typing import Any

from csms.blocks.base import BlockContext
from csms.blocks.ports import Handler
from csms.db.block_models import ReportPart
from csms.db.writer import Batch

#: The report kinds, by the action that carries their parts.
KINDS = ("NotifyMonitoringReport", "NotifyCustomerInformation", "NotifyDisplayMessages")


class Reports:
    def __init__(self, context: BlockContext):
        self.context = context

    def handler(self, kind: str) -> Handler:
        """The router handler of `kind` (one of KINDS)."""
        if kind not in KINDS:
            raise ValueError(f"{kind} is not a multi-part report")

        async def store(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            await self.store(station_id, kind, payload)
            return {}

        return store

    async def store(self, station_id: str, kind: str, payload: dict[str, Any]) -> None:
        now = self.context.clock()
        request_id = payload["requestId"]

        async def write(batch: Batch) -> None:
            # NotifyDisplayMessages has no seqNo: its parts are numbered as they arrive.
            seq_no = payload.get("seqNo")
            if seq_no is None:
                seq_no = (
                    await ReportPart.filter(station_id=station_id, kind=kind, request_id=request_id)
                    .using_db(batch.conn)
                    .count()
                )
            elif await (
                ReportPart.filter(
                    station_id=station_id, kind=kind, request_id=request_id, seq_no=seq_no
                )
                .using_db(batch.conn)
                .exists()
            ):
                return
            # Ops of a batch run one after another on its connection: the check above
            # sees a copy written earlier in the same batch.
            await ReportPart.create(
                station_id=station_id,
                kind=kind,
                request_id=request_id,
                seq_no=seq_no,
                tbc=bool(payload.get("tbc", False)),
                payload=payload,
                received_at=now,
                using_db=batch.conn,
            )

        await self.context.writer.submit(write)


async def report(station_id: str, kind: str, request_id: int | None = None) -> dict[str, Any]:
    """The parts of one report (the newest when `request_id` is None), in order."""
    query = ReportPart.filter(station_id=station_id, kind=kind)
    if request_id is None:
        newest = await query.order_by("-id").first()
        if newest is None:
            return {"request_id": None, "complete": False, "parts": []}
        request_id = newest.request_id
    rows = await ReportPart.filter(
        station_id=station_id, kind=kind, request_id=request_id
    ).order_by("seq_no")
    return {
        "request_id": request_id,
        "complete": any(not row.tbc for row in rows),
        "parts": [row.payload for row in rows],
    }
