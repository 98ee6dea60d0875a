"""Link health and transport security: dead links are noticed, wss serves profile 2."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from websockets.asyncio.client import connect

from csms.app import Csms
from csms.blocks.stations import add_station, get_station
from tests.conftest import settings_for
from tests.ocpp_wire import WirePeer, basic_auth
from tests.waiting import eventually

PASSWORD = "correct-horse-battery"


async def test_a_silent_link_is_marked_disconnected_within_the_ping_interval(db_url: str) -> None:
    app = Csms(settings_for(db_url, ping_interval=0.3))
    await app.start()
    try:
        await add_station("CS-1", PASSWORD)
        websocket = await connect(
            f"ws://127.0.0.1:{app.ocpp_port}/ocpp/CS-1",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=basic_auth("CS-1", PASSWORD),
        )
        await eventually(lambda: _connected("CS-1"))
        # The station stops reading (a dead link that never closed): no pongs come back.
        websocket.transport.pause_reading()
        await eventually(lambda: _disconnected("CS-1"))
        view = await get_station("CS-1")
        assert not view.connected
        assert not app.registry.is_connected("CS-1")
        websocket.transport.abort()
    finally:
        await app.stop()


async def test_wss_with_basic_auth_serves_security_profile_2(db_url: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    app = Csms(settings_for(db_url, tls_cert=str(cert), tls_key=str(key)))
    await app.start()
    try:
        await add_station("CS-1", PASSWORD)
        trust = ssl.create_default_context(cafile=str(cert))
        websocket = await connect(
            f"wss://127.0.0.1:{app.ocpp_port}/ocpp/CS-1",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=basic_auth("CS-1", PASSWORD),
            ssl=trust,
        )
        peer = WirePeer(websocket)
        assert (await peer.call("Heartbeat", {}))[0] == 3
        await peer.close()
    finally:
        await app.stop()


async def _connected(station_id: str) -> bool:
    return (await get_station(station_id)).connected


async def _disconnected(station_id: str) -> bool:
    return not (await get_station(station_id)).connected
