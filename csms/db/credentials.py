"""Station rows read on the handshake path, off the connection of the group commit.

tortoise's SQLite client runs every query on one connection, behind the write transaction
of the durable writer and its fsync; in a reconnect storm thousands of handshakes would
queue there. On SQLite these reads use a read-only connection of their own, which in WAL
mode sees the last committed state while a commit is in progress. PostgreSQL's pool
already reads concurrently, so there they go through tortoise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiosqlite

from csms.db.models import Certificate, Station


@dataclass(frozen=True, slots=True)
class StationAccess:
    password_hash: str
    registration_status: str
    security_profile: int = 1
    pending_profile: int | None = None
    old_password_hash: str | None = None


_COLUMNS = (
    "password_hash",
    "registration_status",
    "security_profile",
    "pending_profile",
    "old_password_hash",
)


class CredentialReader:
    """`open()` once, `station(id)` per handshake, `close()` at the end."""

    def __init__(self, db_url: str):
        parts = urlsplit(db_url)
        path = f"{parts.netloc}{parts.path}"
        # An in-memory database exists only on tortoise's own connection.
        on_disk = parts.scheme == "sqlite" and ":memory:" not in path
        self._uri = f"{Path(path).resolve().as_uri()}?mode=ro" if on_disk else None
        self._sqlite: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self._uri is not None:
            self._sqlite = await aiosqlite.connect(self._uri, uri=True)

    async def close(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
            self._sqlite = None

    async def station(self, station_id: str) -> StationAccess | None:
        if self._sqlite is None:
            rows = await Station.filter(id=station_id).limit(1).values_list(*_COLUMNS)
            return StationAccess(*rows[0]) if rows else None
        async with self._sqlite.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM station WHERE id = ?", (station_id,)
        ) as cursor:
            found = await cursor.fetchone()
        return None if found is None else StationAccess(*found)

    async def is_revoked(self, issuer_name_hash: str, serial_number: str) -> bool:
        """Whether the CSMS's records revoke this certificate (profile-3 handshakes)."""
        if self._sqlite is None:
            return await Certificate.exists(
                issuer_name_hash=issuer_name_hash,
                serial_number=serial_number,
                revoked_at__isnull=False,
            )
        async with self._sqlite.execute(
            "SELECT 1 FROM certificate WHERE issuer_name_hash = ? AND serial_number = ?"
            " AND revoked_at IS NOT NULL LIMIT 1",
            (issuer_name_hash, serial_number),
        ) as cursor:
            return await cursor.fetchone() is not None
