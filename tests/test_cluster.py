"""Cluster mode with real `cli.py serve` processes on PostgreSQL and Redis: commands reach
a station whichever process holds its socket, ownership follows reconnects, one planner
leads with fencing, and a killed process loses no acknowledged event."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from charge_point_emulator.clock import SimClock
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.station import EmulatedStation
from csms.cluster import wire
from csms.cluster.wire import Fence, Fenced, Request
from tests.cluster_harness import PASSWORD, ROOT, Cluster, Node, cluster, query
from tests.ocpp_wire import WirePeer, basic_auth
from tests.stations import tx_event
from tests.waiting import eventually

__all__ = ["cluster"]

#: Each test starts two or three server processes (a few seconds each on a busy machine).
pytestmark = pytest.mark.slow

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
    # Each process reports itself: Redis reachable, and the links it holds.
    status, ready = await b.request("GET", "/ready")
    assert status == 200 and ready["checks"] == {"database": "ok", "redis": "ok"}
    metrics = await b.text("/metrics")
    assert 'csms_connected_stations{node="node-b"} 1.0' in metrics
    assert 'csms_cluster_commands_relayed_total{node="node-a"}' in await a.text("/metrics")


async def _peer(url: str, station_id: str) -> WirePeer:
    websocket = await connect(
        f"{url}/{station_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=basic_auth(station_id, PASSWORD),
        open_timeout=30,
    )
    return WirePeer(websocket)


async def test_a_station_reconnecting_elsewhere_moves_ownership_and_commands_follow_it(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("node-a", "node-b")
    await cluster.add_stations(a, ["CS-M"])
    old = await _peer(a.ocpp_url, "CS-M")
    await eventually(lambda: _owner_is(cluster, a, "CS-M", "node-a"))
    # The station comes back through node B while node A still holds its old link (a
    # half-open socket, as after a network change): B claims it and A drops the old one.
    new = await _peer(b.ocpp_url, "CS-M")
    await asyncio.wait_for(old.websocket.wait_closed(), 30)
    await eventually(lambda: _owner_is(cluster, a, "CS-M", "node-b"))

    async def station_answers() -> None:
        call = await new.expect_call(timeout=30)
        assert call[2] == "GetVariables"
        await new.answer(call[1], {"getVariableResult": [_accepted("60")]})

    answering = asyncio.create_task(station_answers())
    status, answer = await a.request(
        "POST", "/api/v1/stations/CS-M/commands/GetVariables", HEARTBEAT_INTERVAL
    )
    await answering
    assert status == 200 and answer["getVariableResult"][0]["attributeValue"] == "60"
    assert new.incoming.empty(), "the command was sent once"
    # The old link's close does not leave the station offline: the new link stands (the
    # sweeper corrects the table within a third of the lease if a busy machine let a
    # process's lease lapse meanwhile).
    await eventually(lambda: _connected_in_table(cluster, "CS-M"))
    await new.close()
    await eventually(lambda: _owner_is(cluster, a, "CS-M", None))


async def _connected_in_table(cluster: Cluster, station_id: str) -> bool:
    rows = await query(cluster, "SELECT connected FROM station WHERE id = $1", station_id)
    return bool(rows[0]["connected"])


async def _owner_is(cluster: Cluster, via: Node, station_id: str, node: str | None) -> bool:
    return (await cluster.owners(via)).get(station_id) == node


def _accepted(value: str) -> dict[str, Any]:
    return {
        "attributeStatus": "Accepted",
        "attributeValue": value,
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"},
    }


async def test_one_planner_leads_and_another_takes_over_within_10_s_when_it_is_killed(
    cluster: Cluster,
) -> None:
    # The production lease (5 s), not the tests' shorter one: the 10 s promise is its.
    started = await cluster.start("node-a", "node-b", "node-c", CSMS_CLUSTER_LEASE="5")
    nodes = {n.name: n for n in started}
    await eventually(lambda: _has_leader(cluster))
    holder = await cluster.leader("planner")
    assert holder is not None
    leader, token = holder
    assert (
        sum(bool([line for line in n.lines if "leads planner" in line]) for n in nodes.values())
        == 1
    ), "exactly one process ever led"
    loop = asyncio.get_running_loop()
    nodes[leader].signal(signal.SIGKILL)
    killed_at = loop.time()
    await eventually(lambda: _led_by_other(cluster, leader), within_s=30, every_s=0.05)
    took = loop.time() - killed_at
    assert took < 10.0, f"takeover took {took:.1f} s"
    print(f"\nplanner takeover {took:.1f} s after kill -9 of its leader (lease 5 s)")
    successor, new_token = await cluster.leader("planner")  # type: ignore[misc]
    assert new_token > token
    await nodes[successor].wait_for(rf"leads planner \(token {new_token}\)")


async def _has_leader(cluster: Cluster) -> bool:
    return await cluster.leader("planner") is not None


async def _led_by_other(cluster: Cluster, old: str) -> bool:
    holder = await cluster.leader("planner")
    return holder is not None and holder[0] != old


async def test_a_paused_leader_cannot_send_once_another_leads(cluster: Cluster) -> None:
    """Fencing: the process holding the station's socket refuses a command sent under a
    leadership older than the current one, and the woken leader steps down."""
    nodes = {n.name: n for n in await cluster.start("node-a", "node-b")}
    await eventually(lambda: _has_leader(cluster))
    leader, token = await cluster.leader("planner")  # type: ignore[misc]
    other = next(n for name, n in nodes.items() if name != leader)
    await cluster.add_stations(other, ["CS-F"])
    station = await _peer(other.ocpp_url, "CS-F")
    await eventually(lambda: _owner_is(cluster, other, "CS-F", other.name))
    nodes[leader].signal(signal.SIGSTOP)
    await eventually(lambda: _led_by_other(cluster, leader), within_s=30)
    _, new_token = await cluster.leader("planner")  # type: ignore[misc]

    # What the paused leader would send on waking: refused, never reaching the station.
    stale = await _relay(cluster, other.name, "CS-F", Fence("planner", token))
    with pytest.raises(Fenced):
        wire.outcome(stale)
    assert station.incoming.empty()
    # The current leader's command goes through.
    answering = asyncio.create_task(station.expect_call(timeout=30))
    current = asyncio.create_task(_relay(cluster, other.name, "CS-F", Fence("planner", new_token)))
    call = await answering
    await station.answer(call[1], {"getVariableResult": [_accepted("60")]})
    assert wire.outcome(await current)["getVariableResult"][0]["attributeValue"] == "60"

    mark = len(nodes[leader].lines)
    nodes[leader].signal(signal.SIGCONT)
    await nodes[leader].wait_for(r"no longer leads planner", after=mark, timeout=60)
    await station.close()


async def _relay(cluster: Cluster, node: str, station_id: str, fence: Fence) -> str:
    """Send a command to `node` over the cluster's wire, as another node would."""
    origin = f"test-{fence.token}"
    pubsub = cluster.redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(f"{cluster.prefix}:reply:{origin}")
    try:
        request = Request("r1", origin, station_id, "GetVariables", HEARTBEAT_INTERVAL, fence)
        assert await cluster.redis.publish(f"{cluster.prefix}:cmd:{node}", request.encode()) == 1
        async with asyncio.timeout(30):
            async for message in pubsub.listen():
                if message["type"] == "message":
                    return str(message["data"])
        raise AssertionError("no reply")
    finally:
        await pubsub.aclose()


