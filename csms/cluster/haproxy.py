"""An HAProxy configuration for N CSMS processes on this host: one OCPP websocket port and
one API port in front, free of I/O (the launcher and the tests write it to a file).

OCPP goes through as TCP (ws and wss alike; TLS ends at the CSMS), spread by least
connections; no stickiness is needed since any process can reach any station. A process
is taken out after two failed /health checks one second apart, and a connection that
cannot reach a process is dispatched to another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    ocpp_port: int
    api_port: int
    host: str = "127.0.0.1"


def haproxy_config(
    backends: Sequence[Backend],
    ocpp_port: int,
    api_port: int,
    bind: str = "127.0.0.1",
    max_connections: int = 50_000,
) -> str:
    """:param max_connections: each costs HAProxy two sockets and about 32 kB of buffers."""

    def servers(port: str) -> str:
        return "\n".join(
            f"    server {b.name} {b.host}:{getattr(b, port)} check port {b.api_port} "
            "inter 1s fall 2 rise 2"
            for b in backends
        )

    return f"""global
    maxconn {max_connections}

defaults
    timeout connect 2s
    # Websockets stay open for days; the CSMS pings every link, so idle means dead.
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    retries 3
    option redispatch

frontend ocpp
    mode tcp
    bind {bind}:{ocpp_port}
    default_backend csms_ocpp

backend csms_ocpp
    mode tcp
    balance leastconn
    option httpchk GET /health
{servers("ocpp_port")}

frontend api
    mode http
    bind {bind}:{api_port}
    default_backend csms_api

backend csms_api
    mode http
    balance roundrobin
    option httpchk GET /ready
{servers("api_port")}
"""
