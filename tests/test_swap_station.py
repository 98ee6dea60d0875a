import itertools
from typing import Any

import pytest

from swap_orchestrator.batteries import RackBattery
from swap_orchestrator.gates import GateLimits, PerceptionReport, Stage
from swap_orchestrator.rack import Rack
from swap_orchestrator.scenario import Battery, Priority
from swap_orchestrator.station import (
    Command,
    CommandKind,
    OrchestratorConfig,
    StationOrchestrator,
    SwapRequest,
)

_ids = itertools.count()


def make(
    bays: int = 1, socs: tuple[float, ...] = (0.95, 0.97), config: OrchestratorConfig | None = None
) -> tuple[StationOrchestrator, list[dict[str, Any]]]:
    rack = Rack(
        [RackBattery(f"R{i}", "75kWh", 75000.0, s * 75000.0, 0.95) for i, s in enumerate(socs)],
        charge_w=60000,
        efficiency=0.95,
    )
    log: list[dict[str, Any]] = []
    orch = StationOrchestrator("st-1", bays, ("75kWh", "100kWh"), 0.9, rack, log, config)
    return orch, log


def request(vid: str, priority: Priority = Priority.NORMAL, btype: str = "75kWh") -> SwapRequest:
    return SwapRequest(vid, priority, Battery(f"B-{vid}", btype, 75000.0, 0.2, 0.9))


def see(orch: StationOrchestrator, vid: str, stage: Stage, now: float, **fields: Any) -> None:
    orch.perceive(PerceptionReport(f"r{next(_ids)}", vid, stage, now - 0.1, **fields))


def kinds(commands: list[Command]) -> list[CommandKind]:
    return [c.kind for c in commands]


def log_of(log: list[dict[str, Any]], vid: str) -> list[str]:
    return [e["kind"] for e in log if e["vehicle"] == vid]


def drive_to_swap(orch: StationOrchestrator, vid: str, t: float) -> list[Command]:
    """From a call to the swap start, with every report fresh and good."""
    see(orch, vid, Stage.APPROACH, t)
    assert kinds(orch.vehicle_ready(t, vid)) == [CommandKind.GO]
    see(orch, vid, Stage.BAY, t + 45)
    assert kinds(orch.vehicle_in_bay(t + 45, vid)) == [CommandKind.SCAN]
    see(orch, vid, Stage.UNDERBODY, t + 46)
    return orch.scan_done(t + 46, vid)


def test_a_vehicle_goes_through_queue_gates_swap_and_release() -> None:
    orch, log = make()
    commands = orch.arrive(0.0, request("car-1"))
    assert commands == [Command(CommandKind.CALL, "car-1", 1)]
    commands = drive_to_swap(orch, "car-1", 0.5)
    start = commands[0]
    assert (start.kind, start.battery_out, start.battery_in) == (
        CommandKind.START_SWAP,
        "B-car-1",
        "R1",  # the fullest battery
    )
    assert "R1" not in orch.rack.batteries
    see(orch, "car-1", Stage.BAY, 227.0)
    assert kinds(orch.swap_done(227.0, 1)) == [CommandKind.PLAN_RACK, CommandKind.RELEASE]
    assert orch.rack.batteries["B-car-1"].soc == pytest.approx(0.2)  # now a charging session
    orch.vehicle_left(247.0, "car-1")
    assert orch.bays[0].state.value == "idle" and not orch.visits
    assert log_of(log, "car-1") == [
        "queued",
        "called",
        "gate",
        "approach_started",
        "gate",
        "gate",
        "swap_started",
        "swap_completed",
        "released",
    ]
    swap = next(e for e in log if e["kind"] == "swap_started")
    assert swap["battery_in_soc"] == pytest.approx(0.97)
    gates = [e for e in log if e["kind"] == "gate"]
    assert all(g["passed"] and g["report_age_s"] == pytest.approx(0.1) for g in gates)


