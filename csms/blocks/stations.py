"""Station administration: provisioning stations with credentials, listing their state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from csms.db.models import Connector, Station
from csms.identifiers import require_station_id
from csms.passwords import check_password_strength, hash_password

REGISTRATION_STATUSES = ("Accepted", "Pending", "Rejected")


class AlreadyExists(Exception):
    pass


class NotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class StationView:
    id: str
    node: str | None
    registration_status: str
    connected: bool
    last_seen: datetime | None
    vendor_name: str | None
    model: str | None
    firmware_version: str | None
    protocol: str | None
    connectors: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "node": self.node,
            "registration_status": self.registration_status,
            "connected": self.connected,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "vendor_name": self.vendor_name,
            "model": self.model,
            "firmware_version": self.firmware_version,
            "protocol": self.protocol,
            "connectors": list(self.connectors),
        }


def _view(station: Station, connectors: list[Connector] | None = None) -> StationView:
    return StationView(
        id=station.id,
        node=station.node,
        registration_status=station.registration_status,
        connected=station.connected,
        last_seen=station.last_seen,
        vendor_name=station.vendor_name,
        model=station.model,
        firmware_version=station.firmware_version,
        protocol=station.protocol,
        connectors=tuple(
            {
                "evse_id": c.evse_id,
                "connector_id": c.connector_id,
                "status": c.status,
                "status_at": c.status_at.isoformat(),
            }
            for c in connectors or []
        ),
    )


async def add_station(
    station_id: str, password: str, node: str | None = None, registration_status: str = "Accepted"
) -> StationView:
    """Raises ValueError (bad id, password or status) or AlreadyExists."""
    require_station_id(station_id)
    check_password_strength(password)
    if registration_status not in REGISTRATION_STATUSES:
        raise ValueError(f"registration status must be one of {', '.join(REGISTRATION_STATUSES)}")
    if await Station.exists(id=station_id):
        raise AlreadyExists(f"station {station_id} already exists")
    try:
        station = await Station.create(
            id=station_id,
            # scrypt takes tens of ms of CPU: off the event loop.
            password_hash=await asyncio.to_thread(hash_password, password),
            node=node,
            registration_status=registration_status,
        )
    except IntegrityError as error:
        raise AlreadyExists(f"station {station_id} already exists") from error
    return _view(station)


async def list_stations() -> list[StationView]:
    return [_view(station) for station in await Station.all().order_by("id")]


async def get_station(station_id: str) -> StationView:
    station = await Station.filter(id=station_id).first()
    if station is None:
        raise NotFound(f"no station {station_id}")
    connectors = await Connector.filter(station_id=station_id).order_by("evse_id", "connector_id")
    return _view(station, connectors)