class LoadStation:
    """A station sending TransactionEvents one after another through the load balancer,
    reconnecting (and sending the unacknowledged one again) whenever its link drops, and
    answering the CSMS's CALLs. `acked` holds the seqNos the CSMS acknowledged."""

    def __init__(self, station_id: str, url: str) -> None:
        self.station_id = station_id
        self.url = url
        self.acked: list[int] = []
        self.links = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            try:
                peer = await _peer(self.url, self.station_id)
            except (OSError, TimeoutError, InvalidHandshake):
                await asyncio.sleep(0.2)
                continue
            self.links += 1
            answering = asyncio.create_task(self._answer_calls(peer))
            try:
                while not self.stop.is_set():
                    event = tx_event(
                        "Started" if seq == 0 else "Updated",
                        seq,
                        seq * 0.05,
                        f"tx-{self.station_id}",
                        import_wh=seq * 10.0,
                    )
                    answer = await peer.call("TransactionEvent", event, timeout=5)
                    assert answer[0] == 3, answer
                    self.acked.append(seq)
                    seq += 1
                    await asyncio.sleep(0.05)
            except (ConnectionClosed, TimeoutError):
                pass  # the link died: the same seqNo goes again on the next one
            finally:
                answering.cancel()
                with contextlib.suppress(Exception):
                    await peer.close()

    async def _answer_calls(self, peer: WirePeer) -> None:
        while True:
            call = await peer.incoming.get()
            if call[0] == 2 and call[2] == "GetVariables":
                await peer.answer(call[1], {"getVariableResult": [_accepted("60")]})
            elif call[0] == 2:
                await peer.answer(call[1], {"status": "Accepted"})


