"""Opening and closing the database (SQLite by default, PostgreSQL via asyncpg)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from asyncpg.exceptions import TransactionRollbackError
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError, OperationalError

from csms.db.schema_upgrade import add_missing_columns

MODELS = ["csms.db.models", "csms.db.block_models"]


def normalise_db_url(url: str) -> str:
    """Make SQLite durable by default: WAL with synchronous=FULL unless the URL says otherwise.

    A committed write then survives a crash of the process and of the machine; group
    commit (csms.db.writer) amortises the fsync over many messages.
    """
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        query = dict(parse_qsl(parts.query))
        query.setdefault("journal_mode", "WAL")
        query.setdefault("synchronous", "FULL")
        query.setdefault("busy_timeout", "5000")
        url = urlunsplit(parts._replace(query=urlencode(query)))
    return url


async def open_database(url: str, *, create_schema: bool = True) -> None:
    url = normalise_db_url(url)
    # One connection name per dialect: tortoise caches compiled SQL per connection name,
    # and SQLite's placeholders must never reach PostgreSQL (tests use both in one process).
    name = f"csms_{urlsplit(url).scheme}"
    await Tortoise.init(
        config={
            "connections": {name: url},
            "apps": {"models": {"models": MODELS, "default_connection": name}},
        }
    )
    if create_schema:
        # Columns first: creating the schema also comments on every column (PostgreSQL),
        # which fails for a column an earlier version's table lacks.
        await add_missing_columns(Tortoise.get_connection(name))
        await _create_schema()


async def _create_schema(attempts: int = 5) -> None:
    """CREATE ... IF NOT EXISTS for every table. Processes of a cluster starting together
    on an empty PostgreSQL schema race on the catalog (a unique violation in pg_type, or a
    deadlock between two CREATEs): the loser tries again once the winner's tables exist."""
    for attempt in range(attempts):
        try:
            await Tortoise.generate_schemas(safe=True)
            return
        except (IntegrityError, OperationalError, TransactionRollbackError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


async def close_database() -> None:
    await Tortoise.close_connections()
