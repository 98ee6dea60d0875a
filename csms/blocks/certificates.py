"""Certificate management (OCPP blocks A and M) and Plug & Charge checks (C07): signing
stations' CSRs with the CSMS's CA, OCSP for GetCertificateStatus and for contract
certificates in Authorize, certificates installed on stations, renewal before expiry,
and Get15118EVCertificate forwarded to a contract-certificate service."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509

from csms.blocks.base import BlockContext
from csms.blocks.ports import CommandSender, Handler
from csms.db.models import Certificate, Station
from csms.db.writer import Batch
from csms.pki import ocsp
from csms.pki.ca import CertificateAuthority, CsrRejected, pem, sign_csr
from csms.pki.ocsp import CertificateHashData, HashDataError, Status
from csms.pki.store import load_ca

log = logging.getLogger(__name__)

SecurityEventSink = Callable[[str, str, str], Awaitable[None]]

#: Largest answer read from an OCSP responder or the contract-certificate service (bytes).
MAX_REMOTE_BYTES = 64 * 1024


class CertificateNotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class OcspAnswer:
    """What an OCSP check found: the status (None when no responder could be asked) and
    the DER response to relay to the station."""

    status: Status | None
    response: bytes | None = None


def contract_status(answers: Iterable[OcspAnswer], offline_accepts: bool) -> str:
    """C07: the AuthorizeCertificateStatus of a contract certificate chain from the OCSP
    answers of its members. Any revoked -> CertificateRevoked; unknown to its responder ->
    CertChainError; not reachable -> the offline policy (Accepted, or CertChainError as
    the status could not be established). Pure."""
    statuses = [answer.status for answer in answers]
    if Status.REVOKED in statuses:
        return "CertificateRevoked"
    if Status.UNKNOWN in statuses:
        return "CertChainError"
    if None in statuses and not offline_accepts:
        return "CertChainError"
    return "Accepted"


def certificate_json(row: Certificate) -> dict[str, Any]:
    return {
        "station_id": row.station_id,
        "certificate_type": row.certificate_type,
        "source": row.source,
        "serial_number": row.serial_number,
        "subject": row.subject,
        "not_after": row.not_after.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "hash_data": {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": row.issuer_name_hash,
            "issuerKeyHash": row.issuer_key_hash,
            "serialNumber": row.serial_number,
        },
    }


def certificate_fields(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    station_id: str | None,
    certificate_type: str,
    source: str,
    now: datetime,
) -> dict[str, Any]:
    """The `Certificate` row of a certificate issued by `issuer`, named by its hash data."""
    named = ocsp.hash_data(certificate, issuer)
    return {
        "station_id": station_id,
        "certificate_type": certificate_type,
        "source": source,
        "serial_number": named.serial_number,
        "issuer_name_hash": named.issuer_name_hash,
        "issuer_key_hash": named.issuer_key_hash,
        "subject": certificate.subject.rfc4514_string()[:255],
        "not_after": certificate.not_valid_after_utc,
        "pem": pem(certificate),
        "created_at": now,
    }


class Certificates:
    def __init__(
        self,
        context: BlockContext,
        sender: CommandSender,
        security_event: SecurityEventSink | None = None,
    ):
        self.context = context
        self.sender = sender
        self.security_event = security_event
        self._ca: CertificateAuthority | None = None
        #: CertificateSigned sends in flight, owned here and cancelled at stop().
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the CA ---------------------------------------------------------------------------

    def ca(self) -> CertificateAuthority | None:
        """The CA in `ca_dir`, read once found (so `cli.py ca init` needs no restart)."""
        if self._ca is None:
            self._ca = load_ca(Path(self.context.settings.ca_dir))
        return self._ca

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def record(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        station_id: str | None,
        certificate_type: str,
        source: str,
    ) -> Certificate:
        fields = certificate_fields(
            certificate, issuer, station_id, certificate_type, source, self.context.clock()
        )

        async def write(batch: Batch) -> Certificate:
            return await Certificate.create(**fields, using_db=batch.conn)

        return await self.context.writer.submit(write)

    async def revoke(self, serial_number: str) -> int:
        """Revoke certificates the CSMS recorded with this serial (hex): profile-3
        handshakes and OCSP answers refuse them from now on. The number revoked."""
        serial = format(int(serial_number, 16), "x")
        return await Certificate.filter(serial_number=serial, revoked_at__isnull=True).update(
            revoked_at=self.context.clock()
        )

    async def listed(self, station_id: str | None = None) -> list[Certificate]:
        query = Certificate.all()
        if station_id is not None:
            query = query.filter(station_id=station_id)
        return await query.order_by("not_after")

    # --- A02/A03: the station asks for a certificate --------------------------------------

    async def sign_certificate(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        kind = payload.get("certificateType", "ChargingStationCertificate")
        ca = self.ca()
        if ca is None:
            return _refused("NoCA", "this CSMS has no CA to sign with (cli.py ca init)")
        try:
            certificate = sign_csr(ca, payload["csr"], station_id, self.context.clock())
        except CsrRejected as error:
            log.info("[%s] SignCertificate refused: %s", station_id, error)
            await self._event(station_id, "InvalidCsr", str(error))
            return _refused("InvalidCSR", str(error))
        await self.record(certificate, ca.certificate, station_id, kind, "issued")
        chain = pem(certificate) + ca.certificate_pem
        task = asyncio.create_task(self._send_signed(station_id, chain, kind))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {"status": "Accepted"}

    async def _send_signed(self, station_id: str, chain: str, kind: str) -> None:
        """CertificateSigned after the SignCertificate answer (its own CALL, queued behind
        any other command to the station)."""
        try:
            answer = await self.sender.send(
                station_id,
                "CertificateSigned",
                {"certificateChain": chain, "certificateType": kind},
            )
        except Exception as error:
            log.warning("[%s] CertificateSigned not delivered: %s", station_id, error)
            return
        status = answer.get("status")
        log.info("[%s] CertificateSigned (%s): %s", station_id, kind, status)
        if status != "Accepted":
            await self._event(station_id, "CertificateSignedRejected", f"{kind}: {status}")

    async def renew_expiring(self, now: datetime) -> list[str]:
        """Ask connected stations whose newest issued station certificate expires within
        `cert_renewal_days` for a new one (TriggerMessage SignChargingStationCertificate).
        The stations asked."""
        horizon = now + timedelta(days=self.context.settings.cert_renewal_days)
        newest: dict[str, datetime] = {}
        for row in await Certificate.filter(
            source="issued", certificate_type="ChargingStationCertificate", revoked_at=None
        ):
            if row.station_id is not None:
                newest[row.station_id] = max(
                    row.not_after, newest.get(row.station_id, row.not_after)
                )
        due = [sid for sid, not_after in newest.items() if not_after <= horizon]
        connected = set(
            await Station.filter(id__in=due, connected=True).values_list("id", flat=True)
        )
        asked = []
        for station_id in sorted(str(sid) for sid in connected):
            try:
                await self.sender.send(
                    station_id,
                    "TriggerMessage",
                    {"requestedMessage": "SignChargingStationCertificate"},
                )
                asked.append(station_id)
            except Exception as error:
                log.warning("[%s] renewal trigger failed: %s", station_id, error)
        return asked

    # --- OCSP: GetCertificateStatus and contract certificates -----------------------------

    async def check(self, named: CertificateHashData, responder_url: str | None) -> OcspAnswer:
        """The OCSP status of a certificate: answered from the CSMS's own records when its
        CA issued it, else asked of `responder_url`."""
        ca = self.ca()
        if ca is not None and (
            named.issuer_name_hash,
            named.issuer_key_hash,
        ) == ocsp.issuer_hashes(ca.certificate, named.hash_algorithm):
            return await self._answer_locally(ca, named)
        if not _is_http_url(responder_url):
            return OcspAnswer(None)
        assert responder_url is not None
        request = ocsp.request_der(named)
        timeout = aiohttp.ClientTimeout(total=self.context.settings.ocsp_timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    responder_url,
                    data=request,
                    headers={"Content-Type": "application/ocsp-request"},
                ) as reply,
            ):
                reply.raise_for_status()
                body = await reply.content.read(MAX_REMOTE_BYTES)
            return OcspAnswer(ocsp.read_status(body), body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("OCSP responder %s not usable: %r", responder_url, error)
            return OcspAnswer(None)

    async def _answer_locally(
        self, ca: CertificateAuthority, named: CertificateHashData
    ) -> OcspAnswer:
        rows = await Certificate.filter(serial_number=named.serial_number, source="issued")
        revoked = {int(r.serial_number, 16): r.revoked_at for r in rows if r.revoked_at}
        issued = {int(r.serial_number, 16) for r in rows}
        response = ocsp.respond(ca, ocsp.request_der(named), revoked, issued, self.context.clock())
        return OcspAnswer(ocsp.read_status(response), response)

    async def get_certificate_status(
        self, station_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        data = payload["ocspRequestData"]
        try:
            named = CertificateHashData.from_ocpp(data)
        except HashDataError as error:
            return {
                "status": "Failed",
                "statusInfo": {"reasonCode": "InvalidHashData", "additionalInfo": str(error)[:512]},
            }
        answer = await self.check(named, data.get("responderURL"))
        if answer.response is None:
            return {"status": "Failed", "statusInfo": {"reasonCode": "OcspUnreachable"}}
        return {"status": "Accepted", "ocspResult": base64.b64encode(answer.response).decode()}

    def authorize_with(self, authorize: Handler) -> Handler:
        """Authorize, with the contract certificate checked when the station sends its
        iso15118CertificateHashData (C07): a certificate that is not Accepted makes the
        token Invalid whatever its own status."""

        async def handle(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            response = await authorize(station_id, payload)
            chain = payload.get("iso15118CertificateHashData")
            if not chain:
                return response
            answers = []
            for data in chain:
                try:
                    named = CertificateHashData.from_ocpp(data)
                except HashDataError:
                    answers.append(OcspAnswer(Status.UNKNOWN))
                    continue
                answers.append(await self.check(named, data.get("responderURL")))
            offline_accepts = self.context.settings.pnc_offline == "accept"
            status = contract_status(answers, offline_accepts)
            info = dict(response["idTokenInfo"])
            if status != "Accepted":
                info["status"] = "Invalid"
                await self._event(station_id, "ContractCertificateRefused", status)
            return {**response, "idTokenInfo": info, "certificateStatus": status}

        return handle

    async def get_15118_ev_certificate(
        self, station_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Forwarded to the contract-certificate service; its answer relayed (Failed, with
        an empty exiResponse, when none is configured or it cannot be reached)."""
        url = self.context.settings.contract_service_url
        failed = {"status": "Failed", "exiResponse": ""}
        if not url:
            return failed | {"statusInfo": {"reasonCode": "NoContractService"}}
        timeout = aiohttp.ClientTimeout(total=self.context.settings.ocsp_timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json={"stationId": station_id, **payload}) as reply,
            ):
                reply.raise_for_status()
                answer = await reply.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("[%s] contract-certificate service failed: %r", station_id, error)
            return failed | {"statusInfo": {"reasonCode": "ContractServiceUnreachable"}}
        status = answer.get("status") if isinstance(answer, dict) else None
        exi = answer.get("exiResponse") if isinstance(answer, dict) else None
        if status not in ("Accepted", "Failed") or not isinstance(exi, str):
            return failed | {"statusInfo": {"reasonCode": "ContractServiceInvalid"}}
        return {"status": status, "exiResponse": exi}

    # --- M: certificates on the station (operator commands) -------------------------------

    async def install(self, station_id: str, certificate_type: str, certificate_pem: str) -> str:
        """InstallCertificate; on Accepted the certificate is recorded for the station.
        ValueError when the PEM is not a certificate."""
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        except ValueError as error:
            raise ValueError(f"not a PEM certificate: {error}") from error
        answer = await self.sender.send(
            station_id,
            "InstallCertificate",
            {"certificateType": certificate_type, "certificate": certificate_pem},
        )
        status = str(answer.get("status"))
        if status == "Accepted":
            # Roots are self-signed: they name themselves as issuer.
            await self.record(certificate, certificate, station_id, certificate_type, "installed")
        return status

    async def installed_ids(self, station_id: str, types: list[str] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"certificateType": types} if types else {}
        return await self.sender.send(station_id, "GetInstalledCertificateIds", payload)

    async def delete(self, station_id: str, serial_number: str) -> str:
        """DeleteCertificate for a certificate recorded as installed on the station."""
        serial = format(int(serial_number, 16), "x")
        row = await Certificate.filter(
            station_id=station_id, serial_number=serial, source="installed"
        ).first()
        if row is None:
            raise CertificateNotFound(f"no certificate {serial} installed on {station_id}")
        answer = await self.sender.send(
            station_id,
            "DeleteCertificate",
            {"certificateHashData": certificate_json(row)["hash_data"]},
        )
        status = str(answer.get("status"))
        if status in ("Accepted", "NotFound"):
            await row.delete()
        return status

    async def _event(self, station_id: str, kind: str, info: str) -> None:
        if self.security_event is not None:
            await self.security_event(station_id, kind, info)


def _is_http_url(url: str | None) -> bool:
    """Only http(s) responders are asked (a station could send any string)."""
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _refused(reason: str, detail: str) -> dict[str, Any]:
    return {
        "status": "Rejected",
        "statusInfo": {"reasonCode": reason, "additionalInfo": detail[:512]},
    }
