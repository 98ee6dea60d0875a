"""An emulated station's security settings: which OCPP security profile it connects with,
where (ws or wss), what it trusts and which client certificate it shows (profile 3).

Mutable on purpose: the CSMS changes them over OCPP (SetVariables SecurityCtrlr.*,
CertificateSigned), and the next connection uses the new ones.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class StationSecurity:
    #: 1 basic auth over ws, 2 basic auth over wss, 3 client certificate over wss.
    profile: int = 1
    #: wss://host:port/ocpp (the station id is appended) for profiles 2 and 3.
    tls_url: str | None = None
    #: PEM file of the CA that issued the CSMS's server certificate.
    server_ca: str | None = None
    #: PEM client certificate (chain) and key (profile 3).
    client_cert: str | None = None
    client_key: str | None = None
    #: Cipher suites offered (OpenSSL names), to pin one kind of server certificate.
    ciphers: str | None = None
    #: A profile set by the CSMS (SetVariables SecurityProfile), used after the next reset.
    pending_profile: int | None = None

    def base_url(self, plain_url: str) -> str:
        if self.profile >= 2:
            if self.tls_url is None:
                raise ValueError(f"security profile {self.profile} needs a wss:// URL")
            return self.tls_url
        return plain_url

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS 1.2+ trusting `server_ca`; with the client certificate at profile 3."""
        if self.profile < 2:
            return None
        context = ssl.create_default_context(cafile=self.server_ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.ciphers:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(self.ciphers)
        if self.profile >= 3:
            if not (self.client_cert and self.client_key):
                raise ValueError("security profile 3 needs a client certificate and key")
            context.load_cert_chain(self.client_cert, self.client_key)
        return context

    def install_client_certificate(self, chain_pem: str, directory: Path, name: str) -> None:
        """Keep a certificate the CSMS signed (CertificateSigned) for the next connection;
        the key stays the one the CSR was made with."""
        path = directory / f"{name}-cert.pem"
        path.write_text(chain_pem)
        self.client_cert = str(path)

    def take_pending_profile(self) -> bool:
        """At a reset: move to the profile the CSMS set, if any. True when it changed."""
        if self.pending_profile is None or self.pending_profile == self.profile:
            self.pending_profile = None
            return False
        self.profile, self.pending_profile = self.pending_profile, None
        return True