def test_no_vehicle_moves_on_a_stale_report_and_it_moves_once_a_fresh_one_says_clear() -> None:
    orch, log = make()
    orch.arrive(0.0, request("car-1"))
    orch.perceive(PerceptionReport("old", "car-1", Stage.APPROACH, -5.0))
    assert orch.vehicle_ready(0.5, "car-1") == []
    assert orch.next_wakeup() == pytest.approx(1.5)
    see(orch, "car-1", Stage.APPROACH, 1.5, path_clear=False)
    assert orch.tick(1.5) == []
    see(orch, "car-1", Stage.APPROACH, 2.5)
    assert kinds(orch.tick(2.5)) == [CommandKind.GO]
    held = [(e["t"], e["reason"]) for e in log if e["kind"] == "held"]
    assert held == [(0.5, "report_stale"), (1.5, "path_not_clear")]
    decisions = [(e["passed"], e.get("reason"), e["report_id"]) for e in log if e["kind"] == "gate"]
    assert decisions[0] == (False, "report_stale", "old")
    assert [d[0] for d in decisions] == [False, False, True]


def test_a_silent_roadside_unit_keeps_a_swapped_vehicle_in_the_bay() -> None:
    orch, log = make()
    orch.arrive(0.0, request("car-1"))
    drive_to_swap(orch, "car-1", 0.5)
    assert kinds(orch.swap_done(300.0, 1)) == [CommandKind.PLAN_RACK]  # no fresh report
    assert log[-1]["kind"] == "held"
    see(orch, "car-1", Stage.BAY, 301.0)
    assert kinds(orch.tick(301.0)) == [CommandKind.RELEASE]


def test_misaligned_car_is_asked_to_realign_a_bounded_number_of_times_then_refused() -> None:
    orch, log = make(config=OrchestratorConfig(limits=GateLimits(max_realign=2)))
    orch.arrive(0.0, request("car-1"))
    see(orch, "car-1", Stage.APPROACH, 0.5)
    orch.vehicle_ready(0.5, "car-1")
    see(orch, "car-1", Stage.BAY, 45.0, lateral_offset_mm=120.0)
    assert kinds(orch.vehicle_in_bay(45.0, "car-1")) == [CommandKind.REALIGN]
    see(orch, "car-1", Stage.BAY, 55.0, lateral_offset_mm=90.0)
    assert kinds(orch.realigned(55.0, "car-1")) == [CommandKind.REALIGN]
    see(orch, "car-1", Stage.BAY, 65.0, yaw_deg=3.0)
    commands = orch.realigned(65.0, "car-1")
    assert kinds(commands) == [CommandKind.REFUSE, CommandKind.RELEASE]
    assert commands[0].reason == "alignment_failed"
    assert [e["attempt"] for e in log if e["kind"] == "realign"] == [1, 2]
    assert set(orch.rack.batteries) == {"R0", "R1"} and not orch.reserved


def test_damaged_battery_is_refused_flagged_and_never_taken_in() -> None:
    orch, log = make()
    orch.arrive(0.0, request("car-1"))
    see(orch, "car-1", Stage.APPROACH, 0.5)
    orch.vehicle_ready(0.5, "car-1")
    see(orch, "car-1", Stage.BAY, 45.0)
    orch.vehicle_in_bay(45.0, "car-1")
    see(orch, "car-1", Stage.UNDERBODY, 46.0, casing_damage=0.93)
    see(orch, "car-1", Stage.BAY, 46.0)  # the bay camera watches it leave
    commands = orch.scan_done(46.0, "car-1")
    assert kinds(commands) == [CommandKind.REFUSE, CommandKind.RELEASE]
    assert commands[0].reason == "battery_casing_damage"
    assert "B-car-1" in orch.flagged_batteries and "car-1" in orch.flagged_vehicles
    assert "B-car-1" not in orch.rack.batteries
    assert not any(e["kind"] == "swap_started" for e in log)
    orch.vehicle_left(66.0, "car-1")
    # The same battery (now in another car) is turned away at the door.
    again = SwapRequest("car-2", Priority.NORMAL, Battery("B-car-1", "75kWh", 75000.0, 0.2, 0.9))
    assert orch.arrive(100.0, again)[0].reason == "battery_flagged_for_service"


