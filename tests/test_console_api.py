"""The console's read-only REST routes on SQLite and PostgreSQL: station pages, station and
session detail, the overview, the grid view and the live feed's first snapshot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from csms.api.console_routes import node_plan
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.base import ocpp_time
from csms.db.models import Station
from csms.grid.live_state import save_topology
from csms.grid.topology import loads_topology
from tests.ocpp_wire import open_peer
from tests.stations import boot, tx_event
from tests.test_live_topology import topology_toml

PASSWORD = "console-api-station-password"


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


def test_a_node_plan_sums_the_sessions_below_it_by_direction_with_the_price() -> None:
    topology, _ = loads_topology(topology_toml(prices=[0.1] * 12 + [0.3] * 12))
    plan = {
        "start": "2026-01-01T11:30:00+00:00",
        "slot_seconds": 1800,
        "slots": 3,
        "nodes": [{"id": "tx-1", "valley_share": 0.5}],
        "sessions": [
            {"station_id": "CS-1", "power_w": [1000.0, 2000.0, 0.0]},
            {"station_id": "CS-2", "power_w": [-500.0, 500.0, 700.0]},
        ],
    }
    whole = node_plan(topology, plan, "tx-1")
    assert [(s["charge_w"], s["discharge_w"]) for s in whole["slots"]] == [
        (1000.0, 500.0),
        (2500.0, 0.0),
        (700.0, 0.0),
    ]
    assert [s["price"] for s in whole["slots"]] == [0.1, 0.3, 0.3]
    assert whole["valley_share"] == 0.5 and whole["import_limit_w"] == 60_000
    site = node_plan(topology, plan, "site-a")  # CS-1 only
    assert [s["charge_w"] for s in site["slots"]] == [1000.0, 2000.0, 0.0]


async def test_grid_view_shows_each_node_with_the_cap_of_the_events_in_force(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    _, document = loads_topology(topology_toml())
    await save_topology(document, datetime.now(UTC))
    now = datetime.now(UTC)
    for minutes, cap in ((-1, 20_000), (-1, 15_000), (60, 1_000)):  # the last one is later
        event = {
            "node": "tx-1",
            "start": ocpp_time(now + timedelta(minutes=minutes)),
            "end": ocpp_time(now + timedelta(hours=2)),
            "kind": "limit",
            "max_net_w": cap,
        }
        assert (await http.post("/api/v1/grid/events", json=event)).status == 201
    view = await (await http.get("/api/v1/grid-view")).json()
    nodes = {n["id"]: n for n in view["nodes"]}
    assert set(nodes) == {"feeder-1", "tx-1", "site-a", "site-b"}
    assert nodes["tx-1"]["event_cap_w"] == 15_000 and nodes["site-a"]["event_cap_w"] is None
    assert [e["id"] for e in nodes["tx-1"]["events"]] == [1, 2, 3]
    assert nodes["tx-1"]["import_limit_w"] == 60_000 and nodes["site-a"]["parent"] == "tx-1"
