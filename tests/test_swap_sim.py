import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from swap_orchestrator.audit import audit
from swap_orchestrator.generator import GeneratorParams, generate
from swap_orchestrator.rack import GridRequest, RackPlanParams
from swap_orchestrator.report import build_report
from swap_orchestrator.scenario import ScenarioError, parse_scenario
from swap_orchestrator.sim import simulate

EVENT_KINDS = {
    "queued", "called", "gate", "approach_started", "realign", "swap_started",
    "swap_completed", "released", "refused", "no_show", "bay_fault", "bay_recovered",
    "held",
}  # fmt: skip


def run(doc: dict[str, Any], **options: Any) -> dict[str, Any]:
    scenario = parse_scenario(doc)
    # Through JSON, as a checker reads the file.
    report: dict[str, Any] = json.loads(
        json.dumps(build_report(scenario, simulate(scenario, **options)))
    )
    return report


@pytest.fixture(scope="module")
def day() -> tuple[dict[str, Any], dict[str, Any]]:
    doc = generate(GeneratorParams(seed=7))
    return doc, run(doc, seed=7)


def busy_params(seed: int, **overrides: Any) -> GeneratorParams:
    """A short, incident-heavy stretch: every path of the orchestrator gets exercised."""
    values: dict[str, Any] = dict(
        seed=seed,
        arrivals=90,
        duration_s=6 * 3600.0,
        pedestrian_share=0.25,
        misaligned_share=0.25,
        unalignable_share=0.05,
        damaged_share=0.08,
        thermal_share=0.03,
        no_show_share=0.08,
        manual_share=0.3,
        fleet_share=0.3,
        emergency_share=0.1,
        unsupported_share=0.03,
    )
    values.update(overrides)
    return GeneratorParams(**values)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    holiday=st.booleans(),
    stations=st.integers(1, 2),
    bays=st.integers(1, 3),
    batteries_per_bay=st.integers(2, 8),
    grid_limit_w=st.sampled_from([300_000.0, 800_000.0, 1_600_000.0]),
)
def test_event_log_of_generated_scenarios_passes_the_independent_audit(
    seed: int, holiday: bool, stations: int, bays: int, batteries_per_bay: int, grid_limit_w: float
) -> None:
    doc = generate(
        busy_params(
            seed,
            holiday=holiday,
            stations=stations,
            bays=bays,
            batteries_per_bay=batteries_per_bay,
            grid_limit_w=grid_limit_w,
        )
    )
    report = run(doc, seed=seed)
    assert audit(doc, report) == []
    assert {e["kind"] for e in report["events"]} <= EVENT_KINDS


@pytest.mark.parametrize("seed", [1, 2])
def test_full_generated_days_pass_the_audit(seed: int) -> None:
    doc = generate(GeneratorParams(seed=seed, holiday=seed == 2))
    assert audit(doc, run(doc, seed=seed)) == []


