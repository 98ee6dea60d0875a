from pathlib import Path

import pytest

from csms.config import ConfigError, Settings, load_settings


def test_defaults_are_safe_and_documented() -> None:
    settings = load_settings(environ={})
    assert settings.db_url == "sqlite://./csms.db"
    assert (settings.ocpp_host, settings.ocpp_port) == ("0.0.0.0", 9000)
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8080)
    assert settings.heartbeat_interval == 300
    assert settings.max_frame_bytes == 65536


def test_environment_overrides_file_and_flags_override_environment(tmp_path: Path) -> None:
    config = tmp_path / "csms.toml"
    config.write_text(
        '[csms]\nocpp_port = 9100\nheartbeat_interval = 60\ndb_url = "sqlite://x.db"\n'
    )
    settings = load_settings(
        config,
        environ={"CSMS_OCPP_PORT": "9200", "CSMS_DB_URL": "postgres://u@h/db"},
        overrides={"ocpp_port": 9300, "api_port": None},
    )
    assert settings.ocpp_port == 9300
    assert settings.heartbeat_interval == 60
    assert settings.db_url == "postgres://u@h/db"
    assert settings.api_port == 8080


def test_api_beyond_loopback_requires_a_token() -> None:
    with pytest.raises(ConfigError, match="CSMS_API_TOKEN"):
        load_settings(environ={"CSMS_API_HOST": "0.0.0.0"})
    settings = load_settings(environ={"CSMS_API_HOST": "0.0.0.0", "CSMS_API_TOKEN": "s3cret"})
    assert settings.api_token == "s3cret"


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "csms.toml"
    config.write_text("[csms]\nocpp_prot = 1\n")
    with pytest.raises(ConfigError, match="ocpp_prot"):
        load_settings(config, environ={})


def test_malformed_number_is_named() -> None:
    with pytest.raises(ConfigError, match="ocpp_port"):
        load_settings(environ={"CSMS_OCPP_PORT": "ninety"})


def test_tls_needs_both_files() -> None:
    with pytest.raises(ConfigError, match="tls"):
        Settings(tls_cert="cert.pem")
