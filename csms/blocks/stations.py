"""Station administration: provisioning stations with credentials, listing their state."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from csms.db.models import Connector, Station
from csms.identifiers import require_station_id
from csms.passwords import check_password_strength, hash_password

REGISTRATION_STATUSES = ("Accepted", "Pending", "Rejected")

#: EVSE id that stands for the charging station as a whole (OCPP 2.0.1 ChangeAvailability).
STATION_EVSE = 0


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
    #: The EVSEs' connectors; EVSE 0 / connector 0 is the station itself, so its status
    #: is `status` below, never an EVSE's.
    connectors: tuple[dict[str, Any], ...] = ()
    #: The station's own status (a StatusNotification for EVSE 0), None if it sent none.
    status: str | None = None
    status_at: datetime | None = None
    security_profile: int = 1
    pending_profile: int | None = None

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
            "status": self.status,
            "status_at": self.status_at.isoformat() if self.status_at else None,
            "connectors": list(self.connectors),
            "security_profile": self.security_profile,
            "pending_profile": self.pending_profile,
        }


def _view(station: Station, connectors: list[Connector] | None = None) -> StationView:
    # Stations from 1.6 habits report connector 0 (the whole station) as EVSE 0.
    own = next((c for c in connectors or [] if c.evse_id == STATION_EVSE), None)
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
        status=own.status if own else None,
        status_at=own.status_at if own else None,
        connectors=tuple(
            {
                "evse_id": c.evse_id,
                "connector_id": c.connector_id,
                "status": c.status,
                "status_at": c.status_at.isoformat(),
            }
            for c in connectors or []
            if c.evse_id != STATION_EVSE
        ),
        security_profile=station.security_profile,
        pending_profile=station.pending_profile,
    )


#: OCPP security profiles: 1 basic auth over ws, 2 basic auth over wss, 3 client certificate.
SECURITY_PROFILES = (1, 2, 3)


async def add_station(
    station_id: str,
    password: str | None,
    node: str | None = None,
    registration_status: str = "Accepted",
    security_profile: int = 1,
) -> StationView:
    """Raises ValueError (bad id, password, status or profile) or AlreadyExists. A station
    at profile 3 needs no password (None): its client certificate identifies it."""
    require_station_id(station_id)
    check_profile(security_profile)
    if password is None and security_profile < 3:
        raise ValueError(f"a station at security profile {security_profile} needs a password")
    # zxcvbn takes ~25 ms and hashing a chosen password up to ~20 ms: off the loop.
    password_hash = "" if password is None else await asyncio.to_thread(_hash_chosen, password)
    _check_status(registration_status)
    if await Station.exists(id=station_id):
        raise AlreadyExists(f"station {station_id} already exists")
    try:
        station = await Station.create(
            id=station_id,
            password_hash=password_hash,
            node=node,
            registration_status=registration_status,
            security_profile=security_profile,
        )
    except IntegrityError as error:
        raise AlreadyExists(f"station {station_id} already exists") from error
    return _view(station)


def _hash_chosen(password: str) -> str:
    """The hash of an operator's password at the cost its strength calls for (ValueError
    when it is too guessable)."""
    return hash_password(password, check_password_strength(password))


def check_profile(security_profile: int) -> None:
    if security_profile not in SECURITY_PROFILES:
        raise ValueError("security profile must be 1, 2 or 3")


def _check_status(registration_status: str) -> None:
    if registration_status not in REGISTRATION_STATUSES:
        raise ValueError(f"registration status must be one of {', '.join(REGISTRATION_STATUSES)}")


@dataclass(frozen=True, slots=True)
class NewStation:
    id: str
    password: str
    node: str | None = None
    registration_status: str = "Accepted"
    security_profile: int = 1


@dataclass(frozen=True, slots=True)
class ImportResult:
    """One item of a bulk import: `status` 201 created, 409 exists, 422 invalid."""

    id: str
    status: int
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "error": self.error}


#: Stations per INSERT statement: well under SQLite's 32,766 bound variables (15 columns).
_INSERT_CHUNK = 500


async def add_stations(items: Sequence[NewStation]) -> list[ImportResult]:
    """Provision many stations in one database transaction; one result per item, in order.

    Invalid items (422) and ids that exist or repeat an earlier item (409) are reported and
    skipped; the others are created together.
    """
    results: list[ImportResult | None] = [None] * len(items)
    fresh: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            require_station_id(item.id)
            if not 16 <= len(item.password) <= 40:
                check_password_strength(item.password)  # raises the length message
            _check_status(item.registration_status)
            check_profile(item.security_profile)
        except ValueError as error:
            results[index] = ImportResult(item.id, 422, str(error))
            continue
        if item.id in fresh:
            results[index] = ImportResult(item.id, 409, f"station {item.id} repeats an item")
            continue
        fresh[item.id] = index
    existing: set[str] = set()
    ids = list(fresh)
    for start in range(0, len(ids), _INSERT_CHUNK):
        chunk = ids[start : start + _INSERT_CHUNK]
        found = await Station.filter(id__in=chunk).values_list("id", flat=True)
        existing.update(str(station_id) for station_id in found)
    for station_id in existing:
        results[fresh.pop(station_id)] = ImportResult(station_id, 409, "already exists")
    # The strength judgement (~25 ms, once per distinct password) and the hashes run in a
    # worker thread, not on the loop.
    hashes = await asyncio.to_thread(_hash_all, [items[i].password for i in fresh.values()])
    for i, digest in zip(list(fresh.values()), hashes, strict=True):
        if isinstance(digest, ValueError):
            results[i] = ImportResult(items[i].id, 422, str(digest))
            del fresh[items[i].id]
    rows = [
        Station(
            id=items[i].id,
            password_hash=digest,
            node=items[i].node,
            registration_status=items[i].registration_status,
            security_profile=items[i].security_profile,
        )
        for i, digest in zip(fresh.values(), (h for h in hashes if isinstance(h, str)), strict=True)
    ]
    try:
        async with in_transaction():
            await Station.bulk_create(rows, batch_size=_INSERT_CHUNK)
    except IntegrityError:
        # Someone provisioned one of these ids meanwhile: fall back to one by one.
        for i in fresh.values():
            try:
                await add_station(
                    items[i].id,
                    items[i].password,
                    items[i].node,
                    items[i].registration_status,
                    items[i].security_profile,
                )
            except AlreadyExists as error:
                results[i] = ImportResult(items[i].id, 409, str(error))
    for i in fresh.values():
        if results[i] is None:
            results[i] = ImportResult(items[i].id, 201)
    return [result for result in results if result is not None]


async def set_registration_status(station_id: str, status: str) -> str:
    """Set what BootNotification answers from now on; returns the status before.

    Raises ValueError (not Accepted, Pending or Rejected) or NotFound."""
    _check_status(status)
    async with in_transaction() as conn:
        station = await Station.filter(id=station_id).using_db(conn).select_for_update().first()
        if station is None:
            raise NotFound(f"no station {station_id}")
        await Station.filter(id=station_id).using_db(conn).update(registration_status=status)
    return station.registration_status


async def set_password(station_id: str, password: str) -> None:
    """Replace the station's basic-auth password (its hash). Raises ValueError or NotFound."""
    cost = check_password_strength(password)
    digest = await asyncio.to_thread(hash_password, password, cost)
    if not await Station.filter(id=station_id).update(password_hash=digest):
        raise NotFound(f"no station {station_id}")


def _hash_all(passwords: Sequence[str]) -> list[str | ValueError]:
    """Each password's hash, or why it is refused; judged once per distinct password."""
    costs: dict[str, int | ValueError] = {}
    hashes: list[str | ValueError] = []
    for password in passwords:
        if password not in costs:
            try:
                costs[password] = check_password_strength(password)
            except ValueError as error:
                costs[password] = error
        cost = costs[password]
        hashes.append(cost if isinstance(cost, ValueError) else hash_password(password, cost))
    return hashes


async def list_stations() -> list[StationView]:
    return [_view(station) for station in await Station.all().order_by("id")]


async def get_station(station_id: str) -> StationView:
    station = await Station.filter(id=station_id).first()
    if station is None:
        raise NotFound(f"no station {station_id}")
    connectors = await Connector.filter(station_id=station_id).order_by("evse_id", "connector_id")
    return _view(station, connectors)
