"""Live swap service: the orchestrator core driven by OCPP swap stations, roadside units and
vehicles on the REST API, with the CSMS clock, the planning kernel and a durable event log.

Wire contract (README `## Battery swap`): OCPP 2.1 stations use `BatterySwap` /
`RequestBatterySwap`; every station uses DataTransfer with `VENDOR_ID` for the rest (and for
the battery-swap payloads over OCPP 2.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from csms.blocks.base import Clock
from csms.blocks.ports import CommandSender, StationLinks, Writer
from csms.db.models import SwapEvent, SwapStationRecord
from csms.db.writer import Batch
from csms.grid.warm import kernel_ready
from csms.ocpp_errors import ErrorCode, OcppError
from csms.strict_json import loads as strict_loads
from swap_orchestrator.gates import PerceptionReport, Stage
from swap_orchestrator.kernel_planner import kernel_planner
from swap_orchestrator.rack import GridRequest, RackPlanner, RackPlanParams, plan_rack
from swap_orchestrator.scenario import (
    Priority,
    ScenarioError,
    StationSpec,
    parse_battery,
    parse_scenario,
)
from swap_orchestrator.station import (
    Command,
    CommandKind,
    Event,
    OrchestratorConfig,
    Phase,
    SwapRequest,
)
from swap_orchestrator.station_setup import SimTiming, bay_cycle_s, build_station

log = logging.getLogger(__name__)

VENDOR_ID = "org.opencsms.swap"
#: The longest a vehicle's long poll for its next instruction may wait (seconds).
MAX_POLL_S = 30.0
#: Largest number of perception reports accepted in one message.
MAX_REPORTS = 500
#: Events each station keeps in memory (~200 bytes each); the whole log is in `swap_event`.
MAX_LOG_IN_MEMORY = 100_000
#: Seconds a bay waits before asking again for a swap the station did not take.
SWAP_RETRY_S = 10.0
#: Finished vehicles whose last instruction stays readable (~150 bytes each).
MAX_FINISHED = 10_000
#: NotifyEvent component and variable that carry a station's own perception report.
PERCEPTION_COMPONENT = "SwapPerception"
PERCEPTION_VARIABLE = "Report"


def _flag(doc: dict[str, Any], key: str, default: bool) -> bool:
    """A report's true/false field; anything else (a string "false" is truthy) is refused,
    since a gate must never read a path as clear by accident."""
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def bays_in_use(events: list[Event]) -> list[int]:
    """Bays a vehicle was called to and had not been released from (nor given up) by the
    end of an event log, and those an earlier restart took out of service and the station
    has not reported recovered since."""
    occupant: dict[int, str] = {}
    for event in events:
        kind, vehicle = event["kind"], event.get("vehicle")
        if kind == "called":
            occupant[int(event["bay"])] = str(vehicle)
        elif kind in ("released", "no_show", "cancelled") or event.get("requeued"):
            occupant = {bay: v for bay, v in occupant.items() if v != vehicle}
        elif kind == "restarted":  # out of service since the restart before this one
            occupant = {bay: "" for bay in event["bays"]}
        elif kind == "bay_recovered" and occupant.get(int(event["bay"])) == "":
            del occupant[int(event["bay"])]  # a fault's recovery leaves a held vehicle there
    return sorted(occupant)


def rack_doc(station: LiveStation) -> list[dict[str, Any]]:
    """The rack as a `batteries` list, with those out for a swap still in progress."""
    batteries = [*station.rack.batteries.values(), *station.orch.in_swap.values()]
    return [
        {
            "serial": b.serial,
            "type": b.type,
            "capacity_wh": b.capacity_wh,
            "soc": round(min(1.0, max(0.0, b.soc)), 6),
            "soh": b.soh,
        }
        for b in sorted(batteries, key=lambda b: b.serial)
    ]


class SwapError(Exception):
    """An input the service cannot take; `status` is the HTTP status it maps to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Instruction:
    """What a vehicle is told to do now; `seq` grows with every new instruction."""

    seq: int
    action: str  # wait, prepare, drive_to_bay, hold, realign, leave, refused, done
    bay: int | None = None
    reason: str | None = None

    def json(self) -> dict[str, Any]:
        return {"seq": self.seq, "action": self.action, "bay": self.bay, "reason": self.reason}