async def test_kill_9_of_one_of_3_processes_under_load_loses_no_acknowledged_event(
    cluster: Cluster, tmp_path: Path
) -> None:
    nodes = {n.name: n for n in await cluster.start("node-a", "node-b", "node-c")}
    ocpp_port, api_port = await cluster.balance(tmp_path)
    ids = [f"LOAD-{n:02d}" for n in range(12)]
    await cluster.add_stations(nodes["node-a"], ids)
    load = [LoadStation(i, f"ws://127.0.0.1:{ocpp_port}/ocpp") for i in ids]
    running = [asyncio.create_task(s.run()) for s in load]
    try:
        await eventually(lambda: all(len(s.acked) >= 5 for s in load))
        owners = await cluster.owners(nodes["node-a"])
        counts = {n: sum(1 for o in owners.values() if o == n) for n in nodes}
        victim = max(counts, key=lambda n: counts[n])
        moved = [s for s in load if owners[s.station_id] == victim]
        assert moved, owners
        before = {s.station_id: len(s.acked) for s in load}

        loop = asyncio.get_running_loop()
        nodes[victim].signal(signal.SIGKILL)
        killed_at = loop.time()
        # Its stations come back through the balancer to the others and go on.
        await eventually(lambda: all(len(s.acked) > before[s.station_id] + 3 for s in moved))
        back_after = loop.time() - killed_at
        survivor = next(n for name, n in nodes.items() if name != victim)
        owners = await cluster.owners(survivor)
        assert not {s.station_id for s in moved} & {i for i, o in owners.items() if o == victim}
        assert all(owners[s.station_id] in set(nodes) - {victim} for s in moved), owners

        # Commands keep working, through the balancer's API, to a station that moved.
        async with aiohttp.ClientSession(f"http://127.0.0.1:{api_port}") as http:
            path = f"/api/v1/stations/{moved[0].station_id}/commands/GetVariables"
            async with http.post(path, json=HEARTBEAT_INTERVAL) as reply:
                assert reply.status == 200, await reply.text()
    finally:
        for station in load:
            station.stop.set()
        await asyncio.gather(*running)

    stored = await query(cluster, "SELECT station_id, seq_no FROM transaction_event")
    kept = {(r["station_id"], int(r["seq_no"])) for r in stored}
    lost = [(s.station_id, q) for s in load for q in s.acked if (s.station_id, q) not in kept]
    assert lost == [], f"acknowledged but not stored: {lost[:10]}"
    print(
        f"\nkill -9 of {victim}: {len(moved)} stations back and acknowledged in {back_after:.1f} s"
    )


