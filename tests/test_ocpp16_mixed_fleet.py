"""End to end: a mixed fleet under one 80 kW transformer: four 1.6 stations and four 2.0.1
stations of 22 kW, judged on the emulator's ground truth. One 1.6 station says it has no
SmartCharging profile (SupportedFeatureProfiles, read at its boot) and one 2.0.1 station
answers NotImplemented: both are planned as the 22 kW they draw, the other six share what
is left, and the transformer holds. Simulated time is stepped (`tests/stepping.py`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from charge_point_emulator.clock import SteppedClock
from charge_point_emulator.faults import Fault, FaultKind
from charge_point_emulator.fleet import Fleet, FleetConfig
from charge_point_emulator.passwords import PasswordBook
from charge_point_emulator.station16 import EmulatedStation16
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station, get_station
from csms.db.models import Command, Transaction
from csms.grid.kernel import warm_up
from csms.grid.live_state import save_topology
from csms.grid.topology import loads_topology
from tests.conftest import settings_for
from tests.stepping import Stepper, all_online, in_flight
from tests.test_live_e2e import SWITCH_MINUTES, _minute
from tests.test_unmanaged_e2e import (
    DEAD_BAND_W,
    EVSE_W,
    LAST_ARRIVAL_S,
    LIMIT_W,
    PASSWORD,
    PLAN_INTERVAL_S,
    SPEED,
    STATIONS,
    T0,
    _minutes,
    _scenario,
    _topology,
)

#: The stations that speak 1.6; U4 has no smart charging, U6 answers NotImplemented.
V16 = {"U1", "U2", "U3", "U4"}
FAULTS = {"U4": Fault(FaultKind.NO_SMART_CHARGING), "U6": Fault(FaultKind.NO_SMART_CHARGING)}
FIND_OUT_MINUTES = 8
HOURS = 1.0


@pytest.mark.slow
async def test_a_mixed_16_and_201_fleet_keeps_the_transformer_limit(tmp_path: Path) -> None:
    clock = SteppedClock(SPEED, start=T0)
    settings = settings_for(
        f"sqlite://{tmp_path / 'csms.db'}",
        plan_interval=PLAN_INTERVAL_S,
        heartbeat_interval=86_400,
        call_timeout=5.0,
    )
    scenario = _scenario()
    stations = tuple(
        replace(
            spec,
            ocpp="1.6" if spec.id in V16 else "2.0.1",
            faults=(FAULTS[spec.id],) if spec.id in FAULTS else (),
        )
        for spec in scenario.stations
    )
    csms = Csms(settings, clock=clock.now)
    await csms.start()
    try:
        _, document = loads_topology(_topology())
        await save_topology(document, clock.now())
        for sid in STATIONS:
            await add_station(sid, PASSWORD)
            await add_token(f"CAR-{sid}")
        await asyncio.to_thread(warm_up)
        csms.planner.sleep = clock.sleep
        config = FleetConfig(
            csms_url=f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
            scenario=replace(scenario, stations=stations),
            passwords=PasswordBook(default=PASSWORD),
            speed=SPEED,
            tick_real_s=1.0,  # the stepper ticks the physics at every step
        )
        fleet = Fleet(config, clock=clock)
        assert {s for s, st in fleet.stations.items() if isinstance(st, EmulatedStation16)} == V16
        stepper = Stepper(clock, busy=lambda: in_flight(csms, fleet), on_step=fleet.tick)
        api = f"http://127.0.0.1:{csms.api_port}"
        async with aiohttp.ClientSession(api) as http:
            await fleet.start()
            await all_online(fleet, stepper)
            await stepper.run_until(HOURS * 3600)
            control = {}
            for sid in STATIONS:
                answer = await http.get(f"/api/v1/stations/{sid}")
                (evse,) = (await answer.json())["control"]
                control[sid] = evse["status"]
            await fleet.stop()
        protocols = {sid: (await get_station(sid)).protocol for sid in STATIONS}
        accepted = {
            sid: await Command.filter(
                station_id=sid, action="SetChargingProfile", status="answered"
            ).count()
            for sid in V16
        }
        transactions = {
            row.station_id: row for row in await Transaction.filter(station_id__in=list(V16))
        }
        plan = csms.planner.plan
    finally:
        await csms.stop()

    assert protocols == {sid: "ocpp1.6" if sid in V16 else "ocpp2.0.1" for sid in STATIONS}
    # The 1.6 station without SmartCharging is known from its configuration, never tried.
    assert control["U4"].startswith("unmanaged: SmartChargingCtrlr.Available is false"), control
    assert control["U6"].startswith("unmanaged: SetChargingProfile not implemented since ")
    assert all(control[sid] == "managed" for sid in STATIONS if sid not in FAULTS), control
    # The obeying 1.6 stations took the planner's profiles, translated.
    assert all(accepted[sid] >= 2 for sid in V16 - set(FAULTS)), accepted
    assert plan is not None and {u["station_id"] for u in plan["unmanaged"]} == set(FAULTS)
    for sid, row in transactions.items():
        truth = fleet.stations[sid].truth.transactions[row.transaction_id]
        assert row.energy_wh == pytest.approx(truth.acknowledged_wh, abs=1.0)

    total = _minutes(fleet, set(STATIONS))
    judged_from = _minute(T0) + LAST_ARRIVAL_S // 60 + FIND_OUT_MINUTES
    judged = [m for m in sorted(total) if m >= judged_from and m % 15 >= SWITCH_MINUTES]
    assert len(judged) > 25
    over = [(m - judged_from, round(total[m])) for m in judged if total[m] > LIMIT_W + DEAD_BAND_W]
    assert not over, over[:20]
    assert max(total[m] for m in judged) > 0.9 * LIMIT_W
    assert EVSE_W * 2 < LIMIT_W  # the two unmanaged ones leave room for the six others