_VEHICLE_ACTIONS = {
    CommandKind.CALL: "prepare",
    CommandKind.GO: "drive_to_bay",
    CommandKind.HOLD: "hold",
    CommandKind.REALIGN: "realign",
    CommandKind.RELEASE: "leave",
    CommandKind.REFUSE: "refused",
}
_POSITIONS = ("ready", "in_bay", "realigned", "left")


class LiveStation:
    """One swap station: its orchestrator, rack, event log and power log."""

    def __init__(self, spec: StationSpec, config: OrchestratorConfig, params: RackPlanParams):
        self.spec = spec
        self.params = params
        self.grid_requests: list[GridRequest] = []  # on the rack (auxiliaries taken off)
        self.vehicles: set[str] = set()  # with a swap request here, until told done/refused
        self.rack_changed = False  # the station reported its rack since the last timer run
        self.log: list[Event] = []
        self.persisted = 0
        self.rack, self.orch = build_station(spec, self.log, config, params.efficiency)
        self.cycle_s = bay_cycle_s(spec, SimTiming())
        self.power_w: list[list[float]] = []  # [t, racks + auxiliaries] steps
        self.next_plan = 0.0
        self.swaps: dict[int, tuple[int, str]] = {}  # requestId -> (bay, vehicle)
        # requestId -> serial -> (SoC, SoH) the station measured at BatteryIn
        self.measured: dict[int, dict[str, tuple[float, float]]] = {}

    def record_power(self, t: float) -> None:
        w = self.spec.aux_w + self.rack.total_w
        if self.power_w and self.power_w[-1][0] == t:
            self.power_w[-1][1] = w
        elif not self.power_w or self.power_w[-1][1] != w:
            self.power_w.append([t, w])


