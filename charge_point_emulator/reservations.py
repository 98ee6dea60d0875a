"""The emulated station's reservations (OCPP 2.0.1 H01-H04), pure: which EVSE each holds,
for whom, until when. The station glue answers ReserveNow/CancelReservation with it and
sends ReservationStatusUpdate for the ones that expire."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    evse_id: int
    id_token: str
    group_id_token: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class EvseView:
    """What a reservation needs to know of an EVSE."""

    connector_type: str
    free: bool  # no EV, no transaction
    operative: bool


@dataclass(slots=True)
class ReservationBook:
    by_id: dict[int, Reservation] = field(default_factory=dict)

    def on_evse(self, evse_id: int) -> Reservation | None:
        return next((r for r in self.by_id.values() if r.evse_id == evse_id), None)

    def reserve(
        self,
        reservation_id: int,
        evse_id: int | None,
        connector_type: str | None,
        id_token: str,
        group_id_token: str | None,
        expires_at: datetime,
        evses: Mapping[int, EvseView],
    ) -> tuple[str, Reservation | None]:
        """ReserveNowStatus and the reservation made. A reservation with a known id is
        replaced (H01.FR.02); one for a connector type takes a free EVSE of that type."""
        self.by_id.pop(reservation_id, None)
        if evse_id is not None:
            candidates = [evse_id] if evse_id in evses else []
        else:
            candidates = [
                n
                for n, view in sorted(evses.items())
                if connector_type in (None, view.connector_type)
            ]
        if not candidates:
            return "Rejected", None
        usable = [n for n in candidates if evses[n].operative]
        if not usable:
            return "Unavailable", None
        free = [n for n in usable if evses[n].free and self.on_evse(n) is None]
        if not free:
            return "Occupied", None
        made = Reservation(reservation_id, free[0], id_token, group_id_token, expires_at)
        self.by_id[reservation_id] = made
        return "Accepted", made

    def cancel(self, reservation_id: int) -> Reservation | None:
        return self.by_id.pop(reservation_id, None)

    def expire(self, now: datetime) -> list[Reservation]:
        """Remove and return the reservations whose time is up."""
        ended = [r for r in self.by_id.values() if r.expires_at <= now]
        for reservation in ended:
            del self.by_id[reservation.reservation_id]
        return ended

    def admits(self, evse_id: int, id_token: str, group_id_token: str | None) -> bool:
        """Whether `id_token` (of `group_id_token`) may start on `evse_id` (H01.FR.23/24)."""
        held = self.on_evse(evse_id)
        if held is None or held.id_token == id_token:
            return True
        return group_id_token is not None and group_id_token == held.group_id_token
