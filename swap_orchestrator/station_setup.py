"""One swap station's core as the live service and the simulator both build it: its rack
and orchestrator from the scenario's station entry, and the nominal time a bay spends on
one vehicle (the swap forecast the rack plan charges for)."""

from __future__ import annotations

from dataclasses import dataclass

from swap_orchestrator.batteries import RackBattery
from swap_orchestrator.rack import Rack
from swap_orchestrator.scenario import StationSpec
from swap_orchestrator.station import Event, OrchestratorConfig, StationOrchestrator


@dataclass(frozen=True, slots=True)
class SimTiming:
    """How long the world takes to do what the orchestrator asks: what the simulator
    plays, and the nominal times the live service forecasts with."""

    ready_s: float = 0.5  # an autonomous car answers a call
    manual_ready_s: float = 60.0  # a driver walks back to a car that does not drive itself
    scan_s: float = 1.0  # underbody scan
    realign_s: float = 8.0
    release_s: float = 20.0  # from the release command until the bay is clear


def bay_cycle_s(spec: StationSpec, timing: SimTiming) -> float:
    """Time a bay spends on one autonomous vehicle with nothing going wrong."""
    return timing.ready_s + spec.approach_s + timing.scan_s + spec.swap_s + timing.release_s


def build_station(
    spec: StationSpec, log: list[Event], config: OrchestratorConfig, efficiency: float
) -> tuple[Rack, StationOrchestrator]:
    """The station's rack (batteries as the scenario lists them) and its orchestrator,
    which appends its events to `log`."""
    rack = Rack(
        (
            RackBattery(b.serial, b.type, b.capacity_wh, b.soc * b.capacity_wh, b.soh)
            for b in spec.batteries
        ),
        spec.rack_charge_w,
        efficiency,
        station=spec.id,
    )
    orchestrator = StationOrchestrator(
        spec.id,
        spec.bays,
        spec.battery_types,
        spec.min_handout_soc,
        rack,
        log,
        config,
    )
    return rack, orchestrator
