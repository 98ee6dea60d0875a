"""The safety benchmark's wire path: a sample of the simulated week's stations replayed
over real websockets into a real CSMS (SQLite), whose detectors judge what it stored.

Each sampled station is a bare OCPP-J client that sends the emulator's records as a
station would: BootNotification (and again at each reboot), a NotifyEvent with the
connector temperature, then the meter value in a TransactionEvent (Started, Updated,
Ended). The CSMS runs on a clock that follows the replay's simulated time, so its
link detectors (boots in 30 minutes) judge the week as it was, not the replay's speed.
The findings are the alerts the CSMS stored, scored like the direct path.

Not judged on this path: `ignores_profile`. The stream's limits are a planner's that this
CSMS never installed, and over the wire the CSMS judges power only against limits it knows
(its profiles, the default profile, the EVSE rating); tests/test_safety_limits_wire.py and
tests/test_unmanaged_e2e.py show that path with limits the CSMS did install.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import itertools
import json
import math
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from websockets.asyncio.client import ClientConnection, connect

from charge_point_emulator.faults import FaultKind
from charge_point_emulator.meter_stream import BootRecord, MeterRecord, StreamStation
from charge_point_emulator.telemetry import temperature_event
from csms.analytics.findings import AlertKind, Finding, Severity

PASSWORD = "benchmark-replay-password"
#: Fault kinds the wire path cannot observe (see the module docstring).
NOT_ON_THE_WIRE = frozenset({FaultKind.IGNORES_PROFILE})


def sample_stations(fleet: list[StreamStation], per_kind: int, healthy: int) -> list[StreamStation]:
    """The first `per_kind` stations of each fault kind and the first `healthy` without."""
    chosen: list[StreamStation] = []
    taken: dict[FaultKind | None, int] = defaultdict(int)
    for station in fleet:
        kind = station.faults[0].kind if station.faults else None
        wanted = healthy if kind is None else per_kind
        if taken[kind] < wanted and kind not in NOT_ON_THE_WIRE:
            taken[kind] += 1
            chosen.append(station)
    return chosen


class _SimTime:
    """The CSMS's clock during the replay: the simulated moment being sent."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)


class _Station:
    """One replaying station: CALLs one at a time, the CSMS's CALLs answered."""

    def __init__(self, station_id: str, model: str, websocket: ClientConnection) -> None:
        self.station_id = station_id
        self.model = model
        self.websocket = websocket
        self.transaction: str | None = None
        self.seq_no = 0
        self.events = itertools.count(1)
        self._ids = itertools.count(1)
        self._answer: asyncio.Future[list[Any]] | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.websocket:
            frame = json.loads(text)
            if frame[0] == 2:
                await self.websocket.send(json.dumps(self._answer_call(frame)))
            elif self._answer is not None and not self._answer.done():
                self._answer.set_result(frame)

    def _answer_call(self, frame: list[Any]) -> list[Any]:
        if frame[2] == "GetTransactionStatus":
            ongoing = frame[3].get("transactionId") == self.transaction
            return [3, frame[1], {"messagesInQueue": False, "ongoingIndicator": ongoing}]
        return [4, frame[1], "NotImplemented", f"{frame[2]} is not replayed", {}]

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        self._answer = asyncio.get_running_loop().create_future()
        await self.websocket.send(json.dumps([2, f"r{next(self._ids)}", action, payload]))
        return await asyncio.wait_for(self._answer, 60)

    async def boot(self, reason: str) -> None:
        vendor, model = "Replay", self.model
        payload = {"chargingStation": {"vendorName": vendor, "model": model}, "reason": reason}
        answer = await self.call("BootNotification", payload)
        assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer

    async def meter(self, record: MeterRecord) -> int:
        """The record's NotifyEvent (if it has a temperature) and TransactionEvent."""
        sent = 0
        stamp = record.meter_value["timestamp"]
        if record.temperature_c is not None:
            event = temperature_event(
                1, record.temperature_c, stamp, next(self.events), record.transaction_id
            )
            payload = {
                "generatedAt": stamp,
                "seqNo": 0,
                "eventData": [snake_to_camel_case(event)],
            }
            await self.call("NotifyEvent", payload)
            sent += 1
        context = record.meter_value["sampled_value"][0].get("context")
        if record.transaction_id != self.transaction:
            self.transaction, self.seq_no = record.transaction_id, 0
            kind, trigger = "Started", "Authorized"
        elif context == "Transaction.End":
            kind, trigger = "Ended", "EVDeparted"
        else:
            kind, trigger = "Updated", "MeterValuePeriodic"
        info: dict[str, Any] = {"transactionId": record.transaction_id}
        if kind == "Ended":
            info["stoppedReason"] = "EVDisconnected"
        payload = {
            "eventType": kind,
            "timestamp": stamp,
            "triggerReason": trigger,
            "seqNo": self.seq_no,
            "transactionInfo": info,
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [snake_to_camel_case(record.meter_value)],
        }
        if kind == "Started":
            payload["idToken"] = {"idToken": "REPLAY", "type": "Central"}
        self.seq_no += 1
        answer = await self.call("TransactionEvent", payload)
        assert answer[0] == 3, answer
        if kind == "Ended":
            self.transaction = None
        return sent + 1

    async def close(self) -> None:
        await self.websocket.close()
        self._reader.cancel()


