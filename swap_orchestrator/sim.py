"""Discrete-event simulation: the orchestrator core against simulated vehicles, bays,
roadside unit, rack and grid, with a simulated clock."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from swap_orchestrator.gates import Stage
from swap_orchestrator.kernel_planner import kernel_planner
from swap_orchestrator.rack import (
    GridRequest,
    RackPlanner,
    RackPlanParams,
    plan_rack,
    price_at,
)
from swap_orchestrator.roadside import SimulatedRoadsideUnit
from swap_orchestrator.scenario import Scenario, StationSpec, VehicleSpec
from swap_orchestrator.station import (
    Command,
    CommandKind,
    Event,
    OrchestratorConfig,
    SwapRequest,
)
from swap_orchestrator.station_setup import SimTiming, bay_cycle_s, build_station


@dataclass(slots=True)
class StationAccount:
    """Grid accounting of one station: a step series of total power (racks + auxiliaries)."""

    power_w: list[list[float]] = field(default_factory=list)
    energy_wh: float = 0.0
    cost: float = 0.0
    utilisation: list[float] = field(default_factory=list)

    @property
    def peak_w(self) -> float:
        return max((w for _, w in self.power_w), default=0.0)


@dataclass(frozen=True, slots=True)
class SimResult:
    events: list[Event]
    stations: dict[str, StationAccount]
    flagged_vehicles: tuple[str, ...]
    flagged_batteries: tuple[str, ...]


class _StationRun:
    def __init__(
        self,
        spec: StationSpec,
        sim: Simulation,
        config: OrchestratorConfig,
    ) -> None:
        self.spec = spec
        self.sim = sim
        self.rack, self.orch = build_station(spec, sim.events, config, sim.plan_params.efficiency)
        self.account = StationAccount()
        self.grid_caps: list[tuple[float, float]] = []  # active grid_limit faults (end, limit)
        self.plan_token = 0
        self.plan: dict[str, list[float]] = {}
        self.plan_slot = 0
        self.plan_until = 0
        self.wake_at = math.inf
        self.cycle_s = bay_cycle_s(spec, sim.timing)

    # -- grid -------------------------------------------------------------------------------

    def connection_w(self, t: float) -> float:
        """The connection limit at `t`, as known now (active limit events and their ends)."""
        return min([self.spec.grid_limit_w] + [w for end, w in self.grid_caps if t < end])

    def advance(self, t: float) -> None:
        """Account energy and cost at the current power up to `t`, then move the rack on."""
        start = self.rack.updated_at
        w = self.spec.aux_w + self.rack.total_w
        while start < t:
            hour_end = (math.floor(start / 3600.0) + 1) * 3600.0
            stop = min(t, hour_end)
            wh = w * (stop - start) / 3600.0
            self.account.energy_wh += wh
            self.account.cost += wh / 1000.0 * self.price(start)
            start = stop
        self.rack.advance(t)

    def price(self, t: float) -> float:
        return price_at(self.spec.import_price, self.sim.scenario.start, t)

    def replan(self, t: float) -> None:
        self.advance(t)
        params = self.sim.plan_params
        batteries = list(self.rack.batteries.values())
        demands = self.orch.forecast(t, self.cycle_s, limit=len(batteries) + self.spec.bays)
        plan = plan_rack(
            self.sim.planner,
            t,
            self.sim.scenario.start,
            batteries,
            demands,
            self.orch.short_types(),
            handout_soc=self.spec.min_handout_soc,
            charge_w=self.spec.rack_charge_w,
            limit_w=lambda x: self.connection_w(x) - self.spec.aux_w,
            prices=self.spec.import_price,
            grid_requests=[
                GridRequest(r.from_s, r.to_s, r.max_net_w - self.spec.aux_w)
                for r in self.sim.grid_requests.get(self.spec.id, ())
            ],
            params=params,
        )
        self.plan = plan.power_w
        self.plan_slot = 0
        # The plan ends for a battery at its forecast swap (if the car is late the battery
        # is still here and needs a new plan) or when one charged flat out is ready.
        self.plan_until = plan.replan_slot
        self.apply_plan(t)

    def apply_plan(self, t: float) -> None:
        """Run the current slot of the plan until the slot ends or something changes."""
        params = self.sim.plan_params
        k = self.plan_slot
        powers = {serial: series[k] for serial, series in self.plan.items() if len(series) > k}
        self.rack.set_power(powers, self.connection_w(t) - self.spec.aux_w, params.slot_s)
        self.record_power(t)
        self.plan_token += 1
        token = self.plan_token
        self.sim.at(t + params.slot_s, lambda now: self._slot_end(now, token))

    def _slot_end(self, now: float, token: int) -> None:
        """Follow the plan while nothing changed (the rack, the grid or a request re-plan
        at once); solve again when a battery's forecast swap is due."""
        if token != self.plan_token:
            return
        self.advance(now)
        self.plan_slot += 1
        if self.plan_slot >= self.plan_until:
            self.replan(now)
        else:
            self.apply_plan(now)

    def record_power(self, t: float) -> None:
        w = self.spec.aux_w + self.rack.total_w
        series = self.account.power_w
        if series and series[-1][0] == t:
            series[-1][1] = w
        elif not series or series[-1][1] != w:
            series.append([t, w])

    # -- orchestrator I/O -------------------------------------------------------------------

    def call(self, t: float, action: Callable[[], list[Command]]) -> None:
        """Bring the world up to `t`, feed fresh perception, run one input, act on commands."""
        self.advance(t)
        rsu = self.sim.rsu
        for vid in self.orch.in_view():
            for stage in Stage:
                report = rsu.observe(self.spec.id, vid, stage, t)
                if report is not None:
                    self.orch.perceive(report)
        self.execute(t, action())
        wake = self.orch.next_wakeup()
        if wake is not None and (wake < self.wake_at or self.wake_at <= t):
            self.wake_at = max(wake, t)
            self.sim.at(self.wake_at, self._tick)

    def _tick(self, t: float) -> None:
        if t >= self.wake_at:
            self.wake_at = math.inf
        self.call(t, lambda: self.orch.tick(t))

    def execute(self, t: float, commands: list[Command]) -> None:
        sim, timing, replan = self.sim, self.sim.timing, False
        for c in commands:
            vid = c.vehicle
            if c.kind is CommandKind.PLAN_RACK:
                replan = True
            elif vid is None:
                continue
            elif c.kind is CommandKind.CALL:
                vehicle = sim.vehicles[vid]
                if not vehicle.no_show:
                    delay = timing.ready_s if vehicle.autonomous else timing.manual_ready_s
                    self.later(t + delay, vid, self._ready)
            elif c.kind is CommandKind.GO:
                self.later(t + self.spec.approach_s, vid, self.orch.vehicle_in_bay)
            elif c.kind is CommandKind.HOLD:
                sim.tokens[vid] = sim.tokens.get(vid, 0) + 1  # cancels what it was doing
            elif c.kind is CommandKind.REALIGN:
                self.later(t + timing.realign_s, vid, self._realigned)
            elif c.kind is CommandKind.SCAN:
                self.later(t + timing.scan_s, vid, self.orch.scan_done)
            elif c.kind is CommandKind.START_SWAP:
                assert c.bay is not None
                self.later(t + self.spec.swap_s, vid, partial(self._swap_done, c.bay))
            elif c.kind is CommandKind.RELEASE:
                self.later(t + timing.release_s, vid, self.orch.vehicle_left)
        if replan:
            self.replan(t)

    def later(self, t: float, vehicle: str, action: Callable[[float, str], list[Command]]) -> None:
        """Schedule what a vehicle does next, void if it is told to hold meanwhile."""
        token = self.sim.tokens.get(vehicle, 0)

        def run(now: float) -> None:
            if self.sim.tokens.get(vehicle, 0) == token:
                self.call(now, lambda: action(now, vehicle))

        self.sim.at(t, run)

    def _ready(self, now: float, vehicle: str) -> list[Command]:
        self.sim.rsu.start_watching_approach(vehicle, now)
        report = self.sim.rsu.observe(self.spec.id, vehicle, Stage.APPROACH, now)
        if report is not None:
            self.orch.perceive(report)
        return self.orch.vehicle_ready(now, vehicle)

    def _swap_done(self, bay: int, now: float, vehicle: str) -> list[Command]:
        return self.orch.swap_done(now, bay)

    def _realigned(self, now: float, vehicle: str) -> list[Command]:
        self.sim.rsu.realigned(vehicle)
        report = self.sim.rsu.observe(self.spec.id, vehicle, Stage.BAY, now)
        if report is not None:
            self.orch.perceive(report)
        return self.orch.realigned(now, vehicle)


