"""Session priority comes from the id token that started the session."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station
from csms.grid.live_state import live_sessions
from tests.ocpp_wire import open_peer
from tests.stations import tx_event

PASSWORD = "correct-horse-battery"


async def test_live_sessions_carry_the_priority_of_their_token(csms: Csms) -> None:
    await add_token("FLEET-7", priority=5)
    await add_token("DRIVER-1")
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    for evse, (tx, token) in enumerate((("tx-fleet", "FLEET-7"), ("tx-driver", "DRIVER-1")), 1):
        answer = await peer.call(
            "TransactionEvent", tx_event("Started", 0, 0, tx, id_token=token, evse_id=evse)
        )
        assert answer[0] == 3
    sessions = await live_sessions(datetime.now(UTC))
    assert {s.transaction_id: s.priority for s in sessions} == {"tx-fleet": 5, "tx-driver": 0}
    await peer.close()


async def test_token_priority_is_set_through_the_api_and_bounded(csms: Csms) -> None:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as http:
        created = await http.post("/api/v1/tokens", json={"id_token": "AMB-1", "priority": 9})
        assert created.status == 201 and (await created.json())["priority"] == 9
        too_high = await http.post("/api/v1/tokens", json={"id_token": "X", "priority": 10})
        assert too_high.status == 422
        not_int = await http.post("/api/v1/tokens", json={"id_token": "Y", "priority": "high"})
        assert not_int.status == 422
