"""OCPP's CertificateHashData / OCSPRequestData and OCSP itself, built with `cryptography`.

Pure: an OCSP request from hash data, an OCSP response from a CA and its revocations, the
status read back from a response. Fetching from a responder is `csms.pki.responder`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from csms.pki.ca import CertificateAuthority

_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
#: How long an OCSP answer of the built-in responder may be cached by the station.
RESPONSE_VALIDITY = timedelta(hours=12)


class HashDataError(ValueError):
    """Hash data that names no certificate (unknown algorithm, not hex)."""


@dataclass(frozen=True, slots=True)
class CertificateHashData:
    """A certificate named by its issuer's hashed name and key and its serial (OCPP 2.0.1
    CertificateHashDataType); hex lower case, the serial without leading zeros."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    @classmethod
    def from_ocpp(cls, data: Mapping[str, Any]) -> CertificateHashData:
        algorithm = str(data["hashAlgorithm"])
        if algorithm not in _ALGORITHMS:
            raise HashDataError(f"unknown hash algorithm {algorithm!r}")
        try:
            name_hash = bytes.fromhex(str(data["issuerNameHash"])).hex()
            key_hash = bytes.fromhex(str(data["issuerKeyHash"])).hex()
            serial = format(int(str(data["serialNumber"]), 16), "x")
        except ValueError as error:
            raise HashDataError(f"hash data is not hexadecimal: {error}") from error
        size = _ALGORITHMS[algorithm]().digest_size
        if len(name_hash) != 2 * size or len(key_hash) != 2 * size:
            raise HashDataError(f"{algorithm} issuer hashes are {size} bytes each")
        return cls(algorithm, name_hash, key_hash, serial)

    def to_ocpp(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    @property
    def serial(self) -> int:
        return int(self.serial_number, 16)


def hash_data(
    certificate: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256"
) -> CertificateHashData:
    """The hash data of `certificate`, as OCSP computes it (via an OCSP request)."""
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer, _ALGORITHMS[algorithm]())
        .build()
    )
    return CertificateHashData(
        algorithm,
        request.issuer_name_hash.hex(),
        request.issuer_key_hash.hex(),
        format(request.serial_number, "x"),
    )


def issuer_hashes(issuer: x509.Certificate, algorithm: str = "SHA256") -> tuple[str, str]:
    """(issuer name hash, issuer key hash) of every certificate `issuer` signs: those of a
    request for the issuer's own certificate under itself (cryptography computes them)."""
    named = hash_data(issuer, issuer, algorithm)
    return named.issuer_name_hash, named.issuer_key_hash


def request_der(named: CertificateHashData) -> bytes:
    """The DER OCSP request asking about `named`."""
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            bytes.fromhex(named.issuer_name_hash),
            bytes.fromhex(named.issuer_key_hash),
            named.serial,
            _ALGORITHMS[named.hash_algorithm](),
        )
        .build()
    )
    return request.public_bytes(serialization.Encoding.DER)


class Status(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


def respond(
    ca: CertificateAuthority,
    request: bytes,
    revoked: Mapping[int, datetime],
    issued: set[int] | None,
    now: datetime,
) -> bytes:
    """The DER OCSP response of a responder that is `ca` itself: revoked serials (with
    their time) are REVOKED, `issued` ones GOOD, the rest UNKNOWN; a request about another
    issuer is answered "unauthorized". `issued=None` answers GOOD for any unrevoked one."""
    try:
        asked = ocsp.load_der_ocsp_request(request)
    except ValueError:
        return ocsp.OCSPResponseBuilder.build_unsuccessful(
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        ).public_bytes(serialization.Encoding.DER)
    algorithm = asked.hash_algorithm.name.upper()
    if algorithm not in _ALGORITHMS or (
        asked.issuer_name_hash.hex(),
        asked.issuer_key_hash.hex(),
    ) != issuer_hashes(ca.certificate, algorithm):
        return ocsp.OCSPResponseBuilder.build_unsuccessful(
            ocsp.OCSPResponseStatus.UNAUTHORIZED
        ).public_bytes(serialization.Encoding.DER)
    serial = asked.serial_number
    if serial in revoked:
        status, revoked_at = ocsp.OCSPCertStatus.REVOKED, revoked[serial]
    elif issued is None or serial in issued:
        status, revoked_at = ocsp.OCSPCertStatus.GOOD, None
    else:
        status, revoked_at = ocsp.OCSPCertStatus.UNKNOWN, None
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            asked.issuer_name_hash,
            asked.issuer_key_hash,
            serial,
            asked.hash_algorithm,
            status,
            now,
            now + RESPONSE_VALIDITY,
            revoked_at,
            None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.certificate)
        .sign(ca.key, hashes.SHA256())
    )
    return response.public_bytes(serialization.Encoding.DER)


def read_status(response: bytes, issuer: x509.Certificate | None = None) -> Status:
    """The certificate status in a DER OCSP response; UNKNOWN when the responder did not
    answer successfully. With `issuer`, a response not signed by it is refused (ValueError)."""
    parsed = ocsp.load_der_ocsp_response(response)
    if parsed.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Status.UNKNOWN
    if issuer is not None:
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

        key = issuer.public_key()
        algorithm = parsed.signature_hash_algorithm
        if algorithm is None:
            raise ValueError("OCSP response without a signature hash")
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(
                    parsed.signature, parsed.tbs_response_bytes, padding.PKCS1v15(), algorithm
                )
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(parsed.signature, parsed.tbs_response_bytes, ec.ECDSA(algorithm))
            else:
                raise ValueError("unsupported issuer key")
        except InvalidSignature as error:
            raise ValueError("OCSP response not signed by the issuer") from error
    return {
        ocsp.OCSPCertStatus.GOOD: Status.GOOD,
        ocsp.OCSPCertStatus.REVOKED: Status.REVOKED,
    }.get(parsed.certificate_status, Status.UNKNOWN)
