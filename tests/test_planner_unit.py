"""LivePlanner from fakes of its ports: what it sends, to whom, and when it replans."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest

from csms.config import Settings
from csms.grid.live_instance import GridEventValue, LiveSession
from csms.grid.planner import LivePlanner
from csms.grid.profiles import RateUnit
from csms.grid.topology import Topology, loads_topology
from csms.ocpp_errors import CommandRejected, CommandTimeout, StationNotConnected
from tests.fakes import FakeClock, FakeLinks, FakeSender
from tests.test_live_topology import topology_toml


class MemoryState:
    """The planner's state held in memory: a topology, sessions, and the plans stored."""

    def __init__(self, topology: Topology | None, sessions: list[LiveSession] | None = None):
        self.topo = topology
        self.live = sessions or []
        self.held: set[tuple[str, int]] = set()
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

    async def reserved(self, now: datetime) -> set[tuple[str, int]]:
        return self.held

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
    return LivePlanner(Settings(), clock, links, sender, state)


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


def _refuse(station: str, code: str = "NotImplemented") -> Any:
    def answer(station_id: str, action: str, payload: dict[str, Any]) -> Any:
        if station_id == station:
            return CommandRejected(code, "no smart charging", {})
        return {"status": "Accepted"}

    return answer


def _limits(payload: dict[str, Any]) -> list[float]:
    schedule = payload["chargingProfile"]["chargingSchedule"][0]
    return [p["limit"] for p in schedule["chargingSchedulePeriod"]]


def _power(at: datetime, watts: float) -> dict[str, Any]:
    return {
        "eventType": "Updated",
        "transactionInfo": {"transactionId": "tx-b"},
        "evse": {"id": 1},
        "meterValue": [
            {
                "timestamp": at.isoformat(),
                "sampledValue": [{"value": watts, "measurand": "Power.Active.Import"}],
            }
        ],
    }


async def test_a_station_without_smart_charging_is_planned_as_its_measured_load() -> None:
    clock = FakeClock()
    sender = FakeSender(_refuse("CS-2"))
    sessions = [session(clock), session(clock, "CS-2", "tx-b")]
    state = MemoryState(two_stations(), sessions)
    live = planner(state, FakeLinks(**{"CS-1": "v201", "CS-2": "v201"}), sender, clock)
    first = await live.replan("test")
    assert first is not None
    assert {f["station_id"] for f in first["profiles"]["failed"]} == {"CS-2"}
    assert not live.status("CS-2", [1]).managed
    assert live.status("CS-2", [1]).reason == "SetChargingProfile not implemented"
    # No measurement yet: its rating (11 kW) is taken off the 15 kW transformer.
    clock.advance(60)
    tried = len([c for c in sender.calls if c[0] == "CS-2"])
    second = await live.replan("test")
    assert second is not None
    assert [s["transaction_id"] for s in second["sessions"]] == ["tx-a"]
    assert second["unmanaged"] == [
        {
            "station_id": "CS-2",
            "evse_id": 1,
            "status": live.status("CS-2", [1]).text(),
            "fixed_w": 11_000.0,
        }
    ]
    assert max(second["sessions"][0]["power_w"]) <= 4_000 + 1
    assert len([c for c in sender.calls if c[0] == "CS-2"]) == tried  # not asked again
    # Measured at 6 kW: CS-1 may take the other 9 kW.
    live.observers()["TransactionEvent"]("CS-2", _power(clock.now, 6_000), {})
    third = await live.replan("test")
    assert third is not None and third["unmanaged"][0]["fixed_w"] == 6_000
    assert max(third["sessions"][0]["power_w"]) == pytest.approx(9_000, abs=1)
    assert third["alerts"] == []


async def test_uncontrollable_load_beyond_a_limit_cuts_the_managed_to_their_minimum() -> None:
    clock = FakeClock()
    sender = FakeSender(_refuse("CS-2"))
    sessions = [session(clock), session(clock, "CS-2", "tx-b")]
    topology, _ = loads_topology(topology_toml(transformer_w=10_000))
    state = MemoryState(topology, sessions)
    live = planner(state, FakeLinks(**{"CS-1": "v201", "CS-2": "v201"}), sender, clock)
    await live.replan("test")
    live.observers()["TransactionEvent"]("CS-2", _power(clock.now, 11_000), {})
    plan = await live.replan("test")
    assert plan is not None
    assert {a["node"] for a in plan["alerts"]} == {"tx-1", "site-b"}
    alert = next(a for a in plan["alerts"] if a["node"] == "tx-1")
    assert alert["fixed_w"] == 11_000 and alert["limit_w"] == 10_000
    assert "alone exceeds the limit" in alert["reason"]
    assert max(plan["sessions"][0]["power_w"]) == 0
    assert max(_limits(sender.calls[-1][2])) == 0


async def test_a_refused_cut_holds_back_the_raises_that_rely_on_it() -> None:
    clock = FakeClock()
    refusing = False

    def answer(station_id: str, action: str, payload: dict[str, Any]) -> Any:
        return {"status": "Rejected" if refusing and station_id == "CS-1" else "Accepted"}

    sender = FakeSender(answer)
    state = MemoryState(two_stations(), [session(clock)])
    live = LivePlanner(
        Settings(),
        clock,
        FakeLinks(**{"CS-1": "v201", "CS-2": "v201"}),
        sender,
        state,
        reserve_fallback=False,
    )
    alone = await live.replan("test")
    assert alone is not None and max(alone["sessions"][0]["power_w"]) == 11_000
    # A second car must share the 15 kW: CS-1 is cut, CS-2 raised above its fallback; CS-1
    # refuses the cut, so CS-2's raise is not sent.
    refusing = True
    urgent = dataclasses.replace(session(clock, "CS-2", "tx-b"), priority=9)
    state.live = [session(clock), urgent]
    sent = len(sender.calls)
    plan = await live.replan("test")
    assert plan is not None
    assert {f["station_id"] for f in plan["profiles"]["failed"]} == {"CS-1"}
    assert {h["station_id"] for h in plan["profiles"]["held"]} == {"CS-1", "CS-2"}
    to_cs2 = [payload for station, _, payload in sender.calls[sent:] if station == "CS-2"]
    assert all(max(_limits(p)) <= 7_500 for p in to_cs2)


async def test_a_reserved_evse_keeps_its_rating_free_for_the_car_to_come() -> None:
    def planned_limit(held: set[tuple[str, int]]) -> float:
        return float(
            sender.calls[-1][2]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][
                0
            ]["limit"]
        )

    clock, sender = FakeClock(), FakeSender()
    state = MemoryState(two_stations(), [session(clock)])
    await planner(state, FakeLinks(**{"CS-1": "v201"}), sender, clock).replan("test")
    free = planned_limit(set())
    clock, sender = FakeClock(), FakeSender()
    state = MemoryState(two_stations(), [session(clock)])
    state.held = {("CS-2", 1)}
    await planner(state, FakeLinks(**{"CS-1": "v201"}), sender, clock).replan("test")
    # 15 kW under the transformer, 11 kW kept for CS-2's reserved EVSE.
    assert planned_limit(state.held) <= 4_000 < free
