"""The built-in CA's files: `ca.pem` and `ca.key` (mode 0600) in the CA directory
(`CSMS_CA_DIR`). Another CA's certificate and key placed there are used the same way."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from csms.pki.ca import CertificateAuthority, KeyType, create_ca, key_pem

CERT_FILE, KEY_FILE = "ca.pem", "ca.key"


class CaError(Exception):
    """The CA directory is missing, incomplete, unreadable or already initialised."""


def init_ca(
    directory: Path, common_name: str, now: datetime, key_type: KeyType = "ecdsa"
) -> CertificateAuthority:
    """Create a new CA in `directory`; refuses to overwrite one (its certificates would no
    longer verify)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if cert_path.exists() or key_path.exists():
        raise CaError(f"{directory} already holds a CA: remove it first to make a new one")
    ca = create_ca(common_name, now, key_type=key_type)
    # The key is written readable by its owner only, before any byte of it is.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key_pem(ca.key))
    cert_path.write_text(ca.certificate_pem)
    return ca


def load_ca(directory: Path) -> CertificateAuthority | None:
    """The CA in `directory`, or None when there is none; CaError when it is broken."""
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if not cert_path.exists() and not key_path.exists():
        return None
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise CaError(f"cannot read the CA in {directory}: {error}") from error
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CaError(f"the CA key in {directory} is neither RSA nor ECDSA")
    return CertificateAuthority(certificate, key)
