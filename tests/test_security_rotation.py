"""Password rotation (A01) and security-profile upgrades (A05) over real websockets: the
emulated station takes the new credential, reconnects with it, and the old one is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from charge_point_emulator.clock import SimClock
from charge_point_emulator.security import StationSecurity
from charge_point_emulator.station import EmulatedStation
from csms.app import Csms
from csms.blocks.stations import add_station, get_station
from csms.db.models import Command, Station
from tests.conftest import settings_for
from tests.ocpp_wire import basic_auth, open_peer
from tests.pki import Pki, make_pki
from tests.waiting import eventually

PASSWORD = "emulated-station-password"


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


def emulated(
    station_id: str, url: str, password: str | None, security: StationSecurity | None = None
) -> EmulatedStation:
    return EmulatedStation(
        station_id,
        password,
        url,
        clock=SimClock(600.0),
        tick_real_s=0.02,
        response_timeout_s=3.0,
        security=security,
    )


async def _events(http: aiohttp.ClientSession, station_id: str) -> list[str]:
    reply = await http.get("/api/v1/security-events", params={"station": station_id})
    return [event["type"] for event in await reply.json()]


async def test_a_rotated_password_takes_over_at_the_reconnect_and_the_old_is_refused(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await add_station("EMU-1", PASSWORD)
    station = emulated("EMU-1", f"ws://127.0.0.1:{csms.ocpp_port}/ocpp", PASSWORD)
    await station.start()
    try:
        await station.wait_until(lambda: station.online)
        sessions = station.online_sessions
        reply = await http.post("/api/v1/stations/EMU-1/rotate-password")
        assert reply.status == 200, await reply.text()
        assert (await reply.json())["accepted"] is True
        new_password = station.password
        assert new_password != PASSWORD and len(new_password or "") == 40
        # The station reconnects with the new password; the old one is then retired.
        await station.wait_until(lambda: station.online and station.online_sessions > sessions)

        async def retired() -> bool:
            return (await Station.get(id="EMU-1")).old_password_hash is None

        await eventually(retired)
        with pytest.raises(InvalidStatus) as refused:
            await open_peer(csms, "EMU-1", PASSWORD)
        assert refused.value.response.status_code == 401
        assert {"BasicAuthPasswordRotated", "BasicAuthPasswordTakenOver"} <= set(
            await _events(http, "EMU-1")
        )
        # The command journal never holds the password.
        journaled = await Command.filter(station_id="EMU-1", action="SetVariables").first()
        assert journaled is not None and str(new_password) not in str(journaled.payload)
    finally:
        await station.stop()


async def test_the_old_password_is_admitted_until_the_new_one_has_been_used(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    rotation = asyncio.create_task(http.post("/api/v1/stations/CS-1/rotate-password"))
    frame = await peer.expect_call()
    assert frame[2] == "SetVariables"
    item = frame[3]["setVariableData"][0]
    assert (item["component"]["name"], item["variable"]["name"]) == (
        "SecurityCtrlr",
        "BasicAuthPassword",
    )
    new_password = item["attributeValue"]
    assert 16 <= len(new_password) <= 40
    await peer.answer(
        frame[1],
        {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                }
            ]
        },
    )
    assert (await (await rotation).json())["accepted"] is True
    await peer.close()
    # Not yet used: both work (a station that lost the new one can still come back).
    again = await open_peer(csms, "CS-1", PASSWORD)
    await again.close()
    fresh = await open_peer(csms, "CS-1", new_password)
    await fresh.close()
    with pytest.raises(InvalidStatus):
        await open_peer(csms, "CS-1", PASSWORD)
    assert (await open_peer(csms, "CS-1", new_password)).websocket.subprotocol == "ocpp2.0.1"


async def test_a_refused_rotation_keeps_the_password(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await add_station("CS-1", PASSWORD)
    before = (await Station.get(id="CS-1")).password_hash
    peer = await open_peer(csms, "CS-1", PASSWORD)
    rotation = asyncio.create_task(http.post("/api/v1/stations/CS-1/rotate-password"))
    frame = await peer.expect_call()
    item = frame[3]["setVariableData"][0]
    await peer.answer(
        frame[1],
        {
            "setVariableResult": [
                {
                    "attributeStatus": "Rejected",
                    "component": item["component"],
                    "variable": item["variable"],
                }
            ]
        },
    )
    assert (await (await rotation).json()) == {
        "station_id": "CS-1",
        "accepted": False,
        "status": "Rejected",
    }
    stored = await Station.get(id="CS-1")
    assert stored.password_hash == before and stored.old_password_hash is None
    assert "BasicAuthPasswordRefused" in await _events(http, "CS-1")
    await peer.close()


async def test_rotating_a_station_that_is_not_connected_is_409(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await add_station("CS-1", PASSWORD)
    reply = await http.post("/api/v1/stations/CS-1/rotate-password")
    assert reply.status == 409
    assert (await http.post("/api/v1/stations/NOPE/rotate-password")).status == 404


async def test_a_station_is_raised_from_profile_1_to_2_to_3_and_lower_ones_are_refused(
    db_url: str, kernel_loaded: None, tmp_path: Path
) -> None:
    pki: Pki = make_pki(tmp_path)
    app = Csms(
        settings_for(
            db_url,
            tls_cert=pki.server_certs,
            tls_key=pki.server_keys,
            tls_client_ca=pki.station_ca_file,
            ocpp_plain_port=0,
        )
    )
    await app.start()
    cert, key = pki.station("EMU-1")
    security = StationSecurity(
        profile=1,
        tls_url=f"wss://127.0.0.1:{app.ocpp_port}/ocpp",
        server_ca=pki.server_ca_file,
        client_cert=cert,
        client_key=key,
    )
    await add_station("EMU-1", PASSWORD)
    station = emulated("EMU-1", f"ws://127.0.0.1:{app.gateway.plain_port}/ocpp", PASSWORD, security)
    await station.start()
    plain = f"ws://127.0.0.1:{app.gateway.plain_port}/ocpp/EMU-1"
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{app.api_port}") as http:
            await station.wait_until(lambda: station.online)
            for profile in (2, 3):
                sessions = station.online_sessions
                reply = await http.post(
                    "/api/v1/stations/EMU-1/security-profile", json={"security_profile": profile}
                )
                assert reply.status == 200, await reply.text()
                await station.wait_until(
                    lambda sessions=sessions: (
                        station.online  # type: ignore[misc]
                        and station.online_sessions > sessions
                    )
                )
                assert security.profile == profile

                async def raised(profile: int = profile) -> bool:
                    view = await get_station("EMU-1")
                    return view.security_profile == profile and view.pending_profile is None

                await eventually(raised)
                # The plain port with the password is refused from now on.
                with pytest.raises(InvalidStatus) as refused:
                    await connect(
                        plain,
                        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                        additional_headers=basic_auth("EMU-1", PASSWORD),
                    )
                assert refused.value.response.status_code == 401
            events: Any = await _events(http, "EMU-1")
            assert events.count("SecurityProfileRaised") == 2
            lower = await http.post(
                "/api/v1/stations/EMU-1/security-profile", json={"security_profile": 2}
            )
            assert lower.status == 422
    finally:
        await station.stop()
        await app.stop()


async def test_security_events_of_stations_and_of_the_csms_are_listed_together(
    csms: Csms, http: aiohttp.ClientSession
) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    sent = await peer.call(
        "SecurityEventNotification",
        {"type": "TamperDetectionActivated", "timestamp": "2026-01-01T00:00:00Z"},
    )
    assert sent[0] == 3
    with pytest.raises(InvalidStatus):
        await open_peer(csms, "CS-1", "a-wrong-but-long-password")

    async def both() -> bool:
        reply = await http.get("/api/v1/security-events", params={"station": "CS-1"})
        seen = {(e["source"], e["type"]) for e in await reply.json()}
        return {("station", "TamperDetectionActivated"), ("csms", "FailedHandshake")} <= seen

    await eventually(both)
    await peer.close()
