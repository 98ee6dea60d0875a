"""The websocket server at ws(s)://host:port/ocpp/<stationId>: handshake checks, then one
StationConnection per station, registered so that commands can reach it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_authorization_basic
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from csms.config import Settings
from csms.db.models import Station
from csms.gateway.connection import StationConnection
from csms.gateway.log_throttle import LogThrottle
from csms.gateway.router import Router
from csms.gateway.schemas import Version
from csms.identifiers import is_station_id
from csms.ocpp_errors import StationNotConnected
from csms.passwords import verify_password

log = logging.getLogger(__name__)

SUBPROTOCOLS: dict[str, Version] = {"ocpp2.1": "v21", "ocpp2.0.1": "v201"}
PATH_PREFIX = "/ocpp/"


class ConnectionRegistry:
    """Station id -> its live connection in this process: the `StationLinks` and the
    `CommandSender` ports for one process."""

    def __init__(self) -> None:
        self._connections: dict[str, StationConnection] = {}

    def get(self, station_id: str) -> StationConnection:
        connection = self._connections.get(station_id)
        if connection is None:
            raise StationNotConnected(f"station {station_id} is not connected")
        return connection

    def is_connected(self, station_id: str) -> bool:
        return station_id in self._connections

    def version(self, station_id: str) -> Version | None:
        connection = self._connections.get(station_id)
        return None if connection is None else connection.version

    async def send(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.get(station_id).call(action, payload)

    def station_ids(self) -> list[str]:
        return list(self._connections)

    def idle(self) -> bool:
        """No command is outstanding or waiting on any connection."""
        return all(connection.idle for connection in self._connections.values())

    def add(self, connection: StationConnection) -> StationConnection | None:
        """Register; returns the connection it replaces, if any."""
        old = self._connections.get(connection.station_id)
        self._connections[connection.station_id] = connection
        return old

    def remove(self, connection: StationConnection) -> bool:
        """Unregister unless a newer connection already took its place."""
        if self._connections.get(connection.station_id) is connection:
            del self._connections[connection.station_id]
            return True
        return False


class Gateway:
    def __init__(
        self,
        settings: Settings,
        router: Router,
        registry: ConnectionRegistry,
        on_connect: Callable[[str, str], Awaitable[None]],
        on_disconnect: Callable[[str], Awaitable[None]],
    ):
        self.settings = settings
        self.router = router
        self.registry = registry
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self._server: Server | None = None
        #: station id -> (stored hash, sha256 of the password that matched it): saves a
        #: scrypt run per reconnect without keeping any password.
        self._verified: dict[str, tuple[str, bytes]] = {}
        self._log_throttle = LogThrottle()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        tls = None
        if self.settings.tls_cert and self.settings.tls_key:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        self._server = await serve(
            self._handle,
            self.settings.ocpp_host,
            self.settings.ocpp_port,
            subprotocols=list(SUBPROTOCOLS),  # type: ignore[arg-type]
            select_subprotocol=_client_preference,
            process_request=self._check_handshake,
            max_size=self.settings.max_frame_bytes,
            ping_interval=self.settings.ping_interval,
            ping_timeout=self.settings.ping_interval,
            # A dead peer never answers the close handshake either; don't wait long for it.
            close_timeout=min(5.0, self.settings.ping_interval),
            ssl=tls,
            server_header="csms",
        )
        log.info(
            "OCPP gateway listening on %s://%s:%d%s<stationId>",
            "wss" if tls else "ws",
            self.settings.ocpp_host,
            self.port,
            PATH_PREFIX,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _check_handshake(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        station_id = request.path.removeprefix(PATH_PREFIX).split("?")[0]
        if not request.path.startswith(PATH_PREFIX) or not is_station_id(station_id):
            return connection.respond(HTTPStatus.NOT_FOUND, "expected /ocpp/<stationId>\n")
        offered = _offered_subprotocols(request.headers)
        if not any(name in SUBPROTOCOLS for name in offered):
            self._refused(station_id, connection, f"no supported subprotocol in {offered}")
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                f"offer one of the subprotocols {', '.join(SUBPROTOCOLS)}\n",
            )
        if not await self._authenticate(station_id, request.headers):
            self._refused(station_id, connection, "unknown station or wrong credentials")
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "invalid credentials\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="csms", charset="UTF-8"'
            return response
        return None

    def _refused(self, station_id: str, connection: ServerConnection, reason: str) -> None:
        """Log a refused handshake: who, from where, why (a few a minute per station)."""
        left_out = self._log_throttle.admit(station_id, time.monotonic())
        if left_out is None:
            return
        more = f" ({left_out} more left out)" if left_out else ""
        log.warning(
            "[%s] handshake from %s refused: %s%s",
            station_id,
            connection.remote_address,
            reason,
            more,
        )

    async def _authenticate(self, station_id: str, headers: Headers) -> bool:
        try:
            username, password = parse_authorization_basic(headers.get("Authorization", ""))
        except InvalidHeader:
            return False
        if username != station_id:
            return False
        station = await Station.filter(id=station_id).only("id", "password_hash").first()
        if station is None:
            return False
        fingerprint = hashlib.sha256(password.encode()).digest()
        remembered = self._verified.get(station_id)
        if remembered is not None and remembered[0] == station.password_hash:
            return hmac.compare_digest(remembered[1], fingerprint)
        if not await asyncio.to_thread(verify_password, password, station.password_hash):
            return False
        self._verified[station_id] = (station.password_hash, fingerprint)
        return True

    async def _handle(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        station_id = websocket.request.path.removeprefix(PATH_PREFIX).split("?")[0]
        version = SUBPROTOCOLS[str(websocket.subprotocol)]
        connection = StationConnection(
            station_id,
            websocket,
            version,
            self.router.handler_for(version),
            timeout=self.settings.call_timeout,
            max_queued=self.settings.max_queued_calls,
            log_throttle=self._log_throttle,
        )
        replaced = self.registry.add(connection)
        if replaced is not None:
            log.info("[%s] new connection replaces the old one", station_id)
            await replaced.close("replaced by a new connection")
        log.info("[%s] connected (%s)", station_id, connection.subprotocol)
        try:
            # Registered before any await, so a command sent right after the handshake
            # finds the connection; frames are read only once the station state is known.
            station = await Station.filter(id=station_id).only("id", "registration_status").first()
            connection.rejected = station is not None and station.registration_status == "Rejected"
            await self.on_connect(station_id, connection.subprotocol)
            await connection.serve()
        finally:
            if self.registry.remove(connection):
                log.info("[%s] disconnected", station_id)
                await self.on_disconnect(station_id)


def _client_preference(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """The first supported version in the station's list: it lists them by preference.

    (websockets would pick by the server's order.) The handshake check already refused
    stations that offer none.
    """
    return next((name for name in offered if name in SUBPROTOCOLS), None)


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [
        name.strip()
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for name in value.split(",")
    ]
