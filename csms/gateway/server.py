"""The websocket server at ws(s)://host:port/ocpp/<stationId>: handshake checks, then one
StationConnection per station, registered so that commands can reach it."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_authorization_basic
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from csms.config import Settings
from csms.db.credentials import CredentialReader, StationAccess
from csms.db.models import Station
from csms.gateway.admission import HandshakeBound
from csms.gateway.connection import OutboundAdapter, StationConnection
from csms.gateway.log_throttle import LogThrottle
from csms.gateway.router import Router
from csms.gateway.schemas import Version
from csms.identifiers import is_station_id
from csms.ocpp_errors import StationNotConnected
from csms.passwords import hash_password, is_slow_to_verify, needs_rehash, verify_password

log = logging.getLogger(__name__)

SUBPROTOCOLS: dict[str, Version] = {"ocpp2.1": "v21", "ocpp2.0.1": "v201", "ocpp1.6": "v16"}
PATH_PREFIX = "/ocpp/"
#: Seconds a station refused with 503 is asked to wait (a hint; OCPP back-off rules apply).
RETRY_AFTER_S = 5


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
        outbound: dict[Version, OutboundAdapter] | None = None,
    ):
        self.settings = settings
        #: Per version whose commands need translating (1.6): its adapter.
        self.outbound = outbound or {}
        self.router = router
        self.registry = registry
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self._server: Server | None = None
        self._log_throttle = LogThrottle()
        self.handshakes = HandshakeBound(settings.max_handshakes)
        self._credentials = CredentialReader(settings.db_url)
        #: The station row each accepted handshake read, for its handler: one read per link.
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, StationAccess] = (
            weakref.WeakKeyDictionary()
        )
        #: Set by stop(): links closing then are recorded all at once by the caller.
        self._stopping = False
        #: Refused handshakes, per peer address: a few lines a minute, then a count.
        self._refusal_log = LogThrottle(burst=3)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        tls = None
        if self.settings.tls_cert and self.settings.tls_key:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        await self._credentials.open()
        try:
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
        except BaseException:
            await self._credentials.close()
            raise
        log.info(
            "OCPP gateway listening on %s://%s:%d%s<stationId>",
            "wss" if tls else "ws",
            self.settings.ocpp_host,
            self.port,
            PATH_PREFIX,
        )

    async def stop(self, close_budget_s: float = 2.0) -> None:
        """Stop accepting, close every link with 1001 (going away), and wait for the
        handlers; after `close_budget_s` links whose peer never answers the close are
        dropped, so that a shutdown never waits out a close timeout per dead station."""
        if self._server is None:
            return
        self._stopping = True
        server, self._server = self._server, None
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), close_budget_s)
        except TimeoutError:
            for connection in server.all_connections:  # closing ones included
                connection.transport.abort()
            await server.wait_closed()
        await self._credentials.close()

    async def _check_handshake(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        station_id = request.path.removeprefix(PATH_PREFIX).split("?")[0]
        if not request.path.startswith(PATH_PREFIX) or not is_station_id(station_id):
            return self._refuse(
                connection, request.path, HTTPStatus.NOT_FOUND, "expected /ocpp/<stationId>"
            )
        offered = _offered_subprotocols(request.headers)
        if not any(name in SUBPROTOCOLS for name in offered):
            return self._refuse(
                connection,
                station_id,
                HTTPStatus.BAD_REQUEST,
                f"offer one of the subprotocols {', '.join(SUBPROTOCOLS)}",
            )
        if not self.handshakes.try_enter():
            response = self._refuse(
                connection,
                station_id,
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"{self.handshakes.limit} handshakes in progress, retry later",
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        try:
            checked = await self._authenticate(station_id, request.headers)
        finally:
            self.handshakes.leave()
        if isinstance(checked, StationAccess):
            self._admitted[connection] = checked
            return None
        # The station learns only "invalid credentials"; the log says which.
        response = self._refuse(
            connection, station_id, HTTPStatus.UNAUTHORIZED, "invalid credentials", checked
        )
        response.headers["WWW-Authenticate"] = 'Basic realm="csms", charset="UTF-8"'
        return response

    def _refuse(
        self,
        connection: ServerConnection,
        station_id: str,
        status: HTTPStatus,
        reason: str,
        detail: str | None = None,
    ) -> Response:
        """The HTTP answer, logged with who asked unless this address was logged often."""
        address = connection.remote_address
        host = str(address[0]) if address else "?"
        held_back = self._refusal_log.admit(host, time.monotonic())
        if held_back is not None:
            log.warning(
                "[%.48r] handshake refused from %s: %d %s%s",
                station_id,
                host,
                status.value,
                detail or reason,
                f" ({held_back} more from this address not logged)" if held_back else "",
            )
        return connection.respond(status, f"{reason}\n")

    async def _authenticate(self, station_id: str, headers: Headers) -> StationAccess | str:
        """The station's row when the credentials are right, else why not (for the log)."""
        try:
            username, password = parse_authorization_basic(headers.get("Authorization", ""))
        except InvalidHeader:
            return "no or malformed HTTP Basic credentials"
        if username != station_id:
            return "basic-auth user differs from the station id"
        station = await self._credentials.station(station_id)
        if station is None:
            return "unknown station"
        stored = station.password_hash
        if is_slow_to_verify(stored):
            verified = await asyncio.to_thread(verify_password, password, stored)
        else:
            verified = verify_password(password, stored)  # ~0.2 ms: cheaper than a thread hop
        if verified and needs_rehash(stored):
            # Compare-and-set: an operator's new password in the meantime wins.
            await Station.filter(id=station_id, password_hash=stored).update(
                password_hash=hash_password(password)
            )
            log.info("[%s] password hash upgraded to the current scheme", station_id)
        return station if verified else "wrong password"

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
            on_refused=partial(self.router.refused, version),
            outbound=self.outbound.get(version),
        )
        # A Rejected station may only boot; its status is known from the handshake's read.
        connection.rejected = self._admitted.pop(websocket).registration_status == "Rejected"
        # Registered before any await, so a command sent right after the handshake finds it.
        replaced = self.registry.add(connection)
        if replaced is not None:
            log.info("[%s] new connection replaces the old one", station_id)
            await replaced.close("replaced by a new connection")
        log.info("[%s] connected (%s)", station_id, connection.subprotocol)
        try:
            await self.on_connect(station_id, connection.subprotocol)
            await connection.serve()
        finally:
            if self.registry.remove(connection):
                log.info("[%s] disconnected", station_id)
                if not self._stopping:
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