class SwapService:
    """All swap stations of one CSMS. Inputs are applied to the core synchronously (no await
    between reading and changing a station's state); I/O follows."""

    def __init__(
        self,
        clock: Clock,
        links: StationLinks,
        sender: CommandSender,
        writer: Writer,
        *,
        epoch: datetime | None = None,
        time_scale: float = 1.0,
        config: OrchestratorConfig | None = None,
        plan_params: RackPlanParams | None = None,
        planner: RackPlanner = kernel_planner,
    ) -> None:
        """`time_scale`: simulated seconds per real second of `clock` (1 in production).

        Commands go out through `sender`; `links` tells which stations are online and the
        OCPP version each speaks; events are stored through `writer`.
        """
        self.clock = clock
        self.links = links
        self.sender = sender
        self.writer = writer
        self.epoch = epoch or clock()
        self.time_scale = time_scale
        self.config = config or OrchestratorConfig()
        self.plan_params = plan_params or RackPlanParams()
        self.planner = planner
        self.stations: dict[str, LiveStation] = {}
        self.vehicle_station: dict[str, str] = {}
        self.instructions: dict[str, Instruction] = {}
        self._finished: deque[str] = deque()
        self._seq = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- time ----------------------------------------------------------------------------

    def now(self) -> float:
        return (self.clock() - self.epoch).total_seconds()

    def seconds(self, moment: datetime) -> float:
        return (moment - self.epoch).total_seconds()

    # ---- stations ------------------------------------------------------------------------

    def add_station(self, doc: dict[str, Any]) -> LiveStation:
        """Register a swap station from its swap-scenario `stations[]` entry (in memory;
        `register` also stores it)."""
        station = self._build(doc)
        if station.spec.id in self.stations:
            raise SwapError(409, f"swap station {station.spec.id} exists")
        self.stations[station.spec.id] = station
        self._wake.set()
        return station

    def _build(self, doc: Any) -> LiveStation:
        """A station from its `stations[]` entry, validated (SwapError 422 says why)."""
        try:
            spec = parse_scenario(
                {
                    "version": 1,
                    "start": self.epoch.isoformat(),
                    "duration_s": 1,
                    "stations": [doc],
                    "vehicles": [],
                }
            ).stations[0]
            discharge_w = doc.get("rack_discharge_w", 0.0)
        except (ScenarioError, TypeError, AttributeError) as error:
            raise SwapError(422, f"station: {error}") from None
        if isinstance(discharge_w, bool) or not isinstance(discharge_w, int | float):
            raise SwapError(422, "station: rack_discharge_w must be a number")
        if discharge_w < 0:
            raise SwapError(422, "station: rack_discharge_w must be >= 0")
        params = replace(self.plan_params, discharge_w=float(discharge_w))
        return LiveStation(spec, self.config, params)

    async def register(self, doc: dict[str, Any]) -> LiveStation:
        """`add_station`, answered once the registration is stored (restored at start)."""
        station = self.add_station(doc)
        try:
            await self._store(station.spec.id, doc, created=True)
        except BaseException:
            if self.stations.get(station.spec.id) is station:
                del self.stations[station.spec.id]
            raise
        return station

    async def put_station(self, station_id: str, doc: Any) -> tuple[LiveStation, bool]:
        """Create or replace the registration of `station_id` (True: created). A station
        with vehicles in service is not changed under them (409): bays, battery types and
        the rack it declares would no longer match what the vehicles were told."""
        if not isinstance(doc, dict) or doc.get("id", station_id) != station_id:
            raise SwapError(422, f"station: id must be {station_id} (the path's)")
        doc = {**doc, "id": station_id}
        new = self._build(doc)
        old = self.stations.get(station_id)
        if old is not None and old.vehicles:
            raise SwapError(409, f"swap station {station_id} has vehicles in service")
        if old is not None:  # the history stays the station's
            new.log, new.persisted, new.power_w = old.log, old.persisted, old.power_w
            new.orch.log = new.log
            new.grid_requests = old.grid_requests
        self.stations[station_id] = new
        self._wake.set()
        try:
            await self._store(station_id, doc, created=old is None)
        except BaseException:
            if self.stations.get(station_id) is new:
                if old is None:
                    del self.stations[station_id]
                else:
                    self.stations[station_id] = old
            raise
        return new, old is None

    async def _store(self, station_id: str, doc: dict[str, Any], *, created: bool) -> None:
        row = SwapStationRecord(
            id=station_id, spec=doc, rack=None, epoch=self.epoch, updated_at=self.clock()
        )

        async def write(batch: Batch) -> None:
            if created:
                batch.insert(row)
            else:  # the declared rack replaces the one stored at the last swap
                batch.update(row, ("spec", "rack", "updated_at"))

        await self.writer.submit(write)

    async def restore(self) -> int:
        """Stations registered before a restart, with the rack as of their last swap, the
        latest events and the service's time origin, so event times run on. Bays that had
        a vehicle at the restart are taken out of service (a `bay_fault`) until the
        station reports them operative: nobody knows whether the vehicle is still there.
        Returns how many stations were restored."""
        rows = await SwapStationRecord.all().order_by("id")
        if not rows:
            return 0
        self.epoch = min(row.epoch for row in rows)
        for row in rows:
            doc = dict(row.spec)
            if row.rack is not None:
                doc["batteries"] = row.rack
            station = self._build(doc)
            self.stations[row.id] = station
            stored = (
                await SwapEvent.filter(station_id=row.id).order_by("-id").limit(MAX_LOG_IN_MEMORY)
            )
            station.log.extend(event.record for event in reversed(stored))
            station.persisted = len(station.log)
            occupied = bays_in_use(station.log)
            if occupied:
                log.warning("%s: bays %s had vehicles at the restart", row.id, occupied)
            await self._apply(station, partial(station.orch.restarted, bays_in_use=occupied))
        self._wake.set()
        return len(rows)

    def station(self, station_id: str) -> LiveStation:
        station = self.stations.get(station_id)
        if station is None:
            raise SwapError(404, f"no swap station {station_id}")
        return station

    # ---- vehicles ------------------------------------------------------------------------

    async def request_swap(self, station_id: str, doc: dict[str, Any]) -> Instruction:
        station = self.station(station_id)
        try:
            vehicle = str(doc["vehicle"])
            request = SwapRequest(
                vehicle,
                Priority.parse(str(doc.get("priority", "normal"))),
                parse_battery(doc["battery"], "battery"),
                bool(doc.get("autonomous", True)),
            )
        except (KeyError, TypeError, AttributeError, ScenarioError) as error:
            raise SwapError(422, f"swap request: {error}") from None
        if vehicle in self.vehicle_station:
            raise SwapError(409, f"{vehicle} already has a swap request")
        self.vehicle_station[vehicle] = station_id
        station.vehicles.add(vehicle)
        self._instruct(vehicle, "wait")
        await self._apply(station, lambda now: station.orch.arrive(now, request))
        return self.instructions[vehicle]

    async def vehicle_position(self, vehicle: str, position: str) -> Instruction:
        station = self._station_of(vehicle)
        orch = station.orch
        inputs: dict[str, Callable[[float, str], list[Command]]] = {
            "ready": orch.vehicle_ready,
            "in_bay": orch.vehicle_in_bay,
            "realigned": orch.realigned,
            "left": orch.vehicle_left,
        }
        if position not in inputs:
            raise SwapError(422, f"position must be one of {', '.join(_POSITIONS)}")
        await self._apply(station, lambda now: inputs[position](now, vehicle))
        return self.instructions[vehicle]

    async def cancel(self, vehicle: str) -> Instruction:
        station = self._station_of(vehicle)
        await self._apply(station, lambda now: station.orch.cancel(now, vehicle))
        return self.instructions[vehicle]

    def instruction(self, vehicle: str) -> Instruction:
        found = self.instructions.get(vehicle)
        if found is None:
            raise SwapError(404, f"no swap request of {vehicle}")
        return found

    async def next_instruction(self, vehicle: str, after: int, wait_s: float) -> Instruction:
        """The vehicle's instruction once its `seq` exceeds `after`, or the current one when
        `wait_s` (real seconds, at most `MAX_POLL_S`) runs out."""
        self.instruction(vehicle)
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(max(0.0, wait_s), MAX_POLL_S)), self._changed:
                await self._changed.wait_for(lambda: self.instructions[vehicle].seq > after)
        return self.instructions[vehicle]

    def _station_of(self, vehicle: str) -> LiveStation:
        station_id = self.vehicle_station.get(vehicle)
        if station_id is None:
            raise SwapError(404, f"no swap request of {vehicle}")
        return self.stations[station_id]

    # ---- perception and station messages -------------------------------------------------

    async def perceive(self, station_id: str, reports: Any) -> int:
        """Take perception reports (REST or DataTransfer), JSON as in the README."""
        return self._take_reports(station_id, reports)

    def _take_reports(self, station_id: str, reports: Any) -> int:
        station = self.station(station_id)
        if not isinstance(reports, list) or len(reports) > MAX_REPORTS:
            raise SwapError(422, f"reports must be a list of at most {MAX_REPORTS}")
        parsed = [self._report(r) for r in reports]
        # Reports on vehicles not visiting are dropped: nothing to decide, nothing to keep.
        taken = [r for r in parsed if r.vehicle in station.orch.visits]
        for report in taken:
            station.orch.perceive(report)
        return len(taken)

    def on_notify_event(self, station_id: str, payload: dict[str, Any], _: dict[str, Any]) -> None:
        """Router after-hook of NotifyEvent: the station's own perception, one report per
        `eventData` entry of component `PERCEPTION_COMPONENT`, variable
        `PERCEPTION_VARIABLE`, `actualValue` = the report's JSON (README); a report without
        `observed_at` was observed at the entry's `timestamp`. The message is already
        stored and answered, so a bad report is logged and dropped, never refused."""
        if station_id not in self.stations:
            return
        for entry in payload.get("eventData", ()):
            if (
                entry["component"]["name"] != PERCEPTION_COMPONENT
                or entry["variable"]["name"] != PERCEPTION_VARIABLE
            ):
                continue
            try:
                report = strict_loads(entry["actualValue"])
                if not isinstance(report, dict):
                    raise SwapError(422, "perception report: actualValue must be a JSON object")
                report.setdefault("observed_at", entry["timestamp"])
                self._take_reports(station_id, [report])
            except (ValueError, SwapError) as error:  # JsonRejected is a ValueError
                log.warning(
                    "%s: NotifyEvent %s perception dropped: %s",
                    station_id,
                    entry.get("eventId"),
                    error,
                )

    def _report(self, doc: Any) -> PerceptionReport:
        try:
            observed = datetime.fromisoformat(str(doc["observed_at"]).replace("Z", "+00:00"))
            if observed.tzinfo is None:
                raise ValueError("observed_at needs a time zone")
            return PerceptionReport(
                id=str(doc["id"]),
                vehicle=str(doc["vehicle"]),
                stage=Stage(doc["stage"]),
                observed_at=self.seconds(observed),
                path_clear=_flag(doc, "path_clear", True),
                lateral_offset_mm=float(doc.get("lateral_offset_mm", 0.0)),
                yaw_deg=float(doc.get("yaw_deg", 0.0)),
                casing_damage=float(doc.get("casing_damage", 0.0)),
                thermal_anomaly=_flag(doc, "thermal_anomaly", False),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise SwapError(422, f"perception report: {error!r}") from None

    async def data_transfer(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """DataTransfer with `VENDOR_ID` (both protocol versions)."""
        message, data = payload.get("messageId"), payload.get("data")
        if not isinstance(data, dict):
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidValue"}}
        try:
            if message == "BatterySwap":
                await self.battery_swap(station_id, data)
            elif message == "Perception":
                await self.perceive(station_id, data.get("reports"))
            elif message == "ScanDone":
                await self.scan_done(station_id, data)
            elif message == "BayStatus":
                await self.bay_status(station_id, int(data["bay"]), str(data["status"]))
            elif message == "RackStatus":
                self.rack_status(station_id, data.get("batteryData"))
            else:
                return {"status": "UnknownMessageId"}
        except (SwapError, KeyError, TypeError, ValueError) as error:
            log.warning("%s: swap %s rejected: %s", station_id, message, error)
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidValue"}}
        return {"status": "Accepted"}

    async def battery_swap(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """BatterySwap: `BatteryIn` reports the vehicle's battery in the rack (its measured
        SoC/SoH), `BatteryOut` the rack battery gone with the vehicle: the swap is done."""
        station = self.station(station_id)
        found = station.swaps.get(int(payload["requestId"]))
        if found is None:
            raise SwapError(404, f"no swap with requestId {payload['requestId']}")
        bay, request_id, kind = found[0], int(payload["requestId"]), payload["eventType"]
        if kind == "BatteryIn":
            station.measured[request_id] = {
                d["serialNumber"]: (d["soC"] / 100.0, d["soH"] / 100.0)
                for d in payload["batteryData"]
            }
        elif kind == "BatteryOut":
            del station.swaps[request_id]
            measured = station.measured.pop(request_id, {})
            await self._apply(
                station,
                lambda now: self._swap_done(station, now, bay, measured),
            )
        else:  # BatteryOutTimeout: the mechanism could not finish; hold the vehicle.
            await self._apply(station, lambda now: station.orch.bay_fault(now, bay))
        return {}

    async def on_battery_swap(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The OCPP 2.1 `BatterySwap` handler (answered after the events are stored)."""
        try:
            return await self.battery_swap(station_id, payload)
        except SwapError as error:
            raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, str(error)) from None

    def _swap_done(
        self, station: LiveStation, now: float, bay: int, measured: dict[str, tuple[float, float]]
    ) -> list[Command]:
        commands = station.orch.swap_done(now, bay)
        for serial, (soc, soh) in measured.items():
            battery = station.rack.batteries.get(serial)
            if battery is not None:  # the station measured what the vehicle reported
                station.rack.batteries[serial] = replace(
                    battery, energy_wh=soc * battery.capacity_wh, soh=soh
                )
        return commands

    async def scan_done(self, station_id: str, data: dict[str, Any]) -> None:
        """The underbody scan finished; `report` (optional) is its perception report."""
        station = self.station(station_id)
        if data.get("report") is not None:
            await self.perceive(station_id, [data["report"]])
        vehicle = str(data["vehicle"])
        await self._apply(station, lambda now: station.orch.scan_done(now, vehicle))

    async def bay_status(self, station_id: str, bay: int, status: str) -> None:
        station = self.station(station_id)
        if not 1 <= bay <= station.spec.bays or status not in ("Faulted", "Operative"):
            raise SwapError(422, f"bay {bay} status {status}")
        orch = station.orch
        if status == "Faulted":
            await self._apply(station, lambda now: orch.bay_fault(now, bay))
        else:
            await self._apply(station, lambda now: orch.bay_recovered(now, bay))

    def rack_status(self, station_id: str, battery_data: Any) -> None:
        """The station's measured SoC/SoH of the batteries in its rack slots."""
        station = self.station(station_id)
        for item in battery_data or ():
            battery = station.rack.batteries.get(str(item["serialNumber"]))
            if battery is not None:
                station.rack.batteries[battery.serial] = replace(
                    battery,
                    energy_wh=float(item["soC"]) / 100.0 * battery.capacity_wh,
                    soh=float(item["soH"]) / 100.0,
                )
        station.rack_changed = True
        self._wake.set()

    # ---- the core and its commands -------------------------------------------------------

    async def _apply(self, station: LiveStation, action: Callable[[float], list[Command]]) -> None:
        """Run one input at the current time, act on its commands, persist its events."""
        now = self.now()
        commands = action(now)
        self._act(station, now, commands)
        self._wake.set()
        await self._persist(station)

    def _act(self, station: LiveStation, now: float, commands: list[Command]) -> None:
        for command in commands:
            if command.kind is CommandKind.PLAN_RACK:
                station.next_plan = now  # the tick loop re-plans at once
            elif command.kind is CommandKind.SCAN:
                self._spawn(
                    self._send_vendor(
                        station.spec.id, "Scan", {"vehicle": command.vehicle, "bay": command.bay}
                    )
                )
            elif command.kind is CommandKind.START_SWAP:
                self._spawn(self._start_swap(station, command))
            elif command.vehicle is not None:
                self._instruct(
                    command.vehicle,
                    _VEHICLE_ACTIONS[command.kind],
                    command.bay,
                    command.reason,
                )
        for vehicle in [v for v in station.vehicles if v not in station.orch.visits]:
            self._finish(station, vehicle)

    def _finish(self, station: LiveStation, vehicle: str) -> None:
        """The visit is over: say so, and forget the vehicle's reports."""
        if self.instructions[vehicle].action not in ("refused", "done"):
            self._instruct(vehicle, "done")
        del self.vehicle_station[vehicle]
        station.vehicles.discard(vehicle)
        for stage in Stage:
            station.orch.reports.pop((vehicle, stage), None)
        self._finished.append(vehicle)
        if len(self._finished) > MAX_FINISHED:
            gone = self._finished.popleft()
            if gone not in self.vehicle_station:
                self.instructions.pop(gone, None)

    def _instruct(
        self, vehicle: str, action: str, bay: int | None = None, reason: str | None = None
    ) -> None:
        self.instructions[vehicle] = Instruction(next(self._seq), action, bay, reason)
        self._spawn(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _start_swap(self, station: LiveStation, command: Command) -> None:
        assert command.bay is not None and command.vehicle is not None
        request_id = next(self._request_ids)
        for earlier, (bay, _) in list(station.swaps.items()):
            if bay == command.bay:  # a swap a bay fault stopped is not coming back
                del station.swaps[earlier]
                station.measured.pop(earlier, None)
        station.swaps[request_id] = (command.bay, command.vehicle)
        payload = {
            "requestId": request_id,
            "idToken": {"idToken": command.vehicle, "type": "Central"},
            "customData": {
                "vendorId": VENDOR_ID,
                "bay": command.bay,
                "batteryOut": command.battery_out,
                "batteryIn": command.battery_in,
            },
        }
        station_id = station.spec.id
        try:
            if self.links.version(station_id) == "v21":
                response = await self.sender.send(station_id, "RequestBatterySwap", payload)
            else:
                response = await self.sender.send(
                    station_id,
                    "DataTransfer",
                    {"vendorId": VENDOR_ID, "messageId": "RequestBatterySwap", "data": payload},
                )
        except Exception as error:
            log.warning("%s: RequestBatterySwap failed: %r", station_id, error)
            response = {"status": "Rejected"}
        if response.get("status") != "Accepted":
            # The vehicle stays held on the platform (a bay fault); after a pause the gates
            # run again on fresh reports and the swap is asked for once more.
            bay = command.bay
            await self._apply(station, lambda now: station.orch.bay_fault(now, bay))
            await asyncio.sleep(SWAP_RETRY_S / self.time_scale)
            await self._apply(station, lambda now: station.orch.bay_recovered(now, bay))

    async def _send_vendor(self, station_id: str, message: str, data: dict[str, Any]) -> None:
        try:
            await self.sender.send(
                station_id,
                "DataTransfer",
                {"vendorId": VENDOR_ID, "messageId": message, "data": data},
            )
        except Exception as error:
            log.warning("%s: %s not delivered: %r", station_id, message, error)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _persist(self, station: LiveStation) -> None:
        """Write the events not yet stored (acknowledge station data only after this)."""
        fresh = station.log[station.persisted :]
        station.persisted = len(station.log)
        if not fresh:
            return
        station_id = station.spec.id

        async def write(batch: Batch) -> None:
            for record in fresh:
                batch.insert(
                    SwapEvent(
                        station_id=station_id,
                        at=self.epoch + timedelta(seconds=float(record["t"])),
                        t=float(record["t"]),
                        kind=str(record["kind"]),
                        record=record,
                    )
                )

            if any(record["kind"] == "swap_completed" for record in fresh):
                # The rack's members changed: a restart must find the batteries really there.
                batch.update(SwapStationRecord(id=station_id, rack=rack_doc(station)), ("rack",))

        await self.writer.submit(write)
        excess = len(station.log) - MAX_LOG_IN_MEMORY
        if excess > 0 and station.persisted >= excess:
            del station.log[:excess]  # in place: the orchestrator appends to this list
            station.persisted -= excess

    # ---- timers and rack planning --------------------------------------------------------

    async def run(self) -> None:
        """Timers of every station (no-shows, re-checks) and rack re-planning, forever."""
        await kernel_ready()  # before the first timer needs it; compiled in another process
        while True:
            self._wake.clear()
            now = self.now()
            wake = now + self.plan_params.slot_s
            for station in list(self.stations.values()):
                try:
                    await self._timers(station, now)
                except Exception:  # one station's failure must not stop the others' timers
                    log.exception("%s: swap timers failed", station.spec.id)
                    station.next_plan = now + self.plan_params.slot_s
                due = station.orch.next_wakeup()
                for t in (due, station.next_plan):
                    if t is not None:
                        wake = min(wake, t)
            delay = max(0.0, wake - self.now()) / self.time_scale
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for: see next_instruction
                    await self._wake.wait()

    async def _timers(self, station: LiveStation, now: float) -> None:
        orch = station.orch
        due = orch.next_wakeup()
        # A battery that became ready (the station's RackStatus) may serve a waiting vehicle:
        # no input says so, so the queue is looked at again.
        ready = station.rack_changed and len(orch.queue) > 0
        station.rack_changed = False
        if (due is not None and due <= now) or ready:
            await self._apply(station, orch.tick)
        if station.next_plan <= now:
            await self._replan(station)

    async def grid_request(self, station_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        """The grid asks the station to keep its net power (racks + auxiliaries) at or below
        `max_net_w` from `from` to `to` (negative: feed back from the racks)."""
        station = self.station(station_id)
        try:
            begin, end = (
                self.seconds(datetime.fromisoformat(str(doc[k]).replace("Z", "+00:00")))
                for k in ("from", "to")
            )
            max_net_w = float(doc["max_net_w"])
        except (KeyError, TypeError, ValueError) as error:
            raise SwapError(422, f"grid request: {error!r}") from None
        if end <= begin:
            raise SwapError(422, "grid request: 'to' must be after 'from'")
        request = GridRequest(begin, end, max_net_w - station.spec.aux_w)
        station.grid_requests.append(request)
        station.next_plan = self.now()  # re-plan at once
        self._wake.set()
        return {"from_s": begin, "to_s": end, "max_net_w": max_net_w}

    async def _replan(self, station: LiveStation) -> None:
        spec, params = station.spec, station.params
        now = self.now()
        station.grid_requests = [r for r in station.grid_requests if r.to_s > now]
        # Re-plan every slot, and exactly when a grid request starts or ends.
        edges = [t for r in station.grid_requests for t in (r.from_s, r.to_s) if t > now]
        station.next_plan = min([now + params.slot_s, *edges])
        batteries = list(station.rack.batteries.values())
        plan = await asyncio.to_thread(
            plan_rack,
            self.planner,
            now,
            self.epoch,
            batteries,
            station.orch.forecast(now, station.cycle_s, limit=len(batteries) + spec.bays),
            station.orch.short_types(),
            handout_soc=spec.min_handout_soc,
            charge_w=spec.rack_charge_w,
            limit_w=lambda t: spec.grid_limit_w - spec.aux_w,
            prices=spec.import_price,
            grid_requests=list(station.grid_requests),
            params=params,
        )
        first = {serial: series[0] for serial, series in plan.power_w.items() if series}
        station.rack.set_power(first, spec.grid_limit_w - spec.aux_w, params.slot_s)
        station.record_power(self.now())
        if self.links.is_connected(spec.id):
            power = {serial: round(w, 1) for serial, w in station.rack.power_w.items()}
            self._spawn(self._send_vendor(spec.id, "RackPower", {"powerW": power}))

    async def start(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self.run(), name="swap-service")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- views ---------------------------------------------------------------------------

    def view(self, station_id: str) -> dict[str, Any]:
        """Bays, queue and rack of one station, now."""
        station = self.station(station_id)
        orch, now = station.orch, self.now()
        return {
            "id": station_id,
            "t": now,
            "bays": [
                {"number": b.number, "state": b.state.value, "vehicle": b.vehicle}
                for b in orch.bays
            ],
            "queue": [
                {
                    "vehicle": e.vehicle,
                    "priority": e.priority.label,
                    "battery_type": e.battery_type,
                    "waiting_s": round(now - e.queued_at, 1),
                }
                for e in orch.queue.ordered(now)
            ],
            "visits": [
                {"vehicle": vid, "phase": v.phase.value, "bay": v.bay, "held": v.held_reason}
                for vid, v in orch.visits.items()
                if v.phase is not Phase.QUEUED
            ],
            "rack": [
                {
                    "serial": b.serial,
                    "type": b.type,
                    "soc": round(b.soc, 4),
                    "soh": b.soh,
                    "power_w": round(station.rack.power_w.get(b.serial, 0.0), 1),
                    "reserved_for": orch.reserved.get(b.serial),
                }
                for b in sorted(station.rack.batteries.values(), key=lambda b: b.serial)
            ],
            "grid_w": station.power_w[-1][1] if station.power_w else station.spec.aux_w,
            "swaps": sum(1 for e in station.log if e["kind"] == "swap_completed"),
        }

    def report(self, station_id: str, until_s: float) -> dict[str, Any]:
        """The station's event log and power log up to `until_s`, as a swap-sim report's
        `events`, `grid_w`, `grid_peak_w` and `energy_kwh` (what the audit reads)."""
        station = self.station(station_id)
        series = [p for p in station.power_w if p[0] < until_s] or [[0.0, station.spec.aux_w]]
        energy = sum(
            w * ((series[i + 1][0] if i + 1 < len(series) else until_s) - t) / 3600.0
            for i, (t, w) in enumerate(series)
        )
        return {
            "events": [e for e in station.log if e["t"] <= until_s],
            "grid_w": {station_id: series},
            "grid_peak_w": max(w for _, w in series),
            "energy_kwh": energy / 1000.0,
        }
