"""SIGTERM/SIGINT on `cli.py serve`: stop accepting, close links with 1001, drain, exit,
even while the kernel compiles (in a child process) or while 10,000 sessions are planned."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.ocpp_wire import basic_auth

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"
#: Far below a kernel compile (about two minutes) and far above the 5 s the server
#: takes, so that a busy machine does not fail the test; benchmarks/cold_start.py
#: measures the exit time itself.
EXIT_MARGIN_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: asyncio.subprocess.Process
    ocpp_port: int
    lines: list[str] = field(default_factory=list)
    _seen: asyncio.Event = field(default_factory=asyncio.Event)

    async def read_log(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append(raw.decode(errors="replace"))
            self._seen.set()

    async def wait_for(self, pattern: str, timeout: float = 120.0) -> re.Match[str]:
        async with asyncio.timeout(timeout):
            checked = 0
            while True:
                for line in self.lines[checked:]:
                    match = re.search(pattern, line)
                    if match:
                        return match
                checked = len(self.lines)
                self._seen.clear()
                if self.process.returncode is not None:
                    raise AssertionError("".join(self.lines))
                await self._seen.wait()


async def _cli(db_url: str, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "cli.py", *args, cwd=ROOT, env={**os.environ, "CSMS_DB_URL": db_url}
    )
    assert await process.wait() == 0


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A database URL and the environment for `cli.py serve`; any server is reaped."""
    env = {
        **os.environ,
        "CSMS_DB_URL": f"sqlite://{tmp_path / 'csms.db'}",
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(_free_port()),
        "CSMS_API_PORT": str(_free_port()),
        "CSMS_LOG_LEVEL": "INFO",
    }
    yield env["CSMS_DB_URL"], env


async def _start(env: dict[str, str]) -> tuple[Server, asyncio.Task[None]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "cli.py", "serve", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    server = Server(process, int(env["CSMS_OCPP_PORT"]))
    return server, asyncio.create_task(server.read_log())


async def _station(server: Server, station_id: str) -> ClientConnection:
    return await connect(
        f"ws://127.0.0.1:{server.ocpp_port}/ocpp/{station_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=basic_auth(station_id, PASSWORD),
        open_timeout=30,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_sigterm_during_a_kernel_compile_closes_links_and_exits_without_waiting_for_it(
    serve: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    db_url, env = serve
    await _cli(db_url, "stations", "add", "CS-1", "--password", PASSWORD)
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cold-numba-cache")
    server, reader = await _start(env)
    try:
        compiling = await server.wait_for(r"compiling the kernel in process (\d+)")
        compiler = int(compiling.group(1))
        # The server answers while its child compiles.
        websocket = await _station(server, "CS-1")
        await websocket.send('[2,"hb-1","Heartbeat",{}]')
        answer = await asyncio.wait_for(websocket.recv(), 30)
        assert '"currentTime"' in str(answer)
        assert _alive(compiler), "the compile ended before the test could interrupt it"
        server.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(websocket.wait_closed(), EXIT_MARGIN_S)
        assert websocket.close_code == 1001
        assert await asyncio.wait_for(server.process.wait(), EXIT_MARGIN_S) == 0
        assert not _alive(compiler), "the compiling child outlived the server"
        await server.wait_for(r"stopped in")
    finally:
        if server.process.returncode is None:
            server.process.kill()
            await server.process.wait()
        await reader


def _topology_toml(stations: int, per_transformer: int) -> str:
    parts = [
        "version = 1",
        "[planning]\nslot_seconds = 900\nhorizon_hours = 24",
        f"[tariff]\nimport_price_by_hour = {[0.1 + 0.01 * h for h in range(24)]}",
        f"[[node]]\nid = 'feeder'\nimport_limit_w = {stations * 5_000}",
    ]
    for t in range(stations // per_transformer):
        parts.append(
            f"[[node]]\nid = 'tx-{t}'\nparent = 'feeder'\n"
            f"import_limit_w = {per_transformer * 7_000}"
        )
    for n in range(stations):
        parts.append(
            f"[[station]]\nid = 'S{n:05d}'\nnode = 'tx-{n // per_transformer}'\n"
            f"  [[station.evse]]\n  id = 1\n  max_import_w = 11000"
        )
    return "\n\n".join(parts) + "\n"


async def _provision_sessions(db_url: str, count: int) -> None:
    """A topology of `count` stations and an active transaction on each."""
    from csms.db.database import close_database, open_database
    from csms.db.models import Transaction
    from csms.grid.live_state import save_topology
    from csms.grid.topology import loads_topology

    now = datetime.now(UTC)
    await open_database(db_url)
    try:
        _, document = loads_topology(_topology_toml(count, 100))
        await save_topology(document, now)
        await Transaction.bulk_create(
            [
                Transaction(
                    station_id=f"S{n:05d}",
                    transaction_id=f"tx-{n}",
                    evse_id=1,
                    connector_id=1,
                    state="active",
                    started_at=now,
                    energy_wh=1_000.0,
                    machine={},  # the planner reads only the columns above
                )
                for n in range(count)
            ],
            batch_size=500,
        )
    finally:
        await close_database()


@pytest.mark.slow
async def test_sigint_during_a_10000_session_solve_drains_and_exits(
    serve: tuple[str, dict[str, str]],
) -> None:
    db_url, env = serve
    await _provision_sessions(db_url, 10_000)
    await _cli(db_url, "stations", "add", "CS-1", "--password", PASSWORD)
    env["CSMS_PLAN_INTERVAL"] = "1"
    server, reader = await _start(env)
    try:
        await server.wait_for(r"kernel ready", timeout=300)
        websocket = await _station(server, "CS-1")
        await server.wait_for(r"solving 10000 sessions")
        server.process.send_signal(signal.SIGINT)
        await asyncio.wait_for(websocket.wait_closed(), EXIT_MARGIN_S)
        assert websocket.close_code == 1001
        assert await asyncio.wait_for(server.process.wait(), EXIT_MARGIN_S) == 0
        await server.wait_for(r"stopped in")
    finally:
        if server.process.returncode is None:
            server.process.kill()
            await server.process.wait()
        await reader
