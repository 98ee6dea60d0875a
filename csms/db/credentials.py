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

from csms.db.models import Station


@dataclass(frozen=True, slots=True)
class StationAccess:
    password_hash: str
    registration_status: str


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
            row = (
                await Station.filter(id=station_id)
                .only("id", "password_hash", "registration_status")
                .first()
            )
            return (
                None if row is None else StationAccess(row.password_hash, row.registration_status)
            )
        async with self._sqlite.execute(
            "SELECT password_hash, registration_status FROM station WHERE id = ?", (station_id,)
        ) as cursor:
            found = await cursor.fetchone()
        return None if found is None else StationAccess(str(found[0]), str(found[1]))
