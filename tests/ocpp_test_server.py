"""A test-only central system built on the `ocpp` library's server side.

It records every CALL the stations send, answers them (with configurable boot, authorize
and lost-response behaviour) and can send CALLs to a station. Loopback only, free port.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol


@dataclass(frozen=True, slots=True)
class Received:
    station_id: str
    action: str
    unique_id: str
    payload: dict[str, Any]


@dataclass(slots=True)
class Behaviour:
    """How the test CSMS answers; tests change it while stations run."""

    boot_statuses: list[str] = field(default_factory=list)  # consumed first, then Accepted
    heartbeat_interval: int = 300
    authorize_status: str = "Accepted"
    swallow: dict[str, int] = field(default_factory=dict)  # action -> CALLs left unanswered


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Central(ChargePoint):
    def __init__(self, station_id: str, connection: ServerConnection, csms: TestCsms) -> None:
        super().__init__(station_id, connection, response_timeout=5)
        self.csms = csms

    async def route_message(self, raw_msg: str) -> None:
        try:
            frame = json.loads(raw_msg)
            ok = isinstance(frame, list) and len(frame) >= 3
        except json.JSONDecodeError:
            ok = False
        if not ok:
            self.csms.malformed.append((self.id, raw_msg))
            self.csms.changed()
            return
        if frame[0] == 2:
            action = frame[2]
            self.csms.received.append(Received(self.id, action, frame[1], frame[3]))
            self.csms.changed()
            left = self.csms.behaviour.swallow.get(action, 0)
            if left > 0:
                self.csms.behaviour.swallow[action] = left - 1
                return
        await super().route_message(raw_msg)

    @on("BootNotification")
    def on_boot(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
        b = self.csms.behaviour
        status = b.boot_statuses.pop(0) if b.boot_statuses else "Accepted"
        interval = b.heartbeat_interval if status == "Accepted" else 1
        return call_result.BootNotification(current_time=_now(), interval=interval, status=status)

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        return call_result.Authorize(id_token_info={"status": self.csms.behaviour.authorize_status})

    @on("TransactionEvent")
    def on_transaction_event(self, **_: Any) -> Any:
        return call_result.TransactionEvent()

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on("NotifyReport")
    def on_notify_report(self, **_: Any) -> Any:
        return call_result.NotifyReport()

    @on("NotifyEVChargingNeeds")
    def on_needs(self, **_: Any) -> Any:
        return call_result.NotifyEVChargingNeeds(status="Accepted")

    @on("ReportChargingProfiles")
    def on_report_profiles(self, **_: Any) -> Any:
        return call_result.ReportChargingProfiles()


class TestCsms:
    """Start with `await csms.start()`; stations connect to `csms.url` + `/<stationId>`."""

    __test__ = False  # not a pytest test class

    def __init__(self, passwords: dict[str, str] | None = None) -> None:
        self.passwords = passwords
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        self.malformed: list[tuple[str, str]] = []
        self.connections: dict[str, _Central] = {}
        self.connects: dict[str, int] = {}
        self.rejected_auth = 0
        self._server: Server | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self.url = ""

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=[Subprotocol("ocpp2.0.1")],
            process_request=self._check_auth,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ocpp"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.passwords is None:
            return None
        station_id = request.path.rsplit("/", 1)[-1]
        expected = self.passwords.get(station_id)
        header = Headers(request.headers).get("Authorization", "")
        wanted = "Basic " + base64.b64encode(f"{station_id}:{expected}".encode()).decode()
        if expected is None or header != wanted:
            self.rejected_auth += 1
            self.changed()
            return connection.respond(401, "Unauthorized\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        station_id = connection.request.path.rsplit("/", 1)[-1]
        central = _Central(station_id, connection, self)
        self.connections[station_id] = central
        self.connects[station_id] = self.connects.get(station_id, 0) + 1
        self.changed()
        try:
            await central.start()
        except Exception:  # the station went away; that is what tests provoke
            pass
        finally:
            if self.connections.get(station_id) is central:
                del self.connections[station_id]
            self.changed()

    async def send(self, station_id: str, payload: Any) -> Any:
        """Send a CALL to a connected station and return its result."""
        return await self.connections[station_id].call(payload, suppress=False)

    def of(self, station_id: str, action: str) -> list[dict[str, Any]]:
        """Payloads (camelCase, as on the wire) of `action` CALLs from `station_id`."""
        return [
            r.payload for r in self.received if r.station_id == station_id and r.action == action
        ]

    def changed(self) -> None:
        for condition, future in list(self._waiters):
            if not future.done() and condition():
                future.set_result(None)

    async def wait_until(self, condition: Callable[[], bool], within_s: float = 10.0) -> None:
        if condition():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (condition, future)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, within_s)
        finally:
            self._waiters.remove(waiter)
