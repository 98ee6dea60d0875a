"""An acknowledged write survives `kill -9` of the CSMS process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from csms.db.database import close_database, open_database
from csms.db.models import TransactionEvent
from tests.ocpp_wire import basic_auth
from tests.stations import tx_event

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "cli.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_acknowledged_transaction_events_survive_kill_9(db_url: str) -> None:
    ocpp_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "CSMS_DB_URL": db_url,
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(ocpp_port),
        "CSMS_API_PORT": str(api_port),
    }
    added = cli("stations", "add", "CS-1", "--password", PASSWORD, env=env)
    assert added.returncode == 0, added.stderr
    server = subprocess.Popen(
        [sys.executable, "cli.py", "serve"], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    acknowledged = 0
    try:
        websocket: ClientConnection | None = None
        for _ in range(1200):  # 120 s: a busy machine starts the server slowly
            try:
                websocket = await connect(
                    f"ws://127.0.0.1:{ocpp_port}/ocpp/CS-1",
                    subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                    additional_headers=basic_auth("CS-1", PASSWORD),
                )
                break
            except OSError:
                await asyncio.sleep(0.1)
        assert websocket is not None, "the CSMS did not start"

        for seq_no in range(40):
            kind = "Started" if seq_no == 0 else "Updated"
            payload = tx_event(kind, seq_no, seq_no, import_wh=seq_no * 100.0)
            await websocket.send(json.dumps([2, f"m{seq_no}", "TransactionEvent", payload]))
            answer = json.loads(await websocket.recv())
            assert answer[0] == 3
            acknowledged += 1
        # Kill while the next messages are in flight: only acknowledged ones must be kept.
        for seq_no in range(40, 60):
            payload = tx_event("Updated", seq_no, seq_no, import_wh=seq_no * 100.0)
            await websocket.send(json.dumps([2, f"m{seq_no}", "TransactionEvent", payload]))
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        assert server.stderr is not None
        server.stderr.close()
    await open_database(db_url)
    try:
        stored = {event.seq_no for event in await TransactionEvent.filter(station_id="CS-1")}
    finally:
        await close_database()
    assert set(range(acknowledged)) <= stored
    assert stored <= set(range(60))
