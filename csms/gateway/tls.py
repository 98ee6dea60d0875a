"""TLS for the OCPP edge: the server context (security profiles 2 and 3) and what a
handshake's TLS session says about the station (its profile, its client certificate).

OCPP 2.0.1 A00.FR.318 and after: TLS 1.2 or above only; the CSMS offers the ECDHE-ECDSA
and ECDHE-RSA AES-GCM suites (and the two plain-RSA GCM suites the 1.6 security
whitepaper lists), so an RSA and an ECDSA server certificate are served side by side: the
suite the station picks decides which certificate it gets.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

#: TLS 1.2 suites of A00.FR.318 in OpenSSL's names (TLS 1.3 suites are OpenSSL's defaults,
#: all AEAD).
A00_FR_318_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
    )
)


def split_paths(value: str | None) -> list[str]:
    """`CSMS_TLS_CERT=rsa.pem,ecdsa.pem`: one or more files, comma separated."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def server_context(
    certificates: Sequence[str], keys: Sequence[str], client_ca: str | None = None
) -> ssl.SSLContext:
    """A server context with every (certificate, key) pair loaded (one RSA and one ECDSA
    make both kinds of suite work); with `client_ca`, a client certificate is asked for and,
    when one is sent, verified against that CA (expired or foreign ones fail the TLS
    handshake). Stations without one go on to HTTP Basic auth (profile 2)."""
    if len(certificates) != len(keys) or not certificates:
        raise ValueError("give as many TLS keys as certificates (comma separated)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(A00_FR_318_CIPHERS)
    for certificate, key in zip(certificates, keys, strict=True):
        context.load_cert_chain(certificate, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """What the gateway checks of a verified client certificate."""

    common_name: str | None
    serial_number: str
    #: SHA-256 of the DER issuer name, hex: with the serial it names the certificate the
    #: way OCPP's CertificateHashData and a revocation list do.
    issuer_name_hash: str


def link_profile(transport: Any) -> tuple[int, ClientCertificate | None]:
    """The security profile a link arrived with: 1 plain, 2 TLS, 3 TLS with a client
    certificate (verified by the TLS layer against the configured CA)."""
    tls = transport.get_extra_info("ssl_object") if transport is not None else None
    if tls is None:
        return 1, None
    der = tls.getpeercert(binary_form=True)
    if not der:
        return 2, None
    return 3, describe(x509.load_der_x509_certificate(der))


def describe(certificate: x509.Certificate) -> ClientCertificate:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if len(names) == 1 else None
    return ClientCertificate(
        common_name,
        format(certificate.serial_number, "x"),
        hashlib.sha256(certificate.issuer.public_bytes()).hexdigest(),
    )
