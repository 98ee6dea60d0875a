"""Station orchestrator: queue, bays, gates and battery choice for one swap station.

Pure: every input carries `now`; outputs are `Command` values for the vehicles and the
station, and event records appended to `log` (the evidence, format in swap-scenario.md).
A simulator and a live adapter drive it the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from swap_orchestrator.batteries import RackBattery, choose_battery
from swap_orchestrator.bay import Bay, BayState
from swap_orchestrator.gates import GateDecision, GateLimits, PerceptionReport, Stage, check_gate
from swap_orchestrator.queue import DEFAULT_AGEING_S, DEFAULT_MAX_QUEUE, QueueEntry, SwapQueue
from swap_orchestrator.rack import Demand, Rack
from swap_orchestrator.scenario import Battery, Priority

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class OrchestratorConfig:
    """Policy parameters. `recheck_s` is how often a held vehicle's gate is re-evaluated
    (one gate decision, logged, per held vehicle and period)."""

    limits: GateLimits = field(default_factory=GateLimits)
    ageing_s: float = DEFAULT_AGEING_S
    max_queue: int = DEFAULT_MAX_QUEUE
    no_show_timeout_s: float = 120.0
    recheck_s: float = 1.0
    priority_reserve: bool = True


class CommandKind(Enum):
    CALL = "call"  # get ready to drive to `bay`
    GO = "go"  # drive into `bay` (the path was clear on a fresh report)
    HOLD = "hold"  # stop where you are (or stay in the bay) until told otherwise
    REALIGN = "realign"  # re-position in the bay
    SCAN = "scan"  # station: run the underbody scan
    START_SWAP = "start_swap"  # station: exchange `battery_out` for `battery_in`
    RELEASE = "release"  # drive out of the bay
    REFUSE = "refuse"  # no swap here (`reason`)
    PLAN_RACK = "plan_rack"  # the rack changed: re-plan its charging


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    vehicle: str | None = None
    bay: int | None = None
    battery_out: str | None = None
    battery_in: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SwapRequest:
    """A vehicle asking for a swap."""

    vehicle: str
    priority: Priority
    battery: Battery
    autonomous: bool = True


class Phase(Enum):
    """Where a vehicle is in its visit; each `WAIT_*` phase has one pending gate."""

    QUEUED = "queued"
    CALLED = "called"  # told to get ready; no answer yet (no-show timer runs)
    WAIT_APPROACH = "wait_approach"
    APPROACHING = "approaching"
    WAIT_BAY = "wait_bay"
    REALIGNING = "realigning"
    SCANNING = "scanning"
    WAIT_UNDERBODY = "wait_underbody"
    SWAPPING = "swapping"
    HELD_FAULT = "held_fault"  # in a faulty bay, mechanism stopped
    WAIT_RELEASE = "wait_release"
    LEAVING = "leaving"


# Gate outcomes that say nothing about the vehicle: hold it and look again.
_UNTRUSTED = frozenset({"no_report", "report_stale", "report_from_future"})

_PENDING_GATE = {
    Phase.WAIT_APPROACH: Stage.APPROACH,
    Phase.WAIT_BAY: Stage.BAY,
    Phase.WAIT_UNDERBODY: Stage.UNDERBODY,
    Phase.WAIT_RELEASE: Stage.BAY,  # the bay camera watches the vehicle leave
}


@dataclass(slots=True)
class _Visit:
    request: SwapRequest
    queued_at: float
    phase: Phase = Phase.QUEUED
    bay: int | None = None
    battery_in: str | None = None
    realigns: int = 0
    next_check: float | None = None
    no_show_at: float | None = None
    held_reason: str | None = None


class StationOrchestrator:
    """One station. Inputs are methods named after what happened; each returns commands."""

    def __init__(
        self,
        station_id: str,
        bays: int,
        battery_types: tuple[str, ...],
        min_handout_soc: float,
        rack: Rack,
        log: list[Event],
        config: OrchestratorConfig | None = None,
    ) -> None:
        self.station_id = station_id
        self.config = config or OrchestratorConfig()
        self.battery_types = battery_types
        self.min_handout_soc = min_handout_soc
        self.rack = rack
        self.log = log
        self.bays = [Bay(n) for n in range(1, bays + 1)]
        self.busy_s = [0.0] * bays
        self.queue = SwapQueue(self.config.ageing_s, self.config.max_queue)
        self.visits: dict[str, _Visit] = {}
        self.reports: dict[tuple[str, Stage], PerceptionReport] = {}
        self.reserved: dict[str, str] = {}  # rack battery serial -> called vehicle
        # Batteries out of the rack for a swap in progress (kept through a mid-swap fault).
        self.in_swap: dict[str, RackBattery] = {}
        self.flagged_batteries: set[str] = set()
        self.flagged_vehicles: set[str] = set()

    # ---- inputs -------------------------------------------------------------------------

    def perceive(self, report: PerceptionReport) -> None:
        """Keep the newest report per vehicle and stage."""
        key = (report.vehicle, report.stage)
        current = self.reports.get(key)
        if current is None or report.observed_at >= current.observed_at:
            self.reports[key] = report

    def arrive(self, now: float, request: SwapRequest) -> list[Command]:
        vid = request.vehicle
        if vid in self.visits:
            raise ValueError(f"{vid} is already here")
        if request.battery.type not in self.battery_types:
            return self._refuse_at_gate(now, vid, "battery_type_unsupported")
        if request.battery.serial in self.flagged_batteries:
            return self._refuse_at_gate(now, vid, "battery_flagged_for_service")
        if len(self.queue) >= self.config.max_queue:
            return self._refuse_at_gate(now, vid, "queue_full")
        was_short = request.battery.type in self.short_types()
        visit = _Visit(request, queued_at=now)
        self.visits[vid] = visit
        self.queue.add(QueueEntry(vid, request.priority, request.battery.type, now))
        self._emit(now, vid, "queued")
        commands = self._call_free_bays(now)
        if not was_short and request.battery.type in self.short_types():
            # Vehicles now wait for this type: its batteries charge flat out from now on.
            commands.append(Command(CommandKind.PLAN_RACK))
        return commands

    def cancel(self, now: float, vehicle: str) -> list[Command]:
        """The vehicle no longer wants a swap; only before it moves (queued or called)."""
        visit = self.visits.get(vehicle)
        if visit is None or visit.phase not in (Phase.QUEUED, Phase.CALLED, Phase.WAIT_APPROACH):
            return []
        self.queue.remove(vehicle)
        if visit.bay is not None:
            self._set_bay(self._bay(visit.bay).withdraw(now), now)
        self._end(visit)
        self._emit(now, vehicle, "cancelled")
        return self._call_free_bays(now)

    def vehicle_ready(self, now: float, vehicle: str) -> list[Command]:
        """A called vehicle answered and is ready to drive."""
        visit = self.visits.get(vehicle)
        if visit is None or visit.phase is not Phase.CALLED:
            return []
        visit.phase, visit.no_show_at = Phase.WAIT_APPROACH, None
        return self._check(now, visit)

    def vehicle_in_bay(self, now: float, vehicle: str) -> list[Command]:
        visit = self.visits.get(vehicle)
        if visit is None or visit.phase is not Phase.APPROACHING or visit.bay is None:
            return []
        self._set_bay(self._bay(visit.bay).vehicle_in_bay(now), now)
        visit.phase = Phase.WAIT_BAY
        return self._check(now, visit)

    def realigned(self, now: float, vehicle: str) -> list[Command]:
        visit = self.visits.get(vehicle)
        if visit is None or visit.phase is not Phase.REALIGNING:
            return []
        visit.phase = Phase.WAIT_BAY
        return self._check(now, visit)

    def scan_done(self, now: float, vehicle: str) -> list[Command]:
        visit = self.visits.get(vehicle)
        if visit is None or visit.phase is not Phase.SCANNING:
            return []
        visit.phase = Phase.WAIT_UNDERBODY
        return self._check(now, visit)

    def swap_done(self, now: float, bay_number: int) -> list[Command]:
        bay = self._bay(bay_number)
        if bay.state is not BayState.SWAPPING or bay.vehicle is None:
            return []
        visit = self.visits[bay.vehicle]
        self._set_bay(bay.complete_swap(now), now)
        assert visit.battery_in is not None
        del self.in_swap[visit.battery_in]  # it left with the vehicle
        del self.reserved[visit.battery_in]
        visit.battery_in = None
        battery = visit.request.battery
        self.rack.put(
            RackBattery(
                battery.serial,
                battery.type,
                battery.capacity_wh,
                battery.soc * battery.capacity_wh,
                battery.soh,
            )
        )
        self._emit(now, bay.vehicle, "swap_completed", bay=bay_number)
        visit.phase = Phase.WAIT_RELEASE
        return [Command(CommandKind.PLAN_RACK), *self._check(now, visit)]

    def vehicle_left(self, now: float, vehicle: str) -> list[Command]:
        visit = self.visits.get(vehicle)
        if visit is None or visit.phase is not Phase.LEAVING:
            return []
        assert visit.bay is not None
        bay = self._bay(visit.bay)
        if bay.state is BayState.RELEASING and bay.vehicle == vehicle:
            self._set_bay(bay.vacate(now), now)
        self._end(visit)
        return self._call_free_bays(now)

    def bay_fault(self, now: float, bay_number: int) -> list[Command]:
        bay = self._bay(bay_number)
        if bay.state is BayState.FAULT:
            return []
        self._emit(now, bay.vehicle, "bay_fault", bay=bay_number)
        commands: list[Command] = []
        if bay.vehicle is not None:
            visit = self.visits[bay.vehicle]
            if bay.state in (BayState.RESERVED, BayState.APPROACHING):
                # Not on the platform yet: stop it and put it back in its place in the queue.
                commands.append(Command(CommandKind.HOLD, bay.vehicle, bay_number))
                self._hold(now, visit, "bay_fault")
                self._unreserve(visit)
                visit.phase, visit.bay, visit.no_show_at, visit.next_check = (
                    Phase.QUEUED,
                    None,
                    None,
                    None,
                )
                visit.held_reason = None
                self.queue.add(
                    QueueEntry(
                        bay.vehicle,
                        visit.request.priority,
                        visit.request.battery.type,
                        visit.queued_at,
                    )
                )
                self._emit(now, bay.vehicle, "queued", requeued=True)
            elif bay.state in (BayState.CHECKING, BayState.SWAPPING):
                commands.append(Command(CommandKind.HOLD, bay.vehicle, bay_number))
                self._hold(now, visit, "bay_fault")
                visit.phase, visit.next_check = Phase.HELD_FAULT, None
        self._set_bay(bay.fault(now), now)
        return commands + self._call_free_bays(now)

    def bay_recovered(self, now: float, bay_number: int) -> list[Command]:
        bay = self._bay(bay_number)
        if bay.state is not BayState.FAULT:
            return []
        self._emit(now, None, "bay_recovered", bay=bay_number)
        bay = bay.recover(now)
        self._set_bay(bay, now)
        if bay.vehicle is not None:
            visit = self.visits[bay.vehicle]
            visit.phase = Phase.WAIT_BAY
            return self._check(now, visit)
        return self._call_free_bays(now)

    def restarted(self, now: float, bays_in_use: list[int]) -> list[Command]:
        """A fresh orchestrator taking over after a restart: it knows none of the vehicles
        the old one served, so the bays that had one stay out of service (a fault) until
        the station reports them recovered."""
        self._emit(now, None, "restarted", bays=bays_in_use)
        commands: list[Command] = []
        for bay in bays_in_use:
            commands += self.bay_fault(now, bay)
        return commands

    def tick(self, now: float) -> list[Command]:
        """Timers: no-show timeouts and re-checks of held vehicles; then fill free bays."""
        commands: list[Command] = []
        for visit in list(self.visits.values()):
            if visit.no_show_at is not None and now >= visit.no_show_at:
                commands += self._no_show(now, visit)
            elif visit.next_check is not None and now >= visit.next_check:
                commands += self._check(now, visit)
        return commands + self._call_free_bays(now)

    # ---- queries ------------------------------------------------------------------------

    def next_wakeup(self) -> float | None:
        """When `tick` next has something to do (None: only an input can change things)."""
        times = [
            t for v in self.visits.values() for t in (v.no_show_at, v.next_check) if t is not None
        ]
        return min(times, default=None)

    def in_view(self) -> list[str]:
        """Vehicles past the queue: those the roadside unit must keep reporting on."""
        return [vid for vid, visit in self.visits.items() if visit.phase is not Phase.QUEUED]

    def utilisation(self, now: float, duration_s: float) -> list[float]:
        """Share of `duration_s` each bay spent serving a vehicle, counting up to `now`."""
        return [
            (busy + (now - bay.since if bay.busy else 0.0)) / duration_s
            for busy, bay in zip(self.busy_s, self.bays, strict=True)
        ]

    def snapshot(self, now: float) -> dict[str, Any]:
        """Bays, queue (service order) and rack as plain data, for the API and the CLI."""
        return {
            "station": self.station_id,
            "bays": [
                {"bay": b.number, "state": b.state.value, "vehicle": b.vehicle, "since": b.since}
                for b in self.bays
            ],
            "queue": [
                {
                    "vehicle": e.vehicle,
                    "priority": e.priority.label,
                    "battery_type": e.battery_type,
                    "waited_s": now - e.queued_at,
                }
                for e in self.queue.ordered(now)
            ],
            "in_progress": {
                vid: {"phase": v.phase.value, "bay": v.bay, "held": v.held_reason}
                for vid, v in self.visits.items()
                if v.phase is not Phase.QUEUED
            },
            "rack": [
                {
                    "serial": b.serial,
                    "type": b.type,
                    "soc": b.soc,
                    "soh": b.soh,
                    "power_w": self.rack.power_w.get(b.serial, 0.0),
                    "reserved_for": self.reserved.get(b.serial),
                }
                for b in sorted(self.rack.batteries.values(), key=lambda b: b.serial)
            ],
        }

    def short_types(self) -> set[str]:
        """Battery types vehicles wait for: more of them queued than free batteries of the
        type ready to hand out."""
        ready = Counter(b.type for b in self._free_rack() if b.soc >= self.min_handout_soc)
        return {t for t, n in self.queue.count_by_type().items() if n > ready[t]}

    def forecast(self, now: float, cycle_s: float, limit: int) -> list[Demand]:
        """Batteries the next `limit` swaps will need: called vehicles now, then queued ones
        in service order, one bay cycle apart per working bay."""
        demands = [
            Demand(v.request.battery.type, now) for v in self.visits.values() if v.battery_in
        ]
        working = max(1, sum(b.state is not BayState.FAULT for b in self.bays))
        for position, entry in enumerate(self.queue.ordered(now)):
            if len(demands) >= limit:
                break
            demands.append(Demand(entry.battery_type, now + (position // working + 1) * cycle_s))
        return demands

    # ---- decisions ----------------------------------------------------------------------

    def _check(self, now: float, visit: _Visit) -> list[Command]:
        """Run the pending gate of `visit` and act on its decision."""
        vid = visit.request.vehicle
        stage = _PENDING_GATE[visit.phase]
        decision = check_gate(stage, self.reports.get((vid, stage)), now, self.config.limits)
        if visit.phase is Phase.WAIT_RELEASE:
            return self._release(now, visit, decision)
        self._emit_gate(now, vid, decision)
        if decision.reason in _UNTRUSTED:
            return self._hold_and_recheck(now, visit, decision.reason)
        visit.next_check = None
        assert visit.bay is not None
        if stage is Stage.APPROACH:
            if not decision.passed:
                return self._hold_and_recheck(now, visit, decision.reason or "path_not_clear")
            self._set_bay(self._bay(visit.bay).start_approach(now), now)
            visit.phase, visit.held_reason = Phase.APPROACHING, None
            self._emit(now, vid, "approach_started", bay=visit.bay, report_id=decision.report_id)
            return [Command(CommandKind.GO, vid, visit.bay)]
        if stage is Stage.BAY:
            if decision.passed:
                visit.phase, visit.held_reason = Phase.SCANNING, None
                return [Command(CommandKind.SCAN, vid, visit.bay)]
            if visit.realigns >= self.config.limits.max_realign:
                return self._refuse_in_bay(now, visit, "alignment_failed")
            visit.realigns += 1
            visit.phase = Phase.REALIGNING
            self._emit(now, vid, "realign", bay=visit.bay, attempt=visit.realigns)
            return [Command(CommandKind.REALIGN, vid, visit.bay)]
        if not decision.passed:
            self.flagged_batteries.add(visit.request.battery.serial)
            self.flagged_vehicles.add(vid)
            return self._refuse_in_bay(now, visit, decision.reason or "underbody")
        return self._start_swap(now, visit)

    def _start_swap(self, now: float, visit: _Visit) -> list[Command]:
        vid = visit.request.vehicle
        assert visit.bay is not None and visit.battery_in is not None
        battery_out = visit.request.battery.serial
        if battery_out in self.flagged_batteries:  # never take a flagged battery in
            return self._refuse_in_bay(now, visit, "battery_flagged_for_service")
        handed = self.in_swap.get(visit.battery_in)
        if handed is None:
            handed = self.rack.batteries[visit.battery_in]
            if handed.soc < self.min_handout_soc:  # e.g. the rack fed the grid meanwhile
                return self._hold_and_recheck(now, visit, "battery_below_handout")
            self.in_swap[handed.serial] = self.rack.take(handed.serial)
        self._set_bay(self._bay(visit.bay).start_swap(now), now)
        visit.phase, visit.held_reason = Phase.SWAPPING, None
        self._emit(
            now,
            vid,
            "swap_started",
            bay=visit.bay,
            battery_out=battery_out,
            battery_in=handed.serial,
            battery_in_soc=handed.soc,
        )
        return [
            Command(CommandKind.START_SWAP, vid, visit.bay, battery_out, handed.serial),
            Command(CommandKind.PLAN_RACK),
        ]

    def _release(self, now: float, visit: _Visit, decision: GateDecision) -> list[Command]:
        """A vehicle leaves the bay only while the roadside unit reports fresh."""
        vid = visit.request.vehicle
        if decision.reason in _UNTRUSTED:
            return self._hold_and_recheck(now, visit, decision.reason)
        visit.phase, visit.next_check, visit.held_reason = Phase.LEAVING, None, None
        self._emit(
            now,
            vid,
            "released",
            bay=visit.bay,
            report_id=decision.report_id,
            report_age_s=decision.report_age_s,
        )
        return [Command(CommandKind.RELEASE, vid, visit.bay)]

    def _refuse_in_bay(self, now: float, visit: _Visit, reason: str) -> list[Command]:
        vid = visit.request.vehicle
        assert visit.bay is not None
        self._set_bay(self._bay(visit.bay).refuse(now), now)
        self._unreserve(visit)
        self._emit(now, vid, "refused", reason=reason, bay=visit.bay)
        visit.phase = Phase.WAIT_RELEASE
        return [
            Command(CommandKind.REFUSE, vid, visit.bay, reason=reason),
            *self._check(now, visit),
        ]

    def _refuse_at_gate(self, now: float, vehicle: str, reason: str) -> list[Command]:
        self._emit(now, vehicle, "refused", reason=reason)
        return [Command(CommandKind.REFUSE, vehicle, reason=reason)]

    def _no_show(self, now: float, visit: _Visit) -> list[Command]:
        vid = visit.request.vehicle
        assert visit.bay is not None
        self._emit(now, vid, "no_show", bay=visit.bay)
        self._set_bay(self._bay(visit.bay).withdraw(now), now)
        self._end(visit)
        return [Command(CommandKind.REFUSE, vid, reason="no_show")]

    def _call_free_bays(self, now: float) -> list[Command]:
        commands: list[Command] = []
        for bay in self.bays:
            if bay.state is not BayState.IDLE or not len(self.queue):
                continue
            entry, skipped = self.queue.select(now, self._why_not_servable)
            for passed_over, reason in skipped:
                self._hold(now, self.visits[passed_over.vehicle], reason)
            if entry is None:
                break
            commands.append(self._call(now, bay, entry))
        return commands

    def _free_rack(self) -> list[RackBattery]:
        return [b for b in self.rack.batteries.values() if b.serial not in self.reserved]

    def _why_not_servable(self, entry: QueueEntry) -> str | None:
        """None when a battery is ready for `entry`, else why it must wait."""
        free = self._free_rack()
        if choose_battery(free, entry.battery_type, self.min_handout_soc) is None:
            return "no_battery"
        reserve = self._reserve_for(entry)
        if choose_battery(free, entry.battery_type, self.min_handout_soc, reserve) is None:
            return "battery_reserved"
        return None

    def _reserve_for(self, entry: QueueEntry) -> int:
        if not self.config.priority_reserve:
            return 0
        return self.queue.count_above(entry.priority, entry.battery_type)

    def _call(self, now: float, bay: Bay, entry: QueueEntry) -> Command:
        visit = self.visits[entry.vehicle]
        battery = choose_battery(
            self._free_rack(), entry.battery_type, self.min_handout_soc, self._reserve_for(entry)
        )
        assert battery is not None
        self.queue.remove(entry.vehicle)
        self.reserved[battery.serial] = entry.vehicle
        self._set_bay(bay.reserve(entry.vehicle, now), now)
        visit.phase, visit.bay, visit.battery_in = Phase.CALLED, bay.number, battery.serial
        visit.held_reason, visit.realigns = None, 0
        visit.no_show_at = now + self.config.no_show_timeout_s
        self._emit(now, entry.vehicle, "called", bay=bay.number)
        # A battery of this type was ready: a vehicle still waiting for one says so again
        # when next passed over (the log then shows every wait for a battery as it happens).
        for head in self.queue.heads(now):
            visit_waiting = self.visits[head.vehicle]
            if head.battery_type == entry.battery_type and visit_waiting.held_reason in (
                "no_battery",
                "battery_reserved",
            ):
                visit_waiting.held_reason = None
        return Command(CommandKind.CALL, entry.vehicle, bay.number)

    # ---- bookkeeping --------------------------------------------------------------------

    def _hold_and_recheck(self, now: float, visit: _Visit, reason: str) -> list[Command]:
        self._hold(now, visit, reason)
        visit.next_check = now + self.config.recheck_s
        return []

    def _hold(self, now: float, visit: _Visit, reason: str) -> None:
        """Record why a vehicle waits, once per reason."""
        if visit.held_reason != reason:
            visit.held_reason = reason
            self._emit(now, visit.request.vehicle, "held", reason=reason)

    def _unreserve(self, visit: _Visit) -> None:
        """Free the battery a vehicle was given but did not leave with."""
        if visit.battery_in is not None:
            self.reserved.pop(visit.battery_in, None)
            taken = self.in_swap.pop(visit.battery_in, None)
            if taken is not None:
                self.rack.put(taken)
            visit.battery_in = None

    def _end(self, visit: _Visit) -> None:
        self._unreserve(visit)
        del self.visits[visit.request.vehicle]

    def _bay(self, number: int) -> Bay:
        return self.bays[number - 1]

    def _set_bay(self, bay: Bay, now: float) -> None:
        old = self.bays[bay.number - 1]
        if old.busy:
            self.busy_s[bay.number - 1] += now - old.since
        self.bays[bay.number - 1] = bay

    def _emit_gate(self, now: float, vehicle: str, decision: GateDecision) -> None:
        record: Event = {
            "t": now,
            "vehicle": vehicle,
            "kind": "gate",
            "stage": decision.stage.value,
            "passed": decision.passed,
            "report_id": decision.report_id,
            "report_age_s": decision.report_age_s,
        }
        if decision.reason is not None:
            record["reason"] = decision.reason
        self.log.append(record)

    def _emit(self, now: float, vehicle: str | None, kind: str, **fields: Any) -> None:
        record: Event = {"t": now, "vehicle": vehicle, "kind": kind}
        record.update(fields)
        if vehicle is None:
            record["station"] = self.station_id
        self.log.append(record)
