"""The console's read-only REST routes on SQLite and PostgreSQL: station pages, station and
session detail, the overview, the grid view and the live feed's first snapshot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.base import ocpp_time
from csms.db.models import Station
from tests.ocpp_wire import open_peer
from tests.stations import boot, tx_event

PASSWORD = "console-api-password"


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def test_station_pages_search_and_page_on_the_server(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    # Rows straight into the table: hashing 250 passwords would only slow the test.
    await Station.bulk_create(
        [Station(id=f"ST-{n:04d}", password_hash="x") for n in range(250)]
        + [Station(id="OTHER-1", password_hash="x")]
    )
    first = await (await http.get("/api/v1/station-pages", params={"limit": "100"})).json()
    assert first["total"] == 251 and len(first["items"]) == 100
    assert first["items"][0]["id"] == "OTHER-1"
    last = await (
        await http.get("/api/v1/station-pages", params={"q": "st-02", "offset": "40"})
    ).json()
    assert last["total"] == 50 and [i["id"] for i in last["items"]][:2] == ["ST-0240", "ST-0241"]
    capped = await (await http.get("/api/v1/station-pages", params={"limit": "99999"})).json()
    assert len(capped["items"]) == 200


async def test_station_and_session_detail_show_what_the_station_sent(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    created = {"id": "CS-1", "password": PASSWORD}
    assert (await http.post("/api/v1/stations", json=created)).status == 201
    await add_token("AB")
    peer = await open_peer(csms, "CS-1", PASSWORD)
    await peer.call("BootNotification", boot())
    now = datetime.now(UTC)
    await peer.call(
        "StatusNotification",
        {"timestamp": ocpp_time(now), "connectorStatus": "Faulted", "evseId": 1, "connectorId": 1},
    )
    await peer.call(
        "SecurityEventNotification",
        {"type": "TamperDetectionActivated", "timestamp": ocpp_time(now), "techInfo": "lid open"},
    )
    await peer.call("TransactionEvent", tx_event("Started", 0, 0, import_wh=100.0))
    await peer.call("TransactionEvent", tx_event("Updated", 1, 5, import_wh=90.0))
    detail = await (await http.get("/api/v1/stations/CS-1/detail")).json()
    assert detail["connected"] and detail["connectors"][0]["status"] == "Faulted"
    assert [s["transaction_id"] for s in detail["sessions"]] == ["tx-1"]
    assert detail["security_events"][0]["type"] == "TamperDetectionActivated"
    session = await (await http.get("/api/v1/sessions/CS-1/tx-1")).json()
    assert [p["energy_wh"] for p in session["series"]] == [100.0, 90.0]
    assert "energy register went backwards" in session["quality"]
    overview = await (await http.get("/api/v1/overview")).json()
    assert overview["faulted"] == 1 and overview["active_sessions"] == 1
    assert overview["stations"] == {"total": 1, "online": 1, "offline": 0}
    assert (await http.get("/api/v1/sessions/CS-1/nope")).status == 404
    assert (await http.get("/api/v1/stations/nope/detail")).status == 404
    assert (await http.get("/api/v1/grid-view")).status == 404  # no topology loaded
    assert await (await http.get("/api/v1/swap/station-views")).json() == []
    await peer.close()


async def test_the_live_feed_sends_a_topic_snapshot_at_once(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    async with http.get("/live", params={"topic": "overview"}) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        line = await stream.content.readline()
        assert line.startswith(b"data: ")
        assert json.loads(line[6:])["stations"]["total"] == 0
    assert (await http.get("/live", params={"topic": "nope"})).status == 404