@dataclass(slots=True)
class WireRun:
    findings: dict[str, list[Finding]]
    messages: int
    seconds: float


async def replay_over_the_wire(
    records: list[MeterRecord | BootRecord],
    models: dict[str, str],
    start: datetime,
    interval_s: float,
) -> WireRun:
    """Send the records (in time order) through a real CSMS; its stored alerts, per station."""
    from csms.app import Csms
    from csms.blocks.stations import NewStation, add_stations
    from csms.config import Settings
    from csms.db.models import Alert

    sim = _SimTime(start)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            # Durability is not what this measures: no fsync per group commit.
            db_url=f"sqlite://{folder}/wire.db?synchronous=NORMAL",
            ocpp_host="127.0.0.1",
            ocpp_port=0,
            api_port=0,
            heartbeat_interval=3600,
            call_timeout=30.0,
            ping_interval=60.0,
        )
        csms = Csms(settings, clock=sim.now)
        await csms.start(api=False)
        stations: dict[str, _Station] = {}
        try:
            await add_stations([NewStation(sid, PASSWORD) for sid in models])
            for station_id, model in models.items():
                token = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
                websocket = await connect(
                    f"ws://127.0.0.1:{csms.ocpp_port}/ocpp/{station_id}",
                    subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                    additional_headers={"Authorization": f"Basic {token}"},
                    max_size=2**20,
                )
                stations[station_id] = _Station(station_id, model, websocket)
            began = time.perf_counter()
            messages = 0
            booted: set[str] = set()

            # One simulated interval at a time: stations concurrently, each in order.
            # A step's boots fall inside it, its meter values at its end.
            def step_of(record: MeterRecord | BootRecord) -> int:
                return math.ceil(record.elapsed_s / interval_s - 1e-9)

            for _, step in itertools.groupby(records, key=step_of):
                boots: list[BootRecord] = []
                meters: dict[str, list[MeterRecord]] = defaultdict(list)
                for record in step:
                    if isinstance(record, BootRecord):
                        boots.append(record)
                    else:
                        meters[record.station_id].append(record)
                # Boots first, each at its own moment (the link detectors read the clock);
                # then the interval's meter values, stations concurrently, each in order.
                for boot in sorted(boots, key=lambda b: b.elapsed_s):
                    sim.elapsed = max(sim.elapsed, boot.elapsed_s)
                    reason = "PowerUp" if boot.station_id not in booted else "Watchdog"
                    await stations[boot.station_id].boot(reason)
                    booted.add(boot.station_id)
                    messages += 1
                for mine in meters.values():
                    sim.elapsed = max(sim.elapsed, *(m.elapsed_s for m in mine))

                async def send(mine: list[MeterRecord]) -> int:
                    return sum([await stations[m.station_id].meter(m) for m in mine])

                counts = await asyncio.gather(*(send(mine) for mine in meters.values()))
                messages += sum(counts)
            await csms.safety.drained()
            seconds = time.perf_counter() - began
            findings: dict[str, list[Finding]] = defaultdict(list)
            for row in await Alert.all().order_by("raised_at"):
                findings[row.station_id].append(
                    Finding(
                        row.station_id,
                        row.evse_id,
                        AlertKind(row.kind),
                        Severity(row.severity),
                        row.raised_at,
                        row.reason,
                        row.threshold,
                        row.score,
                        row.readings,
                        row.transaction_id,
                    )
                )
            return WireRun(findings, messages, seconds)
        finally:
            for station in stations.values():
                await station.close()
            await csms.stop()


def findings_per_record(
    records: list[MeterRecord | BootRecord], findings: list[Finding], start: datetime
) -> dict[int, list[Finding]]:
    """Each finding attached to the index (in `records`, one station's) of the first record
    at or after it: the one whose message raised it."""
    moments = [start + timedelta(seconds=r.elapsed_s) for r in records]
    out: dict[int, list[Finding]] = defaultdict(list)
    for finding in findings:
        index = min(bisect.bisect_left(moments, finding.at), len(records) - 1)
        out[index].append(finding)
    return out
