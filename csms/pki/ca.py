"""A certificate authority as a value: create one, sign CSRs and issue certificates with it.

Pure: keys, certificates and time come in as arguments; reading and writing the CA's files
is `csms.pki.store`'s job.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["rsa", "ecdsa"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Station certificates are valid this long unless asked otherwise (renewal comes earlier).
STATION_CERT_DAYS = 365
#: Largest CSR accepted (OCPP's SignCertificateRequest.csr is at most 5500 characters).
MAX_CSR_CHARS = 5500


class CsrRejected(ValueError):
    """A CSR the CA will not sign; the message says why."""


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def new_key(kind: KeyType = "ecdsa") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def create_ca(
    common_name: str, now: datetime, days: int = 3650, key_type: KeyType = "ecdsa"
) -> CertificateAuthority:
    """A self-signed root that may sign end-entity certificates only (path length 0)."""
    key = new_key(key_type)
    name = _name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate, key)


def issue(
    ca: CertificateAuthority,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    *,
    server_names: tuple[str, ...] = (),
    ocsp_url: str | None = None,
) -> x509.Certificate:
    """An end-entity certificate: a client (station) one, or a server one when
    `server_names` (DNS names or IP addresses) are given."""
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if server_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in server_names]),
            critical=False,
        )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(ca.key, hashes.SHA256())


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue_for_station(
    ca: CertificateAuthority,
    station_id: str,
    now: datetime,
    days: int = STATION_CERT_DAYS,
    key_type: KeyType = "ecdsa",
    organization: str | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """A key and a client certificate whose subject CN is the station id (security profile 3)."""
    key = new_key(key_type)
    certificate = issue(
        ca,
        key.public_key(),
        _name(station_id, organization),
        now - timedelta(minutes=5),
        now + timedelta(days=days),
    )
    return certificate, key


def sign_csr(
    ca: CertificateAuthority,
    csr_pem: str,
    station_id: str,
    now: datetime,
    days: int = STATION_CERT_DAYS,
) -> x509.Certificate:
    """Sign a station's CSR (OCPP A02/A03). Raises CsrRejected for a malformed CSR, a bad
    signature, or a subject CN other than the station id (a station may not ask for a
    certificate in another station's name)."""
    if len(csr_pem) > MAX_CSR_CHARS:
        raise CsrRejected(f"CSR longer than {MAX_CSR_CHARS} characters")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as error:
        raise CsrRejected(f"not a PEM certificate signing request: {error}") from error
    if not csr.is_signature_valid:
        raise CsrRejected("the CSR's signature does not verify")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or names[0].value != station_id:
        raise CsrRejected(f"the CSR's subject CN must be the station id {station_id!r}")
    public_key = csr.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CsrRejected("the CSR's key must be RSA or ECDSA")
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        raise CsrRejected("RSA keys must have at least 2048 bits")
    return issue(
        ca, public_key, csr.subject, now - timedelta(minutes=5), now + timedelta(days=days)
    )


def make_csr(key: PrivateKey, station_id: str, organization: str | None = None) -> str:
    """A PEM CSR whose subject CN is the station id (what a station sends in SignCertificate)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(station_id, organization))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def serial_hex(certificate: x509.Certificate) -> str:
    """The serial number as OCPP's CertificateHashData writes it: hex, no leading zeros."""
    return format(certificate.serial_number, "x")
