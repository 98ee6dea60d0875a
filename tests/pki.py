"""Certificates for TLS tests, made in the test with the CSMS's own CA code: a server CA
with an RSA and an ECDSA server certificate for 127.0.0.1, a station CA, and station
client certificates (valid, for another id, from another CA, expired)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from csms.pki.ca import (
    CertificateAuthority,
    PrivateKey,
    create_ca,
    issue,
    issue_for_station,
    key_pem,
    new_key,
    pem,
)


def write_pair(
    directory: Path, name: str, certificate: x509.Certificate, key: PrivateKey
) -> tuple[str, str]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_text(pem(certificate))
    key_path.write_bytes(key_pem(key))
    return str(cert_path), str(key_path)


@dataclass
class Pki:
    directory: Path
    server_ca: CertificateAuthority
    station_ca: CertificateAuthority
    server_ca_file: str
    station_ca_file: str
    #: "rsa.pem,ecdsa.pem" and their keys, as CSMS_TLS_CERT / CSMS_TLS_KEY take them.
    server_certs: str
    server_keys: str

    def station(
        self, station_id: str, *, ca: CertificateAuthority | None = None, days: int = 30
    ) -> tuple[str, str]:
        """Files of a client certificate and key for `station_id` (expired when days < 0)."""
        return self.station_certificate(station_id, ca=ca, days=days)[0]

    def station_certificate(
        self, station_id: str, *, ca: CertificateAuthority | None = None, days: int = 30
    ) -> tuple[tuple[str, str], x509.Certificate]:
        """The files and the certificate itself."""
        now = datetime.now(UTC)
        if days < 0:
            key = new_key("ecdsa")
            certificate = issue(
                ca or self.station_ca,
                key.public_key(),
                x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, station_id)]),
                now - timedelta(days=30),
                now + timedelta(days=days),
            )
        else:
            certificate, key = issue_for_station(ca or self.station_ca, station_id, now, days)
        label = f"station-{station_id}-{certificate.serial_number:x}"
        return write_pair(self.directory, label, certificate, key), certificate


def make_pki(directory: Path) -> Pki:
    now = datetime.now(UTC)
    server_ca = create_ca("Test CSMS root", now)
    station_ca = create_ca("Test station CA", now)
    pairs = []
    for kind in ("rsa", "ecdsa"):
        key = new_key(kind)  # type: ignore[arg-type]
        certificate = issue(
            server_ca,
            key.public_key(),
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "127.0.0.1")]),
            now - timedelta(minutes=5),
            now + timedelta(days=2),
            server_names=("127.0.0.1", "localhost"),
        )
        pairs.append(write_pair(directory, f"server-{kind}", certificate, key))
    server_ca_file = directory / "server-ca.pem"
    server_ca_file.write_text(server_ca.certificate_pem)
    station_ca_file = directory / "station-ca.pem"
    station_ca_file.write_text(station_ca.certificate_pem)
    return Pki(
        directory,
        server_ca,
        station_ca,
        str(server_ca_file),
        str(station_ca_file),
        ",".join(cert for cert, _ in pairs),
        ",".join(key for _, key in pairs),
    )
