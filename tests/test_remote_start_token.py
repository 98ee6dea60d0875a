"""A transaction started remotely (RequestStartTransaction through the REST API) keeps the id
token the CSMS sent, with its planning priority, when the station's TransactionEvent leaves
the idToken out (issue 20). Over a real websocket (a raw OCPP-J peer) on a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.remote_starts import SentToken, matching_token
from csms.db.models import Transaction
from csms.grid.live_state import live_sessions
from tests.ocpp_wire import WirePeer
from tests.stations import tx_event


async def remote_start(
    csms: Csms, peer: WirePeer, request: dict[str, Any], answer: dict[str, Any]
) -> dict[str, Any]:
    """POST the command, answer it as the station, return the REST reply."""
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as http:
        sent = asyncio.create_task(
            http.post("/api/v1/stations/CS-1/commands/RequestStartTransaction", json=request)
        )
        call = await peer.expect_call()
        assert call[2] == "RequestStartTransaction" and call[3] == request
        await peer.answer(call[1], answer)
        reply = await sent
        assert reply.status == 200, await reply.text()
        result: dict[str, Any] = await reply.json()
        return result


def started_without_token(transaction_id: str, remote_start_id: int | None) -> dict[str, Any]:
    payload = tx_event(
        "Started", 0, 0, transaction_id, import_wh=0, remote_start_id=remote_start_id
    )
    payload["triggerReason"] = "RemoteStart"
    assert "idToken" not in payload
    return payload


async def test_remote_start_keeps_the_sent_token_when_the_event_omits_it(
    csms: Csms, peer: WirePeer
) -> None:
    await add_token("FLEET-7", priority=3, group_id="FLEET")
    request = {"idToken": {"idToken": "FLEET-7", "type": "ISO14443"}, "remoteStartId": 41}
    await remote_start(csms, peer, request, {"status": "Accepted"})
    answer = await peer.call("TransactionEvent", started_without_token("tx-remote", 41))
    assert answer[0] == 3 and answer[2] == {}, answer
    await peer.call("TransactionEvent", tx_event("Updated", 1, 5, "tx-remote", import_wh=900))

    row = await Transaction.get(station_id="CS-1", transaction_id="tx-remote")
    assert (row.id_token, row.id_token_type, row.remote_start_id) == ("FLEET-7", "ISO14443", 41)
    # The planner serves it with the token's priority.
    sessions = await live_sessions(datetime.now(UTC))
    assert [(s.transaction_id, s.priority) for s in sessions] == [("tx-remote", 3)]


async def test_remote_start_matched_by_the_answers_transaction_id(
    csms: Csms, peer: WirePeer
) -> None:
    await add_token("FLEET-8", priority=2)
    request = {"idToken": {"idToken": "FLEET-8", "type": "ISO14443"}, "remoteStartId": 42}
    await remote_start(csms, peer, request, {"status": "Accepted", "transactionId": "tx-9"})
    # Neither idToken nor remoteStartId: only the answer's transactionId ties them.
    await peer.call("TransactionEvent", started_without_token("tx-9", None))
    row = await Transaction.get(station_id="CS-1", transaction_id="tx-9")
    assert row.id_token == "FLEET-8"


async def test_a_rejected_remote_start_lends_no_token(csms: Csms, peer: WirePeer) -> None:
    request = {"idToken": {"idToken": "FLEET-9", "type": "ISO14443"}, "remoteStartId": 43}
    await remote_start(csms, peer, request, {"status": "Rejected"})
    await peer.call("TransactionEvent", started_without_token("tx-other", 43))
    row = await Transaction.get(station_id="CS-1", transaction_id="tx-other")
    assert row.id_token is None


@pytest.mark.parametrize(
    ("transaction_id", "remote_start_id", "expected"),
    [
        ("tx-1", 5, SentToken("NEW", "Central")),  # the newest request with that id wins
        ("tx-a", None, SentToken("OLD", "ISO14443")),
        ("tx-x", 99, None),
    ],
)
def test_matching_token(
    transaction_id: str, remote_start_id: int | None, expected: SentToken | None
) -> None:
    requests: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        ({"idToken": {"idToken": "NEW", "type": "Central"}, "remoteStartId": 5}, None),
        (
            {"idToken": {"idToken": "OLD", "type": "ISO14443"}, "remoteStartId": 5},
            {"status": "Accepted", "transactionId": "tx-a"},
        ),
    ]
    assert matching_token(requests, transaction_id, remote_start_id) == expected
