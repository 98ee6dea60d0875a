"""An emulated OCPP 2.0.1 charging station: the websocket client around the pure cores.

It boots, keeps its heartbeat, runs transactions for plugged-in EVs, obeys charging
profiles, keeps charging and queues TransactionEvents while offline, and injects faults.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import websockets
from ocpp.exceptions import OCPPError
from ocpp.v201 import call
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from charge_point_emulator.certificates import StationCertificates
from charge_point_emulator.clock import SimClock, ocpp_time
from charge_point_emulator.device_model import (
    DeviceModel,
    EvseHardware,
    GetStatus,
    SetStatus,
    VariableKey,
    chunks,
    standard_model,
)
from charge_point_emulator.displays_monitors import DisplayMessages, Monitors
from charge_point_emulator.ev import EvSpec, clamp_power, energy_needed_wh
from charge_point_emulator.evse import (
    ChargingState,
    ConnectorStatus,
    EvseState,
    PluggedEv,
    Transaction,
)
from charge_point_emulator.faults import Fault, FaultKind, FaultPlan
from charge_point_emulator.local_list import LocalList
from charge_point_emulator.ocpp_client import OcppClient
from charge_point_emulator.offline_queue import OfflineQueue, QueuedMessage, backoff_delay
from charge_point_emulator.profiles import (
    ProfileRejected,
    ProfileStore,
    Purpose,
    RateUnit,
    from_watts,
    profile_from_ocpp,
    profile_to_ocpp,
    share_station_max,
)
from charge_point_emulator.reservations import EvseView, ReservationBook
from charge_point_emulator.scenario import EvseSpec
from charge_point_emulator.security import StationSecurity
from charge_point_emulator.telemetry import Sensors, temperature_event
from charge_point_emulator.truth import StationTruth

logger = logging.getLogger(__name__)

TX_MEASURANDS = VariableKey("SampledDataCtrlr", "TxUpdatedMeasurands")

SUBPROTOCOL = Subprotocol("ocpp2.0.1")
REPORT_PART_SIZE = 20  # report entries per NotifyReport message
UNDER_DELIVERY_SHARE = 0.3  # what an EVSE with the under_delivery fault gives of its due
#: SecurityCtrlr variables the station acts on itself (not kept in the device model: the
#: password is write-only).
SECURITY_VARIABLES = frozenset({"BasicAuthPassword", "SecurityProfile"})


class ConnectionState(StrEnum):
    OFFLINE = "Offline"  # no socket (never connected, dropped, or backing off)
    CONNECTING = "Connecting"
    PENDING = "Pending"  # socket open, BootNotification not (yet) accepted
    ONLINE = "Online"  # booted and accepted


class StationStopped(Exception):
    """Raised by `wait_until` when the station stops before the condition holds."""


@dataclass(frozen=True, slots=True)
class SentCall:
    """A CALL the station sent, for tests: action, payload (camelCase) and message id."""

    action: str
    unique_id: str
    payload: Any


Waiter = tuple[Callable[[], bool], asyncio.Future[None]]


class EmulatedStation:
    """One emulated station with its EVSEs, driven by a simulated clock.

    Resource bounds: `max_queue` TransactionEvents (about 1 kB each) are held while
    offline; `response_timeout_s` (real seconds) bounds each CALL.

    It speaks OCPP 2.0.1; the `_..._request` and `_delivered` methods are where a station
    of another version (station16.EmulatedStation16) says the same in its own messages.
    """

    subprotocol: Subprotocol = SUBPROTOCOL

    def __init__(
        self,
        station_id: str,
        password: str | None,
        csms_url: str,
        evses: Sequence[EvseSpec] = (EvseSpec(),),
        clock: SimClock | None = None,
        heartbeat_interval_s: int = 300,
        sample_interval_s: int = 60,
        faults: Sequence[Fault] = (),
        truth: StationTruth | None = None,
        vendor: str = "Emulator",
        model: str = "EMU-2.0.1",
        seed: int | None = None,
        tick_real_s: float = 0.5,
        response_timeout_s: float | None = None,
        max_queue: int = 10_000,
        validate_schemas: bool = True,
        safety_telemetry: bool = False,
        security: StationSecurity | None = None,
        certificate_dir: Path | None = None,
    ) -> None:
        self.station_id = station_id
        self.password = password
        self.url = f"{csms_url.rstrip('/')}/{station_id}"
        #: Profile, TLS trust and client certificate; the CSMS may change them over OCPP.
        self.security = security or StationSecurity()
        self.certificates = StationCertificates(station_id, certificate_dir)
        self.clock = clock or SimClock()
        self.faults = FaultPlan(list(faults))
        self.truth = truth or StationTruth(station_id)
        self.vendor, self.model = vendor, model
        self.rng = random.Random(seed if seed is not None else station_id)
        self.tick_real_s = tick_real_s
        self.response_timeout_s = response_timeout_s or max(5.0, self.clock.real_seconds(30))
        self.validate_schemas = validate_schemas
        self.evses = {n: EvseState(n, spec) for n, spec in enumerate(evses, start=1)}
        self.sensors = {n: Sensors(ambient_c=self.rng.uniform(15.0, 30.0)) for n in self.evses}
        self.device_model: DeviceModel = standard_model(
            vendor,
            model,
            [
                EvseHardware(n, s.max_power_w, s.phases, s.dc, s.bidirectional)
                for n, s in enumerate(evses, start=1)
            ],
            heartbeat_interval_s,
            sample_interval_s,
            safety_telemetry,
        )
        #: Report the connector temperature (a preconfigured monitor's NotifyEvent).
        self.safety_telemetry = safety_telemetry
        self.profiles = ProfileStore()
        self.local_list = LocalList()
        self.reservations = ReservationBook()
        self.display_messages = DisplayMessages()
        self.monitors = Monitors()
        #: SetNetworkProfile data by configuration slot (stored, not dialled).
        self.network_profiles: dict[int, dict[str, Any]] = {}
        #: Set by a TriggerMessage BootNotification while Pending: boot again at once.
        self._boot_now = asyncio.Event()
        self.queue = OfflineQueue(max_queue)
        self.state = ConnectionState.OFFLINE
        self.boot_reason = "PowerUp"
        # BootNotification is sent after power-up and reset, not after a reconnect (B01);
        # a boot that was never accepted is retried on the next connection.
        self._needs_boot = True
        self.boots = 0  # accepted BootNotifications, for tests and the live view
        self.online_sessions = 0  # connections that got online (booted or not)
        self.sent: list[SentCall] = []
        self.keep_sent = False  # record outgoing CALLs (tests)
        self._client: Any = None  # the `ocpp` library's ChargePoint of this version
        self._ws: ClientConnection | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: list[asyncio.Task[None]] = []
        self._waiters: list[Waiter] = []
        self._queue_wakeup = asyncio.Event()
        self._hold_offline = False
        self._restore = asyncio.Event()
        self._reset_pending: str | None = None
        self._stopping = False
        self._last_tick = self.clock.now()
        self._last_status: dict[int, ConnectorStatus] = {}
        self._calls_in_flight = 0
        self._events = 0  # NotifyEvent eventIds

    @property
    def idle(self) -> bool:
        """Nothing queued to send, no CALL awaiting its answer, no spawned work running
        (answers to the CSMS's CALLs, status and authorization sends)."""
        return self.queue.peek() is None and not self._calls_in_flight and not self._tasks

    def activity(self) -> str:
        """What keeps the station from being idle, for diagnostics."""
        head = self.queue.peek()
        queued = type(head.payload).__name__ if head else None
        tasks = [task.get_name() for task in self._tasks]
        return f"queued={queued} calls={self._calls_in_flight} tasks={tasks}"

    def tick(self) -> None:
        """Bring energy, samples and departures up to the clock's now (the physics loop
        does this every `tick_real_s`; a driver of a stepped clock calls it per step)."""
        self._tick(self.clock.now())

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting, charging and the fault schedule; returns at once."""
        self._last_tick = self.clock.now()
        self._main = [
            asyncio.create_task(self._connection_loop(), name=f"{self.station_id}-conn"),
            asyncio.create_task(self._physics_loop(), name=f"{self.station_id}-physics"),
            asyncio.create_task(self._fault_loop(), name=f"{self.station_id}-faults"),
            *(
                asyncio.create_task(self._reboot_loop(f), name=f"{self.station_id}-reboots")
                for f in self.faults.pending
                if f.kind is FaultKind.REBOOT_LOOP
            ),
        ]

    async def stop(self) -> None:
        """Disconnect and stop every task (EVs stay plugged; nothing more is sent)."""
        self._stopping = True
        self._tick(self.clock.now())
        await cancel_and_wait([*self._main, *self._tasks])
        if self._ws is not None:
            await self._ws.close()
        self.state = ConnectionState.OFFLINE
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(StationStopped(self.station_id))
        self._waiters.clear()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` as a task owned by the station (cancelled on stop, errors logged)."""
        name = getattr(coro, "__qualname__", "task")
        task = asyncio.create_task(coro, name=f"{self.station_id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if isinstance(error, websockets.ConnectionClosed | TimeoutError):
                logger.info("%s: task ended: %r", self.station_id, error)
            else:
                logger.error("%s: task failed", self.station_id, exc_info=error)

    async def wait_until(self, condition: Callable[[], bool], within_s: float = 10.0) -> None:
        """Wait (real seconds) until `condition()` holds; it is checked on every change."""
        if condition():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (condition, future)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, within_s)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _changed(self) -> None:
        for condition, future in list(self._waiters):
            if not future.done() and condition():
                future.set_result(None)

    # --- connection ----------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        # At profile 3 the client certificate identifies the station: no Basic auth.
        if self.password is None or self.security.profile >= 3:
            return {}
        token = base64.b64encode(f"{self.station_id}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _connection_loop(self) -> None:
        attempt = 0
        while not self._stopping:
            online_before = self.online_sessions
            if self._hold_offline:
                await self._restore.wait()
                continue
            self.state = ConnectionState.CONNECTING
            self._changed()
            try:
                url = self.url
                if self.security.profile >= 2:
                    url = f"{self.security.base_url(url).rstrip('/')}/{self.station_id}"
                async with connect(
                    url,
                    ssl=self.security.ssl_context(),
                    subprotocols=[self.subprotocol],
                    additional_headers=self._headers(),
                    open_timeout=self.response_timeout_s,
                    max_size=2**20,
                ) as ws:
                    self._ws = ws
                    if ws.subprotocol != self.subprotocol:
                        raise ConnectionError(f"the CSMS did not agree to {self.subprotocol}")
                    await self._session(ws)
            except (OSError, TimeoutError, OCPPError, websockets.WebSocketException) as error:
                # OCPPError: the CSMS answered a boot with a CALLERROR or an invalid payload.
                logger.info("%s: connection failed: %r", self.station_id, error)
            finally:
                self._ws = None
                self._client = None
                self.state = ConnectionState.OFFLINE
                self._changed()
            if self.online_sessions > online_before:
                attempt = 0  # the back-off restarts after every connection that got online
            if self._stopping or self._hold_offline:
                continue
            delay = backoff_delay(
                attempt,
                self.device_model.int_value("OCPPCommCtrlr", "RetryBackOffWaitMinimum", 2),
                self.device_model.int_value("OCPPCommCtrlr", "RetryBackOffRandomRange", 10),
                self.device_model.int_value("OCPPCommCtrlr", "RetryBackOffRepeatTimes", 5),
                self.rng,
            )
            attempt += 1
            await self.clock.sleep(delay)

    async def _session(self, ws: ClientConnection) -> None:
        """One websocket connection: boot, then heartbeat, statuses and the queue."""
        client = self._client_for(ws)
        self._client = client
        reader = asyncio.create_task(client.start(), name=f"{self.station_id}-reader")
        workers: list[asyncio.Task[None]] = [reader]
        try:
            if self._needs_boot:
                self.state = ConnectionState.PENDING
                self._changed()
                await self._boot(reader)
            self.state = ConnectionState.ONLINE
            self.online_sessions += 1
            self._changed()
            for evse in self.evses.values():
                self._last_status.pop(evse.evse_id, None)
                self._emit_status(evse)
            workers += [
                asyncio.create_task(self._heartbeat_loop(), name=f"{self.station_id}-hb"),
                asyncio.create_task(self._sender_loop(), name=f"{self.station_id}-sender"),
            ]
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error
        finally:
            await cancel_and_wait(workers)

    def _client_for(self, ws: ClientConnection) -> Any:
        return OcppClient(self, ws)

    def _boot_request(self) -> Any:
        return call.BootNotification(
            charging_station={
                "model": self.model,
                "vendor_name": self.vendor,
                "serial_number": self.station_id,
                "firmware_version": "emulator-1",
            },
            reason=self.boot_reason,
        )

    def _heartbeat_request(self) -> Any:
        return call.Heartbeat()

    def _status_request(self, evse_id: int, status: ConnectorStatus) -> Any:
        return call.StatusNotification(
            timestamp=ocpp_time(self.clock.now()),
            connector_status=status.value,
            evse_id=evse_id,
            connector_id=1,
        )

    def _authorize_request(self, token: str) -> Any:
        return call.Authorize(id_token={"id_token": token, "type": "ISO14443"})

    def _authorization_status(self, response: Any) -> str:
        return str(response.id_token_info["status"])

    async def _boot(self, reader: asyncio.Task[None]) -> None:
        """BootNotification until Accepted; Pending/Rejected wait `interval` and retry."""
        attempt = 0
        while True:
            # Cleared before the boot is sent: a trigger that comes with its answer counts.
            self._boot_now.clear()
            response = await self._call(self._boot_request())
            interval = int(response.interval)
            if response.status == "Accepted":
                if interval > 0:
                    self.device_model.set(
                        VariableKey("OCPPCommCtrlr", "HeartbeatInterval"), str(interval)
                    )
                self.boots += 1
                self._needs_boot = False
                return
            logger.info("%s: boot %s, retrying", self.station_id, response.status)
            wait = interval or backoff_delay(attempt, 2, 10, 5, self.rng)
            attempt += 1
            # The CSMS may ask for the boot sooner with TriggerMessage (B02.FR.xx).
            waits = [
                asyncio.create_task(self.clock.sleep(wait)),
                asyncio.create_task(self._boot_now.wait()),
            ]
            try:
                await asyncio.wait([*waits, reader], return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait(waits)
            if reader.done():
                raise ConnectionError("connection closed while booting")

    async def _heartbeat_loop(self) -> None:
        while True:
            await self.clock.sleep(
                self.device_model.int_value("OCPPCommCtrlr", "HeartbeatInterval", 300)
            )
            await self._call_quietly(self._heartbeat_request())

    async def _call(self, payload: Any, unique_id: str | None = None) -> Any:
        """Send one CALL and return its result; raises when offline or on a CALLERROR."""
        client = self._client
        if client is None:
            raise ConnectionError("offline")
        unique_id = unique_id or str(uuid.uuid4())
        action = type(payload).__name__
        if self.keep_sent:
            self.sent.append(SentCall(action, unique_id, payload))
        if self.faults.take(FaultKind.LOSE_RESPONSE, self.clock.elapsed(), action):
            client.lost_ids.add(unique_id)
        self._calls_in_flight += 1
        try:
            return await client.call(
                payload,
                suppress=False,
                unique_id=unique_id,
                skip_schema_validation=not self.validate_schemas,
            )
        finally:
            self._calls_in_flight -= 1

    async def _call_quietly(self, payload: Any) -> Any:
        """A CALL whose failure only gets logged (status, reports): returns None then."""
        try:
            return await self._call(payload)
        except (ConnectionError, TimeoutError, OCPPError, websockets.ConnectionClosed) as error:
            logger.info("%s: %s not delivered: %r", self.station_id, type(payload).__name__, error)
            return None

    # --- transaction event queue -----------------------------------------------------------

    def _enqueue(self, payload: Any, droppable: bool = False) -> None:
        if not self.queue.push(QueuedMessage(str(uuid.uuid4()), payload, droppable)):
            logger.warning("%s: offline queue full, event lost", self.station_id)
        self._queue_wakeup.set()
        self._changed()

    async def _sender_loop(self) -> None:
        """Deliver queued TransactionEvents in order; resend the same message on a lost
        response, up to MessageAttempts, MessageAttemptInterval apart."""
        attempts_key = VariableKey(
            "OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent"
        )
        interval_key = VariableKey(
            "OCPPCommCtrlr", "MessageAttemptInterval", variable_instance="TransactionEvent"
        )
        while True:
            head = self.queue.peek()
            if head is None:
                self._queue_wakeup.clear()
                await self._queue_wakeup.wait()
                continue
            max_attempts = int(self.device_model.value(attempts_key))
            payload = self._outgoing(head.payload)
            if payload is None:
                logger.warning("%s: dropping %s: it can no longer be sent", self.station_id, head)
                self.queue.pop()
                self._changed()
                continue
            for attempt in range(1, max_attempts + 1):
                try:
                    response = await self._call(payload, unique_id=head.unique_id)
                except TimeoutError:
                    logger.info("%s: no response to %s", self.station_id, head.unique_id)
                    if attempt < max_attempts:
                        await self.clock.sleep(int(self.device_model.value(interval_key)) * attempt)
                    continue
                except OCPPError as error:
                    logger.warning("%s: CSMS refused %s: %r", self.station_id, head.payload, error)
                    if attempt < max_attempts:
                        await self.clock.sleep(int(self.device_model.value(interval_key)) * attempt)
                    continue
                self._delivered(head.payload, response)
                break
            else:
                logger.warning(
                    "%s: dropping %s after %d attempts",
                    self.station_id,
                    head.unique_id,
                    max_attempts,
                )
            self.queue.pop()
            self._changed()

    def _outgoing(self, payload: Any) -> Any:
        """A queued message as it is sent now (None: it can no longer be sent)."""
        return payload

    def _delivered(self, request: Any, response: Any) -> None:
        """The CSMS answered a queued message."""
        if isinstance(request, call.TransactionEvent):
            self._acknowledged(request)
            self._handle_tx_response(request, response)

    def _acknowledged(self, request: Any) -> None:
        """Record in the truth the registers of a TransactionEvent the CSMS acknowledged."""
        registers = {
            sample["measurand"]: float(sample["value"])
            for meter in request.meter_value or ()
            for sample in meter["sampled_value"]
        }
        if "Energy.Active.Import.Register" in registers:
            self.truth.acknowledge(
                request.transaction_info["transaction_id"],
                registers["Energy.Active.Import.Register"],
                registers.get("Energy.Active.Export.Register", 0.0),
            )

    def _handle_tx_response(self, request: Any, response: Any) -> None:
        info = getattr(response, "id_token_info", None)
        if not info or info.get("status") == "Accepted":
            return
        tx_id = request.transaction_info["transaction_id"]
        for evse in self.evses.values():
            if evse.tx is not None and evse.tx.transaction_id == tx_id:
                self._end_transaction(evse, "Deauthorized", "DeAuthorized", self.clock.now())

    # --- status notifications --------------------------------------------------------------

    def _emit_status(self, evse: EvseState) -> None:
        status = evse.wanted_status()
        evse.status = status
        if (
            self.state is not ConnectionState.ONLINE
            or self._last_status.get(evse.evse_id) == status
        ):
            self._changed()
            return
        self._last_status[evse.evse_id] = status
        self.spawn(self._send_status(evse.evse_id, status))
        self._changed()

    async def _send_status(self, evse_id: int, status: ConnectorStatus) -> None:
        result = await self._call_quietly(self._status_request(evse_id, status))
        if result is None:
            # Not delivered: send again on the next reconnect.
            self._last_status.pop(evse_id, None)

    # --- EV and driver actions (used by the fleet and by tests) ----------------------------

    def plug_in(
        self,
        evse_id: int,
        ev: EvSpec,
        soc: float = 0.3,
        target_soc: float = 0.8,
        stay_s: float = 3600.0,
        id_token: str = "EMULATED",
    ) -> None:
        """An EV arrives and plugs into `evse_id`; it leaves `stay_s` simulated seconds later."""
        evse = self.evses[evse_id]
        if evse.ev is not None:
            raise ValueError(f"EVSE {evse_id} of {self.station_id} is occupied")
        now = self.clock.now()
        self._tick(now)
        evse.ev = PluggedEv(ev, soc, target_soc, now + timedelta(seconds=stay_s), now, id_token)
        self._emit_status(evse)
        if ev.iso15118:
            self.spawn(self._send_charging_needs(evse))
        if evse.remote_start is not None:
            token, remote_id, token_type = evse.remote_start
            evse.remote_start = None
            self._start_transaction(evse, token, "RemoteStart", remote_id, token_type)

    def present_token(self, evse_id: int, id_token: str | None = None) -> None:
        """The driver presents an RFID card: Authorize, then start the transaction."""
        evse = self.evses[evse_id]
        token = id_token or (evse.ev.id_token if evse.ev else "EMULATED")
        self.spawn(self._authorize_and_start(evse, token))

    def arrive(
        self,
        evse_id: int,
        ev: EvSpec,
        soc: float,
        target_soc: float,
        stay_s: float,
        id_token: str,
    ) -> None:
        """Plug in and present the token, as a driver does."""
        self.plug_in(evse_id, ev, soc, target_soc, stay_s, id_token)
        self.present_token(evse_id, id_token)

    def unplug(self, evse_id: int) -> None:
        """The EV leaves: the transaction (if any) ends with EVDeparted."""
        now = self.clock.now()
        self._tick(now)
        self._unplug(self.evses[evse_id], now)

    def _unplug(self, evse: EvseState, now: datetime) -> None:
        if evse.tx is not None:
            self._end_transaction(evse, "EVDeparted", "EVDisconnected", now)
        evse.ev = None
        evse.power_w = 0.0
        if evse.pending_operative is not None:
            evse.operative = evse.pending_operative
            evse.pending_operative = None
        self._emit_status(evse)

    async def drop_connection(self, duration_s: float | None = None) -> None:
        """Close the socket and stay offline for `duration_s` simulated seconds (or until
        `restore_connection`)."""
        self._hold_offline = True
        self._restore.clear()
        ws = self._ws
        if ws is not None:
            await ws.close()
        if duration_s is not None:
            self.spawn(self._restore_later(duration_s))

    async def _restore_later(self, duration_s: float) -> None:
        await self.clock.sleep(duration_s)
        self.restore_connection()

    def restore_connection(self) -> None:
        self._hold_offline = False
        self._restore.set()

    async def _authorize_and_start(self, evse: EvseState, token: str) -> None:
        status = "Accepted"
        group = None
        if self.state is ConnectionState.ONLINE:
            response = await self._call_quietly(self._authorize_request(token))
            if response is not None:
                status = self._authorization_status(response)
                # 1.6 answers carry id_tag_info (no group); 2.0.1 id_token_info.
                info = getattr(response, "id_token_info", None) or {}
                group = (info.get("group_id_token") or {}).get("id_token")
        if not self.reservations.admits(evse.evse_id, token, group):
            logger.info("%s: EVSE %d is reserved for another", self.station_id, evse.evse_id)
            return
        # Offline (or no answer): LocalAuthorizeOffline lets the driver charge anyway.
        if status != "Accepted" or evse.ev is None or evse.tx is not None:
            logger.info("%s: token %s not accepted (%s)", self.station_id, token, status)
            return
        self._start_transaction(evse, token, "Authorized", None)

    def _start_transaction(
        self,
        evse: EvseState,
        token: str,
        trigger: str,
        remote_start_id: int | None,
        token_type: str = "ISO14443",
    ) -> None:
        now = self.clock.now()
        self._tick(now)
        self._begin(evse, token, trigger, remote_start_id, now, token_type)

    def _begin(
        self,
        evse: EvseState,
        token: str,
        trigger: str,
        remote_start_id: int | None,
        now: datetime,
        token_type: str = "ISO14443",
    ) -> None:
        tx = Transaction(
            str(uuid.uuid4()), now, token, remote_start_id=remote_start_id, id_token_type=token_type
        )
        evse.tx = tx
        reservation = self.reservations.on_evse(evse.evse_id)
        if reservation is not None:
            # The reservation ends with the transaction it was for (H01.FR.xx).
            self.reservations.cancel(reservation.reservation_id)
            evse.reserved = False
        self.truth.start(tx.transaction_id, evse.evse_id, now)
        self._allocate(now)
        tx.charging_state = self._charging_state(evse)
        interval = self.device_model.int_value("SampledDataCtrlr", "TxUpdatedInterval", 60)
        tx.next_sample_at = now + timedelta(seconds=interval) if interval > 0 else None
        started = self._tx_event(evse, "Started", trigger, now, "Transaction.Begin", id_token=True)
        if reservation is not None:
            started.reservation_id = reservation.reservation_id
        self._enqueue(started)

    def _end_transaction(self, evse: EvseState, trigger: str, reason: str, now: datetime) -> None:
        tx = evse.tx
        if tx is None:
            return
        evse.power_w = 0.0
        tx.charging_state = ChargingState.EV_CONNECTED if evse.ev else ChargingState.IDLE
        self._enqueue(
            self._tx_event(evse, "Ended", trigger, now, "Transaction.End", stopped_reason=reason)
        )
        self.truth.end(tx.transaction_id, now)
        self.profiles.end_transaction(tx.transaction_id)
        evse.tx = None
        self._changed()

    def _tx_event(
        self,
        evse: EvseState,
        event_type: str,
        trigger: str,
        now: datetime,
        context: str,
        id_token: bool = False,
        stopped_reason: str | None = None,
    ) -> Any:
        tx = evse.tx
        assert tx is not None  # callers hold a transaction
        info: dict[str, Any] = {
            "transaction_id": tx.transaction_id,
            "charging_state": tx.charging_state.value,
        }
        if stopped_reason:
            info["stopped_reason"] = stopped_reason
        if tx.remote_start_id is not None and event_type == "Started":
            info["remote_start_id"] = tx.remote_start_id
        return call.TransactionEvent(
            event_type=event_type,
            timestamp=ocpp_time(now),
            trigger_reason=trigger,
            seq_no=tx.next_seq(),
            transaction_info=info,
            meter_value=[self._metered(evse, now, context)],
            offline=True if self.state is not ConnectionState.ONLINE else None,
            evse={"id": evse.evse_id, "connector_id": 1},
            id_token={"id_token": tx.id_token, "type": tx.id_token_type} if id_token else None,
        )

    def _metered(self, evse: EvseState, now: datetime, context: str) -> dict[str, Any]:
        """The EVSE's meter value as its (possibly faulty) sensors report it; the connector
        temperature goes ahead of it in a NotifyEvent (no 2.0.1 measurand carries it)."""
        sensors = self.sensors[evse.evse_id]
        meter_value = sensors.instrument(
            evse.meter_value(now, context),
            evse.evse_id,
            evse.spec,
            evse.power_w,
            evse.import_wh,
            evse.ev.soc if evse.ev else None,
            self.clock.elapsed(),
            self.faults,
            self.rng,
            frozenset(self.device_model.value(TX_MEASURANDS).split(",")),
        )
        if self.safety_telemetry and sensors.reported_c is not None:
            self._events += 1
            event = temperature_event(
                evse.evse_id,
                sensors.reported_c,
                ocpp_time(now),
                self._events,
                evse.tx.transaction_id if evse.tx else None,
            )
            self._enqueue(
                call.NotifyEvent(generated_at=ocpp_time(now), seq_no=0, event_data=[event]),
                droppable=True,
            )
        return meter_value

    async def _send_charging_needs(self, evse: EvseState) -> None:
        ev = evse.ev
        if ev is None or self.state is not ConnectionState.ONLINE:
            return
        energy = int(energy_needed_wh(ev.spec, ev.soc, ev.target_soc))
        needs: dict[str, Any] = {"departure_time": ocpp_time(ev.departure)}
        if evse.spec.dc:
            needs["requested_energy_transfer"] = "DC"
            needs["dc_charging_parameters"] = {
                "ev_max_current": int(ev.spec.max_dc_w / 400),
                "ev_max_voltage": 400,
                "energy_amount": energy,
                "ev_max_power": int(ev.spec.max_dc_w),
                "state_of_charge": int(ev.soc * 100),
                "ev_energy_capacity": int(ev.spec.capacity_wh),
                "full_soc": int(ev.target_soc * 100),
            }
        else:
            phases = evse.spec.phases
            needs["requested_energy_transfer"] = (
                "AC_three_phase" if phases == 3 else "AC_single_phase"
            )
            needs["ac_charging_parameters"] = {
                "energy_amount": energy,
                "ev_min_current": 6,
                "ev_max_current": int(ev.spec.max_ac_w / (phases * 230)),
                "ev_max_voltage": 230,
            }
        await self._call_quietly(
            call.NotifyEVChargingNeeds(charging_needs=needs, evse_id=evse.evse_id)
        )

    # --- physics: power, energy, sampling, departures ---------------------------------------

    async def _physics_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_real_s)
            self._tick(self.clock.now())

    def _tick(self, now: datetime) -> None:
        """Integrate energy up to `now`, then act on departures, samples and limits.

        The interval is cut where a charging profile changes its limit, so the power drawn
        follows the profiles to the second, whatever the tick length.
        """
        if now <= self._last_tick:
            return
        anchors = {
            e.evse_id: e.tx.started_at if e.tx else self._last_tick for e in self.evses.values()
        }
        for edge in [*self.profiles.change_points(self._last_tick, now, anchors), now]:
            self._integrate(self._last_tick, edge)
            self._last_tick = edge
            if edge != now and not self._stopping:
                self._allocate(edge)
        if self._stopping:
            return
        self._allocate(now)
        for evse in self.evses.values():
            tx = evse.tx
            if tx is None:
                continue
            state = self._charging_state(evse)
            if state is not tx.charging_state:
                tx.charging_state = state
                self._enqueue(
                    self._tx_event(evse, "Updated", "ChargingStateChanged", now, "Sample.Periodic")
                )
            if tx.next_sample_at is not None and now >= tx.next_sample_at:
                interval = timedelta(
                    seconds=max(
                        self.device_model.int_value("SampledDataCtrlr", "TxUpdatedInterval", 60), 1
                    )
                )
                # Keep the cadence of the interval rather than drifting by a tick each time.
                while tx.next_sample_at <= now:
                    tx.next_sample_at += interval
                self._enqueue(
                    self._tx_event(evse, "Updated", "MeterValuePeriodic", now, "Sample.Periodic"),
                    droppable=True,
                )
        for ended in self.reservations.expire(now):
            self.evses[ended.evse_id].reserved = False
            self._emit_status(self.evses[ended.evse_id])
            self.spawn(self._reservation_ended(ended.reservation_id, "Expired"))
        if self._reset_pending == "OnIdle" and all(e.tx is None for e in self.evses.values()):
            self._reset_pending = None
            self.spawn(self._reboot())
        self._changed()

    def _integrate(self, start: datetime, end: datetime) -> None:
        """Energy from `start` to `end` at the powers set; EVs leave at their departure."""
        for evse in self.evses.values():
            # An EV that left during the interval drew power only until its departure.
            leaving = evse.ev is not None and evse.ev.departure <= end and not self._stopping
            until = min(end, evse.ev.departure) if leaving and evse.ev else end
            held = max(0.0, (until - start).total_seconds())
            if evse.power_w != 0 and held > 0:
                energy = evse.integrate(held)
                tx_id = evse.tx.transaction_id if evse.tx else None
                self.truth.add(evse.evse_id, tx_id, start, held, energy * 3600.0 / held)
            if leaving:
                self._unplug(evse, until)

    def _charging_state(self, evse: EvseState) -> ChargingState:
        if evse.ev is None:
            return ChargingState.IDLE
        if evse.power_w != 0:
            return ChargingState.CHARGING
        if evse.ev.soc >= evse.ev.target_soc or evse.ev.soc >= 1.0:
            return ChargingState.SUSPENDED_EV
        return ChargingState.SUSPENDED_EVSE

    def evse_limit_w(self, evse: EvseState, now: datetime) -> float:
        """The composite limit on an EVSE now, capped by its hardware (W, may be negative)."""
        tx = evse.tx
        anchor = tx.started_at if tx else now
        limit = self.profiles.limit_w(evse.evse_id, now, tx.transaction_id if tx else None, anchor)
        hardware = evse.spec.max_power_w
        if self.faults.holds(FaultKind.IGNORES_PROFILE, self.clock.elapsed(), evse.evse_id):
            return hardware
        allowed = hardware if limit is None else min(limit, hardware)
        if self.faults.holds(FaultKind.UNDER_DELIVERY, self.clock.elapsed(), evse.evse_id):
            return UNDER_DELIVERY_SHARE * allowed
        return allowed

    def _allocate(self, now: datetime) -> None:
        """Set each EVSE's power: the EV's demand within its composite limit, and the
        station total within ChargingStationMaxProfile (shared in proportion)."""
        demand: dict[int, float] = {}
        for evse in self.evses.values():
            if evse.ev is None or evse.tx is None or not evse.operative:
                evse.power_w = 0.0
                continue
            limit = self.evse_limit_w(evse, now)
            if limit < 0 and not evse.spec.bidirectional:
                limit = 0.0
            if limit < 0:
                limit = max(limit, -evse.spec.max_power_w)
            demand[evse.evse_id] = clamp_power(
                evse.ev.spec, evse.ev.soc, limit, evse.spec.dc, evse.ev.target_soc
            )
        shared = share_station_max(demand, self.profiles.station_max_w(now, now))
        for evse_id, power in shared.items():
            self.evses[evse_id].power_w = power

    # --- answers to CSMS CALLs ---------------------------------------------------------

    def get_variable(self, data: dict[str, Any]) -> dict[str, Any]:
        key = _key(data)
        attribute = data.get("attribute_type", "Actual")
        status, value = self.device_model.get(key, attribute)
        result: dict[str, Any] = {
            "attribute_status": status.value,
            "component": data["component"],
            "variable": data["variable"],
            "attribute_type": attribute,
        }
        if status is GetStatus.ACCEPTED:
            result["attribute_value"] = value
        return result

    def set_variable(self, data: dict[str, Any]) -> dict[str, Any]:
        key = _key(data)
        attribute = data.get("attribute_type", "Actual")
        if key.component == "SecurityCtrlr" and key.variable in SECURITY_VARIABLES:
            status = self._set_security(key.variable, data["attribute_value"])
        else:
            status = self.device_model.set(key, data["attribute_value"], attribute)
        if status is SetStatus.ACCEPTED and key.variable == "HeartbeatInterval":
            logger.info("%s: heartbeat interval now %s", self.station_id, data["attribute_value"])
        return {
            "attribute_status": status.value,
            "component": data["component"],
            "variable": data["variable"],
            "attribute_type": attribute,
        }

    async def send_report(self, request_id: int, report_base: str) -> None:
        data = self.device_model.report(configuration_only=report_base == "ConfigurationInventory")
        if report_base == "SummaryInventory":
            data = [d for d in data if d["variable"]["name"] in ("Available", "AvailabilityState")]
        parts = list(chunks(data, REPORT_PART_SIZE))
        for seq_no, part in enumerate(parts):
            await self._call_quietly(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=ocpp_time(self.clock.now()),
                    seq_no=seq_no,
                    report_data=part or None,
                    tbc=seq_no < len(parts) - 1,
                )
            )

    def reset_status(self, kind: str) -> str:
        busy = any(e.tx is not None for e in self.evses.values())
        return "Scheduled" if kind == "OnIdle" and busy else "Accepted"

    def _set_security(self, variable: str, value: str) -> SetStatus:
        """SecurityCtrlr.BasicAuthPassword (A01): used from the next connection on, which
        the station opens at once; SecurityProfile (A05): used after the next reset."""
        if variable == "BasicAuthPassword":
            if not 16 <= len(value) <= 40:
                return SetStatus.REJECTED
            self.password = value
            self.spawn(self._reconnect_soon())
            return SetStatus.ACCEPTED
        if value not in ("1", "2", "3") or int(value) < self.security.profile:
            return SetStatus.REJECTED
        if int(value) >= 2 and self.security.tls_url is None:
            return SetStatus.REJECTED  # no wss endpoint configured
        if int(value) == 3 and not self.security.client_cert:
            return SetStatus.REJECTED  # A05.FR.04: no certificate to connect with
        self.security.pending_profile = int(value)
        return SetStatus.ACCEPTED

    def certificate_signed(self, chain_pem: str) -> str:
        """CertificateSigned: keep the chain; profile 3 connects with it from now on."""
        status, cert_path, key_path = self.certificates.accept_signed(chain_pem)
        if status == "Accepted" and cert_path is not None and key_path is not None:
            self.security.client_cert, self.security.client_key = str(cert_path), str(key_path)
        logger.info("%s: CertificateSigned %s", self.station_id, status)
        return status

    async def request_certificate(self) -> str:
        """SignCertificate with a fresh key's CSR (A02); the CSMS's answer status."""
        response = await self._call(
            call.SignCertificate(
                csr=self.certificates.new_csr(), certificate_type="ChargingStationCertificate"
            )
        )
        return str(response.status)

    async def authorize_contract(
        self, emaid: str, chain_hash_data: list[dict[str, str]]
    ) -> dict[str, Any]:
        """Authorize for Plug & Charge (C07): the contract's eMAID and the OCSP request
        data of its certificate chain; the CSMS's answer (snake_case)."""
        response = await self._call(
            call.Authorize(
                id_token={"id_token": emaid, "type": "eMAID"},
                iso15118_certificate_hash_data=chain_hash_data,
            )
        )
        return {
            "id_token_info": response.id_token_info,
            "certificate_status": response.certificate_status,
        }

    async def _reconnect_soon(self) -> None:
        """Close the link once the SetVariables answer is out; the loop reconnects."""
        await asyncio.sleep(0.05)
        if self._ws is not None:
            await self._ws.close()

    def after_reset(self, kind: str) -> None:
        busy = any(e.tx is not None for e in self.evses.values())
        if kind == "OnIdle" and busy:
            self._reset_pending = "OnIdle"
            return
        self._reset_pending = None  # an immediate reset supersedes a scheduled one
        now = self.clock.now()
        self._tick(now)
        for evse in self.evses.values():
            self._end_transaction(evse, "ResetCommand", "ImmediateReset", now)
        self.spawn(self._reboot())

    async def reboot(self, reason: str = "RemoteReset") -> None:
        """Reconnect and boot again; running transactions go on (resumed after the boot)."""
        await self._reboot(reason)

    async def _reboot(self, reason: str = "RemoteReset") -> None:
        """Reconnect and boot again with `reason` (EVs stay plugged in)."""
        self.boot_reason = reason
        self._needs_boot = True
        self.security.take_pending_profile()
        if self._ws is not None:
            await self._ws.close()

    async def lose_power(self) -> None:
        """A power cut: running transactions are lost without an Ended event (with what
        was queued of them), EVs stay plugged in, and the station boots again (PowerUp)
        without resuming them, as many do."""
        now = self.clock.now()
        self._tick(now)
        lost: set[str] = set()
        for evse in self.evses.values():
            if evse.tx is not None:
                lost.add(evse.tx.transaction_id)
                self.truth.end(evse.tx.transaction_id, now)
                self.profiles.end_transaction(evse.tx.transaction_id)
                evse.tx = None
                evse.power_w = 0.0
        # Offline until the link's tasks are gone, so no message of them is on the wire.
        self._hold_offline = True
        self._restore.clear()
        if self._ws is not None:
            await self._ws.close()
        await self.wait_until(lambda: self.state is ConnectionState.OFFLINE, within_s=30)
        self.queue.discard(
            lambda m: (
                isinstance(m.payload, call.TransactionEvent)
                and m.payload.transaction_info["transaction_id"] in lost
            )
        )
        self.boot_reason = "PowerUp"
        self._needs_boot = True
        self.restore_connection()

    async def triggered(self, message: str, evse_id: int | None) -> None:
        now = self.clock.now()
        targets = [self.evses[evse_id]] if evse_id in self.evses else list(self.evses.values())
        if message == "BootNotification" and self.state is ConnectionState.PENDING:
            self.boot_reason = "Triggered"
            self._boot_now.set()
        elif message == "BootNotification":
            await self._call_quietly(
                call.BootNotification(
                    charging_station={"model": self.model, "vendor_name": self.vendor},
                    reason="Triggered",
                )
            )
        elif message == "Heartbeat":
            await self._call_quietly(self._heartbeat_request())
        elif message == "SignChargingStationCertificate":
            await self.request_certificate()
        elif message == "StatusNotification":
            for evse in targets:
                await self._send_status(evse.evse_id, evse.wanted_status())
        elif message == "MeterValues":
            for evse in targets:
                await self._call_quietly(
                    call.MeterValues(
                        evse_id=evse.evse_id, meter_value=[evse.meter_value(now, "Trigger")]
                    )
                )
        elif message == "TransactionEvent":
            self._tick(now)
            for evse in targets:
                if evse.tx is not None:
                    self._enqueue(self._tx_event(evse, "Updated", "Trigger", now, "Trigger"))

    def remote_start(
        self,
        token: str,
        remote_start_id: int,
        evse_id: int | None,
        profile: dict[str, Any] | None,
        token_type: str = "ISO14443",
    ) -> tuple[str, str | None]:
        candidates = [
            e
            for e in self.evses.values()
            if (evse_id is None or e.evse_id == evse_id) and e.tx is None and e.operative
        ]
        if not candidates:
            return "Rejected", None
        plugged = [e for e in candidates if e.ev is not None]
        evse = (plugged or candidates)[0]
        if evse.ev is None:
            # Wait for the EV: the transaction starts when it plugs in.
            evse.remote_start = (token, remote_start_id, token_type)
            return "Accepted", None
        self._start_transaction(evse, token, "RemoteStart", remote_start_id, token_type)
        assert evse.tx is not None
        if profile is not None:
            self.set_charging_profile(evse.evse_id, profile)
        return "Accepted", evse.tx.transaction_id

    def remote_stop(self, transaction_id: str) -> str:
        for evse in self.evses.values():
            if evse.tx is not None and evse.tx.transaction_id == transaction_id:
                now = self.clock.now()
                self._tick(now)
                self._end_transaction(evse, "RemoteStop", "Remote", now)
                return "Accepted"
        return "Rejected"

    def transaction_status(self, transaction_id: str | None) -> tuple[bool, bool]:
        """(transaction ongoing, messages of it still queued)."""
        ongoing = any(
            e.tx is not None and e.tx.transaction_id == transaction_id for e in self.evses.values()
        )
        if transaction_id is None:
            return ongoing, len(self.queue) > 0
        queued = any(
            m.payload.transaction_info["transaction_id"] == transaction_id for m in self.queue
        )
        return ongoing, queued

    def unlock(self, evse_id: int, connector_id: int) -> str:
        evse = self.evses.get(evse_id)
        if evse is None or connector_id != 1:
            return "UnknownConnector"
        if evse.tx is not None:
            return "OngoingAuthorizedTransaction"
        return "Unlocked"

    def change_availability(self, operative: bool, evse_id: int | None) -> str:
        targets = [self.evses[evse_id]] if evse_id else list(self.evses.values())
        if evse_id and evse_id not in self.evses:
            return "Rejected"
        scheduled = False
        for evse in targets:
            if evse.tx is not None and not operative:
                evse.pending_operative = operative
                scheduled = True
                continue
            evse.operative = operative
            self._emit_status(evse)
        return "Scheduled" if scheduled else "Accepted"

    def set_charging_profile(self, evse_id: int, data: dict[str, Any]) -> tuple[str, str | None]:
        if self.faults.take(FaultKind.REJECT_PROFILE, self.clock.elapsed(), "SetChargingProfile"):
            logger.info("%s: fault: rejecting a charging profile", self.station_id)
            return "Rejected", "InjectedFault"
        if evse_id != 0 and evse_id not in self.evses:
            return "Rejected", "UnknownEVSE"
        evse = self.evses.get(evse_id)
        active = evse.tx.transaction_id if evse is not None and evse.tx is not None else None
        now = self.clock.now()
        try:
            profile = profile_from_ocpp(data)
            self._tick(now)
            self.profiles.install(evse_id, profile, active)
        except ProfileRejected as error:
            logger.info("%s: profile rejected: %s", self.station_id, error)
            return "Rejected", "InvalidProfile"
        except (KeyError, ValueError, IndexError) as error:
            logger.info("%s: malformed profile: %r", self.station_id, error)
            return "Rejected", "InvalidValue"
        self._update_entries()
        self._allocate(now)
        self._changed()
        return "Accepted", None

    def clear_charging_profile(
        self,
        profile_id: int | None,
        evse_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> int:
        removed = self.profiles.clear(
            profile_id, evse_id, Purpose(purpose) if purpose else None, stack_level
        )
        self._update_entries()
        now = self.clock.now()
        self._tick(now)
        self._allocate(now)
        self._changed()
        return removed

    def _update_entries(self) -> None:
        key = VariableKey("SmartChargingCtrlr", "Entries", variable_instance="ChargingProfiles")
        self.device_model.variables[key].value = str(len(self.profiles.installed))

    def find_profiles(self, criteria: dict[str, Any], evse_id: int | None) -> list[Any]:
        purpose = criteria.get("charging_profile_purpose")
        return self.profiles.select(
            evse_id=evse_id,
            purpose=Purpose(purpose) if purpose else None,
            stack_level=criteria.get("stack_level"),
            ids=tuple(criteria.get("charging_profile_id") or ()),
        )

    async def report_profiles(self, request_id: int, found: list[Any]) -> None:
        by_evse: dict[int, list[dict[str, Any]]] = {}
        for installed in found:
            by_evse.setdefault(installed.evse_id, []).append(profile_to_ocpp(installed.profile))
        items = sorted(by_evse.items())
        for index, (evse_id, profiles) in enumerate(items):
            await self._call_quietly(
                call.ReportChargingProfiles(
                    request_id=request_id,
                    charging_limit_source="CSO",
                    charging_profile=profiles,
                    evse_id=evse_id,
                    tbc=index < len(items) - 1,
                )
            )

    def composite_schedule(
        self, evse_id: int, duration: int, unit: str | None
    ) -> dict[str, Any] | None:
        if evse_id != 0 and evse_id not in self.evses:
            return None
        now = self.clock.now().replace(microsecond=0)
        evse = self.evses.get(evse_id)
        tx = evse.tx if evse else None
        hardware = (
            evse.spec.max_power_w
            if evse is not None
            else sum(e.spec.max_power_w for e in self.evses.values())
        )
        phases = evse.spec.phases if evse is not None else 3
        rate = RateUnit(unit) if unit else RateUnit.W
        periods = self.profiles.composite(
            evse_id,
            now,
            duration,
            tx.transaction_id if tx else None,
            tx.started_at if tx else None,
            hardware,
        )
        return {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": ocpp_time(now),
            "charging_rate_unit": rate.value,
            "charging_schedule_period": [
                {"start_period": p.start_s, "limit": round(from_watts(p.limit_w, rate, phases), 1)}
                | ({"number_phases": phases} if rate is RateUnit.A else {})
                for p in periods
            ],
        }

    # --- reservations, network profiles, external limits -------------------------------

    def reserve_now(
        self,
        reservation_id: int,
        expires_at: datetime,
        id_token: str,
        evse_id: int | None,
        connector_type: str | None,
        group_id_token: str | None,
    ) -> str:
        views = {
            n: EvseView(
                "cCCS2" if e.spec.dc else "cType2", e.ev is None and e.tx is None, e.operative
            )
            for n, e in self.evses.items()
        }
        replaced = self.reservations.cancel(reservation_id)
        if replaced is not None:
            self.evses[replaced.evse_id].reserved = False
        status, made = self.reservations.reserve(
            reservation_id, evse_id, connector_type, id_token, group_id_token, expires_at, views
        )
        if made is not None:
            self.evses[made.evse_id].reserved = True
        for evse in self.evses.values():
            self._emit_status(evse)
        return status

    def cancel_reservation(self, reservation_id: int) -> str:
        cancelled = self.reservations.cancel(reservation_id)
        if cancelled is None:
            return "Rejected"
        evse = self.evses[cancelled.evse_id]
        evse.reserved = False
        self._emit_status(evse)
        return "Accepted"

    async def _reservation_ended(self, reservation_id: int, status: str) -> None:
        await self._call_quietly(
            call.ReservationStatusUpdate(
                reservation_id=reservation_id, reservation_update_status=status
            )
        )

    def set_network_profile(self, slot: int, data: dict[str, Any]) -> str:
        self.network_profiles[slot] = data
        return "Accepted"

    def external_limit(
        self, source: str, limit_w: float | None, evse_id: int | None = None
    ) -> None:
        """An EMS or the grid operator sets (a number, W) or lifts (None) a limit at the
        station, reported to the CSMS with NotifyChargingLimit / ClearedChargingLimit (the
        emulated power does not follow it: the CSMS's plan is what tests check)."""
        if limit_w is None:
            self.spawn(
                self._call_quietly_none(
                    call.ClearedChargingLimit(charging_limit_source=source, evse_id=evse_id)
                )
            )
            return
        schedule = {
            "id": 1,
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": limit_w}],
        }
        self.spawn(
            self._call_quietly_none(
                call.NotifyChargingLimit(
                    charging_limit={"charging_limit_source": source},
                    charging_schedule=[schedule],
                    evse_id=evse_id,
                )
            )
        )

    async def update_firmware(
        self, request_id: int, location: str, retries: int, retry_interval_s: int, signed: bool
    ) -> None:
        """Run an accepted UpdateFirmware (L01): download (retried `retries` times; a
        location naming "broken" never downloads), verify a signed one, install, and
        report each step with FirmwareStatusNotification."""

        async def status(value: str) -> None:
            await self._call_quietly(
                call.FirmwareStatusNotification(status=value, request_id=request_id)
            )

        for attempt in range(retries + 1):
            await status("Downloading")
            await self.clock.sleep(5)
            if "broken" not in location:
                break
            if attempt < retries:
                await self.clock.sleep(retry_interval_s)
        else:
            await status("DownloadFailed")
            return
        await status("Downloaded")
        if signed:
            await status("SignatureVerified")
        await status("Installing")
        await self.clock.sleep(5)
        await status("Installed")

    async def report_display_messages(self, request_id: int, found: list[dict[str, Any]]) -> None:
        await self._call_quietly(
            call.NotifyDisplayMessages(request_id=request_id, message_info=found, tbc=False)
        )

    async def report_monitors(self, request_id: int) -> None:
        await self._call_quietly(
            call.NotifyMonitoringReport(
                request_id=request_id,
                seq_no=0,
                generated_at=ocpp_time(self.clock.now()),
                monitor=self.monitors.report() or None,
                tbc=False,
            )
        )

    async def report_customer(self, request_id: int, id_token: str | None, clear: bool) -> None:
        """Answer CustomerInformation: what the station holds on the token (its local list
        entry and sessions here), then forget it when asked to clear."""
        entries = [k for k in self.local_list.entries if id_token is None or k[0] == id_token]
        sessions = sum(
            1 for e in self.evses.values() if e.tx is not None and e.tx.id_token == id_token
        )
        data = f"token {id_token}: local list entries {len(entries)}, sessions now {sessions}"
        if clear:
            for key in entries:
                del self.local_list.entries[key]
            data += "; cleared"
        await self._call_quietly(
            call.NotifyCustomerInformation(
                data=data,
                seq_no=0,
                generated_at=ocpp_time(self.clock.now()),
                request_id=request_id,
                tbc=False,
            )
        )

    async def _call_quietly_none(self, payload: Any) -> None:
        await self._call_quietly(payload)

    # --- fault schedule -----------------------------------------------------------------

    async def _fault_loop(self) -> None:
        while True:
            fault = self.faults.next_scheduled()
            if fault is None:
                return
            await self.clock.sleep(fault.at_s - self.clock.elapsed())
            taken = self.faults.take(fault.kind, self.clock.elapsed())
            if taken is None:
                continue
            if taken.kind is FaultKind.DROP_CONNECTION:
                logger.info("%s: fault: dropping the connection", self.station_id)
                await self.drop_connection(taken.duration_s)
            elif taken.kind is FaultKind.POWER_LOSS:
                logger.info("%s: fault: power loss", self.station_id)
                await self.lose_power()
            elif taken.kind is FaultKind.MALFORMED_FRAME and self._ws is not None:
                logger.info("%s: fault: sending a malformed frame", self.station_id)
                await self._ws.send('[2, "malformed", "Heartbeat", {')

    async def _reboot_loop(self, fault: Fault) -> None:
        """Reboot every `delay_s` (simulated) while the reboot-loop fault holds."""
        period = fault.delay_s or 60.0
        await self.clock.sleep(fault.at_s - self.clock.elapsed())
        while fault.holds(self.clock.elapsed()):
            logger.info("%s: fault: rebooting (reboot loop)", self.station_id)
            self.boot_reason = "Watchdog"
            self._needs_boot = True
            if self._ws is not None:
                await self._ws.close()
            await self.clock.sleep(period)

    # --- views ------------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self.state is ConnectionState.ONLINE


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until all are done, cancelling again any that swallowed
    the cancellation (asyncio.wait_for in Python 3.11 can lose a cancel that races with
    its result). A cancel of the caller meanwhile is re-raised once all are done."""
    pending = {task for task in tasks if not task.done()}
    interrupted = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=0.5)
        except asyncio.CancelledError:
            interrupted = True
    if interrupted:
        raise asyncio.CancelledError


def _key(data: dict[str, Any]) -> VariableKey:
    component = data["component"]
    variable = data["variable"]
    evse = component.get("evse") or {}
    return VariableKey(
        component=component["name"],
        variable=variable["name"],
        evse_id=evse.get("id"),
        connector_id=evse.get("connector_id"),
        component_instance=component.get("instance"),
        variable_instance=variable.get("instance"),
    )
