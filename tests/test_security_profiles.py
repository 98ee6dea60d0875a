"""Security profiles over real TLS on loopback: profile 3 (client certificate, no Basic
auth) with its refusals, TLS 1.2+, RSA and ECDSA server certificates side by side, and
downgrade protection."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from csms.app import Csms
from csms.blocks.security import Security
from csms.blocks.stations import add_station
from csms.db.models import Certificate
from csms.gateway.tls import describe
from csms.pki.ca import pem
from tests.conftest import settings_for
from tests.ocpp_wire import WirePeer, basic_auth
from tests.pki import Pki, make_pki
from tests.waiting import eventually

PASSWORD = "correct-horse-battery"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
async def tls_csms(db_url: str, kernel_loaded: None, pki: Pki) -> AsyncIterator[Csms]:
    """wss with an RSA and an ECDSA certificate, station certificates from the station CA,
    and a plain ws port beside it for profile-1 stations."""
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
    try:
        yield app
    finally:
        await app.stop()


def client_tls(
    pki: Pki, certificate: tuple[str, str] | None = None, ciphers: str | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.server_ca_file)
    if ciphers:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ciphers)
    if certificate:
        context.load_cert_chain(*certificate)
    return context


async def open_wss(
    csms: Csms,
    station_id: str,
    context: ssl.SSLContext,
    password: str | None = None,
) -> ClientConnection:
    return await connect(
        f"wss://127.0.0.1:{csms.ocpp_port}/ocpp/{station_id}",
        ssl=context,
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=basic_auth(station_id, password) if password else None,
        open_timeout=5,
    )


async def refused_status(csms: Csms, station_id: str, context: ssl.SSLContext, **kw: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await open_wss(csms, station_id, context, **kw)
    return refused.value.response.status_code


async def test_a_profile_3_station_connects_with_its_certificate_and_no_password(
    tls_csms: Csms, pki: Pki
) -> None:
    await add_station("CS-3", None, security_profile=3)
    websocket = await open_wss(tls_csms, "CS-3", client_tls(pki, pki.station("CS-3")))
    peer = WirePeer(websocket)
    assert (await peer.call("Heartbeat", {}))[0] == 3
    assert tls_csms.registry.is_connected("CS-3")
    tls = websocket.transport.get_extra_info("ssl_object")
    assert tls.version() in ("TLSv1.2", "TLSv1.3")
    await peer.close()


async def test_a_certificate_for_another_station_id_is_refused(tls_csms: Csms, pki: Pki) -> None:
    await add_station("CS-3", None, security_profile=3)
    context = client_tls(pki, pki.station("CS-OTHER"))
    assert await refused_status(tls_csms, "CS-3", context) == 401
    assert not tls_csms.registry.is_connected("CS-3")


async def test_a_certificate_from_another_ca_fails_the_tls_handshake(
    tls_csms: Csms, pki: Pki
) -> None:
    await add_station("CS-3", None, security_profile=3)
    from csms.pki.ca import create_ca

    rogue = create_ca("Rogue CA", datetime.now(UTC))
    with pytest.raises((OSError, WebSocketException)):
        await open_wss(tls_csms, "CS-3", client_tls(pki, pki.station("CS-3", ca=rogue)))
    assert not tls_csms.registry.is_connected("CS-3")


async def test_an_expired_certificate_fails_the_tls_handshake(tls_csms: Csms, pki: Pki) -> None:
    await add_station("CS-3", None, security_profile=3)
    with pytest.raises((OSError, WebSocketException)):
        await open_wss(tls_csms, "CS-3", client_tls(pki, pki.station("CS-3", days=-1)))
    assert not tls_csms.registry.is_connected("CS-3")


async def test_a_revoked_certificate_is_refused_and_recorded(tls_csms: Csms, pki: Pki) -> None:
    await add_station("CS-3", None, security_profile=3)
    (cert_file, key_file), certificate = pki.station_certificate("CS-3")
    seen = describe(certificate)
    now = datetime.now(UTC)
    await Certificate.create(
        station_id="CS-3",
        certificate_type="ChargingStationCertificate",
        source="issued",
        serial_number=seen.serial_number,
        issuer_name_hash=seen.issuer_name_hash,
        issuer_key_hash="",
        subject="CN=CS-3",
        not_after=certificate.not_valid_after_utc,
        pem=pem(certificate),
        revoked_at=now,
        created_at=now,
    )
    assert await refused_status(tls_csms, "CS-3", client_tls(pki, (cert_file, key_file))) == 401

    async def recorded() -> bool:
        events = await Security.events(tls_csms.security, "CS-3")
        return any(
            "revoked" in (e.payload.get("techInfo") or "") and "127.0.0.1" in e.payload["techInfo"]
            for e in events
        )

    await eventually(recorded)


async def test_tls_below_1_2_is_refused(tls_csms: Csms, pki: Pki) -> None:
    await add_station("CS-1", PASSWORD)
    context = client_tls(pki)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((OSError, WebSocketException)):
        await open_wss(tls_csms, "CS-1", context, password=PASSWORD)


@pytest.mark.parametrize(
    ("ciphers", "key_type"),
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256", ec.EllipticCurvePublicKey),
        ("ECDHE-ECDSA-AES256-GCM-SHA384", ec.EllipticCurvePublicKey),
        ("ECDHE-RSA-AES128-GCM-SHA256", rsa.RSAPublicKey),
        ("ECDHE-RSA-AES256-GCM-SHA384", rsa.RSAPublicKey),
    ],
)
async def test_rsa_and_ecdsa_server_certificates_are_served_side_by_side(
    tls_csms: Csms, pki: Pki, ciphers: str, key_type: type
) -> None:
    await add_station("CS-1", PASSWORD)
    websocket = await open_wss(tls_csms, "CS-1", client_tls(pki, ciphers=ciphers), PASSWORD)
    tls = websocket.transport.get_extra_info("ssl_object")
    assert tls.cipher()[0] == ciphers and tls.version() == "TLSv1.2"
    served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    assert isinstance(served.public_key(), key_type)
    await websocket.close()


async def test_a_station_is_refused_below_its_profile_and_admitted_at_or_above_it(
    tls_csms: Csms, pki: Pki
) -> None:
    await add_station("CS-2", PASSWORD, security_profile=2)
    await add_station("CS-3", None, security_profile=3)
    await add_station("CS-1", PASSWORD, security_profile=1)
    plain = f"ws://127.0.0.1:{tls_csms.gateway.plain_port}/ocpp/"
    # Profile 2 over plain ws (its password in the clear): refused.
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            plain + "CS-2",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=basic_auth("CS-2", PASSWORD),
        )
    assert refused.value.response.status_code == 401
    # Profile 3 with TLS and Basic auth but no certificate: refused.
    assert await refused_status(tls_csms, "CS-3", client_tls(pki), password="x" * 16) == 401
    # Profile 1 may use plain ws, and TLS too.
    websocket = await connect(
        plain + "CS-1",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=basic_auth("CS-1", PASSWORD),
    )
    await websocket.close()
    websocket = await open_wss(tls_csms, "CS-2", client_tls(pki), PASSWORD)
    assert (await WirePeer(websocket).call("Heartbeat", {}))[0] == 3
    await websocket.close()
