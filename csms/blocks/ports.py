"""The narrow ports services depend on instead of the whole CSMS or the socket layer.

The gateway implements `StationLinks` and `CommandSender` for one process; a cluster
implementation of the same ports can carry a command to the process holding the socket.
Unit tests build services from fakes of these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

from csms.db.writer import WriteOp
from csms.ocpp_errors import OcppError

T = TypeVar("T")

#: OCPP version of a link: "v16" (ocpp1.6, JSON), "v201" (ocpp2.0.1) or "v21" (ocpp2.1).
Version = Literal["v16", "v201", "v21"]

#: Answers one inbound CALL: `(station_id, payload) -> response payload`.
Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]

#: Sees a handled CALL after its response (and the data it acknowledges) is committed:
#: `(station_id, request payload, response payload)`. It must not block: spawn work.
AfterHook = Callable[[str, dict[str, Any], dict[str, Any]], None]

#: Sees a CALL its handler refused with a CALLERROR: `(station_id, payload, error)`.
ErrorHook = Callable[[str, dict[str, Any], OcppError], None]


#: The action an `ErrorHook` registers under to hear every CALLERROR of a station.
ANY_ACTION = "*"


class Observable(Protocol):
    """Where observers hook in (the gateway's Router): after answers, and after refusals."""

    def after(self, action: str, hook: AfterHook) -> None: ...

    def after_error(self, action: str, hook: ErrorHook) -> None:
        """`action` "*": every CALLERROR the station got, the gateway's refusals included."""
        ...


class CommandSender(Protocol):
    async def send(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The station's CALLRESULT payload for one CALL.

        Raises the command errors of `csms.ocpp_errors` (StationNotConnected, CommandTimeout,
        CommandQueueFull, CommandRejected) or OcppError when the payload breaks the schema.
        """
        ...


class StationLinks(Protocol):
    """Which stations have a live link, and the OCPP version each speaks."""

    def version(self, station_id: str) -> Version | None:
        """None when the station is not connected."""
        ...

    def is_connected(self, station_id: str) -> bool: ...

    def station_ids(self) -> list[str]: ...


class Writer(Protocol):
    """The durable writer: `submit` returns once the write is committed."""

    async def submit(self, op: WriteOp[T]) -> T: ...
