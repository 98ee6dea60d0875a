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
from csms.gateway.admission import HandshakeBound, profile_refusal
from csms.gateway.connection import OutboundAdapter, StationConnection
from csms.gateway.log_throttle import LogThrottle
from csms.gateway.router import Router
from csms.gateway.schemas import Version
from csms.gateway.tls import link_profile, server_context, split_paths
from csms.identifiers import is_station_id
from csms.ocpp_errors import StationNotConnected
from csms.passwords import (
    hash_password,
    is_slow_to_verify,
    iterations_for,
    needs_rehash,
    verify_password,
)

log = logging.getLogger(__name__)

SUBPROTOCOLS: dict[str, Version] = {"ocpp2.1": "v21", "ocpp2.0.1": "v201", "ocpp1.6": "v16"}
PATH_PREFIX = "/ocpp/"
#: Seconds a station refused with 503 is asked to wait (a hint; OCPP back-off rules apply).
RETRY_AFTER_S = 5

#: Records a CSMS-side security event: (station id, event type, technical detail).
SecurityEventSink = Callable[[str, str, str], Awaitable[None]]


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
        security_event: SecurityEventSink | None = None,
    ):
        self.settings = settings
        #: Per version whose commands need translating (1.6): its adapter.
        self.outbound = outbound or {}
        #: Records CSMS-side security events (refused handshakes, credentials taking over).
        self.security_event = security_event
        self.router = router
        self.registry = registry
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self._server: Server | None = None
        self._plain_server: Server | None = None
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
        #: Security-event writes in flight (kept referenced until done).
        self._pending_events: set[asyncio.Future[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        tls = None
        if self.settings.tls_cert and self.settings.tls_key:
            tls = server_context(
                split_paths(self.settings.tls_cert),
                split_paths(self.settings.tls_key),
                self.settings.tls_client_ca,
            )
        await self._credentials.open()
        try:
            self._server = await self._serve(self.settings.ocpp_port, tls)
            if tls is not None and self.settings.ocpp_plain_port is not None:
                self._plain_server = await self._serve(self.settings.ocpp_plain_port, None)
        except BaseException:
            if self._server is not None:
                self._server.close()
                self._server = None
            await self._credentials.close()
            raise
        log.info(
            "OCPP gateway listening on %s://%s:%d%s<stationId>%s",
            "wss" if tls else "ws",
            self.settings.ocpp_host,
            self.port,
            PATH_PREFIX,
            f" and ws on port {self.plain_port}" if self._plain_server else "",
        )

    async def _serve(self, port: int, tls: ssl.SSLContext | None) -> Server:
        return await serve(
            self._handle,
            self.settings.ocpp_host,
            port,
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

    @property
    def plain_port(self) -> int | None:
        """The plain ws port next to wss (`ocpp_plain_port`), if one is open."""
        if self._plain_server is None:
            return None
        return int(self._plain_server.sockets[0].getsockname()[1])

    async def stop(self, close_budget_s: float = 2.0) -> None:
        """Stop accepting, close every link with 1001 (going away), and wait for the
        handlers; after `close_budget_s` links whose peer never answers the close are
        dropped, so that a shutdown never waits out a close timeout per dead station."""
        if self._server is None:
            return
        self._stopping = True
        servers = [self._server, *([self._plain_server] if self._plain_server else [])]
        self._server = self._plain_server = None
        for server in servers:
            server.close()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(server.wait_closed() for server in servers)), close_budget_s
            )
        except TimeoutError:
            for server in servers:
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
            checked = await self._authenticate(station_id, request.headers, connection)
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
        if held_back is not None and status is HTTPStatus.UNAUTHORIZED and self.security_event:
            # Kept as a security event too, as rate-limited per address as the log.
            recorded = asyncio.ensure_future(
                self.security_event(
                    station_id, "FailedHandshake", f"from {host}: {detail or reason}"
                )
            )
            self._pending_events.add(recorded)
            recorded.add_done_callback(self._event_recorded)
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

    def _event_recorded(self, recorded: asyncio.Future[None]) -> None:
        self._pending_events.discard(recorded)
        if not recorded.cancelled() and recorded.exception() is not None:
            log.warning("could not record a refused handshake: %r", recorded.exception())

    async def _authenticate(
        self, station_id: str, headers: Headers, connection: ServerConnection
    ) -> StationAccess | str:
        """The station's row when the link's profile and credentials are right, else why
        not (for the log)."""
        profile, certificate = link_profile(connection.transport)
        station = await self._credentials.station(station_id)
        if station is None:
            return "unknown station"
        refusal = profile_refusal(station.security_profile, profile)
        if refusal is not None:
            return refusal
        if certificate is not None:
            # Chain, validity period and CA were checked by the TLS layer; the identity and
            # revocation are the CSMS's to check.
            if certificate.common_name != station_id:
                return f"client certificate is for {certificate.common_name!r}"
            if await self._credentials.is_revoked(
                certificate.issuer_name_hash, certificate.serial_number
            ):
                return f"client certificate {certificate.serial_number} is revoked"
        else:
            checked = await self._check_password(station_id, headers, station)
            if checked is not None:
                return checked
        if station.pending_profile is not None and profile >= station.pending_profile:
            await self._take_over_profile(station_id, station.pending_profile)
        return station

    async def _check_password(
        self, station_id: str, headers: Headers, station: StationAccess
    ) -> str | None:
        """None when the Basic credentials are the station's (the new password, or the old
        one until the new one has been used), else why not."""
        try:
            username, password = parse_authorization_basic(headers.get("Authorization", ""))
        except InvalidHeader:
            return "no or malformed HTTP Basic credentials"
        if username != station_id:
            return "basic-auth user differs from the station id"
        stored = station.password_hash
        if await _verify(password, stored):
            if station.old_password_hash is not None:
                # The new password is in use: the old one stops working (A01).
                await Station.filter(id=station_id, password_hash=stored).update(
                    old_password_hash=None
                )
                log.info("[%s] connected with its new password; the old one is retired", station_id)
                await self._record(station_id, "BasicAuthPasswordTakenOver", "old password retired")
            elif needs_rehash(stored):
                # Compare-and-set: an operator's new password in the meantime wins.
                iterations = await asyncio.to_thread(iterations_for, password)
                await Station.filter(id=station_id, password_hash=stored).update(
                    password_hash=hash_password(password, iterations)
                )
                log.info("[%s] password hash upgraded to the current scheme", station_id)
            return None
        if station.old_password_hash is not None and await _verify(
            password, station.old_password_hash
        ):
            return None
        return "wrong password"

    async def _take_over_profile(self, station_id: str, profile: int) -> None:
        await Station.filter(id=station_id, pending_profile=profile).update(
            security_profile=profile, pending_profile=None
        )
        log.info(
            "[%s] connected with security profile %d: lower ones now refused", station_id, profile
        )
        await self._record(station_id, "SecurityProfileRaised", f"now at least profile {profile}")

    async def _record(self, station_id: str, kind: str, info: str) -> None:
        if self.security_event is not None:
            await self.security_event(station_id, kind, info)

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


async def _verify(password: str, stored: str) -> bool:
    if is_slow_to_verify(stored):
        return await asyncio.to_thread(verify_password, password, stored)
    return verify_password(password, stored)  # ~0.2 ms: cheaper than a thread hop


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
