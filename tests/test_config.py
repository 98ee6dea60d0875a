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


def test_cluster_mode_needs_postgresql_not_sqlite() -> None:
    with pytest.raises(ConfigError, match="needs a PostgreSQL CSMS_DB_URL"):
        load_settings(environ={"CSMS_REDIS_URL": "redis://127.0.0.1:6379/0"})
    settings = load_settings(
        environ={
            "CSMS_REDIS_URL": "redis://127.0.0.1:6379/0",
            "CSMS_DB_URL": "postgres://postgres@127.0.0.1:5432/test",
            "CSMS_NODE_ID": "csms-a",
        }
    )
    assert (settings.redis_url, settings.node_id) == ("redis://127.0.0.1:6379/0", "csms-a")


def test_node_id_defaults_to_hostname_pid_and_is_checked() -> None:
    import os

    assert load_settings(environ={}).node_id.endswith(f"-{os.getpid()}")
    with pytest.raises(ConfigError, match="node_id"):
        load_settings(environ={"CSMS_NODE_ID": "a b/c"})
    with pytest.raises(ConfigError, match="redis_url must be"):
        Settings(db_url="postgres://h/db", redis_url="http://127.0.0.1:6379")