def test_thermal_anomaly_is_refused_too() -> None:
    orch, _ = make()
    orch.arrive(0.0, request("car-1"))
    see(orch, "car-1", Stage.APPROACH, 0.5)
    orch.vehicle_ready(0.5, "car-1")
    see(orch, "car-1", Stage.BAY, 45.0)
    orch.vehicle_in_bay(45.0, "car-1")
    see(orch, "car-1", Stage.UNDERBODY, 46.0, thermal_anomaly=True)
    assert orch.scan_done(46.0, "car-1")[0].reason == "battery_thermal_anomaly"


def test_called_vehicle_that_never_comes_times_out_and_the_next_one_is_called() -> None:
    orch, log = make(config=OrchestratorConfig(no_show_timeout_s=60))
    orch.arrive(0.0, request("ghost"))
    orch.arrive(1.0, request("car-2"))
    assert orch.next_wakeup() == 60.0
    assert orch.tick(59.0) == []
    commands = orch.tick(60.0)
    assert kinds(commands) == [CommandKind.REFUSE, CommandKind.CALL]
    assert commands[1].vehicle == "car-2"
    assert log_of(log, "ghost") == ["queued", "called", "no_show"]
    assert set(orch.reserved.values()) == {"car-2"}


def test_cancellation_frees_the_queue_place_or_the_bay() -> None:
    orch, log = make()
    orch.arrive(0.0, request("car-1"))
    orch.arrive(1.0, request("car-2"))
    orch.arrive(2.0, request("car-3"))
    orch.cancel(3.0, "car-2")
    assert "car-2" not in orch.queue
    commands = orch.cancel(4.0, "car-1")  # called, not yet moving
    assert commands == [Command(CommandKind.CALL, "car-3", 1)]
    assert log_of(log, "car-1")[-1] == "cancelled"


def test_vehicle_of_a_type_the_station_does_not_carry_is_refused_on_arrival() -> None:
    orch, log = make()
    commands = orch.arrive(0.0, request("car-1", btype="60kWh"))
    assert commands[0].reason == "battery_type_unsupported"
    assert log_of(log, "car-1") == ["refused"]
    assert "car-1" not in orch.visits


def test_vehicle_whose_battery_type_has_none_ready_waits_while_others_are_served() -> None:
    orch, log = make(bays=2)
    orch.arrive(0.0, request("big", Priority.EMERGENCY, "100kWh"))
    assert orch.arrive(1.0, request("small"))[0].vehicle == "small"
    assert [(e["vehicle"], e["reason"]) for e in log if e["kind"] == "held"] == [
        ("big", "no_battery")
    ]


def test_reserve_keeps_the_last_ready_battery_for_a_waiting_higher_class() -> None:
    # One bay, one ready battery; the normal car has aged past the fleet car.
    orch, log = make(socs=(0.95, 0.5), config=OrchestratorConfig(ageing_s=10))
    orch.arrive(0.0, request("busy"))  # takes the bay and the ready battery
    orch.arrive(1.0, request("normal"))
    orch.arrive(20.0, request("fleet", Priority.FLEET))
    orch.cancel(25.0, "busy")  # its battery is free again: the only ready one
    called = [e["vehicle"] for e in log if e["kind"] == "called"]
    assert called == ["busy", "fleet"]
    assert ("normal", "battery_reserved") in [
        (e["vehicle"], e.get("reason")) for e in log if e["kind"] == "held"
    ]


