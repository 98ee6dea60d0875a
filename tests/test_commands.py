"""CSMS -> station commands through the REST API: one outstanding CALL, queue, timeout,
validation, and a stored outcome for each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station
from csms.db.models import Command, Station
from tests.ocpp_wire import WirePeer

PASSWORD = "correct-horse-battery"

#: action -> (request the operator sends, response the station answers)
COMMANDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "RequestStartTransaction": (
        {"idToken": {"idToken": "T1", "type": "ISO14443"}, "remoteStartId": 5, "evseId": 1},
        {"status": "Accepted"},
    ),
    "RequestStopTransaction": ({"transactionId": "tx-1"}, {"status": "Accepted"}),
    "Reset": ({"type": "Immediate"}, {"status": "Accepted"}),
    "UnlockConnector": ({"evseId": 1, "connectorId": 1}, {"status": "Unlocked"}),
    "ChangeAvailability": (
        {"operationalStatus": "Inoperative", "evse": {"id": 1}},
        {"status": "Scheduled"},
    ),
    "TriggerMessage": ({"requestedMessage": "StatusNotification"}, {"status": "Accepted"}),
    "GetVariables": (
        {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        },
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    ),
    "SetVariables": (
        {
            "setVariableData": [
                {
                    "attributeValue": "60",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    ),
    "GetBaseReport": ({"requestId": 1, "reportBase": "FullInventory"}, {"status": "Accepted"}),
    "GetTransactionStatus": (
        {"transactionId": "tx-1"},
        {"messagesInQueue": False, "ongoingIndicator": True},
    ),
    "GetLocalListVersion": ({}, {"versionNumber": 3}),
    "ClearCache": ({}, {"status": "Accepted"}),
    "DataTransfer": (
        {"vendorId": "org.example", "messageId": "ping"},
        {"status": "Accepted", "data": "pong"},
    ),
    "SendLocalList": ({"versionNumber": 1, "updateType": "Full"}, {"status": "Accepted"}),
}


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def answer_next(peer: WirePeer, action: str, response: dict[str, Any]) -> dict[str, Any]:
    call = await peer.expect_call()
    assert call[0] == 2 and call[2] == action
    await peer.answer(call[1], response)
    request: dict[str, Any] = call[3]
    return request


@pytest.mark.parametrize("action", list(COMMANDS))
async def test_every_command_reaches_the_station_and_its_answer_comes_back(
    peer: WirePeer, http: aiohttp.ClientSession, action: str
) -> None:
    request, response = COMMANDS[action]
    post = asyncio.create_task(http.post(f"/api/v1/stations/CS-1/commands/{action}", json=request))
    received = await answer_next(peer, action, response)
    assert received == request
    reply = await post
    assert reply.status == 200, await reply.text()
    assert await reply.json() == response
    stored = await Command.get(station_id="CS-1", action=action)
    assert stored.status == "answered" and stored.response == response


async def test_commands_wait_for_the_outstanding_call(
    peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(
        http.post("/api/v1/stations/CS-1/commands/Reset", json={"type": "OnIdle"})
    )
    second = asyncio.create_task(http.post("/api/v1/stations/CS-1/commands/ClearCache", json={}))
    call = await peer.expect_call()
    assert call[2] in ("Reset", "ClearCache")
    with pytest.raises(TimeoutError):
        await peer.expect_call(timeout=0.3)
    await peer.answer(call[1], {"status": "Accepted"})
    following = await peer.expect_call()
    assert following[2] != call[2]
    await peer.answer(following[1], {"status": "Accepted"})
    assert (await first).status == 200 and (await second).status == 200


async def test_command_to_a_disconnected_station_is_409(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await add_station("CS-9", PASSWORD)
    reply = await http.post("/api/v1/stations/CS-9/commands/Reset", json={"type": "Immediate"})
    assert reply.status == 409
    assert "not connected" in (await reply.json())["error"]


async def test_command_payload_that_fails_the_schema_is_422_and_not_sent(
    peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    reply = await http.post("/api/v1/stations/CS-1/commands/Reset", json={"type": "Sometime"})
    assert reply.status == 422
    assert "PropertyConstraintViolation" in (await reply.json())["error"]
    assert peer.incoming.empty()
    stored = await Command.get(station_id="CS-1")
    assert stored.status == "invalid"


async def test_unanswered_command_times_out_with_504_and_is_stored(
    peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    reply = await http.post("/api/v1/stations/CS-1/commands/Reset", json={"type": "Immediate"})
    assert reply.status == 504
    assert (await peer.expect_call())[2] == "Reset"
    assert (await Command.get(station_id="CS-1")).status == "timeout"
    # The slot is free again: the next command goes out.
    nxt = asyncio.create_task(http.post("/api/v1/stations/CS-1/commands/ClearCache", json={}))
    await answer_next(peer, "ClearCache", {"status": "Accepted"})
    assert (await nxt).status == 200


async def test_call_error_from_the_station_is_502(
    peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    post = asyncio.create_task(
        http.post("/api/v1/stations/CS-1/commands/Reset", json={"type": "Immediate"})
    )
    call = await peer.expect_call()
    await peer.send_raw(f'[4, "{call[1]}", "NotSupported", "no", {{}}]')
    reply = await post
    assert reply.status == 502
    assert (await Command.get(station_id="CS-1")).status == "error"


async def test_invalid_station_response_is_reported_not_trusted(
    peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    post = asyncio.create_task(
        http.post("/api/v1/stations/CS-1/commands/Reset", json={"type": "Immediate"})
    )
    await answer_next(peer, "Reset", {"status": "Maybe"})
    assert (await post).status == 502


async def test_local_list_is_pushed_with_increasing_versions(
    peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    await add_token("T-1")
    await add_token("T-2", status="Blocked")
    for version in (1, 2):
        post = asyncio.create_task(http.post("/api/v1/stations/CS-1/local-list"))
        request = await answer_next(peer, "SendLocalList", {"status": "Accepted"})
        assert request["versionNumber"] == version and request["updateType"] == "Full"
        entries = {
            e["idToken"]["idToken"]: e["idTokenInfo"]["status"]
            for e in request["localAuthorizationList"]
        }
        assert entries == {"T-1": "Accepted", "T-2": "Blocked"}
        assert (await post).status == 200
    assert (await Station.get(id="CS-1")).local_list_version == 2


async def test_unknown_action_in_the_url_is_404(
    peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    reply = await http.post("/api/v1/stations/CS-1/commands/BrewCoffee", json={})
    assert reply.status == 404


async def test_a_queued_command_times_out_on_one_deadline_counting_its_wait(
    csms: Csms, peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    first = asyncio.create_task(
        http.post("/api/v1/stations/CS-1/commands/Reset", json={"type": "Immediate"})
    )
    assert (await peer.expect_call())[2] == "Reset"
    queued = asyncio.create_task(http.post("/api/v1/stations/CS-1/commands/ClearCache", json={}))
    assert (await first).status == 504
    assert (await queued).status == 504
    # Not timeout after timeout: the wait behind Reset counts against ClearCache's deadline.
    assert loop.time() - began < csms.settings.call_timeout * 1.5
    statuses = {c.action: c.status for c in await Command.filter(station_id="CS-1")}
    assert statuses == {"Reset": "timeout", "ClearCache": "timeout"}


async def test_command_to_a_disconnected_station_has_a_stored_outcome(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await add_station("CS-9", PASSWORD)
    await http.post("/api/v1/stations/CS-9/commands/Reset", json={"type": "Immediate"})
    assert (await Command.get(station_id="CS-9")).status == "failed"
    unknown = await http.post("/api/v1/stations/NOPE/commands/Reset", json={"type": "Immediate"})
    assert unknown.status == 404
