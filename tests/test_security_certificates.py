"""Certificate management over real websockets and TLS on loopback: SignCertificate ->
CertificateSigned with the built-in CA (and the station then connecting at profile 3),
GetCertificateStatus by OCSP, renewal, certificates installed on stations, Plug & Charge
(Authorize with contract-certificate hash data against a local OCSP responder) and
Get15118EVCertificate forwarded to a local contract-certificate service."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509

from charge_point_emulator.clock import SimClock
from charge_point_emulator.security import StationSecurity
from charge_point_emulator.station import EmulatedStation
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station, get_station
from csms.db.models import Certificate
from csms.pki import ocsp
from csms.pki.ca import CertificateAuthority, create_ca, issue_for_station, make_csr, new_key
from csms.pki.store import init_ca
from tests.conftest import settings_for
from tests.ocpp_wire import WirePeer, open_peer
from tests.pki import Pki, make_pki
from tests.waiting import eventually

PASSWORD = "emulated-station-password"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    """The CSMS's built-in CA, as `cli.py ca init` makes it."""
    return init_ca(tmp_path / "ca", "Test built-in CA", datetime.now(UTC))


@pytest.fixture
async def tls_csms(
    db_url: str, kernel_loaded: None, pki: Pki, ca: CertificateAuthority, tmp_path: Path
) -> AsyncIterator[Csms]:
    """wss whose station certificates come from the built-in CA, plus a plain ws port."""
    app = Csms(
        settings_for(
            db_url,
            tls_cert=pki.server_certs,
            tls_key=pki.server_keys,
            tls_client_ca=str(tmp_path / "ca" / "ca.pem"),
            ocpp_plain_port=0,
            ca_dir=str(tmp_path / "ca"),
        )
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def _answer_all(peer: WirePeer, status: str = "Accepted") -> list[list[Any]]:
    """Answer the CSMS's CALLs until none comes for a moment; the CALLs seen."""
    seen = []
    while True:
        try:
            frame = await peer.expect_call(timeout=1.0)
        except TimeoutError:
            return seen
        seen.append(frame)
        await peer.answer(frame[1], {"status": status})


async def test_a_station_gets_a_certificate_by_csr_and_then_connects_at_profile_3(
    tls_csms: Csms, pki: Pki, tmp_path: Path
) -> None:
    await add_station("EMU-1", PASSWORD)
    security = StationSecurity(
        profile=1,
        tls_url=f"wss://127.0.0.1:{tls_csms.ocpp_port}/ocpp",
        server_ca=pki.server_ca_file,
    )
    station = EmulatedStation(
        "EMU-1",
        PASSWORD,
        f"ws://127.0.0.1:{tls_csms.gateway.plain_port}/ocpp",
        clock=SimClock(600.0),
        tick_real_s=0.02,
        response_timeout_s=3.0,
        security=security,
        certificate_dir=tmp_path,
    )
    await station.start()
    try:
        await station.wait_until(lambda: station.online)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{tls_csms.api_port}") as http:
            trigger = await http.post(
                "/api/v1/stations/EMU-1/commands/TriggerMessage",
                json={"requestedMessage": "SignChargingStationCertificate"},
            )
            assert (await trigger.json())["status"] == "Accepted"
            await station.wait_until(lambda: security.client_cert is not None)
            listed = await (await http.get("/api/v1/certificates?station=EMU-1")).json()
            assert [c["source"] for c in listed] == ["issued"]
            assert listed[0]["subject"] == "CN=EMU-1"
            sessions = station.online_sessions
            raised = await http.post(
                "/api/v1/stations/EMU-1/security-profile", json={"security_profile": 3}
            )
            assert raised.status == 200, await raised.text()
            await station.wait_until(lambda: station.online and station.online_sessions > sessions)

            async def at_profile_3() -> bool:
                return (await get_station("EMU-1")).security_profile == 3

            await eventually(at_profile_3)
            assert security.profile == 3
    finally:
        await station.stop()


async def test_a_csr_for_another_station_is_rejected(tls_csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer_plain(tls_csms, "CS-1")
    answer = await peer.call("SignCertificate", {"csr": make_csr(new_key(), "CS-OTHER")})
    assert answer[2]["status"] == "Rejected"
    assert answer[2]["statusInfo"]["reasonCode"] == "InvalidCSR"
    garbage = await peer.call("SignCertificate", {"csr": "not a CSR"})
    assert garbage[2]["status"] == "Rejected"
    assert await Certificate.all().count() == 0
    await peer.close()


async def open_peer_plain(csms: Csms, station_id: str) -> WirePeer:
    from websockets.asyncio.client import connect

    from tests.ocpp_wire import basic_auth

    websocket = await connect(
        f"ws://127.0.0.1:{csms.gateway.plain_port}/ocpp/{station_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=basic_auth(station_id, PASSWORD),
    )
    return WirePeer(websocket)


async def test_the_ca_signs_a_csr_and_answers_its_status_until_revoked(tls_csms: Csms) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer_plain(tls_csms, "CS-1")
    key = new_key("rsa")
    answer = await peer.call("SignCertificate", {"csr": make_csr(key, "CS-1")})
    assert answer[2] == {"status": "Accepted"}
    signed = await peer.expect_call()
    assert signed[2] == "CertificateSigned"
    chain = x509.load_pem_x509_certificates(signed[3]["certificateChain"].encode())
    leaf, issuer = chain
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    await peer.answer(signed[1], {"status": "Accepted"})
    named = ocsp.hash_data(leaf, issuer).to_ocpp()
    request = {"ocspRequestData": {**named, "responderURL": "http://127.0.0.1:9/none"}}

    async def status() -> ocsp.Status:
        reply = await peer.call("GetCertificateStatus", request)
        assert reply[2]["status"] == "Accepted"
        return ocsp.read_status(base64.b64decode(reply[2]["ocspResult"]), issuer)

    assert await status() is ocsp.Status.GOOD
    async with aiohttp.ClientSession(f"http://127.0.0.1:{tls_csms.api_port}") as http:
        revoked = await http.post(f"/api/v1/certificates/{named['serialNumber']}/revoke")
        assert revoked.status == 200
        again = await http.post(f"/api/v1/certificates/{named['serialNumber']}/revoke")
        assert again.status == 404
    assert await status() is ocsp.Status.REVOKED
    await peer.close()


async def test_a_certificate_near_expiry_is_renewed_by_trigger_message(
    tls_csms: Csms, ca: CertificateAuthority
) -> None:
    await add_station("CS-1", PASSWORD)
    await add_station("CS-2", PASSWORD)
    now = datetime.now(UTC)
    for station_id, days in (("CS-1", 5), ("CS-2", 200)):
        certificate, _ = issue_for_station(ca, station_id, now, days)
        await tls_csms.certificates.record(
            certificate, ca.certificate, station_id, "ChargingStationCertificate", "issued"
        )
    first = await open_peer_plain(tls_csms, "CS-1")
    second = await open_peer_plain(tls_csms, "CS-2")
    renewal = asyncio.create_task(tls_csms.certificates.renew_expiring(now))
    trigger = await first.expect_call()
    assert trigger[2:] == [
        "TriggerMessage",
        {"requestedMessage": "SignChargingStationCertificate"},
    ]
    await first.answer(trigger[1], {"status": "Accepted"})
    assert await renewal == ["CS-1"]
    assert second.incoming.empty()
    await first.close()
    await second.close()


async def test_certificates_are_installed_listed_and_deleted_on_an_emulated_station(
    tls_csms: Csms,
) -> None:
    await add_station("EMU-1", PASSWORD)
    station = EmulatedStation(
        "EMU-1",
        PASSWORD,
        f"ws://127.0.0.1:{tls_csms.gateway.plain_port}/ocpp",
        clock=SimClock(600.0),
        tick_real_s=0.02,
        response_timeout_s=3.0,
    )
    await station.start()
    root = create_ca("Mobility operator root", datetime.now(UTC))
    serial = format(root.certificate.serial_number, "x")
    try:
        await station.wait_until(lambda: station.online)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{tls_csms.api_port}") as http:
            bad = await http.post(
                "/api/v1/stations/EMU-1/certificates",
                json={"certificate_type": "MORootCertificate", "certificate": "junk"},
            )
            assert bad.status == 422
            installed = await http.post(
                "/api/v1/stations/EMU-1/certificates",
                json={"certificate_type": "MORootCertificate", "certificate": root.certificate_pem},
            )
            assert (await installed.json()) == {"status": "Accepted"}
            ids = await (await http.get("/api/v1/stations/EMU-1/installed-certificates")).json()
            assert ids["status"] == "Accepted"
            [entry] = ids["certificateHashDataChain"]
            assert entry["certificateType"] == "MORootCertificate"
            assert entry["certificateHashData"]["serialNumber"] == serial
            listed = await (await http.get("/api/v1/certificates?station=EMU-1")).json()
            assert [(c["source"], c["serial_number"]) for c in listed] == [("installed", serial)]
            deleted = await http.delete(f"/api/v1/stations/EMU-1/certificates/{serial}")
            assert (await deleted.json()) == {"status": "Accepted"}
            assert station.certificates.installed == {}
            gone = await http.delete(f"/api/v1/stations/EMU-1/certificates/{serial}")
            assert gone.status == 404
    finally:
        await station.stop()


# --- Plug & Charge ----------------------------------------------------------------------


class OcspResponder:
    """A local OCSP responder for a mobility operator's CA, built with `cryptography`."""

    def __init__(self, ca: CertificateAuthority):
        self.ca = ca
        self.revoked: dict[int, datetime] = {}
        self.asked = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.asked += 1
        body = await request.read()
        answer = ocsp.respond(self.ca, body, self.revoked, None, datetime.now(UTC))
        return web.Response(body=answer, content_type="application/ocsp-response")


@pytest.fixture
async def responder() -> AsyncIterator[tuple[OcspResponder, str]]:
    mo = OcspResponder(create_ca("Mobility operator sub-CA", datetime.now(UTC)))
    app = web.Application()
    app.router.add_post("/ocsp", mo.handle)
    app.router.add_post("/contract", _contract_service)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield mo, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _contract_service(request: web.Request) -> web.Response:
    asked = await request.json()
    exi = base64.b64encode(f"installed for {asked['stationId']}".encode()).decode()
    return web.json_response({"status": "Accepted", "exiResponse": exi})


@pytest.fixture
async def pnc_csms(
    db_url: str,
    kernel_loaded: None,
    request: pytest.FixtureRequest,
    responder: tuple[OcspResponder, str],
) -> AsyncIterator[Csms]:
    policy = getattr(request, "param", "reject")
    app = Csms(
        settings_for(db_url, pnc_offline=policy, contract_service_url=f"{responder[1]}/contract")
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def _contract(mo: OcspResponder, url: str) -> tuple[x509.Certificate, dict[str, str]]:
    certificate, _ = issue_for_station(mo.ca, "DE8ACC123456789", datetime.now(UTC))
    return certificate, {
        **ocsp.hash_data(certificate, mo.ca.certificate).to_ocpp(),
        "responderURL": url,
    }


async def _authorize(peer: WirePeer, hash_data: dict[str, str]) -> dict[str, Any]:
    answer = await peer.call(
        "Authorize",
        {
            "idToken": {"idToken": "DE8ACC123456789", "type": "eMAID"},
            "iso15118CertificateHashData": [hash_data],
        },
    )
    assert answer[0] == 3, answer
    result: dict[str, Any] = answer[2]
    return result


async def test_plug_and_charge_checks_the_contract_certificate_by_ocsp(
    pnc_csms: Csms, responder: tuple[OcspResponder, str]
) -> None:
    mo, base = responder
    await add_token("DE8ACC123456789", "eMAID")
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(pnc_csms, "CS-1", PASSWORD)
    certificate, hash_data = _contract(mo, f"{base}/ocsp")
    good = await _authorize(peer, hash_data)
    assert good["certificateStatus"] == "Accepted"
    assert good["idTokenInfo"]["status"] == "Accepted"
    mo.revoked[certificate.serial_number] = datetime.now(UTC) - timedelta(hours=1)
    revoked = await _authorize(peer, hash_data)
    assert revoked["certificateStatus"] == "CertificateRevoked"
    assert revoked["idTokenInfo"]["status"] == "Invalid"
    # GetCertificateStatus asks the same responder and relays its answer.
    status = await peer.call("GetCertificateStatus", {"ocspRequestData": hash_data})
    assert status[2]["status"] == "Accepted"
    relayed = base64.b64decode(status[2]["ocspResult"])
    assert ocsp.read_status(relayed, mo.ca.certificate) is ocsp.Status.REVOKED
    assert mo.asked == 3
    # Unreachable responder: the policy (reject here).
    offline = await _authorize(peer, {**hash_data, "responderURL": "http://127.0.0.1:9/ocsp"})
    assert offline["idTokenInfo"]["status"] == "Invalid"
    assert offline["certificateStatus"] == "CertChainError"
    failed = await peer.call(
        "GetCertificateStatus",
        {"ocspRequestData": {**hash_data, "responderURL": "http://127.0.0.1:9/ocsp"}},
    )
    assert failed[2]["status"] == "Failed"
    await peer.close()


@pytest.mark.parametrize("pnc_csms", ["accept"], indirect=True)
async def test_an_unreachable_responder_is_accepted_when_the_policy_says_so(
    pnc_csms: Csms, responder: tuple[OcspResponder, str]
) -> None:
    mo, _ = responder
    await add_token("DE8ACC123456789", "eMAID")
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(pnc_csms, "CS-1", PASSWORD)
    _, hash_data = _contract(mo, "http://127.0.0.1:9/ocsp")
    answer = await _authorize(peer, hash_data)
    assert answer["certificateStatus"] == "Accepted"
    assert answer["idTokenInfo"]["status"] == "Accepted"
    await peer.close()


async def test_get_15118_ev_certificate_is_relayed_from_the_contract_service(
    pnc_csms: Csms,
) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(pnc_csms, "CS-1", PASSWORD)
    answer = await peer.call(
        "Get15118EVCertificate",
        {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": base64.b64encode(b"CertificateInstallationReq").decode(),
        },
    )
    assert answer[2]["status"] == "Accepted"
    assert base64.b64decode(answer[2]["exiResponse"]) == b"installed for CS-1"
    await peer.close()


async def test_an_emulated_station_presents_contract_hash_data_for_plug_and_charge(
    pnc_csms: Csms, responder: tuple[OcspResponder, str]
) -> None:
    mo, base = responder
    await add_token("DE8ACC123456789", "eMAID")
    await add_station("EMU-1", PASSWORD)
    station = EmulatedStation(
        "EMU-1",
        PASSWORD,
        f"ws://127.0.0.1:{pnc_csms.ocpp_port}/ocpp",
        clock=SimClock(600.0),
        tick_real_s=0.02,
        response_timeout_s=3.0,
    )
    await station.start()
    try:
        await station.wait_until(lambda: station.online)
        certificate, hash_data = _contract(mo, f"{base}/ocsp")
        snake = {
            "hash_algorithm": hash_data["hashAlgorithm"],
            "issuer_name_hash": hash_data["issuerNameHash"],
            "issuer_key_hash": hash_data["issuerKeyHash"],
            "serial_number": hash_data["serialNumber"],
            "responder_url": hash_data["responderURL"],
        }
        accepted = await station.authorize_contract("DE8ACC123456789", [snake])
        assert accepted["certificate_status"] == "Accepted"
        mo.revoked[certificate.serial_number] = datetime.now(UTC)
        refused = await station.authorize_contract("DE8ACC123456789", [snake])
        assert refused["certificate_status"] == "CertificateRevoked"
        assert refused["id_token_info"]["status"] == "Invalid"
    finally:
        await station.stop()
