"""Reservation block (H): ReserveNow for an EVSE or any EVSE of a connector type,
CancelReservation, ReservationStatusUpdate, expiry, and the CSMS's own check that a
reserved EVSE starts only for the reserving token or its group.

The stored `Reservation.id` is the reservationId sent to the station.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from csms.blocks.authorization import TOKEN_TYPES, Authorization
from csms.blocks.base import BlockContext, ocpp_time
from csms.blocks.ports import CommandSender, Handler
from csms.db.block_models import Reservation
from csms.db.writer import Batch

log = logging.getLogger(__name__)

#: ConnectorEnumType of OCPP 2.0.1.
CONNECTOR_TYPES = (
    "cCCS1",
    "cCCS2",
    "cG105",
    "cTesla",
    "cType1",
    "cType2",
    "s309-1P-16A",
    "s309-1P-32A",
    "s309-3P-16A",
    "s309-3P-32A",
    "sBS1361",
    "sCEE-7-7",
    "sType2",
    "sType3",
    "Other1PhMax16A",
    "Other1PhOver16A",
    "Other3Ph",
    "Pan",
    "wInductive",
    "wResonant",
    "Undetermined",
    "Unknown",
)
#: Statuses of a reservation that holds its EVSE.
HOLDING = ("requested", "Accepted")
#: Longest reservation the CSMS asks for (a forgotten one must not block an EVSE for days).
MAX_DURATION = timedelta(hours=24)


class ReservationError(Exception):
    """A reservation request the CSMS refuses (HTTP 422)."""


class ReservationNotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Held:
    """A reservation holding an EVSE: who may start there, and until when."""

    reservation_id: int
    evse_id: int | None
    id_token: str
    group_id_token: str | None
    expires_at: datetime


def blocks_start(
    held: Iterable[Held], evse_id: int | None, id_token: str, group: str | None, now: datetime
) -> Held | None:
    """The reservation that forbids `id_token` (of `group`) to start on `evse_id` now, or
    None when it may (pure). A reservation lets its own token, or any token of its group,
    start; one for a connector type (no EVSE) is the station's to place and enforce."""
    for reservation in held:
        if reservation.evse_id is None or reservation.evse_id != evse_id:
            continue
        if reservation.expires_at <= now:
            continue
        if id_token == reservation.id_token:
            return None
        if group is not None and group == reservation.group_id_token:
            return None
        return reservation
    return None


