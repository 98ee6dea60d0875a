"""Settings of the CSMS: defaults < TOML file (`--config`) < CSMS_* environment < CLI flags."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting is missing, malformed or unsafe; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    db_url: str = "sqlite://./csms.db"
    ocpp_host: str = "0.0.0.0"
    ocpp_port: int = 9000
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    #: Bearer token for the REST API; required when the API binds beyond loopback.
    api_token: str | None = None
    #: Heartbeat interval (s) given to stations in BootNotification responses.
    heartbeat_interval: int = 300
    #: PEM server certificate(s) for wss (profiles 2 and 3); two comma-separated files, an
    #: RSA and an ECDSA one, serve both kinds of cipher suite (OCPP A00.FR.318).
    tls_cert: str | None = None
    #: The private key file(s) of `tls_cert`, in the same order.
    tls_key: str | None = None
    #: PEM CA certificate(s) that issue station client certificates (security profile 3).
    tls_client_ca: str | None = None
    #: With TLS on, a second, plain ws port for profile-1 stations (none when unset).
    ocpp_plain_port: int | None = None
    #: Directory of the CA that signs stations' CSRs (`cli.py ca init` creates one there).
    ca_dir: str = "./csms-ca"
    #: A station certificate this close to expiry (days) is renewed (TriggerMessage).
    cert_renewal_days: int = 30
    #: Plug & Charge when a contract certificate's OCSP responder cannot be reached:
    #: "accept" (charge, the certificate is trusted) or "reject".
    pnc_offline: str = "reject"
    #: How long an OCSP responder may take to answer (s).
    ocsp_timeout: float = 5.0
    #: URL of the contract-certificate service Get15118EVCertificate is forwarded to
    #: (JSON POST of the request; its JSON answer is relayed); none: answered Failed.
    contract_service_url: str | None = None
    #: Largest inbound websocket frame (bytes); larger frames close the connection
    #: without being buffered whole.
    max_frame_bytes: int = 65536
    #: How long a CSMS->CS CALL may wait for its CALLRESULT (s).
    call_timeout: float = 30.0
    #: Commands allowed to wait behind the one outstanding CALL of a connection.
    max_queued_calls: int = 100
    #: Handshakes checked at once (a database read and a ~0.2 ms password check each);
    #: more are answered 503 at once so that stations back off instead of timing out.
    max_handshakes: int = 256
    #: Websocket ping period (s); a station missing two pongs is marked disconnected.
    ping_interval: float = 20.0
    #: Status returned for an idToken the CSMS does not know: "Unknown" or "Invalid".
    unknown_token_status: str = "Unknown"
    #: Replan period of the live planner (s).
    plan_interval: int = 60
    #: How long a station found unable or unwilling to follow profiles is planned as a
    #: fixed load before it is tried again (s); boot and firmware changes re-probe at once.
    reprobe_interval: float = 3600.0
    #: After a boot, how long a transaction its station cannot vouch for (no answer to
    #: GetTransactionStatus) stays active waiting for its events before it is ended as not
    #: resumed (s); keep it above the stations' TxUpdatedInterval.
    reconcile_grace: float = 300.0
    #: Send each station that boots a ChargingStationMaxProfile from the grid topology
    #: (its EVSEs' ratings or the tightest node import limit above it). Off by default: the
    #: planner's per-EVSE fallback profiles already keep offline stations within the nodes.
    station_max_profile: bool = False
    #: Max time the durable writer waits to fill a group commit (s).
    commit_window: float = 0.002
    #: Max writes in one group commit.
    commit_batch: int = 512
    log_level: str = "INFO"
    #: Redis for cluster mode (several processes on one PostgreSQL): commands reach the
    #: process holding a station's socket, one planner leads. None: a single process.
    redis_url: str | None = None
    #: This process's name in the cluster (station owner, leader); "" = hostname-pid.
    node_id: str = ""
    #: Prefix of every Redis key and channel, so clusters (or tests) can share a Redis.
    redis_prefix: str = "csms"
    #: Seconds a node's leases (its stations' ownership, leadership) outlive its last
    #: renewal; renewed every third of it. A dead node's stations and roles are taken
    #: over after about this long; a shorter lease costs Redis round trips.
    cluster_lease: float = 5.0

    def __post_init__(self) -> None:
        if self.pnc_offline not in ("accept", "reject"):
            raise ConfigError("pnc_offline must be 'accept' or 'reject'")
        if not self.node_id:
            object.__setattr__(self, "node_id", default_node_id())
        if not _NODE_ID.fullmatch(self.node_id) or not _NODE_ID.fullmatch(self.redis_prefix):
            raise ConfigError("node_id and redis_prefix must be 1-64 letters, digits or . _ : -")
        if self.redis_url is not None:
            if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigError(
                    f"redis_url must be redis://, rediss:// or unix://, got {self.redis_url!r}"
                )
            if not self.db_url.startswith(("postgres://", "postgresql://")):
                raise ConfigError(
                    "cluster mode (CSMS_REDIS_URL) needs a PostgreSQL CSMS_DB_URL shared by "
                    "every process; a SQLite file belongs to one process"
                )
        if self.cluster_lease < 1.0:
            raise ConfigError("cluster_lease must be at least 1 s")
        if self.unknown_token_status not in ("Unknown", "Invalid"):
            raise ConfigError("unknown_token_status must be 'Unknown' or 'Invalid'")
        for name in ("ocpp_port", "api_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be a TCP port, got {port}")
        if self.heartbeat_interval <= 0:
            raise ConfigError("heartbeat_interval must be positive")
        if self.max_handshakes < 1:
            raise ConfigError("max_handshakes must be at least 1")
        if self.max_frame_bytes < 1024:
            raise ConfigError("max_frame_bytes must be at least 1024")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be given together")
        if self.tls_cert and len(self.tls_cert.split(",")) != len(str(self.tls_key).split(",")):
            raise ConfigError("tls_cert and tls_key must name as many files each")
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigError("tls_client_ca (profile 3) needs tls_cert and tls_key")
        if self.ocpp_plain_port is not None and not self.tls_cert:
            raise ConfigError("ocpp_plain_port is for a second, plain port next to wss")
        if not is_loopback(self.api_host) and not self.api_token:
            raise ConfigError(
                f"CSMS_API_TOKEN is required when the API binds to {self.api_host!r} "
                "(anything but loopback)"
            )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_NODE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def default_node_id() -> str:
    """hostname-pid: unique per process on a host, readable in logs and in the API."""
    host = re.sub(r"[^A-Za-z0-9._:-]", "-", socket.gethostname())[:40] or "node"
    return f"{host}-{os.getpid()}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, raw: Any) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "int":
            return int(raw)
        if kind == "int | None":
            return None if raw in (None, "") else int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in ("1", "true", "yes", "on")
        return None if raw in (None, "") and "None" in str(kind) else str(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name}: cannot read {raw!r} as {kind}") from error


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge defaults, the TOML file, CSMS_* variables and explicit overrides (None = unset)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"config file {config_file}: {error}") from error
        section = data.get("csms", data)
        for key, raw in section.items():
            if key not in _FIELDS:
                raise ConfigError(f"config file {config_file}: unknown key {key!r}")
            values[key] = _coerce(key, raw)
    env = os.environ if environ is None else environ
    for name in _FIELDS:
        variable = f"CSMS_{name.upper()}"
        if variable in env:
            values[name] = _coerce(name, env[variable])
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(name, raw)
    return Settings(**values)
