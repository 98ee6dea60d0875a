"""The OCPP edge at the handshake: path, subprotocol and HTTP Basic auth."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from csms.app import Csms
from csms.blocks.stations import add_station, get_station
from csms.db.models import Station
from tests.conftest import settings_for
from tests.ocpp_wire import basic_auth, open_peer
from tests.waiting import eventually

PASSWORD = "correct-horse-battery"


async def test_station_connects_with_ocpp201_and_is_marked_connected(csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    assert peer.websocket.subprotocol == "ocpp2.0.1"
    answer = await peer.call("Heartbeat", {})
    assert answer[0] == 3 and "currentTime" in answer[2]
    assert (await get_station("CS-1")).connected
    await peer.close()
    await eventually(lambda: _disconnected("CS-1"))
    view = await get_station("CS-1")
    assert not view.connected and view.last_seen is not None


async def test_password_is_stored_only_as_a_salted_hash(csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    await add_station("CS-2", PASSWORD)
    first, second = await Station.all().order_by("id")
    assert PASSWORD not in first.password_hash
    scheme, iterations, _ = first.password_hash.split("$", 2)
    # A chosen password is dearer to check than a random one (csms.passwords).
    assert scheme == "pbkdf2-sha256" and int(iterations) > 500
    assert first.password_hash != second.password_hash


@pytest.mark.parametrize(
    ("user", "password"),
    [("CS-1", "wrong-password-123456"), ("CS-unknown", PASSWORD), ("CS-2", PASSWORD)],
)
async def test_bad_credentials_are_refused_with_401_before_any_frame(
    csms: Csms, user: str, password: str
) -> None:
    await add_station("CS-1", PASSWORD)
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            f"ws://127.0.0.1:{csms.ocpp_port}/ocpp/CS-1",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=basic_auth(user, password),
        )
    assert refused.value.response.status_code == 401


async def test_missing_credentials_are_refused_with_401(csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            f"ws://127.0.0.1:{csms.ocpp_port}/ocpp/CS-1",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        )
    assert refused.value.response.status_code == 401
    assert "Basic" in refused.value.response.headers["WWW-Authenticate"]


async def test_handshake_without_a_supported_subprotocol_is_refused(csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    for offered in ([], ["ocpp1.5"]):
        with pytest.raises(InvalidStatus) as refused:
            await connect(
                f"ws://127.0.0.1:{csms.ocpp_port}/ocpp/CS-1",
                subprotocols=offered,  # type: ignore[arg-type]
                additional_headers=basic_auth("CS-1", PASSWORD),
            )
        assert refused.value.response.status_code == 400


async def test_ocpp21_is_negotiated_when_offered(csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD, subprotocol="ocpp2.1")
    assert peer.websocket.subprotocol == "ocpp2.1"
    assert (await peer.call("Heartbeat", {}))[0] == 3
    await peer.close()


async def test_path_must_name_a_valid_station_id(csms: Csms) -> None:
    for path in ("/other/CS-1", "/ocpp/bad%20id", "/ocpp/"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(
                f"ws://127.0.0.1:{csms.ocpp_port}{path}",
                subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                additional_headers=basic_auth("CS-1", PASSWORD),
            )
        assert refused.value.response.status_code == 404


async def test_new_connection_replaces_the_old_one_cleanly(csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    old = await open_peer(csms, "CS-1", PASSWORD)
    new = await open_peer(csms, "CS-1", PASSWORD)
    await asyncio.wait_for(old.websocket.wait_closed(), 5)
    with pytest.raises(ConnectionClosed):
        await old.websocket.send('[2,"x","Heartbeat",{}]')
    assert (await new.call("Heartbeat", {}))[0] == 3
    await asyncio.sleep(0.05)
    assert (await get_station("CS-1")).connected
    assert csms.registry.is_connected("CS-1")
    await new.close()


async def test_the_station_s_first_supported_subprotocol_is_chosen(csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    for offered, chosen in (
        (["ocpp2.0.1", "ocpp2.1"], "ocpp2.0.1"),
        (["ocpp1.6", "ocpp2.1"], "ocpp1.6"),
        (["ocpp1.5", "ocpp2.1"], "ocpp2.1"),
    ):
        websocket = await connect(
            f"ws://127.0.0.1:{csms.ocpp_port}/ocpp/CS-1",
            subprotocols=offered,  # type: ignore[arg-type]
            additional_headers=basic_auth("CS-1", PASSWORD),
        )
        assert websocket.subprotocol == chosen
        await websocket.close()


async def test_station_ids_that_break_basic_auth_or_paths_are_refused() -> None:
    from csms.identifiers import is_station_id

    assert is_station_id("CS-0001") and is_station_id("site.7|evse*1")
    for bad in ("CS:1", "CS1\n", "", "a" * 49, "../etc", "CS 1"):
        assert not is_station_id(bad), bad


def _legacy_scrypt_hash(password: str, p: int = 1) -> str:
    """The scheme stored before pbkdf2-sha256 (scrypt N=2**14, r=8)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=p, dklen=32)
    encode = base64.b64encode
    return f"scrypt$16384$8${p}${encode(salt).decode()}${encode(digest).decode()}"


