"""EVSE 0 / connector 0 is the charging station itself: its StatusNotification is shown as the
station's own status in REST and CLI, never as an EVSE stuck in that status (issue 20)."""

from __future__ import annotations

import aiohttp

from csms.app import Csms
from csms.blocks.stations import add_station
from tests.ocpp_wire import open_peer
from tests.stations import at
from tests.test_cli import PASSWORD, cli


def status(evse_id: int, connector_id: int, value: str, minutes: float) -> dict[str, object]:
    return {
        "timestamp": at(minutes),
        "connectorStatus": value,
        "evseId": evse_id,
        "connectorId": connector_id,
    }


async def test_status_of_evse_0_is_the_stations_own_status(csms: Csms, db_url: str) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    for payload in (status(0, 0, "Unavailable", 0), status(1, 1, "Available", 0)):
        answer = await peer.call("StatusNotification", payload)
        assert answer[0] == 3, answer
    await peer.close()

    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as http:
        reply = await http.get("/api/v1/stations/CS-1")
        assert reply.status == 200
        view = await reply.json()
    assert view["status"] == "Unavailable" and view["status_at"] is not None
    assert [(c["evse_id"], c["status"]) for c in view["connectors"]] == [(1, "Available")]
    assert [c["evse_id"] for c in view["control"]] == [1]

    shown = await cli(db_url, "stations", "show", "CS-1")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if "│" in line}
    assert "Unavailable" in rows["status"]
    # The connectors table lists EVSE 1 only: no EVSE shown as Unavailable.
    assert shown.stdout.count("Unavailable") == 1
