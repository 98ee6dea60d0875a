"""Pure parts of the security block: the profile rule, the contract-certificate verdict,
the journal's redaction, hash data, CSR signing, the CA's files and the TLS settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from csms.blocks.certificates import OcspAnswer, contract_status
from csms.blocks.remote_control import redacted
from csms.config import ConfigError, Settings, load_settings
from csms.gateway.admission import profile_refusal
from csms.pki import ocsp
from csms.pki.ca import CsrRejected, create_ca, make_csr, new_key, sign_csr
from csms.pki.ocsp import CertificateHashData, HashDataError, Status
from csms.pki.store import CaError, init_ca, load_ca

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_a_link_below_the_station_s_profile_is_refused_and_at_or_above_admitted() -> None:
    for required in (1, 2, 3):
        for offered in (1, 2, 3):
            refusal = profile_refusal(required, offered)
            assert (refusal is None) == (offered >= required), (required, offered)
    assert "must use profile 3" in str(profile_refusal(3, 2))


@pytest.mark.parametrize(
    ("statuses", "offline_accepts", "verdict"),
    [
        ([Status.GOOD, Status.GOOD], False, "Accepted"),
        ([Status.GOOD, Status.REVOKED], True, "CertificateRevoked"),
        ([Status.UNKNOWN], True, "CertChainError"),
        ([None, Status.GOOD], False, "CertChainError"),
        ([None, Status.GOOD], True, "Accepted"),
        ([None, Status.REVOKED], True, "CertificateRevoked"),
    ],
)
def test_the_contract_verdict_follows_the_worst_ocsp_answer(
    statuses: list[Status | None], offline_accepts: bool, verdict: str
) -> None:
    answers = [OcspAnswer(status) for status in statuses]
    assert contract_status(answers, offline_accepts) == verdict


def test_a_password_never_reaches_the_command_journal() -> None:
    payload = {
        "setVariableData": [
            {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
                "attributeValue": "secret-secret-secret",
            },
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "attributeValue": "60",
            },
        ]
    }
    journaled = redacted("SetVariables", payload)
    values = [item["attributeValue"] for item in journaled["setVariableData"]]
    assert values == ["***", "60"]
    assert payload["setVariableData"][0]["attributeValue"] == "secret-secret-secret"
    assert redacted("Reset", {"type": "Immediate"}) == {"type": "Immediate"}


def test_hash_data_is_normalised_and_bad_hash_data_is_refused() -> None:
    named = CertificateHashData.from_ocpp(
        {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": "ABCD" * 16,
            "issuerKeyHash": "00ff" * 16,
            "serialNumber": "000A1",
        }
    )
    assert (named.issuer_name_hash, named.serial_number) == ("abcd" * 16, "a1")
    # An unknown algorithm, a serial that is not hex, hashes of another digest's size.
    for broken in ({"hashAlgorithm": "MD5"}, {"serialNumber": "xyz"}, {"issuerKeyHash": "cd"}):
        data = {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": "ab" * 32,
            "issuerKeyHash": "cd" * 32,
            "serialNumber": "1",
        }
        with pytest.raises(HashDataError):
            CertificateHashData.from_ocpp(data | broken)


def test_the_ca_signs_only_a_csr_in_the_station_s_own_name() -> None:
    ca = create_ca("CA", NOW)
    key = new_key("rsa")
    certificate = sign_csr(ca, make_csr(key, "CS-1"), "CS-1", NOW)
    certificate.verify_directly_issued_by(ca.certificate)
    with pytest.raises(CsrRejected, match="station id"):
        sign_csr(ca, make_csr(key, "CS-2"), "CS-1", NOW)
    with pytest.raises(CsrRejected, match="longer"):
        sign_csr(ca, "x" * 6000, "CS-1", NOW)
    named = ocsp.hash_data(certificate, ca.certificate)
    answer = ocsp.respond(ca, ocsp.request_der(named), {certificate.serial_number: NOW}, None, NOW)
    assert ocsp.read_status(answer, ca.certificate) is Status.REVOKED
    assert ocsp.read_status(ocsp.respond(ca, b"junk", {}, None, NOW)) is Status.UNKNOWN


def test_the_ca_directory_is_created_once_and_read_back(tmp_path: Path) -> None:
    assert load_ca(tmp_path / "none") is None
    made = init_ca(tmp_path / "ca", "CA", NOW, "rsa")
    loaded = load_ca(tmp_path / "ca")
    assert loaded is not None and loaded.certificate == made.certificate
    with pytest.raises(CaError, match="already"):
        init_ca(tmp_path / "ca", "CA", NOW)
    (tmp_path / "ca" / "ca.key").write_text("broken")
    with pytest.raises(CaError, match="cannot read"):
        load_ca(tmp_path / "ca")


def test_tls_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="as many"):
        Settings(tls_cert="a.pem,b.pem", tls_key="a.key")
    with pytest.raises(ConfigError, match="needs tls_cert"):
        Settings(tls_client_ca="ca.pem")
    with pytest.raises(ConfigError, match="plain"):
        Settings(ocpp_plain_port=9001)
    with pytest.raises(ConfigError, match="pnc_offline"):
        Settings(pnc_offline="maybe")
    loaded = load_settings(
        environ={
            "CSMS_TLS_CERT": "a.pem,b.pem",
            "CSMS_TLS_KEY": "a.key,b.key",
            "CSMS_OCPP_PLAIN_PORT": "9001",
        }
    )
    assert loaded.ocpp_plain_port == 9001
    assert load_settings(environ={}).ocpp_plain_port is None
