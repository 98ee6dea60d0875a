"""/health, /ready and /metrics of one process: answered without a token (a load
balancer's check carries none), true to the process's state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from csms.app import Csms
from tests.ocpp_wire import WirePeer


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def test_health_and_ready_answer_with_the_node_and_its_checks(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    async with http.get("/health") as reply:
        assert reply.status == 200
        assert await reply.json() == {"status": "ok", "node_id": csms.settings.node_id}
    async with http.get("/ready") as reply:
        assert reply.status == 200
        body = await reply.json()
        assert body["checks"] == {"database": "ok"}


async def test_metrics_count_the_stations_linked_to_this_process(
    csms: Csms, http: aiohttp.ClientSession, peer: WirePeer
) -> None:
    async with http.get("/metrics") as reply:
        assert reply.status == 200
        assert reply.content_type == "text/plain"
        text = await reply.text()
    node = csms.settings.node_id
    assert f'csms_connected_stations{{node="{node}"}} 1.0' in text
    assert f'csms_planner_leader{{node="{node}"}} 1.0' in text


async def test_a_token_protected_api_still_answers_health_checks(
    db_url: str, kernel_loaded: None
) -> None:
    from tests.conftest import settings_for

    app = Csms(settings_for(db_url, api_token="s3cret-token"))
    await app.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{app.api_port}") as http:
            async with http.get("/health") as reply:
                assert reply.status == 200
            async with http.get("/api/v1/stations") as reply:
                assert reply.status == 401
    finally:
        await app.stop()