class Simulation:
    """One run of a scenario. `planner` plans rack charging (the kernel in production);
    `grid_requests` are demand-response / feed-back requests per station."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        config: OrchestratorConfig | None = None,
        timing: SimTiming | None = None,
        planner: RackPlanner = kernel_planner,
        plan_params: RackPlanParams | None = None,
        grid_requests: dict[str, list[GridRequest]] | None = None,
        seed: int = 0,
    ) -> None:
        self.scenario = scenario
        self.timing = timing or SimTiming()
        self.planner = planner
        self.plan_params = plan_params or RackPlanParams()
        # Per station: the grid asks for the station's net power (with auxiliaries) to stay
        # at or below a value, negative meaning feed back from the racks.
        self.grid_requests = grid_requests or {}
        self.rsu = SimulatedRoadsideUnit(scenario, seed)
        self.events: list[Event] = []
        self.vehicles: dict[str, VehicleSpec] = {v.id: v for v in scenario.vehicles}
        self.tokens: dict[str, int] = {}
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()
        self.runs = {
            s.id: _StationRun(s, self, config or OrchestratorConfig()) for s in scenario.stations
        }

    def at(self, t: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._queue, (t, next(self._seq), action))

    def run(self) -> SimResult:
        end = self.scenario.duration_s
        for station_run in self.runs.values():
            self.at(0.0, station_run.replan)
        for v in self.scenario.vehicles:
            self.at(v.arrive_s, self._arrival(v))
        for sid, requests in self.grid_requests.items():
            for request in requests:  # re-plan exactly when a request starts and ends
                self.at(request.from_s, self.runs[sid].replan)
                self.at(request.to_s, self.runs[sid].replan)
        for f in self.scenario.faults:
            self._schedule_fault(f.station, f.kind, f.at_s, f.end_s, f.bay, f.limit_w)
        while self._queue and self._queue[0][0] <= end:
            t, _, action = heapq.heappop(self._queue)
            action(t)
        accounts = {}
        for sid, station_run in self.runs.items():
            station_run.advance(end)
            station_run.account.utilisation = station_run.orch.utilisation(end, end)
            accounts[sid] = station_run.account
        return SimResult(
            self.events,
            accounts,
            tuple(sorted(v for r in self.runs.values() for v in r.orch.flagged_vehicles)),
            tuple(sorted(b for r in self.runs.values() for b in r.orch.flagged_batteries)),
        )

    def _arrival(self, v: VehicleSpec) -> Callable[[float], None]:
        request = SwapRequest(v.id, v.priority, v.battery, v.autonomous)
        station_run = self.runs[v.station]

        def arrive(now: float) -> None:
            station_run.call(now, lambda: station_run.orch.arrive(now, request))

        return arrive

    def _schedule_fault(
        self,
        station: str,
        kind: str,
        start: float,
        end: float,
        bay: int | None,
        limit_w: float | None,
    ) -> None:
        station_run = self.runs[station]
        orch = station_run.orch
        if kind == "bay_fault":
            assert bay is not None
            number = bay
            self.at(start, lambda now: station_run.call(now, lambda: orch.bay_fault(now, number)))
            self.at(end, lambda now: station_run.call(now, lambda: orch.bay_recovered(now, number)))
        elif kind == "grid_limit":
            assert limit_w is not None
            cap = (end, limit_w)

            def begin(now: float) -> None:
                station_run.advance(now)
                station_run.grid_caps.append(cap)
                station_run.replan(now)

            def finish(now: float) -> None:
                station_run.advance(now)
                station_run.grid_caps.remove(cap)
                station_run.replan(now)

            self.at(start, begin)
            self.at(end, finish)
        # rsu_offline needs no event: the roadside unit simply stops reporting.


def simulate(scenario: Scenario, **options: Any) -> SimResult:
    """Run a scenario to its end (options as for `Simulation`)."""
    return Simulation(scenario, **options).run()
