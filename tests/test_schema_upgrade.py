"""A database written by an earlier version gets the columns this one added, so that an
upgrade never locks every station out (a query naming a missing column fails)."""

from __future__ import annotations

import pytest

from csms.db.database import close_database, open_database
from csms.db.models import Station
from csms.db.schema_upgrade import SchemaError, add_missing_columns

#: Columns this version added to `station` (with a default, or nullable).
NEW_STATION_COLUMNS = ("security_profile", "pending_profile", "old_password_hash")


async def drop(columns: tuple[str, ...]) -> None:
    conn = Station._meta.db
    for column in columns:
        await conn.execute_script(f'ALTER TABLE "station" DROP COLUMN "{column}"')


async def test_columns_added_since_the_database_was_made_are_added_at_open(db_url: str) -> None:
    await open_database(db_url)
    await Station.create(id="OLD-1", password_hash="x")
    await drop(NEW_STATION_COLUMNS)  # the table as an earlier version left it
    await close_database()
    await open_database(db_url)
    try:
        old = await Station.get(id="OLD-1")
        assert (old.security_profile, old.pending_profile, old.old_password_hash) == (1, None, None)
        await Station.create(id="NEW-1", password_hash="y", security_profile=2)
        assert (await Station.get(id="NEW-1")).security_profile == 2
        conn = Station._meta.db
        assert await add_missing_columns(conn) == []  # nothing left to add
    finally:
        await close_database()


async def test_a_missing_column_without_a_default_is_refused_not_guessed(db_url: str) -> None:
    await open_database(db_url)
    try:
        await drop(("password_hash",))
        conn = Station._meta.db
        with pytest.raises(SchemaError, match="station lacks column password_hash"):
            await add_missing_columns(conn)
    finally:
        await close_database()