async def test_a_legacy_scrypt_hash_still_admits_and_is_upgraded_once(csms: Csms) -> None:
    await Station.create(id="CS-OLD", password_hash=_legacy_scrypt_hash(PASSWORD))
    peer = await open_peer(csms, "CS-OLD", PASSWORD)
    assert (await peer.call("Heartbeat", {}))[0] == 3
    await peer.close()
    upgraded = (await Station.get(id="CS-OLD")).password_hash
    assert upgraded.startswith("pbkdf2-sha256$") and PASSWORD not in upgraded
    again = await open_peer(csms, "CS-OLD", PASSWORD)
    assert (await again.call("Heartbeat", {}))[0] == 3
    await again.close()
    assert (await Station.get(id="CS-OLD")).password_hash == upgraded
    with pytest.raises(InvalidStatus) as refused:
        await open_peer(csms, "CS-OLD", "wrong-password-123456")
    assert refused.value.response.status_code == 401


async def test_a_wrong_password_never_upgrades_a_legacy_hash(csms: Csms) -> None:
    legacy = _legacy_scrypt_hash(PASSWORD)
    await Station.create(id="CS-OLD", password_hash=legacy)
    with pytest.raises(InvalidStatus):
        await open_peer(csms, "CS-OLD", "wrong-password-123456")
    assert (await Station.get(id="CS-OLD")).password_hash == legacy


async def test_handshakes_beyond_the_bound_are_answered_503_with_retry_after(
    db_url: str, kernel_loaded: None
) -> None:
    app = Csms(settings_for(db_url, max_handshakes=1))
    await app.start()
    try:
        # A legacy hash with p=8 takes 8 scrypt runs (in a thread): it holds the one
        # admission slot while a second station knocks.
        await Station.create(id="CS-SLOW", password_hash=_legacy_scrypt_hash(PASSWORD, p=8))
        await add_station("CS-2", PASSWORD)
        slow = asyncio.create_task(open_peer(app, "CS-SLOW", PASSWORD))
        while app.gateway.handshakes.in_progress == 0:
            assert not slow.done(), "the slow handshake ended before it was seen in progress"
            await asyncio.sleep(0.001)
        with pytest.raises(InvalidStatus) as refused:
            await open_peer(app, "CS-2", PASSWORD)
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"].isdigit()
        admitted = await slow
        assert (await admitted.call("Heartbeat", {}))[0] == 3
        assert app.gateway.handshakes.in_progress == 0
        retried = await open_peer(app, "CS-2", PASSWORD)
        assert (await retried.call("Heartbeat", {}))[0] == 3
        await admitted.close()
        await retried.close()
    finally:
        await app.stop()


async def test_refused_handshakes_are_logged_with_station_address_and_reason_rate_limited(
    csms: Csms, caplog: pytest.LogCaptureFixture
) -> None:
    await add_station("CS-1", PASSWORD)
    caplog.set_level(logging.WARNING, logger="csms.gateway.server")
    for _ in range(10):
        with pytest.raises(InvalidStatus):
            await open_peer(csms, "CS-1", "wrong-password-123456")
    refusals = [r.getMessage() for r in caplog.records if "handshake refused" in r.getMessage()]
    assert 1 <= len(refusals) <= 3, refusals
    assert all("CS-1" in m and "127.0.0.1" in m and "wrong password" in m for m in refusals)


async def test_a_refused_subprotocol_is_logged_with_station_address_and_reason(
    csms: Csms, caplog: pytest.LogCaptureFixture
) -> None:
    await add_station("CS-1", PASSWORD)
    caplog.set_level(logging.WARNING, logger="csms.gateway.server")
    with pytest.raises(InvalidStatus):
        await connect(
            f"ws://127.0.0.1:{csms.ocpp_port}/ocpp/CS-1",
            subprotocols=["ocpp1.5"],  # type: ignore[list-item]
            additional_headers=basic_auth("CS-1", PASSWORD),
        )
    [refusal] = [r.getMessage() for r in caplog.records if "handshake refused" in r.getMessage()]
    assert "CS-1" in refusal and "127.0.0.1" in refusal
    assert "400" in refusal and "subprotocols" in refusal


async def test_links_open_at_shutdown_close_with_1001_and_are_recorded_disconnected(
    db_url: str, kernel_loaded: None
) -> None:
    from csms.db.database import close_database, open_database

    app = Csms(settings_for(db_url))
    await app.start()
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(app, "CS-1", PASSWORD)
    assert (await peer.call("Heartbeat", {}))[0] == 3
    assert (await get_station("CS-1")).connected
    await app.stop()
    await asyncio.wait_for(peer.websocket.wait_closed(), 10)
    assert peer.websocket.close_code == 1001
    await open_database(db_url)
    try:
        view = await get_station("CS-1")
    finally:
        await close_database()
    assert not view.connected and view.last_seen is not None


async def _connected(station_id: str) -> bool:
    return (await get_station(station_id)).connected


async def _disconnected(station_id: str) -> bool:
    return not (await get_station(station_id)).connected
