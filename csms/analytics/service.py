"""The analytics adapter: feeds the detectors from stored messages, off the event loop, and
carries out the policy (store the alert, count it, derate the EVSE or stop the session).

It observes the router *after* each handler returned, i.e. after the data was committed,
so it judges what was stored. The hooks only queue the message (bounded; the oldest are
dropped when the detectors fall behind, never the serving path); one worker runs the
detectors in a thread and writes the alerts through the durable writer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from csms.analytics.alerts import alert_row
from csms.analytics.engine import SafetyEngine
from csms.analytics.ev_demand import ev_max_w, needs_max_w
from csms.analytics.findings import AlertKind, Finding
from csms.analytics.metrics import ALERTS
from csms.analytics.policy import Action, Policy
from csms.analytics.sample import Sample, samples_from_readings
from csms.blocks.base import Clock
from csms.blocks.meter import parse_timestamp, readings
from csms.blocks.ports import ANY_ACTION, Observable
from csms.db.models import Alert
from csms.db.writer import Batch, DurableWriter
from csms.ocpp_errors import OcppError

log = logging.getLogger(__name__)

#: (station, EVSE, transaction, at) -> the charging profile limit installed then (W).
LimitOf = Callable[[str, int, str | None, datetime], float | None]
#: (station, EVSE) -> the EVSE's rated power (W), the limit its station may never exceed.
RatingOf = Callable[[str, int], float | None]
#: (station, action, payload) -> the station's answer.
Send = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]

#: A temperature report older than this says nothing about a meter sample.
TEMPERATURE_FRESH = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class _Message:
    station_id: str
    action: str
    payload: dict[str, Any]
    at: datetime  # when it was handled
    failed: bool = False  # answered with a CALLERROR


class SafetyAnalytics:
    """Owned by the Csms: `observe(router)`, then `run()` as a task.

    :param max_queue: messages waiting for the detectors (each holds its payload, a few
        KiB); when full the oldest is dropped and counted in `dropped`.
    :param max_batch: messages judged per trip to the worker thread.
    :param max_cached: stations and EVSEs whose model and latest temperature are kept.
    """

    def __init__(
        self,
        writer: DurableWriter,
        clock: Clock,
        send: Send,
        limit_of: LimitOf,
        replan: Callable[[str], None],
        *,
        rating_of: RatingOf | None = None,
        engine: SafetyEngine | None = None,
        policy: Policy | None = None,
        max_queue: int = 10_000,
        max_batch: int = 500,
        max_cached: int = 100_000,
    ) -> None:
        self.writer = writer
        self.clock = clock
        self.send = send
        self.limit_of = limit_of
        self.replan = replan
        self.rating_of = rating_of
        self.engine = engine or SafetyEngine()
        self.policy = policy or Policy()
        self.dropped = 0
        self._queue: asyncio.Queue[_Message] = asyncio.Queue()
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._max_cached = max_cached
        self._models: OrderedDict[str, str] = OrderedDict()
        self._temperatures: OrderedDict[tuple[str, int], tuple[datetime, float]] = OrderedDict()
        #: Per EVSE: the EV's announced maximum power (W), and its session's chargingState.
        self._announced: OrderedDict[tuple[str, int], float] = OrderedDict()
        self._charging_states: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._actions: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # --- hooks (on the event loop: queue only) -------------------------------------------

    def observe(self, router: Observable) -> None:
        """Watch handled messages (after their data is committed) and every CALLERROR the
        station got: a handler's refusal or the gateway's (schema, broken frame)."""
        for action in (
            "BootNotification",
            "TransactionEvent",
            "MeterValues",
            "NotifyEvent",
            "NotifyEVChargingNeeds",
        ):
            router.after(action, self._handled(action))
        router.after_error(ANY_ACTION, self._refused("*"))

    def _handled(self, action: str) -> Callable[[str, dict[str, Any], dict[str, Any]], None]:
        def hook(station_id: str, payload: dict[str, Any], response: dict[str, Any]) -> None:
            if action != "BootNotification" or response.get("status") == "Accepted":
                self._push(_Message(station_id, action, payload, self.clock()))

        return hook

    def _refused(self, action: str) -> Callable[[str, dict[str, Any], OcppError], None]:
        def hook(station_id: str, payload: dict[str, Any], _: OcppError) -> None:
            self._push(_Message(station_id, action, payload, self.clock(), failed=True))

        return hook

    def disconnected(self, station_id: str) -> None:
        """A station's link closed (for the link-flapping detector)."""
        self._push(_Message(station_id, "disconnected", {}, self.clock()))

    def _push(self, message: _Message) -> None:
        if self._queue.qsize() >= self._max_queue:
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)
        self._idle.clear()

    async def drained(self) -> None:
        """Wait until every queued message was judged and its alerts stored (tests)."""
        await self._idle.wait()

    # --- the worker ---------------------------------------------------------------------

    async def run(self) -> None:
        """Judge queued messages until cancelled; a failed batch is logged and skipped."""
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self._max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                try:
                    findings = await asyncio.to_thread(self._judge, batch)
                    if findings:
                        await self._act(findings)
                except Exception:
                    log.exception("safety analytics failed on %d messages", len(batch))
                if self._queue.empty():
                    self._idle.set()
        finally:
            for task in list(self._actions):
                task.cancel()
            await asyncio.gather(*self._actions, return_exceptions=True)

    def _judge(self, batch: list[_Message]) -> list[tuple[Finding, float | None]]:
        """In the worker thread: messages -> findings, each with the power it fired at."""
        out: list[tuple[Finding, float | None]] = []
        for message in batch:
            if message.failed:
                burst = self.engine.call_error(message.station_id, message.at)
                out += [(burst, None)] if burst else []
            elif message.action == "BootNotification":
                self._remember(self._models, message.station_id, _model(message.payload))
                boot = self.engine.booted(message.station_id, message.at)
                out += [(boot, None)] if boot else []
            elif message.action == "disconnected":
                drop = self.engine.disconnected(message.station_id, message.at)
                out += [(drop, None)] if drop else []
            elif message.action == "NotifyEvent":
                self._temperature(message)
            elif message.action == "NotifyEVChargingNeeds":
                wanted = needs_max_w(message.payload)
                key = (message.station_id, message.payload["evseId"])
                if wanted is not None:
                    self._remember(self._announced, key, wanted)
            elif message.action == "closed":
                payload = message.payload
                self.engine.closed(message.station_id, payload["evse"], AlertKind(payload["kind"]))
            else:
                for sample in self._samples(message):
                    out += [(f, sample.power_w) for f in self.engine.observe(sample)]
        return out

    def _samples(self, message: _Message) -> list[Sample]:
        payload = message.payload
        if message.action == "TransactionEvent":
            evse_id = (payload.get("evse") or {}).get("id")
            transaction_id = payload["transactionInfo"]["transactionId"]
        else:
            evse_id, transaction_id = payload.get("evseId"), None
        if not evse_id:
            return []
        key = (message.station_id, evse_id)
        if message.action == "TransactionEvent":
            state = payload["transactionInfo"].get("chargingState")
            if state is not None:
                self._remember(self._charging_states, key, state)
        rating = self.rating_of(*key) if self.rating_of is not None else None
        wants = ev_max_w(self._charging_states.get(key), self._announced.get(key), rating)
        if message.action == "TransactionEvent" and payload["eventType"] == "Ended":
            # The next session's EV announces its own needs.
            self._announced.pop(key, None)
            self._charging_states.pop(key, None)
        try:
            parsed = readings(payload.get("meterValue", ()))
        except (ValueError, KeyError):  # not a reading the handler could have stored
            return []
        model = self._models.get(message.station_id, "")
        out = []
        for sample in samples_from_readings(
            message.station_id, evse_id, transaction_id, model, parsed
        ):
            reported = self._temperatures.get((message.station_id, evse_id))
            fresh = reported is not None and abs(reported[0] - sample.at) <= TEMPERATURE_FRESH
            # No profile of ours in force: the EVSE's rating is still a limit it must keep.
            limit = self.limit_of(message.station_id, evse_id, transaction_id, sample.at)
            out.append(
                replace(
                    sample,
                    temperature_c=reported[1] if fresh and reported else None,
                    limit_w=limit if limit is not None else rating,
                    limit_source="profile" if limit is not None else "rated",
                    ev_max_w=wants,
                )
            )
        return out

    def _temperature(self, message: _Message) -> None:
        """Connector temperatures from a monitor's NotifyEvent (TemperatureSensor of an EVSE)."""
        for event in message.payload.get("eventData", ()):
            component = event.get("component") or {}
            evse = component.get("evse") or {}
            if component.get("name") != "TemperatureSensor" or not evse.get("id"):
                continue
            if (event.get("variable") or {}).get("name") != "Temperature":
                continue
            try:
                value = float(event["actualValue"])
                at = parse_timestamp(event["timestamp"])
            except (KeyError, ValueError):
                continue
            self._remember(self._temperatures, (message.station_id, evse["id"]), (at, value))

    def _remember(self, table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        if len(table) > self._max_cached:
            table.popitem(last=False)

    # --- the policy ---------------------------------------------------------------------

    async def _act(self, findings: list[tuple[Finding, float | None]]) -> None:
        decided = []
        for finding, power_w in findings:
            action = self.policy.decide(finding)
            derate_w = None
            if action is Action.DERATE:
                derate_w = self.policy.derated_limit_w(power_w or 0.0)
            decided.append((finding, action, derate_w))

        async def write(batch: Batch) -> None:
            for finding, action, derate_w in decided:
                batch.insert(alert_row(finding, action, derate_w))

        await self.writer.submit(write)
        for finding, action, _ in decided:
            ALERTS.labels(finding.kind.value, finding.severity.value, action.value).inc()
            log.warning(
                "%s: safety alert %s on EVSE %d (%s): %s",
                finding.station_id,
                finding.kind.value,
                finding.evse_id,
                action.value,
                finding.reason,
            )
            if action is Action.STOP and finding.transaction_id:
                self._spawn(self._stop(finding.station_id, finding.transaction_id))
        if any(action is Action.DERATE for _, action, _ in decided):
            self.replan("safety derate")

    async def _stop(self, station_id: str, transaction_id: str) -> None:
        try:
            await self.send(station_id, "RequestStopTransaction", {"transactionId": transaction_id})
        except Exception as failure:
            log.warning("%s: could not stop %s: %s", station_id, transaction_id, failure)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    def closed(self, row: Alert) -> None:
        """An operator closed the alert: re-arm its detector (in the worker, which owns the
        detectors' state), lift its derate."""
        self._push(
            _Message(
                row.station_id, "closed", {"evse": row.evse_id, "kind": row.kind}, self.clock()
            )
        )
        if row.derate_w is not None:
            self.replan("safety derate lifted")


def _model(payload: dict[str, Any]) -> str:
    station = payload.get("chargingStation") or {}
    return f"{station.get('vendorName', '')}/{station.get('model', '')}"
