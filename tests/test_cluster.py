"""Cluster mode with real `cli.py serve` processes on PostgreSQL and Redis: commands reach
a station whichever process holds its socket, ownership follows reconnects, one planner
leads with fencing, and a killed process loses no acknowledged event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from charge_point_emulator.clock import SimClock
from charge_point_emulator.station import EmulatedStation
from tests.cluster_harness import PASSWORD, Cluster, cluster, query
from tests.waiting import eventually

__all__ = ["cluster"]

HEARTBEAT_INTERVAL = {
    "getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    ]
}


@pytest.fixture
async def emulated() -> AsyncIterator[Callable[..., Any]]:
    started: list[EmulatedStation] = []

    async def start(station_id: str, url: str) -> EmulatedStation:
        station = EmulatedStation(
            station_id,
            PASSWORD,
            url,
            clock=SimClock(60.0),
            tick_real_s=0.05,
            response_timeout_s=5.0,
        )
        started.append(station)
        await station.start()
        await station.wait_until(lambda: station.online, within_s=60)
        return station

    yield start
    for station in started:
        await station.stop()


async def test_a_command_sent_through_one_process_reaches_a_station_on_another(
    cluster: Cluster, emulated: Callable[..., Any]
) -> None:
    a, b = await cluster.start("node-a", "node-b")
    await cluster.add_stations(a, ["CS-B"])
    await emulated("CS-B", b.ocpp_url)

    async def owned_by_b() -> bool:
        return (await cluster.owners(a)).get("CS-B") == "node-b"

    await eventually(owned_by_b)
    status, answer = await a.request(
        "POST", "/api/v1/stations/CS-B/commands/GetVariables", HEARTBEAT_INTERVAL
    )
    assert status == 200, answer
    assert answer["getVariableResult"][0]["attributeStatus"] == "Accepted"
    # Journaled like a local command, by the process that was asked.
    rows = await query(
        cluster, "SELECT action, status, response FROM command WHERE station_id = $1", "CS-B"
    )
    assert [(r["action"], r["status"]) for r in rows] == [("GetVariables", "answered")]
    # A station linked nowhere: a clear 409, journaled as failed.
    await cluster.add_stations(a, ["CS-OFF"])
    status, answer = await b.request(
        "POST", "/api/v1/stations/CS-OFF/commands/GetVariables", HEARTBEAT_INTERVAL
    )
    assert status == 409 and "not connected" in answer["error"]