def test_fault_mid_swap_holds_the_vehicle_and_swaps_again_after_recovery() -> None:
    orch, log = make()
    orch.arrive(0.0, request("car-1"))
    drive_to_swap(orch, "car-1", 0.5)
    commands = orch.bay_fault(100.0, 1)
    assert kinds(commands) == [CommandKind.HOLD]
    assert orch.bays[0].state.value == "fault" and orch.bays[0].vehicle == "car-1"
    assert orch.swap_done(227.0, 1) == []  # the mechanism stopped
    assert "R1" not in orch.rack.batteries  # the battery stays with the held swap
    see(orch, "car-1", Stage.BAY, 900.0)
    assert kinds(orch.bay_recovered(900.0, 1)) == [CommandKind.SCAN]
    see(orch, "car-1", Stage.UNDERBODY, 901.0)
    restart = orch.scan_done(901.0, "car-1")[0]
    assert (restart.kind, restart.battery_in) == (CommandKind.START_SWAP, "R1")
    assert log_of(log, "car-1").count("swap_started") == 2
    assert [e["reason"] for e in log if e["kind"] == "held"] == ["bay_fault"]


def test_fault_before_the_vehicle_is_in_the_bay_sends_it_to_another_bay_in_its_place() -> None:
    orch, log = make(bays=2)
    orch.arrive(0.0, request("car-1"))
    orch.arrive(1.0, request("car-2"))
    see(orch, "car-1", Stage.APPROACH, 2.0)
    orch.vehicle_ready(2.0, "car-1")
    commands = orch.bay_fault(10.0, 1)
    assert kinds(commands) == [CommandKind.HOLD]
    assert "car-1" in orch.queue and orch.bays[0].vehicle is None
    orch.cancel(50.0, "car-2")  # bay 2 frees up: car-1, still first in line, goes there
    assert [(e["vehicle"], e["bay"]) for e in log if e["kind"] == "called"][-1] == ("car-1", 2)
    assert log_of(log, "car-1") == [
        "queued",
        "called",
        "gate",
        "approach_started",
        "bay_fault",
        "held",
        "queued",
        "called",
    ]


def test_forecast_lists_called_then_queued_vehicles_a_bay_cycle_apart() -> None:
    orch, _ = make(socs=(0.95, 0.97, 0.99))
    orch.arrive(0.0, request("a"))
    orch.arrive(1.0, request("b", btype="100kWh"))
    orch.arrive(2.0, request("c"))
    demands = orch.forecast(10.0, 250.0, limit=5)
    assert [(d.battery_type, d.at_s) for d in demands] == [
        ("75kWh", 10.0),
        ("100kWh", 260.0),
        ("75kWh", 510.0),
    ]


def test_snapshot_shows_bays_queue_in_service_order_and_rack() -> None:
    orch, _ = make(bays=1)
    orch.arrive(0.0, request("car-1"))
    orch.arrive(1.0, request("car-2"))
    orch.arrive(2.0, request("car-3", Priority.FLEET))
    view = orch.snapshot(10.0)
    assert view["bays"] == [{"bay": 1, "state": "reserved", "vehicle": "car-1", "since": 0.0}]
    assert [(q["vehicle"], q["waited_s"]) for q in view["queue"]] == [
        ("car-3", 8.0),
        ("car-2", 9.0),
    ]
    assert view["in_progress"] == {"car-1": {"phase": "called", "bay": 1, "held": None}}
    assert [(r["serial"], r["reserved_for"]) for r in view["rack"]] == [
        ("R0", None),
        ("R1", "car-1"),
    ]


def test_a_type_is_short_when_more_vehicles_wait_than_batteries_are_ready() -> None:
    orch, _ = make(bays=1, socs=(0.95, 0.5))
    assert kinds(orch.arrive(0.0, request("a"))) == [CommandKind.CALL]  # takes the ready R0
    assert orch.short_types() == set()
    # The next 75kWh vehicle finds no ready battery: the rack is re-planned at once.
    assert CommandKind.PLAN_RACK in kinds(orch.arrive(1.0, request("b")))
    assert orch.short_types() == {"75kWh"}
    assert CommandKind.PLAN_RACK not in kinds(orch.arrive(2.0, request("c")))  # still short
    assert CommandKind.PLAN_RACK in kinds(orch.arrive(3.0, request("d", btype="100kWh")))
    assert orch.short_types() == {"75kWh", "100kWh"}
