"""A busy hour at an emulated swap station over real websockets and HTTP, in simulated time:
driverless vehicles, a roadside unit and the station obey the live orchestrator, and its
event log passes the same independent audit as the simulator's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from charge_point_emulator.clock import SimClock
from charge_point_emulator.roadside import RoadsideUnit
from charge_point_emulator.swap_station import SwapStationEmulator
from charge_point_emulator.swap_yard import Yard
from charge_point_emulator.vehicle import EmulatedVehicle
from csms.app import Csms
from csms.blocks.stations import add_station
from csms.db.models import SwapEvent
from csms.grid.kernel import warm_up
from swap_orchestrator.audit import AuditLimits, audit
from swap_orchestrator.gates import GateLimits
from swap_orchestrator.generator import GeneratorParams, generate
from swap_orchestrator.scenario import parse_scenario
from swap_orchestrator.station import OrchestratorConfig
from tests.conftest import settings_for

SPEED = 150.0  # simulated seconds per real second
HOUR_S = 3600.0
DRAIN_S = 3600.0  # after the hour, let the vehicles already there finish
PASSWORD = "swap-station-password-1"
OUTAGE = (2400.0, 120.0)  # the roadside unit goes silent (start, duration)
# At 150x one simulated second is 6.7 ms of real time, less than a loaded machine's
# scheduling jitter: the gates get a 3 s freshness window (20 ms real) and the roadside
# unit reports every second; the audit is told the same window.
FRESHNESS_S = 3.0
RSU_PERIOD_S = 1.0


def busy_hour(seed: int) -> dict[str, Any]:
    """About 30 arrivals in an hour at a two-bay station (its bays' pace is ~29 an hour),
    with more incidents than usual and a bay fault."""
    doc = generate(
        GeneratorParams(
            seed=seed,
            arrivals=30,
            duration_s=HOUR_S,
            faults=False,
            pedestrian_share=0.15,
            misaligned_share=0.15,
            damaged_share=0.05,
            no_show_share=0.04,
            manual_share=0.1,
        )
    )
    # One working-day hour's curve puts everyone in hour 0: spread arrivals evenly instead.
    for n, vehicle in enumerate(sorted(doc["vehicles"], key=lambda v: v["id"])):
        vehicle["arrive_s"] = round(10.0 + n * (HOUR_S - 600.0) / len(doc["vehicles"]), 1)
    station = doc["stations"][0]["id"]
    doc["faults"] = [
        {"station": station, "bay": 2, "kind": "bay_fault", "at_s": 1500.0, "duration_s": 300.0},
        {"station": station, "kind": "rsu_offline", "at_s": OUTAGE[0], "duration_s": OUTAGE[1]},
    ]
    return doc


async def test_busy_hour_over_websockets_passes_the_audit(tmp_path: Path) -> None:
    # OCPP 2.0.1 carries the same payloads in DataTransfer (test_swaplive_api.py covers it).
    subprotocol = "ocpp2.1"
    warm_up()  # compile the kernel before the simulated clock starts
    doc = busy_hour(seed=7)
    scenario = parse_scenario(doc)
    spec = scenario.stations[0]
    clock = SimClock(speed=SPEED)
    csms = Csms(settings_for(f"sqlite://{tmp_path / 'csms.db'}"), clock=clock.now)
    csms.swap.epoch, csms.swap.time_scale = clock.start, SPEED
    csms.swap.config = OrchestratorConfig(limits=GateLimits(freshness_s=FRESHNESS_S))
    await csms.start()
    api = f"http://127.0.0.1:{csms.api_port}"
    yard = Yard(scenario)
    tasks: list[asyncio.Task[None]] = []
    try:
        await add_station(spec.id, PASSWORD, None)
        async with aiohttp.ClientSession(api) as http:
            registered = await http.post("/api/v1/swap/stations", json=doc["stations"][0])
            assert registered.status == 201
            station = SwapStationEmulator(
                spec, yard, clock, f"ws://127.0.0.1:{csms.ocpp_port}/ocpp", PASSWORD, subprotocol
            )
            tasks.append(asyncio.create_task(station.run()))
            roadside = RoadsideUnit(spec.id, yard, clock, api, period_s=RSU_PERIOD_S)
            tasks.append(asyncio.create_task(roadside.run()))
            vehicles = [
                EmulatedVehicle(v, spec.approach_s, yard, clock, http) for v in scenario.vehicles
            ]
            runs = [asyncio.create_task(v.run()) for v in vehicles]
            tasks += runs
            # On a loaded machine reports arrive late and the gates hold vehicles longer
            # (as they must): wait for every vehicle's outcome, bounded only against a hang.
            await asyncio.wait(runs, timeout=max((HOUR_S + DRAIN_S) / SPEED, 300.0))
            for run in runs:
                if run.done():
                    run.result()  # a vehicle's error fails the test here
            left = {
                v.spec.id: (
                    yard.truth(v.spec.id).place.value,
                    csms.swap.instructions.get(v.spec.id),
                )
                for v, run in zip(vehicles, runs, strict=True)
                if not run.done()
            }
            assert not left, (left, csms.swap.view(spec.id), csms.swap.station(spec.id).log[-20:])
            until = clock.elapsed()
            reply = await http.get(f"/api/v1/swap/stations/{spec.id}/events")
            log = await reply.json()
            view = await (await http.get(f"/api/v1/swap/stations/{spec.id}")).json()
            stored = await SwapEvent.filter(station_id=spec.id).count()
    finally:
        for task in tasks:
            task.cancel()
        # Bounded, so that a task ignoring its cancellation fails the test instead of hanging.
        _, stuck = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
        async with asyncio.timeout(30):
            await csms.stop()
    assert not stuck, stuck

    events = log["events"]
    assert stored == len(events)  # the whole log is in the database
    swaps = sum(1 for e in events if e["kind"] == "swap_completed")
    refused = {e["vehicle"]: e["reason"] for e in events if e["kind"] == "refused"}
    # Every vehicle got an answer: swapped, refused with a reason, or gone as a no-show.
    outcomes = {v.spec.id: v.outcome for v in vehicles}
    assert all(outcomes.values()), outcomes
    assert swaps >= 0.7 * len(vehicles), (swaps, refused)
    assert swaps == station.swaps_done == view["swaps"]
    for vehicle in scenario.underbody:
        if vehicle in outcomes and scenario.underbody[vehicle].casing_damage >= 0.5:
            assert refused.get(vehicle) == "battery_casing_damage"
    assert any(e["kind"] == "bay_fault" for e in events)
    assert any(e["kind"] == "held" for e in events)

    # Nothing moves during the outage once the last reports have aged out: a live
    # orchestrator learns of a silent unit only from its reports going stale.
    start, end = OUTAGE[0] + FRESHNESS_S, OUTAGE[0] + OUTAGE[1]
    moved = [e for e in events if e["kind"] in ("approach_started", "released")]
    assert not [e for e in moved if start <= e["t"] < end]
    report = {"version": 1, **log}
    problems = audit(
        dict(doc, duration_s=until),
        json.loads(json.dumps(report)),
        AuditLimits(freshness_s=FRESHNESS_S),
    )
    # The audit reads the outage as starting at once; allow only moves on reports that were
    # still fresh at its start.
    late = [p for p in problems if not on_fresh_report_at_outage_start(p, start)]
    assert late == [], problems[:10]


def on_fresh_report_at_outage_start(problem: str, fresh_until: float) -> bool:
    """An audit finding "moved/released while the roadside unit was offline" at a time when
    the last reports before the outage were still fresh."""
    if not problem.startswith("t=") or "roadside unit was offline" not in problem:
        return False
    return OUTAGE[0] <= float(problem.split()[0][2:]) < fresh_until