def _topology(station_ids: list[str]) -> str:
    parts = [
        "version = 1",
        "[planning]\nslot_seconds = 900\nhorizon_hours = 4",
        f"[tariff]\nimport_price_by_hour = {[0.1 + 0.01 * h for h in range(24)]}",
        "[[node]]\nid = 'feeder'\nimport_limit_w = 20000",
    ]
    for station_id in station_ids:
        parts.append(
            f"[[station]]\nid = '{station_id}'\nnode = 'feeder'\n"
            "  [[station.evse]]\n  id = 1\n  max_import_w = 11000"
        )
    return "\n\n".join(parts) + "\n"


async def _tx_profiles(cluster: Cluster, after_id: int = 0) -> dict[str, int]:
    """Station -> TxProfiles it accepted (journaled commands with id above `after_id`)."""
    rows = await query(
        cluster,
        "SELECT station_id, count(*) AS n FROM command WHERE action = 'SetChargingProfile' "
        "AND status = 'answered' AND id > $1 "
        "AND payload->'chargingProfile'->>'chargingProfilePurpose' = 'TxProfile' "
        "GROUP BY station_id",
        after_id,
    )
    return {r["station_id"]: int(r["n"]) for r in rows}


async def test_the_leader_plans_stations_on_every_process_and_its_successor_goes_on(
    cluster: Cluster, emulated: Callable[..., Any], tmp_path: Path
) -> None:
    """One planner for the cluster: transactions starting on any process replan in the
    leader, its profiles reach the stations wherever their sockets are, and after kill -9 of
    the leader the next one replans and sends to the stations left. The plan interval (30 s)
    bounds the wait: with 3600 s, leaving forwarded replan requests as the only trigger, one
    clean-clone CI run of 3 missed the 60 s (issue 16: to investigate)."""
    ids = ["P-A", "P-B", "P-C"]
    grid = tmp_path / "grid.toml"
    grid.write_text(_topology(ids))
    started = await cluster.start(
        "node-a", "node-b", "node-c", CSMS_PLAN_INTERVAL="30", CSMS_CLUSTER_LEASE="5"
    )
    nodes = {n.name: n for n in started}
    loaded = await asyncio.create_subprocess_exec(
        sys.executable, "cli.py", "grid", "load", str(grid), "--db-url", cluster.db_url, cwd=ROOT
    )
    assert await loaded.wait() == 0
    await cluster.add_stations(nodes["node-a"], ids)
    status, _ = await nodes["node-a"].request("POST", "/api/v1/tokens", {"id_token": "CAR-1"})
    assert status == 201
    await eventually(lambda: _has_leader(cluster))
    # Followers have the kernel too; the leader has planned once (nothing to plan yet).
    for node in nodes.values():
        await node.wait_for(r"kernel ready")
    stations = {}
    for station_id, node in zip(ids, started, strict=True):
        stations[station_id] = station = await emulated(station_id, node.ocpp_url)
        station.arrive(1, EvSpec(), 0.3, 0.8, 36_000.0, "CAR-1")

    await eventually(lambda: _all_have_profiles(cluster, ids, 0))
    leader, _ = await cluster.leader("planner")  # type: ignore[misc]
    (last,) = await query(cluster, "SELECT coalesce(max(id), 0) AS id FROM command")
    nodes[leader].signal(signal.SIGKILL)
    left = [i for i, n in zip(ids, started, strict=True) if n.name != leader]
    await eventually(lambda: _all_have_profiles(cluster, left, int(last["id"])))


async def _all_have_profiles(cluster: Cluster, ids: list[str], after_id: int) -> bool:
    accepted = await _tx_profiles(cluster, after_id)
    return all(accepted.get(i, 0) > 0 for i in ids)
