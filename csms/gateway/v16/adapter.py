"""The OCPP 1.6 adapter: each 1.6 station -> CSMS action translated to the 2.0.1 action of
the same meaning, answered by the same block services through 2.0.1's routes, and its
answer translated back. Answers come after the data is committed, as for 2.0.1.

Commands to a 1.6 station go through `prepare` (1.6 as is, 2.0.1 translated) and
`answered` (a station's configuration stored like a 2.0.1 device model report)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from csms.blocks.base import Clock, ocpp_time
from csms.blocks.meter import parse_timestamp
from csms.blocks.ports import CommandSender, Handler
from csms.blocks.transaction_ids import TransactionIds
from csms.gateway.v16 import configuration, messages, outbound
from csms.gateway.v16.outbound import Prepared
from csms.gateway.v16.sequence import SeqBook, kind_of
from csms.ocpp_errors import CommandError, ErrorCode, OcppError

log = logging.getLogger(__name__)

Payload = dict[str, Any]
#: The 2.0.1 routes: `(station_id, action, payload) -> response`, observers included.
Dispatch = Callable[[str, str, Payload], Awaitable[Payload]]
#: Records a station's event in its audit log: `(station_id, kind, payload)`.
Recorder = Callable[[str, str, Payload], Awaitable[Payload]]
#: The stored type of a token known by its value.
TokenType = Callable[[str], Awaitable[str]]


class V16Adapter:
    """Handlers for the 1.6 routes.

    :param cache_stations: stations whose transactions' seqNo books are kept in memory
        (each holds at most `cache_per_station` transactions); a miss costs one read of the
        transaction's stored events. A station's books are dropped when it reconnects:
        another process may have written its transactions meanwhile.
    """

    def __init__(
        self,
        dispatch: Dispatch,
        ids: TransactionIds,
        token_type: TokenType,
        record: Recorder,
        clock: Clock,
        commands: CommandSender | None = None,
        cache_stations: int = 20_000,
        cache_per_station: int = 16,
    ):
        self.dispatch = dispatch
        self.ids = ids
        self.token_type = token_type
        self.record = record
        self.clock = clock
        self.commands = commands
        self._tasks: set[asyncio.Task[None]] = set()
        self.cache_stations = cache_stations
        self.cache_per_station = cache_per_station
        self._books: OrderedDict[str, OrderedDict[str, SeqBook]] = OrderedDict()
        #: (station, connector) -> its transaction's id, as last started or stopped here.
        self._active: dict[tuple[str, int], int] = {}

    def routes(self) -> dict[str, Handler]:
        return {
            "BootNotification": self.boot_notification,
            "Heartbeat": self.heartbeat,
            "StatusNotification": self.status_notification,
            "Authorize": self.authorize,
            "StartTransaction": self.start_transaction,
            "MeterValues": self.meter_values,
            "StopTransaction": self.stop_transaction,
            "DataTransfer": self.data_transfer,
            "DiagnosticsStatusNotification": self.diagnostics_status_notification,
            "FirmwareStatusNotification": self.firmware_status_notification,
        }

    def forget_station(self, station_id: str) -> None:
        self._books.pop(station_id, None)
        for key in [key for key in self._active if key[0] == station_id]:
            del self._active[key]

    async def _book(self, station_id: str, transaction_id: str) -> SeqBook:
        books = self._books.setdefault(station_id, OrderedDict())
        self._books.move_to_end(station_id)
        book = books.get(transaction_id)
        if book is None:
            book = SeqBook.of(await self.ids.stored_events(station_id, transaction_id))
            books[transaction_id] = book
            while len(books) > self.cache_per_station:
                books.popitem(last=False)
            while len(self._books) > self.cache_stations:
                self._books.popitem(last=False)
        books.move_to_end(transaction_id)
        return book

    async def _numbered(self, station_id: str, event: Payload) -> Payload:
        """The event with its seqNo (see sequence.SeqBook)."""
        book = await self._book(station_id, event["transactionInfo"]["transactionId"])
        kind = kind_of(event["eventType"], event["triggerReason"], event)
        event["seqNo"] = book.number(kind, parse_timestamp(event["timestamp"]))
        return event

    # --- station -> CSMS ---------------------------------------------------------------

    async def boot_notification(self, station_id: str, payload: Payload) -> Payload:
        response = await self.dispatch(
            station_id, "BootNotification", messages.boot_notification(payload)
        )
        if response["status"] == "Accepted" and self.commands is not None:
            task = asyncio.create_task(self._ask_configuration(station_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return {key: response[key] for key in ("currentTime", "interval", "status")}

    async def _ask_configuration(self, station_id: str) -> None:
        assert self.commands is not None
        try:
            await self.commands.send(station_id, "GetConfiguration", {})
        except (CommandError, OcppError) as error:
            log.info("[%s] configuration not read: %s", station_id, error)
        except Exception:
            log.exception("[%s] configuration not read", station_id)

    async def close(self) -> None:
        """Cancel the configuration reads still waiting (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def heartbeat(self, station_id: str, payload: Payload) -> Payload:
        return await self.dispatch(station_id, "Heartbeat", {})

    async def status_notification(self, station_id: str, payload: Payload) -> Payload:
        now = ocpp_time(self.clock())
        await self.dispatch(
            station_id, "StatusNotification", messages.status_notification(payload, now)
        )
        if payload["errorCode"] != "NoError" or "info" in payload:
            # 2.0.1 reports errors as events: kept in the station's event log.
            await self.record(station_id, "StatusNotification", payload)
        connector = payload["connectorId"]
        transaction_id = self._active.get((station_id, connector))
        if transaction_id is not None and payload["status"] in messages.CHARGING_STATE:
            event = messages.charging_state(
                transaction_id, payload["status"], payload.get("timestamp") or now
            )
            await self.dispatch(
                station_id, "TransactionEvent", await self._numbered(station_id, event)
            )
        return {}

    async def authorize(self, station_id: str, payload: Payload) -> Payload:
        id_tag = payload["idTag"]
        token = messages.id_token(id_tag, await self.token_type(id_tag))
        response = await self.dispatch(station_id, "Authorize", {"idToken": token})
        return {"idTagInfo": messages.id_tag_info(response["idTokenInfo"])}

    async def start_transaction(self, station_id: str, payload: Payload) -> Payload:
        connector = payload["connectorId"]
        if connector < 1:
            raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "connectorId must be > 0")
        token_type = await self.token_type(payload["idTag"])
        transaction_id = await self.ids.assign(
            station_id,
            connector,
            parse_timestamp(payload["timestamp"]),
            payload["meterStart"],
            payload["idTag"],
        )
        event = messages.started(payload, transaction_id, token_type)
        response = await self.dispatch(
            station_id, "TransactionEvent", await self._numbered(station_id, event)
        )
        self._active[(station_id, connector)] = transaction_id
        log.debug(
            "[%s] transaction %d started on connector %d", station_id, transaction_id, connector
        )
        return {
            "transactionId": transaction_id,
            "idTagInfo": messages.id_tag_info(response.get("idTokenInfo")),
        }

    async def meter_values(self, station_id: str, payload: Payload) -> Payload:
        transaction_id = payload.get("transactionId")
        if transaction_id is None:
            values = messages.meter_values(payload["meterValue"])
            if values:
                await self.dispatch(
                    station_id,
                    "MeterValues",
                    {"evseId": payload["connectorId"], "meterValue": values},
                )
            return {}
        event = messages.updated(payload)
        await self.dispatch(station_id, "TransactionEvent", await self._numbered(station_id, event))
        return {}

    async def stop_transaction(self, station_id: str, payload: Payload) -> Payload:
        id_tag = payload.get("idTag")
        token_type = None if id_tag is None else await self.token_type(id_tag)
        transaction_id = payload["transactionId"]
        event = messages.ended(payload, token_type)
        response = await self.dispatch(
            station_id, "TransactionEvent", await self._numbered(station_id, event)
        )
        for key in [k for k, v in self._active.items() if k[0] == station_id]:
            if self._active[key] == transaction_id:
                del self._active[key]
        if id_tag is None:
            return {}
        return {"idTagInfo": messages.id_tag_info(response.get("idTokenInfo"))}

    async def data_transfer(self, station_id: str, payload: Payload) -> Payload:
        response = await self.dispatch(station_id, "DataTransfer", payload)
        return messages.data_transfer_response(response)

    async def diagnostics_status_notification(self, station_id: str, payload: Payload) -> Payload:
        await self.dispatch(
            station_id, "LogStatusNotification", messages.diagnostics_status(payload)
        )
        return {}

    async def firmware_status_notification(self, station_id: str, payload: Payload) -> Payload:
        await self.dispatch(station_id, "FirmwareStatusNotification", payload)
        return {}

    # --- CSMS -> station -----------------------------------------------------------------

    def prepare(self, action: str, payload: Payload) -> Prepared:
        return outbound.prepare(action, payload)

    async def answered(self, station_id: str, prepared: Prepared, response: Payload) -> None:
        """Store what an answer says about the station: its configuration keys."""
        if prepared.action == "GetConfiguration":
            keys = response.get("configurationKey") or []
        elif prepared.action == "ChangeConfiguration" and response["status"] in (
            "Accepted",
            "RebootRequired",
        ):
            request = prepared.payload
            keys = [{"key": request["key"], "value": request["value"], "readonly": False}]
        else:
            return
        if not keys:
            return
        report = {
            "requestId": 0,
            "generatedAt": ocpp_time(self.clock()),
            "seqNo": 0,
            "reportData": configuration.report_data(keys),
        }
        await self.dispatch(station_id, "NotifyReport", report)
