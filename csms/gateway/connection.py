"""One station's websocket: inbound CALLs in order, outbound CALLs one at a time.

OCPP-J allows one outstanding CALL per direction. Inbound CALLs are answered in arrival
order (each after its data is committed). Outbound CALLs wait their turn behind a FIFO
lock, at most `max_queued` of them; each waits `timeout` seconds for its answer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.gateway import ocppj, schemas
from csms.gateway.log_throttle import LogThrottle
from csms.gateway.ocppj import Call, CallError, CallResult, FrameError
from csms.gateway.v16.outbound import Prepared
from csms.ocpp_errors import (
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    ErrorCode,
    OcppError,
    StationNotConnected,
    wire_code,
)

log = logging.getLogger(__name__)

InboundHandler = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
#: Told of each CALL the connection refused itself: `(station_id, action, payload, error)`.
RefusalObserver = Callable[[str, str, Any, OcppError], None]

#: The websocket subprotocol each OCPP version is negotiated as.
SUBPROTOCOL_NAMES: dict[schemas.Version, str] = {
    "v16": "ocpp1.6",
    "v201": "ocpp2.0.1",
    "v21": "ocpp2.1",
}


class OutboundAdapter(Protocol):
    """Commands to a station of a version the services do not speak (1.6): what goes on
    the wire, and what the answer tells the CSMS about the station."""

    def prepare(self, action: str, payload: dict[str, Any]) -> Prepared: ...

    async def answered(
        self, station_id: str, prepared: Prepared, response: dict[str, Any]
    ) -> None: ...


class StationConnection:
    """The live link to one station.

    :param max_queued: outbound CALLs that may wait behind the outstanding one; more are
        refused at once with CommandQueueFull instead of piling up behind a slow station.
    :param timeout: seconds an outbound CALL waits for its CALLRESULT or CALLERROR.
    :param log_throttle: bounds what this station's bad frames write to the log; shared by
        the gateway so that reconnecting does not renew the budget.
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        station_id: str,
        websocket: ServerConnection,
        version: schemas.Version,
        handler: InboundHandler,
        *,
        timeout: float = 30.0,
        max_queued: int = 100,
        rejected: bool = False,
        log_throttle: LogThrottle | None = None,
        on_refused: RefusalObserver | None = None,
        outbound: OutboundAdapter | None = None,
    ):
        self.station_id = station_id
        self.websocket = websocket
        self.version = version
        self.handler = handler
        self.timeout = timeout
        self.max_queued = max_queued
        #: Registration Rejected at the last boot: only BootNotification is answered (B03).
        self.rejected = rejected
        self.log_throttle = log_throttle or LogThrottle()
        self.on_refused = on_refused
        self.outbound = outbound
        self._call_lock = asyncio.Lock()
        self._waiting = 0
        self._pending: tuple[str, str, asyncio.Future[dict[str, Any]]] | None = None
        self._prefix = f"{id(self):x}-"

    @property
    def idle(self) -> bool:
        """No command of ours is outstanding or waiting for this station."""
        return self._waiting == 0

    @property
    def subprotocol(self) -> str:
        return SUBPROTOCOL_NAMES[self.version]

    async def serve(self) -> None:
        """Read frames until the socket closes."""
        try:
            async for text in self.websocket:
                await self._on_frame(text)
        except ConnectionClosed:
            pass
        finally:
            if self._pending is not None and not self._pending[2].done():
                self._pending[2].set_exception(StationNotConnected(self.station_id))

    async def _on_frame(self, text: str | bytes) -> None:
        try:
            message = ocppj.parse_frame(text)
        except FrameError as error:
            if error.unique_id is None:
                self._log(logging.WARNING, "dropped unreadable frame: %s", error)
                return
            self._log(logging.INFO, "frame refused: %s %s", error.code, error)
            self._observe_refusal("", {}, OcppError(error.code, str(error)))
            await self._send(
                ocppj.call_error_frame(
                    error.unique_id, wire_code(error.code, self.version), str(error)
                )
            )
            return
        if isinstance(message, Call):
            await self._answer(message)
        else:
            self._resolve(message)

    def _observe_refusal(self, action: str, payload: Any, error: OcppError) -> None:
        if self.on_refused is None:
            return
        try:
            self.on_refused(self.station_id, action, payload, error)
        except Exception:
            log.exception("[%s] observer of a refusal failed", self.station_id)

    async def _answer(self, call: Call) -> None:
        try:
            try:
                schemas.validate(self.version, call.action, "Request", call.payload)
                if self.rejected and call.action != "BootNotification":
                    raise OcppError(
                        ErrorCode.SECURITY_ERROR,
                        "registration Rejected: send BootNotification first",
                    )
            except OcppError as refused:
                # Refused here, before any handler: the router's observers hear it from us.
                self._observe_refusal(call.action, call.payload, refused)
                raise
            response = await self.handler(self.station_id, call.action, call.payload)
            if call.action == "BootNotification":
                self.rejected = response["status"] == "Rejected"
        except OcppError as error:
            self._log(logging.INFO, "%s refused: %s %s", call.action, error.code, error)
            frame = ocppj.call_error_frame(
                call.unique_id,
                wire_code(error.code, self.version),
                error.description,
                error.details,
            )
        except Exception:
            self._log(logging.ERROR, "%s failed", call.action, exc_info=True)
            frame = ocppj.call_error_frame(
                call.unique_id,
                wire_code(ErrorCode.INTERNAL_ERROR, self.version),
                "the CSMS could not process this",
            )
        else:
            frame = ocppj.call_result_frame(call.unique_id, response)
        await self._send(frame)

    def _log(self, level: int, message: str, *args: object, exc_info: bool = False) -> None:
        """Log a record caused by the station, within its budget (see LogThrottle)."""
        if not log.isEnabledFor(level):
            return
        suppressed = self.log_throttle.admit(self.station_id, time.monotonic())
        if suppressed is None:
            return
        if suppressed:
            message += f" ({suppressed} similar records left out)"
        log.log(level, f"[%s] {message}", self.station_id, *args, exc_info=exc_info)

    def _resolve(self, message: CallResult | CallError) -> None:
        pending = self._pending
        if pending is None or pending[0] != message.unique_id or pending[2].done():
            self._log(logging.WARNING, "answer to unknown call %s", message.unique_id)
            return
        _, action, future = pending
        if isinstance(message, CallError):
            future.set_exception(
                CommandRejected(message.code, message.description, message.details)
            )
            return
        try:
            schemas.validate(self.version, action, "Response", message.payload)
        except OcppError as error:
            future.set_exception(CommandRejected(error.code, error.description, {}))
            return
        future.set_result(message.payload)

    async def _send(self, frame: str) -> None:
        try:
            await self.websocket.send(frame)
        except ConnectionClosed:
            log.info("[%s] closed before a frame could be sent", self.station_id)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one CALL and return the validated CALLRESULT payload.

        Raises OcppError (schema), CommandQueueFull, CommandTimeout, CommandRejected or
        StationNotConnected.
        """
        prepared = None
        if self.outbound is not None:
            prepared = self.outbound.prepare(action, payload)
            action, payload = prepared.action, prepared.payload
        schemas.validate(self.version, action, "Request", payload)
        if self._waiting >= self.max_queued + 1:
            raise CommandQueueFull(f"{self.max_queued} commands already wait for {self.station_id}")
        self._waiting += 1
        try:
            # One deadline for waiting behind other commands and for the answer: an operator
            # who was told "timeout" must not see the command run much later.
            async with asyncio.timeout(self.timeout), self._call_lock:
                unique_id = f"{self._prefix}{next(self._ids)}"
                future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._pending = (unique_id, action, future)
                try:
                    await self.websocket.send(ocppj.call_frame(unique_id, action, payload))
                    response = await future
                except ConnectionClosed as error:
                    raise StationNotConnected(self.station_id) from error
                finally:
                    self._pending = None
        except TimeoutError as error:
            raise CommandTimeout(
                f"{self.station_id} did not answer {action} within {self.timeout:g} s"
            ) from error
        finally:
            self._waiting -= 1
        if prepared is None or self.outbound is None:
            return response
        await self.outbound.answered(self.station_id, prepared, response)
        return prepared.back(response)

    async def close(self, reason: str) -> None:
        await self.websocket.close(1000, reason)
