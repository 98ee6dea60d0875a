"""End to end: 50 emulated stations (6 bidirectional) under feeder > transformer > sites, a
simulated night, judged on the emulator's ground truth.

Simulated time is stepped (`tests/stepping.py`): it moves a minute at most, then waits until
no message, command or replan is in flight, so the verdict does not depend on how busy the
machine is.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from charge_point_emulator.clock import SteppedClock
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.fleet import Fleet, FleetConfig
from charge_point_emulator.passwords import PasswordBook
from charge_point_emulator.scenario import Arrival, EvseSpec, Scenario, StationSpec
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station
from csms.grid.kernel import warm_up
from csms.grid.live_state import save_topology
from csms.grid.topology import loads_topology
from tests.conftest import settings_for
from tests.stepping import Stepper, all_online, in_flight

PASSWORD = "emulated-station-password"
T0 = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
#: Only converts the emulator's simulated timeouts to real ones; time itself is stepped.
SPEED = 900.0
PLAN_INTERVAL_S = 900
HOURS = 7.75
SITES = {"site-a": range(1, 23), "site-b": range(23, 45), "site-c": range(45, 51)}
V2G = {f"E{n:03d}" for n in SITES["site-c"]}
LIMITS = {"tx-1": 300_000.0, "site-a": 200_000.0, "site-b": 200_000.0, "site-c": 100_000.0}
DR_CAP_W = 150_000.0
EXPORT_W = -40_000.0
DEAD_BAND_W = 500.0
#: Minutes after a slot boundary not judged: each emulated station moves to its profile's
#: next period at its own next physics tick (every 0.02 s real, 18 s simulated), so for a
#: moment some have raised and others not yet cut.
SWITCH_MINUTES = 2


def _site_of(station_id: str) -> str:
    n = int(station_id[1:])
    return next(site for site, members in SITES.items() if n in members)


def _topology() -> str:
    lines = [
        "version = 1",
        f"[planning]\nslot_seconds = 900\ndead_band_w = {DEAD_BAND_W}",
        f"[tariff]\nimport_price_by_hour = {[0.25] * 24}\ndegradation_cost_per_kwh = 0.03",
        "[defaults]\nbattery_wh = 60000",
        "[[node]]\nid = 'feeder-1'\nkind = 'feeder'\nimport_limit_w = 1000000\n"
        "export_limit_w = 200000",
        f"[[node]]\nid = 'tx-1'\nkind = 'transformer'\nparent = 'feeder-1'\n"
        f"import_limit_w = {LIMITS['tx-1']}\nexport_limit_w = 100000",
    ]
    for site in SITES:
        lines.append(
            f"[[node]]\nid = '{site}'\nkind = 'site'\nparent = 'tx-1'\n"
            f"import_limit_w = {LIMITS[site]}\nexport_limit_w = 80000"
        )
    for site, members in SITES.items():
        for n in members:
            sid = f"E{n:03d}"
            export = 11_000 if sid in V2G else 0
            lines.append(
                f"[[station]]\nid = '{sid}'\nnode = '{site}'\n  [[station.evse]]\n  id = 1\n"
                f"  max_import_w = 11000\n  max_export_w = {export}"
            )
    return "\n\n".join(lines) + "\n"


def _scenario() -> Scenario:
    rng = random.Random(6)
    stations = []
    arrivals = []
    for members in SITES.values():
        for n in members:
            sid = f"E{n:03d}"
            bidirectional = sid in V2G
            stations.append(StationSpec(sid, (EvseSpec(bidirectional=bidirectional),)))
            ev = EvSpec(
                capacity_wh=60_000,
                bidirectional=bidirectional,
                max_discharge_w=11_000 if bidirectional else 0.0,
                iso15118=True,
            )
            # V2G cars stay longer and come fuller: they can give for the export request
            # and still reach their target by departure.
            stay_h = rng.uniform(6, 6.25) if bidirectional else rng.uniform(4.5, 6)
            arrivals.append(
                Arrival(
                    sid,
                    1,
                    at_s=rng.uniform(3_600, 5_400),
                    stay_s=stay_h * 3600,
                    ev=ev,
                    soc=rng.uniform(0.7, 0.8) if bidirectional else rng.uniform(0.45, 0.6),
                    target_soc=0.8,
                    id_token=f"CAR-{n}",
                )
            )
    arrivals.sort(key=lambda a: a.at_s)
    return Scenario(tuple(stations), tuple(arrivals), heartbeat_interval_s=86_400,
                    sample_interval_s=600)  # fmt: skip


def _node_minutes(fleet: Fleet) -> dict[str, dict[int, float]]:
    """Ground truth: average net power (W) per node and minute."""
    loads: dict[str, dict[int, float]] = {node: {} for node in LIMITS}
    for truth in fleet.truth():
        site = _site_of(truth.station_id)
        for buckets in truth.minutes.values():
            for minute, wh in buckets.items():
                for node in (site, "tx-1"):
                    loads[node][minute] = loads[node].get(minute, 0.0) + wh * 60.0
    return loads


def _minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


@pytest.mark.slow
async def test_a_simulated_night_keeps_limits_meets_needs_and_answers_the_grid(
    tmp_path: Path,
) -> None:
    clock = SteppedClock(SPEED, start=T0)
    settings = settings_for(
        f"sqlite://{tmp_path / 'csms.db'}",
        plan_interval=PLAN_INTERVAL_S,
        heartbeat_interval=86_400,
        call_timeout=5.0,
    )
    csms = Csms(settings, clock=clock.now)
    await csms.start()
    try:
        _, document = loads_topology(_topology())
        await save_topology(document, clock.now())
        for site_members in SITES.values():
            for n in site_members:
                await add_station(f"E{n:03d}", PASSWORD)
                await add_token(f"CAR-{n}")
        # Compile the kernel and the schema validators of every message on both sides
        # before the night starts.
        await asyncio.to_thread(warm_up)
        await _warm_up(csms)
        csms.planner.sleep = clock.sleep
        config = FleetConfig(
            csms_url=f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
            scenario=_scenario(),
            passwords=PasswordBook(default=PASSWORD),
            speed=SPEED,
            tick_real_s=1.0,  # the stepper ticks the physics at every step
        )
        fleet = Fleet(config, clock=clock)
        stepper = Stepper(
            clock,
            busy=lambda: in_flight(csms, fleet),
            on_step=fleet.tick,
        )
        api = f"http://127.0.0.1:{csms.api_port}"
        async with aiohttp.ClientSession(api) as http:
            await fleet.start()
            await all_online(fleet, stepper)
            dr, export = await _run_night(stepper, http)
            report = await (await http.get(f"/api/v1/grid/events/{export[2]}/report")).json()
            await fleet.stop()
        _judge(fleet, dr, export, report)
    finally:
        await csms.stop()


async def _warm_up(csms: Csms) -> None:
    """One car on one station, at a speed where nothing times out."""
    await add_station("WARM", PASSWORD)
    await add_token("CAR-WARM")
    ev = EvSpec(capacity_wh=60_000, iso15118=True)
    arrival = Arrival("WARM", 1, at_s=5, stay_s=300, ev=ev, id_token="CAR-WARM")
    scenario = Scenario((StationSpec("WARM", (EvseSpec(),)),), (arrival,), sample_interval_s=60)
    config = FleetConfig(
        csms_url=f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
        scenario=scenario,
        passwords=PasswordBook(default=PASSWORD),
        speed=100,
        tick_real_s=0.02,
    )
    fleet = Fleet(config)
    await fleet.start()
    await fleet.clock.sleep(400)
    await fleet.stop()


async def _post_at(
    stepper: Stepper, http: aiohttp.ClientSession, at_s: float, event: dict[str, Any]
) -> tuple[datetime, datetime, int]:
    await stepper.run_until(at_s)
    start = stepper.clock.now()
    end = start + timedelta(hours=1)
    body = {**event, "start": start.isoformat(), "end": end.isoformat()}
    answer = await http.post("/api/v1/grid/events", json=body)
    assert answer.status == 201, await answer.text()
    return start, end, int((await answer.json())["id"])


async def _run_night(
    stepper: Stepper, http: aiohttp.ClientSession
) -> tuple[tuple[datetime, datetime, int], tuple[datetime, datetime, int]]:
    # Cars arrive 17:00-17:30 and leave 21:30-23:30; at 18:00 the grid operator caps the
    # transformer for an hour, at 19:30 it asks the V2G site to export for an hour.
    dr = await _post_at(
        stepper, http, 2 * 3600, {"node": "tx-1", "kind": "limit", "max_net_w": DR_CAP_W}
    )
    export = await _post_at(
        stepper, http, 3.5 * 3600, {"node": "site-c", "kind": "target", "max_net_w": EXPORT_W}
    )
    await stepper.run_until(HOURS * 3600)
    return dr, export


def _judge(
    fleet: Fleet,
    dr: tuple[datetime, datetime, int],
    export: tuple[datetime, datetime, int],
    report: dict[str, Any],
) -> None:
    loads = _node_minutes(fleet)
    settle = PLAN_INTERVAL_S // 60
    dr_from, dr_to = _minute(dr[0]), _minute(dr[1])
    # The transformer was above the cap when the request came, so there was load to cut.
    assert max(loads["tx-1"].get(m, 0.0) for m in range(dr_from - 10, dr_from)) > DR_CAP_W
    over = []
    for node, limit in LIMITS.items():
        for minute, watts in sorted(loads[node].items()):
            if node == "tx-1" and dr_from <= minute < dr_from + settle:
                continue  # the cap propagates within one plan interval
            if minute % 15 < SWITCH_MINUTES:
                continue  # stations switch to the next period at their next physics tick
            cap = DR_CAP_W if node == "tx-1" and dr_from + settle <= minute < dr_to else limit
            if watts > cap + DEAD_BAND_W:
                over.append((node, minute - dr_from, round(watts)))
    assert not over, over[:20]
    # The uncontrolled peak (every car at 11 kW) is far above the transformer's limit.
    assert LIMITS["tx-1"] < 50 * 11_000
    assert max(loads["tx-1"].values()) > 0.9 * LIMITS["tx-1"]
    ex_from, ex_to = _minute(export[0]) + settle, _minute(export[1])
    delivered = [loads["site-c"].get(m, 0.0) for m in range(ex_from, ex_to)]
    mean = sum(delivered) / len(delivered)
    assert abs(mean - EXPORT_W) <= 0.05 * abs(EXPORT_W), mean
    assert report["kind"] == "target" and report["slots"]
    assert all(s["requested_w"] == EXPORT_W for s in report["slots"])
    # Every car reaches its target by departure (its needs were feasible).
    arrivals = {a.station_id: a for a in fleet.config.scenario.arrivals}
    for truth in fleet.truth():
        (tx,) = truth.transactions.values()
        arrival = arrivals[truth.station_id]
        assert tx.ended_at is not None
        final_soc = arrival.soc + (tx.delivered_wh - tx.fed_back_wh) / arrival.ev.capacity_wh
        assert final_soc >= arrival.target_soc - 0.005, (truth.station_id, final_soc)
    v2g_fed = sum(
        tx.fed_back_wh
        for t in fleet.truth()
        if t.station_id in V2G
        for tx in t.transactions.values()
    )
    assert v2g_fed > 0.9 * abs(EXPORT_W) * (ex_to - ex_from) / 60
