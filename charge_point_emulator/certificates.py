"""An emulated station's certificates: its key and CSR for SignCertificate (A02/A03), the
chain the CSMS signed, the roots installed with InstallCertificate (M), and the ISO 15118
contract-certificate hash data it can present in Authorize (C07).

Independent of the server's code (it checks the server), so it uses `cryptography` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """OCPP CertificateHashData (snake_case, as the `ocpp` library takes it)."""
    request = (
        ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
    )
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": request.issuer_name_hash.hex(),
        "issuer_key_hash": request.issuer_key_hash.hex(),
        "serial_number": format(request.serial_number, "x"),
    }


@dataclass(slots=True)
class StationCertificates:
    station_id: str
    #: Where the key and signed certificate are kept (profile 3 connects with them).
    directory: Path | None = None
    #: Installed roots: serial (hex) -> (certificate type, certificate).
    installed: dict[str, tuple[str, x509.Certificate]] = field(default_factory=dict)
    #: The key of the last CSR sent, waiting for CertificateSigned.
    pending_key: ec.EllipticCurvePrivateKey | None = None
    #: The last certificate chain accepted from CertificateSigned (PEM).
    signed_chain: str | None = None

    def new_csr(self) -> str:
        """A fresh P-256 key and a PEM CSR whose subject CN is the station id."""
        self.pending_key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.station_id)]))
            .sign(self.pending_key, hashes.SHA256())
        )
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def accept_signed(self, chain_pem: str) -> tuple[str, Path | None, Path | None]:
        """CertificateSigned: Accepted when the leaf is for this station and for the key of
        the last CSR; then the chain and key are written for the next connection."""
        try:
            chain = x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            return "Rejected", None, None
        key = self.pending_key
        if not chain or key is None:
            return "Rejected", None, None
        leaf = chain[0]
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        same_key = leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if not names or names[0].value != self.station_id or not same_key:
            return "Rejected", None, None
        self.signed_chain = chain_pem
        self.pending_key = None
        if self.directory is None:
            return "Accepted", None, None
        serial = format(leaf.serial_number, "x")
        cert_path = self.directory / f"{self.station_id}-{serial}.pem"
        key_path = self.directory / f"{self.station_id}-{serial}.key"
        cert_path.write_text(chain_pem)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        return "Accepted", cert_path, key_path

    def install(self, certificate_type: str, certificate_pem: str) -> str:
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        except ValueError:
            return "Rejected"
        self.installed[format(certificate.serial_number, "x")] = (certificate_type, certificate)
        return "Accepted"

    def installed_ids(self, types: list[str] | None) -> list[dict[str, Any]]:
        return [
            {"certificate_type": kind, "certificate_hash_data": hash_data(cert, cert)}
            for kind, cert in self.installed.values()
            if not types or kind in types
        ]

    def delete(self, data: dict[str, Any]) -> str:
        serial = format(int(str(data["serial_number"]), 16), "x")
        found = self.installed.get(serial)
        if (
            found is None
            or hash_data(found[1], found[1])["issuer_name_hash"]
            != str(data["issuer_name_hash"]).lower()
        ):
            return "NotFound"
        del self.installed[serial]
        return "Accepted"