def test_report_has_the_format_fields_and_consistent_figures(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    assert report["version"] == 1
    assert report["swaps"] == sum(e["kind"] == "swap_completed" for e in report["events"])
    assert report["swaps"] > 300
    assert report["wait_s"]["p50"] <= report["wait_s"]["p95"] <= report["wait_s"]["max"]
    by_priority = report["by_priority"]
    assert set(by_priority) == {"emergency", "fleet", "normal"}
    # The classes show in the waits: priority vehicles wait far less on a busy day.
    assert by_priority["fleet"]["p95"] < by_priority["normal"]["p95"] / 2
    assert by_priority["emergency"]["p95"] < by_priority["normal"]["p95"] / 2
    assert len(report["bay_utilisation"]) == 2
    assert all(0 < u <= 1 for u in report["bay_utilisation"])
    assert report["min_handout_soc"] == 0.9
    assert 0 < report["grid_peak_w"] <= doc["stations"][0]["grid_limit_w"]
    assert report["energy_kwh"] > 0 and report["energy_cost"] > 0
    reasons = {r["reason"] for r in report["refused"]}
    assert reasons <= {
        "battery_casing_damage",
        "battery_thermal_anomaly",
        "alignment_failed",
        "battery_type_unsupported",
    }
    swaps = [e for e in report["events"] if e["kind"] == "swap_started"]
    assert all(e["battery_in_soc"] >= 0.9 for e in swaps)
    times = [e["t"] for e in report["events"]]
    assert times == sorted(times)


def test_person_on_the_path_holds_the_vehicle_until_clear() -> None:
    doc = generate(busy_params(3, pedestrian_share=1.0, faults=False))
    report = run(doc)
    truth = {p["vehicle"]: p for p in doc["perception"] if p["stage"] == "approach"}
    checked: dict[str, float] = {}
    moved = 0
    for e in report["events"]:
        if e["kind"] == "gate" and e["stage"] == "approach":
            checked.setdefault(e["vehicle"], e["t"])
        if e["kind"] == "approach_started":
            assert e["t"] >= checked[e["vehicle"]] + truth[e["vehicle"]]["clears_after_s"]
            moved += 1
    assert moved > 20
    assert any(e.get("reason") == "path_not_clear" for e in report["events"])


def test_roadside_unit_offline_stops_all_motion_and_the_grid_limit_event_is_honoured() -> None:
    doc = generate(busy_params(4, faults=False, grid_limit_w=800_000.0))
    sid = doc["stations"][0]["id"]
    doc["faults"] = [
        {"station": sid, "kind": "rsu_offline", "at_s": 7200, "duration_s": 900},
        {"station": sid, "kind": "grid_limit", "at_s": 9000, "duration_s": 3600, "limit_w": 200000},
    ]
    report = run(doc)
    moves = [e for e in report["events"] if e["kind"] in ("approach_started", "released")]
    assert not [e for e in moves if 7200 <= e["t"] < 8100]
    assert any(e["kind"] == "held" and 7200 <= e["t"] < 8100 for e in report["events"])
    during = [w for t, w in report["grid_w"][sid] if 9000 <= t < 12600]
    assert during and max(during) <= 200000
    assert audit(doc, report) == []


def test_damaged_batteries_are_refused_and_flagged(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    damaged = {
        p["vehicle"]
        for p in doc["perception"]
        if p["stage"] == "underbody" and (p["casing_damage"] >= 0.5 or p["thermal_anomaly"])
    }
    seen = {e["vehicle"] for e in report["events"] if e["kind"] == "gate"}
    refused = {r["vehicle"] for r in report["refused"]}
    assert damaged & seen and damaged & seen <= refused
    assert damaged & seen <= set(report["flagged_for_service"]["vehicles"])


def test_planner_is_injected_and_batteries_vehicles_wait_for_charge_without_it() -> None:
    doc = generate(busy_params(5, faults=False))
    instances: list[dict[str, Any]] = []

    def idle_planner(instance: dict[str, Any]) -> dict[str, list[float]]:
        instances.append(instance)
        return {}

    report = run(doc, planner=idle_planner)
    assert instances  # the injected planner is the one asked
    ready = sum(b["soc"] >= 0.9 for b in doc["stations"][0]["batteries"])
    # Its plans charge nothing, yet batteries of types vehicles wait for charge flat out
    # outside it, so the rack hands out more than its initial stock.
    assert report["swaps"] > ready
    aux_only = doc["stations"][0]["aux_w"] * doc["duration_s"] / 3600 / 1000
    assert report["energy_kwh"] > aux_only
    assert audit(doc, report) == []


def test_racks_feed_back_when_the_grid_asks_and_swaps_still_get_full_batteries() -> None:
    doc = generate(busy_params(6, faults=False, arrivals=30))
    sid = doc["stations"][0]["id"]
    request = GridRequest(3600.0, 7200.0, -100_000.0)
    report = run(
        doc,
        grid_requests={sid: [request]},
        plan_params=RackPlanParams(discharge_w=20_000.0),
    )
    series = report["grid_w"][sid]

    def power_at(t: float) -> float:
        return [w for start, w in series if start <= t][-1]

    assert all(power_at(t) <= -100_000.0 + 1.0 for t in range(3600, 7200, 30))
    assert power_at(3000.0) > 0 and power_at(7300.0) > 0  # recharging after the request
    assert audit(doc, report) == []  # hand-out SoC and everything else still hold


def tamper(report: dict[str, Any], kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = copy.deepcopy(report)
    event = next(e for e in changed["events"] if e["kind"] == kind)
    return changed, event


def test_audit_catches_a_swap_without_fresh_gates(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    changed = copy.deepcopy(report)
    gate = next(e for e in changed["events"] if e["kind"] == "gate" and e["stage"] == "underbody")
    gate["report_age_s"] = 1.5
    assert any("fresh" in p for p in audit(doc, changed))


def test_audit_catches_a_battery_under_the_hand_out_soc(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    changed, swap = tamper(report, "swap_started")
    swap["battery_in_soc"] = 0.85
    assert any("under the hand-out SoC" in p for p in audit(doc, changed))


def test_audit_catches_motion_while_the_path_was_not_clear(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    changed_doc = copy.deepcopy(doc)
    first = next(e["vehicle"] for e in report["events"] if e["kind"] == "approach_started")
    changed_doc["perception"].append(
        {"vehicle": first, "stage": "approach", "pedestrian_in_zone": True, "clears_after_s": 600}
    )
    assert any("path was not clear" in p for p in audit(changed_doc, report))


def test_audit_catches_a_damaged_battery_taken_in(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    changed_doc = copy.deepcopy(doc)
    swapped = next(e["vehicle"] for e in report["events"] if e["kind"] == "swap_started")
    changed_doc["perception"].append(
        {"vehicle": swapped, "stage": "underbody", "casing_damage": 0.9, "thermal_anomaly": False}
    )
    assert any("damaged battery" in p for p in audit(changed_doc, report))


def test_audit_catches_a_lower_class_overtaking_a_waiting_higher_one(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    changed_doc = copy.deepcopy(doc)
    events = report["events"]
    # Pick a vehicle that waited while someone else of its battery type was called, and
    # make it an emergency: the recorded order now breaks the policy.
    queued: dict[str, float] = {}
    victim = None
    for e in events:
        if e["kind"] == "queued":
            queued.setdefault(e["vehicle"], e["t"])
        if e["kind"] == "called":
            waiting = [v for v, t in queued.items() if t < e["t"] - 60 and v != e["vehicle"]]
            if waiting:
                victim = waiting[0]
                break
            queued.pop(e["vehicle"], None)
    assert victim is not None
    for v in changed_doc["vehicles"]:
        if v["id"] == victim:
            v["priority"] = "emergency"
    assert any("better placed" in p for p in audit(changed_doc, report))


def test_audit_catches_two_vehicles_in_one_bay_and_a_swap_in_a_faulty_bay(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    changed = copy.deepcopy(report)
    events = changed["events"]
    released = {e["vehicle"]: e["t"] for e in events if e["kind"] == "released"}
    calls = [e for e in events if e["kind"] == "called" and e["vehicle"] in released]
    # A call to the other bay while the previous vehicle is still in its own: redirect it.
    first, second = next(
        (a, b)
        for a, b in itertools.pairwise(calls)
        if a["bay"] != b["bay"] and released[a["vehicle"]] > b["t"]
    )
    second["bay"] = first["bay"]
    assert any("still had it" in p for p in audit(doc, changed))
    changed_doc = copy.deepcopy(doc)
    swap = next(e for e in report["events"] if e["kind"] == "swap_started")
    changed_doc["faults"].append(
        {"station": doc["stations"][0]["id"], "bay": swap["bay"], "kind": "bay_fault",
         "at_s": swap["t"] - 1, "duration_s": 60}
    )  # fmt: skip
    assert any("faulty bay" in p for p in audit(changed_doc, report))


def test_audit_keeps_a_bay_a_restart_forgot_blocked_until_the_station_recovers_it(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    station = doc["stations"][0]["id"]
    events = report["events"]
    released = {e["vehicle"]: e["t"] for e in events if e["kind"] == "released"}
    calls = [e for e in events if e["kind"] == "called" and e["vehicle"] in released]
    # A vehicle in a bay, and the next one called to that bay after it was released.
    first, later = next(
        (a, b)
        for a, b in itertools.combinations(calls, 2)
        if a["bay"] == b["bay"] and released[a["vehicle"]] < b["t"]
    )
    t = (first["t"] + released[first["vehicle"]]) / 2

    def restarted_at(bays: list[int], recovered_at: float | None = None) -> dict[str, Any]:
        changed = copy.deepcopy(report)
        extra = [{"t": t, "vehicle": None, "station": station, "kind": "restarted", "bays": bays}]
        if recovered_at is not None:
            extra.append(
                {"t": recovered_at, "vehicle": None, "station": station,
                 "kind": "bay_recovered", "bay": first["bay"]}
            )  # fmt: skip
        changed["events"] = sorted(events + extra, key=lambda e: e["t"])
        return changed

    blocked = f"called to bay {first['bay']} while (forgotten at a restart) still had it"
    assert any(blocked in p for p in audit(doc, restarted_at([first["bay"]])))
    assert any("restart left bays" in p for p in audit(doc, restarted_at([])))
    # Once the station reports the bay recovered, calling the next vehicle there is fine.
    cleared = audit(doc, restarted_at([first["bay"]], recovered_at=later["t"] - 0.001))
    assert not any("forgotten at a restart" in p or "restart left" in p for p in cleared)


def test_audit_catches_power_above_the_grid_limit(
    day: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, report = day
    changed = copy.deepcopy(report)
    series = next(iter(changed["grid_w"].values()))
    series[len(series) // 2][1] = doc["stations"][0]["grid_limit_w"] + 5000
    problems = audit(doc, changed)
    assert any("exceeds" in p for p in problems)
    assert any("grid_peak_w" in p for p in problems)


def test_scenario_errors_name_the_field() -> None:
    doc = generate(GeneratorParams(arrivals=3, faults=False))
    broken = copy.deepcopy(doc)
    broken["stations"][0]["import_price"] = [0.1]
    with pytest.raises(ScenarioError, match="import_price"):
        parse_scenario(broken)
    broken = copy.deepcopy(doc)
    broken["vehicles"][0]["priority"] = "vip"
    with pytest.raises(ScenarioError, match="vip"):
        parse_scenario(broken)
    broken = copy.deepcopy(doc)
    broken["vehicles"][0]["station"] = "elsewhere"
    with pytest.raises(ScenarioError, match="elsewhere"):
        parse_scenario(broken)
    broken = copy.deepcopy(doc)
    sid = doc["stations"][0]["id"]
    broken["faults"] = [{"station": sid, "kind": "bay_fault", "at_s": 1, "duration_s": 9}]
    with pytest.raises(ScenarioError, match="bay"):
        parse_scenario(broken)
    broken["faults"][0]["bay"] = 3
    with pytest.raises(ScenarioError, match="no bay 3"):
        parse_scenario(broken)


def test_cli_generates_then_simulates_and_writes_the_report(tmp_path: Path) -> None:
    scenario, out = tmp_path / "day.json", tmp_path / "report.json"
    assert cli.main(["swap-gen", "--seed", "3", "--arrivals", "60", "-o", str(scenario)]) == 0
    assert len(json.loads(scenario.read_text())["vehicles"]) == 60
    assert cli.main(["swap-sim", str(scenario), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["version"] == 1 and report["events"]
    assert audit(json.loads(scenario.read_text()), report) == []


def test_cli_rejects_a_broken_scenario_with_one_red_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.json"
    scenario.write_text(json.dumps({"version": 2}))
    assert cli.main(["swap-sim", str(scenario), "--out", str(tmp_path / "r.json")]) == 1
    assert "version must be 1" in capsys.readouterr().out
    assert not (tmp_path / "r.json").exists()