def reservation_json(row: Reservation) -> dict[str, Any]:
    return {
        "id": row.id,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "connector_type": row.connector_type,
        "id_token": row.id_token,
        "id_token_type": row.id_token_type,
        "group_id_token": row.group_id_token,
        "expires_at": row.expires_at.isoformat(),
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


class Reservations:
    def __init__(self, context: BlockContext, sender: CommandSender, authorization: Authorization):
        self.context = context
        self.sender = sender
        self.authorization = authorization

    async def reserve(
        self,
        station_id: str,
        id_token: str,
        token_type: str,
        expires_at: datetime,
        evse_id: int | None = None,
        connector_type: str | None = None,
        group_id_token: str | None = None,
    ) -> dict[str, Any]:
        """Send ReserveNow and store its outcome; the reservation as stored.

        Raises ReservationError for a request the CSMS refuses, and the command errors of
        the sender (nothing is left holding the EVSE then: the row ends `failed`).
        """
        now = self.context.clock()
        if token_type not in TOKEN_TYPES:
            raise ReservationError(f"type must be one of {', '.join(TOKEN_TYPES)}")
        if not 1 <= len(id_token) <= 36:
            raise ReservationError("id_token must be 1 to 36 characters")
        if expires_at.tzinfo is None:
            raise ReservationError("expires_at needs a UTC offset")
        if not now < expires_at <= now + MAX_DURATION:
            raise ReservationError(f"expires_at must be in the next {MAX_DURATION}")
        if connector_type is not None and connector_type not in CONNECTOR_TYPES:
            raise ReservationError(f"connector_type must be one of {', '.join(CONNECTOR_TYPES)}")
        if evse_id is not None and evse_id < 1:
            raise ReservationError("evse_id must be 1 or more")
        if group_id_token is None:
            known = await self.authorization.lookup(id_token, token_type)
            group_id_token = known.group_id if known else None

        async def create(batch: Batch) -> Reservation:
            return await Reservation.create(
                station_id=station_id,
                evse_id=evse_id,
                connector_type=connector_type,
                id_token=id_token,
                id_token_type=token_type,
                group_id_token=group_id_token,
                expires_at=expires_at,
                status="requested",
                created_at=now,
                updated_at=now,
                using_db=batch.conn,
            )

        row = await self.context.writer.submit(create)
        payload: dict[str, Any] = {
            "id": row.id,
            "expiryDateTime": ocpp_time(expires_at),
            "idToken": {"idToken": id_token, "type": token_type},
        }
        if evse_id is not None:
            payload["evseId"] = evse_id
        if connector_type is not None:
            payload["connectorType"] = connector_type
        if group_id_token is not None:
            payload["groupIdToken"] = {"idToken": group_id_token, "type": "Central"}
        try:
            answer = await self.sender.send(station_id, "ReserveNow", payload)
        except BaseException:
            await self._set_status(row.id, "failed")
            raise
        status = str(answer.get("status", "Rejected"))
        row = await self._set_status(row.id, status)
        log.info("[%s] reservation %d: %s", station_id, row.id, status)
        return reservation_json(row) | {"status_info": answer.get("statusInfo")}

    async def cancel(self, reservation_id: int) -> dict[str, Any]:
        """Send CancelReservation; a reservation the station cancels ends `Cancelled`.

        Raises ReservationNotFound, ReservationError (it holds nothing any more) and the
        sender's command errors."""
        row = await Reservation.filter(id=reservation_id).first()
        if row is None:
            raise ReservationNotFound(f"no reservation {reservation_id}")
        if row.status not in HOLDING:
            raise ReservationError(f"reservation {reservation_id} is {row.status}")
        answer = await self.sender.send(
            row.station_id, "CancelReservation", {"reservationId": reservation_id}
        )
        if answer.get("status") == "Accepted":
            row = await self._set_status(reservation_id, "Cancelled")
        return reservation_json(row) | {"cancel_status": answer.get("status")}

    async def status_update(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """ReservationStatusUpdate: the station ended a reservation (Expired or Removed)."""
        reservation_id = payload["reservationId"]
        status = payload["reservationUpdateStatus"]
        now = self.context.clock()

        async def write(batch: Batch) -> int:
            return int(
                await Reservation.filter(id=reservation_id, station_id=station_id)
                .using_db(batch.conn)
                .update(status=status, updated_at=now)
            )

        if not await self.context.writer.submit(write):
            # Not ours (made by another system, or long purged): acknowledged all the same,
            # the station has nothing to retry.
            log.warning("[%s] status of unknown reservation %s", station_id, reservation_id)
        return {}

    def guard(self, handler: Handler) -> Handler:
        """Wrap the TransactionEvent handler: a start on an EVSE reserved for someone else
        is answered with idTokenInfo NotAtThisTime (the station stops it), and a start by
        the reserving token (or one naming the reservation) uses the reservation up."""

        async def handle(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            response = await handler(station_id, payload)
            token = payload.get("idToken")
            reservation_id = payload.get("reservationId")
            if token is None and reservation_id is None:
                return response
            evse = payload.get("evse") or {}
            held = await self.holding(station_id)
            if not held:
                return response
            now = self.context.clock()
            info = response.get("idTokenInfo") or {}
            if token is not None and info.get("status", "Accepted") == "Accepted":
                group = (info.get("groupIdToken") or {}).get("idToken")
                blocking = blocks_start(held, evse.get("id"), token["idToken"], group, now)
                if blocking is not None:
                    log.info(
                        "[%s] EVSE %s is reserved (%d): token %s refused",
                        station_id,
                        evse.get("id"),
                        blocking.reservation_id,
                        token["idToken"],
                    )
                    return response | {"idTokenInfo": info | {"status": "NotAtThisTime"}}
            used = [
                h.reservation_id
                for h in held
                if h.reservation_id == reservation_id
                or (
                    token is not None
                    and h.id_token == token["idToken"]
                    and h.evse_id in (None, evse.get("id"))
                    and payload.get("eventType") == "Started"
                )
            ]
            for reservation in used[:1]:
                await self._set_status(reservation, "Used")
            return response

        return handle

    async def holding(self, station_id: str) -> list[Held]:
        rows = await Reservation.filter(station_id=station_id, status__in=HOLDING).order_by("id")
        return [Held(r.id, r.evse_id, r.id_token, r.group_id_token, r.expires_at) for r in rows]

    async def expire(self) -> int:
        """Mark reservations past their expiry Expired (the station does the same and may
        tell us with ReservationStatusUpdate); returns how many."""
        now = self.context.clock()

        async def write(batch: Batch) -> int:
            return int(
                await Reservation.filter(status__in=HOLDING, expires_at__lte=now)
                .using_db(batch.conn)
                .update(status="Expired", updated_at=now)
            )

        return await self.context.writer.submit(write)

    async def list(self, station_id: str | None = None) -> list[dict[str, Any]]:
        await self.expire()
        query = Reservation.all()
        if station_id is not None:
            query = query.filter(station_id=station_id)
        return [reservation_json(row) for row in await query.order_by("-id").limit(1000)]

    async def _set_status(self, reservation_id: int, status: str) -> Reservation:
        now = self.context.clock()

        async def write(batch: Batch) -> Reservation:
            await (
                Reservation.filter(id=reservation_id)
                .using_db(batch.conn)
                .update(status=status, updated_at=now)
            )
            return await Reservation.filter(id=reservation_id).using_db(batch.conn).get()

        return await self.context.writer.submit(write)
