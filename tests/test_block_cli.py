"""The blocks' CLI commands against a running CSMS and a raw station socket: registration
status and password, reservations, local lists, charging limits and reports."""

from __future__ import annotations

import asyncio
from typing import Any

from csms.app import Csms
from csms.blocks.stations import add_station
from csms.db.models import Station
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import boot
from tests.test_cli import PASSWORD, cli

#: A random-looking password: chosen ones are judged by how guessable they are.
STRONG = "q7Vh2LxZp9TmK4rWc8Ns"


async def _answering(peer: WirePeer, action: str, response: dict[str, Any]) -> dict[str, Any]:
    call = await peer.expect_call(timeout=30)
    assert call[2] == action
    await peer.answer(call[1], response)
    request: dict[str, Any] = call[3]
    return request


async def test_set_status_triggers_the_boot_of_a_pending_station(db_url: str, csms: Csms) -> None:
    await add_station("CS-1", PASSWORD, registration_status="Pending")
    peer = await open_peer(csms, "CS-1", PASSWORD)
    assert (await peer.call("BootNotification", boot()))[2]["status"] == "Pending"
    api = f"http://127.0.0.1:{csms.api_port}"
    run = asyncio.create_task(
        cli(db_url, "stations", "set-status", "CS-1", "Accepted", "--api", api)
    )
    request = await _answering(peer, "TriggerMessage", {"status": "Accepted"})
    assert request == {"requestedMessage": "BootNotification"}
    done = await run
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CS-1 is Accepted" in done.stdout and "boot trigger: Accepted" in done.stdout
    assert (await peer.call("BootNotification", boot("Triggered")))[2]["status"] == "Accepted"

    weak = await cli(db_url, "stations", "set-password", "CS-1", "--password", "short")
    assert weak.returncode == 1 and "error" in weak.stdout
    strong = await cli(db_url, "stations", "set-password", "CS-1", "--password", STRONG)
    assert strong.returncode == 0, strong.stdout + strong.stderr
    assert (await Station.get(id="CS-1")).password_hash
    await peer.close()


async def test_reservations_local_lists_limits_and_reports_from_the_cli(
    db_url: str, csms: Csms
) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    await peer.call("BootNotification", boot())
    api = ("--api", f"http://127.0.0.1:{csms.api_port}")

    run = asyncio.create_task(
        cli(db_url, "reservations", "add", "CS-1", "--token", "T-1", "--evse", "1", *api)
    )
    request = await _answering(peer, "ReserveNow", {"status": "Accepted"})
    assert request["evseId"] == 1 and request["idToken"]["idToken"] == "T-1"
    made = await run
    assert made.returncode == 0 and f"reservation {request['id']} accepted" in made.stdout
    listed = await cli(db_url, "reservations", "list", *api)
    assert "T-1" in listed.stdout and "Accepted" in listed.stdout

    run = asyncio.create_task(cli(db_url, "local-list", "push", "CS-1", "--empty", *api))
    request = await _answering(peer, "SendLocalList", {"status": "Accepted"})
    assert request == {"versionNumber": 1, "updateType": "Full"}
    pushed = await run
    assert pushed.returncode == 0 and "Accepted version 1" in pushed.stdout

    limit = {
        "chargingLimit": {"chargingLimitSource": "SO"},
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000.0}],
            }
        ],
    }
    await peer.call("NotifyChargingLimit", limit)
    limits = await cli(db_url, "limits", "CS-1", *api)
    assert "SO" in limits.stdout and "5000 W from 0 s" in limits.stdout

    part = {"requestId": 4, "seqNo": 0, "generatedAt": "2026-01-05T12:00:00Z", "tbc": False}
    await peer.call("NotifyMonitoringReport", part)
    shown = await cli(db_url, "reports", "CS-1", "monitoring", *api)
    assert "request 4: 1 part(s), complete" in shown.stdout
    await peer.close()


async def test_tariffs_are_added_listed_and_removed_from_the_cli(db_url: str, csms: Csms) -> None:
    api = ("--api", f"http://127.0.0.1:{csms.api_port}")
    added = await cli(
        db_url,
        "tariffs",
        "add",
        "night",
        "--energy",
        "0.4",
        "--fee",
        "1",
        "--window",
        "22:00-06:00=0.2",
        *api,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    listed = await cli(db_url, "tariffs", "list", *api)
    assert "night" in listed.stdout and "22:00-06:00=0.2" in listed.stdout
    bad = await cli(db_url, "tariffs", "add", "x", "--window", "nonsense", *api)
    assert bad.returncode == 1 and "HH:MM-HH:MM=PRICE" in bad.stdout
    removed = await cli(db_url, "tariffs", "remove", "night", *api)
    assert removed.returncode == 0
    gone = await cli(db_url, "tariffs", "remove", "night", *api)
    assert gone.returncode == 1 and "404" in gone.stdout
