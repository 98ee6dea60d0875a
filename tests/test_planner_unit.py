"""LivePlanner from fakes of its ports: what it sends, to whom, and when it replans."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from csms.config import Settings
from csms.grid.live_instance import GridEventValue, LiveSession
from csms.grid.planner import LivePlanner
from csms.grid.profiles import RateUnit
from csms.grid.topology import Topology, loads_topology
from csms.ocpp_errors import CommandTimeout, StationNotConnected
from tests.fakes import FakeClock, FakeLinks, FakeSender
from tests.test_live_topology import topology_toml


class MemoryState:
    """The planner's state held in memory: a topology, sessions, and the plans stored."""

    def __init__(self, topology: Topology | None, sessions: list[LiveSession] | None = None):
        self.topo = topology
        self.live = sessions or []
        self.stored: list[dict[str, Any]] = []
        self._stored = asyncio.Event()

    async def topology(self) -> Topology | None:
        return self.topo

    async def sessions(self, now: datetime) -> list[LiveSession]:
        return self.live

    async def events(self, now: datetime) -> list[GridEventValue]:
        return []

    async def rate_units(self, station_ids: set[str]) -> dict[str, RateUnit]:
        return {}

    async def store(self, plan: dict[str, Any], now: datetime) -> None:
        self.stored.append(plan)
        self._stored.set()

    async def wait_stored(self, count: int) -> None:
        async with asyncio.timeout(120):  # the first plan may compile the kernel
            while len(self.stored) < count:
                self._stored.clear()
                await self._stored.wait()


def two_stations() -> Topology:
    topology, _ = loads_topology(topology_toml(transformer_w=15_000))
    return topology


def planner(
    state: MemoryState, links: FakeLinks, sender: FakeSender, clock: FakeClock
) -> LivePlanner:
    return LivePlanner(Settings(), clock, links, sender, state, retry_delay_s=0.0)


def session(clock: FakeClock, station: str = "CS-1", tx: str = "tx-a") -> LiveSession:
    return LiveSession(station, 1, tx, clock.now - timedelta(minutes=5), soc=0.4)


async def test_an_accepted_boot_gets_the_offline_safe_default_on_each_evse() -> None:
    clock, sender = FakeClock(), FakeSender()
    live = planner(MemoryState(two_stations()), FakeLinks(**{"CS-1": "v201"}), sender, clock)
    live.observers()["BootNotification"]("CS-1", {}, {"status": "Accepted"})
    await sender.wait_for(1)
    ((station, action, payload),) = sender.calls
    assert (station, action) == ("CS-1", "SetChargingProfile")
    profile = payload["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    # 15 kW under the transformer shared by two 11 kW EVSEs.
    assert profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 7_500


async def test_a_pending_boot_gets_nothing() -> None:
    clock, sender = FakeClock(), FakeSender()
    live = planner(MemoryState(two_stations()), FakeLinks(**{"CS-1": "v201"}), sender, clock)
    live.observers()["BootNotification"]("CS-1", {}, {"status": "Pending"})
    await asyncio.sleep(0)
    assert sender.calls == []


async def test_a_started_transaction_replans_at_once_and_an_update_does_not() -> None:
    state = MemoryState(two_stations())
    settings = Settings(plan_interval=3600)
    live = LivePlanner(settings, FakeClock(), FakeLinks(), FakeSender(), state)
    running = asyncio.create_task(live.run())
    try:
        await state.wait_stored(1)
        assert state.stored[0]["reason"] == "interval"
        hook = live.observers()["TransactionEvent"]
        hook("CS-1", {"eventType": "Updated", "transactionInfo": {"transactionId": "t"}}, {})
        hook("CS-1", {"eventType": "Started", "transactionInfo": {"transactionId": "t"}}, {})
        await state.wait_stored(2)  # long before the hour-long plan interval
        assert state.stored[1]["reason"] == "transaction started"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_replan_sends_a_profile_once_and_keeps_it_while_the_plan_holds() -> None:
    clock, sender = FakeClock(), FakeSender()
    state = MemoryState(two_stations(), [session(clock)])
    live = planner(state, FakeLinks(**{"CS-1": "v201"}), sender, clock)
    plan = await live.replan("test")
    assert plan is not None and state.stored == [plan]
    assert plan["profiles"]["sent"] >= 1 and plan["profiles"]["failed"] == []
    assert {station for station, _, _ in sender.calls} == {"CS-1"}
    profile = sender.calls[-1][2]["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == "tx-a"
    sent = len(sender.calls)
    again = await live.replan("test")
    assert again is not None and again["profiles"]["unchanged"] == 1
    assert len(sender.calls) == sent


async def test_a_session_on_an_offline_station_is_planned_but_sent_nothing() -> None:
    clock, sender = FakeClock(), FakeSender()
    state = MemoryState(two_stations(), [session(clock)])
    plan = await planner(state, FakeLinks(), sender, clock).replan("test")
    assert plan is not None
    assert [s["transaction_id"] for s in plan["sessions"]] == ["tx-a"]
    assert plan["profiles"]["offline"] == 1 and sender.calls == []


async def test_no_topology_no_plan() -> None:
    clock, sender = FakeClock(), FakeSender()
    state = MemoryState(None)
    assert await planner(state, FakeLinks(), sender, clock).replan("test") is None
    assert state.stored == []


async def test_a_profile_is_retried_after_a_timeout_and_not_after_a_lost_link() -> None:
    clock = FakeClock()
    answers: list[Any] = [CommandTimeout("slow"), {"status": "Accepted"}]
    sender = FakeSender(lambda *_: answers.pop(0))
    live = planner(MemoryState(two_stations()), FakeLinks(), sender, clock)
    assert await live.send_profile("CS-1", {"evseId": 1}) == "Accepted"
    assert len(sender.calls) == 2
    gone = FakeSender(lambda *_: StationNotConnected("CS-1"))
    live = planner(MemoryState(two_stations()), FakeLinks(), gone, clock)
    assert await live.send_profile("CS-1", {"evseId": 1}) == "offline"
    assert len(gone.calls) == 1
