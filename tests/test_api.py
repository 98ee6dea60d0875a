"""The REST API: stations, tokens, transactions, OpenAPI and bearer-token protection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from csms.app import Csms
from tests.conftest import settings_for
from tests.ocpp_wire import open_peer
from tests.stations import tx_event

PASSWORD = "correct-horse-battery"


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def test_station_is_created_listed_and_shown(http: aiohttp.ClientSession) -> None:
    created = await http.post(
        "/api/v1/stations", json={"id": "CS-1", "password": PASSWORD, "node": "tx-1"}
    )
    assert created.status == 201
    assert (await created.json())["node"] == "tx-1"
    listed = await (await http.get("/api/v1/stations")).json()
    assert [s["id"] for s in listed] == ["CS-1"]
    shown = await http.get("/api/v1/stations/CS-1")
    body = await shown.json()
    assert body["connected"] is False and body["connectors"] == []
    assert "password" not in str(body)


async def test_existing_station_id_is_409(http: aiohttp.ClientSession) -> None:
    await http.post("/api/v1/stations", json={"id": "CS-1", "password": PASSWORD})
    again = await http.post("/api/v1/stations", json={"id": "CS-1", "password": PASSWORD})
    assert again.status == 409
    assert "already exists" in (await again.json())["error"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"password": PASSWORD}, "'id'"),
        ({"id": "CS-1"}, "'password'"),
        ({"id": "bad id/../", "password": PASSWORD}, "invalid station id"),
        ({"id": "CS-1", "password": "short"}, "16 to 40"),
        ({"id": "CS-1", "password": PASSWORD, "node": 5}, "node"),
    ],
)
async def test_bad_station_is_422_with_the_reason(
    http: aiohttp.ClientSession, body: dict[str, object], reason: str
) -> None:
    reply = await http.post("/api/v1/stations", json=body)
    assert reply.status == 422
    assert reason in (await reply.json())["error"]


async def test_stations_are_provisioned_in_bulk_with_a_result_per_item(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await http.post("/api/v1/stations", json={"id": "CS-OLD", "password": PASSWORD})
    items = [
        {"id": "CS-1", "password": PASSWORD, "node": "tx-1"},
        {"id": "CS-OLD", "password": PASSWORD},
        {"id": "CS-2", "password": "other-password-of-cs2", "registration_status": "Pending"},
        {"id": "CS-1", "password": PASSWORD},
        {"id": "CS-3", "password": "short"},
        {"id": "CS-4", "password": PASSWORD, "registration_status": "Maybe"},
        "not an object",
        {"id": "CS-5", "password": PASSWORD, "node": 7},
    ]
    reply = await http.post("/api/v1/stations", json=items)
    assert reply.status == 200
    answer = await reply.json()
    assert [r["status"] for r in answer["results"]] == [201, 409, 201, 409, 422, 422, 422, 422]
    assert [r["id"] for r in answer["results"][:6]] == [
        "CS-1", "CS-OLD", "CS-2", "CS-1", "CS-3", "CS-4",
    ]  # fmt: skip
    assert answer["created"] == 2
    assert "16 to 40" in answer["results"][4]["error"]
    listed = {s["id"]: s for s in await (await http.get("/api/v1/stations")).json()}
    assert set(listed) == {"CS-OLD", "CS-1", "CS-2"}
    assert listed["CS-1"]["node"] == "tx-1"
    assert listed["CS-2"]["registration_status"] == "Pending"
    # The stored credentials work at the OCPP handshake.
    for station_id, password in (("CS-1", PASSWORD), ("CS-2", "other-password-of-cs2")):
        peer = await open_peer(csms, station_id, password)
        assert (await peer.call("Heartbeat", {}))[0] == 3
        await peer.close()


async def test_a_body_neither_object_nor_list_is_422(http: aiohttp.ClientSession) -> None:
    reply = await http.post("/api/v1/stations", json="CS-1")
    assert reply.status == 422


async def test_body_that_is_not_json_is_400(http: aiohttp.ClientSession) -> None:
    reply = await http.post(
        "/api/v1/stations", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert reply.status == 400


async def test_cross_site_requests_are_refused_without_a_token(http: aiohttp.ClientSession) -> None:
    """A web page can post text/plain without a preflight, or rebind a foreign name to us."""
    form = await http.post(
        "/api/v1/tokens", data=b'{"id_token": "EVIL"}', headers={"Content-Type": "text/plain"}
    )
    assert form.status == 415
    rebound = await http.get("/api/v1/tokens", headers={"Host": "evil.example:8080"})
    assert rebound.status == 403
    assert await (await http.get("/api/v1/tokens")).json() == []


async def test_unknown_station_is_404(http: aiohttp.ClientSession) -> None:
    assert (await http.get("/api/v1/stations/NOPE")).status == 404


async def test_tokens_are_added_listed_and_blocked(http: aiohttp.ClientSession) -> None:
    created = await http.post(
        "/api/v1/tokens", json={"id_token": "AB12", "type": "ISO14443", "group_id": "G1"}
    )
    assert created.status == 201
    assert (await http.post("/api/v1/tokens", json={"id_token": "AB12"})).status == 409
    bad = await http.post("/api/v1/tokens", json={"id_token": "X", "status": "Fine"})
    assert bad.status == 422
    blocked = await http.patch("/api/v1/tokens/AB12", json={"status": "Blocked"})
    assert blocked.status == 200
    tokens = await (await http.get("/api/v1/tokens")).json()
    assert tokens == [
        {
            "id_token": "AB12",
            "type": "ISO14443",
            "status": "Blocked",
            "expires_at": None,
            "group_id": "G1",
            "priority": 0,
        }
    ]
    assert (await http.patch("/api/v1/tokens/NOPE", json={"status": "Blocked"})).status == 404


async def test_transactions_are_listed_with_their_fields(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await http.post("/api/v1/stations", json={"id": "CS-1", "password": PASSWORD})
    peer = await open_peer(csms, "CS-1", PASSWORD)
    await peer.call("TransactionEvent", tx_event("Started", 0, 0, import_wh=0, id_token="AB"))
    await peer.call(
        "TransactionEvent", tx_event("Ended", 1, 60, import_wh=11000, stopped_reason="Local")
    )
    rows = await (await http.get("/api/v1/transactions", params={"station": "CS-1"})).json()
    assert len(rows) == 1
    row = rows[0]
    for field in (
        "transaction_id",
        "station_id",
        "evse_id",
        "id_token",
        "started_at",
        "ended_at",
        "energy_wh",
        "discharged_wh",
        "state",
        "stopped_reason",
    ):
        assert field in row
    assert (row["transaction_id"], row["state"], row["energy_wh"]) == ("tx-1", "ended", 11000)
    assert (row["evse_id"], row["id_token"], row["stopped_reason"]) == (1, "AB", "Local")
    assert await (await http.get("/api/v1/transactions", params={"station": "CS-2"})).json() == []
    await peer.close()


async def test_openapi_document_lists_every_route(csms: Csms, http: aiohttp.ClientSession) -> None:
    document = await (await http.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    documented = set(document["paths"])
    for resource in csms._api_runner.app.router.resources():  # type: ignore[union-attr]
        if resource.canonical.startswith("/api/"):  # the rest is the console's pages
            assert resource.canonical in documented, resource.canonical


async def test_api_token_is_required_when_configured(db_url: str) -> None:
    app = Csms(settings_for(db_url, api_token="s3cret-token"))
    await app.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{app.api_port}") as http:
            assert (await http.get("/api/v1/stations")).status == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await http.get("/api/v1/stations", headers=wrong)).status == 401
            right = {"Authorization": "Bearer s3cret-token"}
            assert (await http.get("/api/v1/stations", headers=right)).status == 200
    finally:
        await app.stop()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"id": "CS-9", "password": NaN}',
        b'{"id": "CS-9", "password": Infinity}',
        b'{"id": "CS-9", "password": 1e999}',
        b'{"id": "\xff\xfe"}',
        b"",
        b"{nope",
    ],
)
async def test_bad_json_of_any_shape_is_400_never_500(
    http: aiohttp.ClientSession, body: bytes
) -> None:
    for path in ("/api/v1/stations", "/api/v1/tokens", "/api/v1/stations/CS-9/commands/Reset"):
        reply = await http.post(path, data=body, headers={"Content-Type": "application/json"})
        assert reply.status == 400, (path, body[:20], reply.status)
        assert "error" in await reply.json()
