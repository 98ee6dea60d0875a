"""The emulator's safety faults and sensors, pure: scenario parsing, ground truth, and what
a faulty station's sensors report against a healthy one's under the same load."""

from __future__ import annotations

import random
import tomllib
from typing import Any

import pytest

from charge_point_emulator.faults import Fault, FaultKind, FaultPlan
from charge_point_emulator.scenario import EvseSpec, ScenarioError, parse_scenario
from charge_point_emulator.telemetry import Sensors

SCENARIO = """
[[stations]]
id = "AC-1"
evses = [{ type = "AC", max_power_kw = 22 }, { type = "AC", max_power_kw = 22 }]

[[faults]]
station = "AC-1"
kind = "hot_connector"
evse = 2
at_s = 7200
"""


def test_a_scenario_fault_carries_its_evse_and_the_ground_truth_of_its_onset() -> None:
    scenario = parse_scenario(tomllib.loads(SCENARIO))
    plan = FaultPlan(list(scenario.stations[0].faults))
    assert plan.ground_truth() == [(FaultKind.HOT_CONNECTOR, 7200.0, 2)]
    assert not plan.holds(FaultKind.HOT_CONNECTOR, 7199.0, 2)
    assert plan.holds(FaultKind.HOT_CONNECTOR, 7200.0, 2)
    assert not plan.holds(FaultKind.HOT_CONNECTOR, 9000.0, 1)  # the other EVSE is fine
    timed = Fault(FaultKind.METER_DRIFT, at_s=10.0, duration_s=5.0)
    assert [timed.holds(t) for t in (9.0, 10.0, 14.9, 15.0)] == [False, True, True, False]


def test_an_unknown_fault_kind_names_the_safety_kinds() -> None:
    with pytest.raises(ScenarioError, match=r"hot_connector.*reboot_loop"):
        parse_scenario({"stations": [{"id": "X"}], "faults": [{"kind": "melted"}]})


def _report(fault: FaultKind | None, samples: int = 6, power_w: float = 22_000.0) -> list[Any]:
    """Meter values of a 22 kW EVSE charging at `power_w`, a minute apart."""
    faults = FaultPlan([Fault(fault, at_s=0.0)] if fault else [])
    sensors = Sensors(ambient_c=20.0)
    rng = random.Random(1)
    out = []
    for n in range(samples):
        base = {
            "timestamp": "2026-01-01T00:00:00Z",
            "sampled_value": [
                {"value": 1000.0 * n, "measurand": "Energy.Active.Import.Register"},
                {"value": power_w, "measurand": "Power.Active.Import"},
                {"value": 30.0 + n, "measurand": "SoC"},
            ],
        }
        meter = sensors.instrument(
            base, 1, EvseSpec(), power_w, 1000.0 * n, 0.3 + n / 100, 60.0 * n, faults, rng
        )
        out.append(
            (
                {s["measurand"] + str(s.get("phase")): s["value"] for s in meter["sampled_value"]},
                sensors.reported_c,
            )
        )
    return out


def test_a_hot_connector_heats_far_above_a_healthy_one_under_the_same_load() -> None:
    healthy = [t for _, t in _report(None)]
    hot = [t for _, t in _report(FaultKind.HOT_CONNECTOR)]
    assert healthy[-1] < 55.0 < 80.0 < hot[-1]


def test_a_faulty_meter_drifts_or_restarts_its_register() -> None:
    drift = [v["Energy.Active.Import.RegisterNone"] for v, _ in _report(FaultKind.METER_DRIFT)]
    assert drift[-1] == pytest.approx(5000.0 * 1.15)
    reset = [v["Energy.Active.Import.RegisterNone"] for v, _ in _report(FaultKind.REGISTER_RESET)]
    assert reset[0] == 0.0 and reset[-1] == 5000.0  # restarted at the onset


def test_a_failing_contactor_leaves_one_phase_with_a_third_of_the_current() -> None:
    values, _ = _report(FaultKind.PHASE_IMBALANCE)[-1]
    assert values["Current.ImportL1"] == pytest.approx(22_000 / 690, abs=0.01)
    assert values["Current.ImportL3"] == pytest.approx(0.3 * 22_000 / 690, abs=0.01)
    assert 200.0 < values["VoltageL1-N"] < 260.0


def test_a_bms_fault_makes_soc_run_ahead_of_the_energy() -> None:
    healthy = [v["SoCNone"] for v, _ in _report(None)]
    faulty = [v["SoCNone"] for v, _ in _report(FaultKind.SOC_ANOMALY)]
    assert healthy[-1] - healthy[0] == pytest.approx(5.0)
    assert faulty[-1] - faulty[0] == pytest.approx(25.0)
