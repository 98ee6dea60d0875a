"""Fixtures: a database on SQLite (always) and PostgreSQL (when reachable), and a running CSMS
on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from csms.app import Csms
from csms.blocks.stations import add_station
from csms.config import Settings
from tests.ocpp_wire import WirePeer, open_peer

#: Password of the station "CS-1" that the `peer` fixture provisions.
PEER_PASSWORD = "correct-horse-battery"
POSTGRES_URL = os.environ.get("CSMS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> bool:
    parts = urlsplit(POSTGRES_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1):
            return True
    except OSError:
        return False


DATABASES = ["sqlite", *(["postgres"] if _postgres_reachable() else [])]


@pytest.fixture(params=DATABASES)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'csms.db'}"
        return
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        separator = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{separator}schema={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


def settings_for(db_url: str, **changes: object) -> Settings:
    return Settings(
        db_url=db_url,
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        api_port=0,
        heartbeat_interval=60,
        call_timeout=2.0,
        ping_interval=5.0,
    ).replace(**changes)


@pytest.fixture(scope="session")
def kernel_loaded() -> None:
    """The kernel loaded once per test process, the way the server loads it (a child
    process warms numba's cache first), so that each CSMS a test starts finds it ready."""
    from csms.grid.warm import kernel_ready

    asyncio.run(kernel_ready())


@pytest.fixture
async def csms(db_url: str, kernel_loaded: None) -> AsyncIterator[Csms]:
    """A running CSMS (OCPP gateway + REST API) on free loopback ports."""
    app = Csms(settings_for(db_url))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def peer(csms: Csms) -> AsyncIterator[WirePeer]:
    """Station "CS-1", provisioned with PEER_PASSWORD, connected to `csms` over a raw
    OCPP-J websocket."""
    await add_station("CS-1", PEER_PASSWORD)
    connected = await open_peer(csms, "CS-1", PEER_PASSWORD)
    yield connected
    await connected.close()
