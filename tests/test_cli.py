"""The operator CLI: real processes against a real database (CSMS_DB_URL) and server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from csms.app import Csms
from csms.blocks.stations import add_station
from tests.ocpp_wire import open_peer
from tests.stations import tx_event

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


async def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CSMS_DB_URL": db_url, "COLUMNS": "200"}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "cli.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_stations_are_added_listed_and_shown(db_url: str) -> None:
    added = await cli(db_url, "stations", "add", "CS-7", "--password", PASSWORD, "--node", "tx-1")
    assert added.returncode == 0, added.stdout + added.stderr
    listed = await cli(db_url, "stations", "list")
    assert "CS-7" in listed.stdout and "tx-1" in listed.stdout
    shown = await cli(db_url, "stations", "show", "CS-7")
    assert shown.returncode == 0 and "registration_status" in shown.stdout


async def test_errors_are_one_red_line_and_exit_1(db_url: str) -> None:
    await cli(db_url, "stations", "add", "CS-7", "--password", PASSWORD)
    again = await cli(db_url, "stations", "add", "CS-7", "--password", PASSWORD)
    assert again.returncode == 1
    assert again.stdout.strip() == "error: station CS-7 already exists"
    missing = await cli(db_url, "stations", "show", "NOPE")
    assert missing.returncode == 1 and "no station NOPE" in missing.stdout
    weak = await cli(db_url, "stations", "add", "CS-8", "--password", "short")
    assert weak.returncode == 1 and "16 to 40" in weak.stdout


async def test_stations_are_imported_from_a_csv_file(db_url: str, tmp_path: Path) -> None:
    rows = ["id,password,node", f"CS-1,{PASSWORD},tx-1", f"CS-2,{PASSWORD},", "CS-3,short,"]
    csv_file = tmp_path / "stations.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    imported = await cli(db_url, "stations", "import", str(csv_file))
    assert imported.returncode == 1, imported.stdout + imported.stderr
    assert "line 4: CS-3" in imported.stdout and "16 to 40" in imported.stdout
    assert "2 stations added" in imported.stdout
    listed = await cli(db_url, "stations", "list")
    assert "CS-1" in listed.stdout and "CS-2" in listed.stdout and "CS-3" not in listed.stdout
    csv_file.write_text("\n".join(rows[:3]) + "\n")
    again = await cli(db_url, "stations", "import", str(csv_file))
    assert again.returncode == 1 and "already exists" in again.stdout
    assert "0 stations added" in again.stdout


async def test_a_csv_without_the_required_columns_is_refused(db_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "stations.csv"
    csv_file.write_text("station,secret\nCS-1,correct-horse-battery\n")
    refused = await cli(db_url, "stations", "import", str(csv_file))
    assert refused.returncode == 1 and "id and password" in refused.stdout


async def test_tokens_are_added_listed_and_blocked(db_url: str) -> None:
    assert (await cli(db_url, "tokens", "add", "AB12", "--type", "ISO15693")).returncode == 0
    assert (await cli(db_url, "tokens", "block", "AB12")).returncode == 0
    listed = await cli(db_url, "tokens", "list")
    assert "AB12" in listed.stdout and "Blocked" in listed.stdout and "ISO15693" in listed.stdout
    unknown = await cli(db_url, "tokens", "block", "NOPE")
    assert unknown.returncode == 1


async def test_transactions_are_listed_per_station(csms: Csms, db_url: str) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    await peer.call("TransactionEvent", tx_event("Started", 0, 0, "tx-42", import_wh=0))
    await peer.call("TransactionEvent", tx_event("Ended", 1, 60, "tx-42", import_wh=7300))
    await peer.call("TransactionEvent", tx_event("Started", 0, 0, "tx-43", import_wh=0, evse_id=2))
    await peer.call(
        "TransactionEvent", tx_event("Ended", 1, 60, "tx-43", import_wh=1000, evse_id=2)
    )
    await peer.call("TransactionEvent", tx_event("Updated", 2, 61, "tx-43", import_wh=1e9))
    await peer.close()
    listed = await cli(db_url, "transactions", "list", "--station", "CS-1")
    assert listed.returncode == 0
    assert "tx-42" in listed.stdout and "7.30" in listed.stdout
    lines = {line.split()[1]: line for line in listed.stdout.splitlines() if "tx-4" in line}
    assert " ok " in lines["tx-42"]
    assert "event_after_ended x1" in lines["tx-43"] and "1.00" in lines["tx-43"]


async def test_command_goes_through_the_running_server(csms: Csms, db_url: str) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    api = f"http://127.0.0.1:{csms.api_port}"
    sent = asyncio.create_task(
        cli(db_url, "command", "CS-1", "Reset", '{"type": "Immediate"}', "--api", api)
    )
    call = await peer.expect_call(timeout=60)  # the CLI starts slowly on a busy machine
    assert call[2] == "Reset" and call[3] == {"type": "Immediate"}
    await peer.answer(call[1], {"status": "Accepted"})
    done = await sent
    assert done.returncode == 0, done.stdout
    assert '"status": "Accepted"' in done.stdout
    offline = await cli(db_url, "command", "CS-9", "Reset", '{"type": "Immediate"}', "--api", api)
    assert offline.returncode == 1 and "404: no station CS-9" in offline.stdout
    await peer.close()


async def test_demo_runs_a_fleet_against_the_csms_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import signal
    import socket

    def free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    env = {
        **os.environ,
        "CSMS_DB_URL": f"sqlite://{tmp_path / 'demo.db'}",
        "CSMS_OCPP_PORT": str(free_port()),
        "CSMS_API_PORT": str(free_port()),
        "COLUMNS": "120",
    }
    demo = subprocess.Popen(
        [sys.executable, "cli.py", "demo", "--stations", "3", "--speed", "600"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # However busy the machine, Ctrl-C comes only once the CSMS has all three online.
    api = f"http://127.0.0.1:{env['CSMS_API_PORT']}/api/v1/stations"
    async with asyncio.timeout(300), aiohttp.ClientSession() as http:
        while demo.poll() is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(api) as answer:
                    if sum(s["connected"] for s in await answer.json()) == 3:
                        break
            await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # the live view starts right after the fleet's connections
    demo.send_signal(signal.SIGINT)
    out, err = await asyncio.to_thread(demo.communicate, timeout=60)
    assert demo.returncode == 0, err
    assert "DEMO001" in out and "Online" in out
    assert "what the CSMS stored" in out and "active sessions" in out
    assert f"Operator console: http://127.0.0.1:{env['CSMS_API_PORT']}/" in out
    listed = await cli(env["CSMS_DB_URL"], "stations", "list")
    assert "DEMO003" in listed.stdout


def test_serve_logs_each_link_once_with_its_station_id_not_again_from_websockets() -> None:
    from csms.operator_cli import configure_logging

    root = logging.getLogger()
    saved = root.level, root.handlers[:], logging.getLogger("websockets").level
    try:
        root.handlers.clear()  # basicConfig acts only on a root logger without handlers
        configure_logging("info")
        assert logging.getLogger("csms.gateway.server").isEnabledFor(logging.INFO)
        assert not logging.getLogger("websockets.server").isEnabledFor(logging.INFO)
        root.handlers.clear()
        logging.getLogger("websockets").setLevel(logging.NOTSET)
        configure_logging("debug")
        assert logging.getLogger("websockets.server").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("websockets").setLevel(saved[2])
