"""Pure cores of the emulator: device model, offline queue and back-off, password and
scenario files, fault plan, ground truth and the simulated clock."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charge_point_emulator.clock import SimClock
from charge_point_emulator.device_model import (
    STANDARD_COMPONENTS,
    EvseHardware,
    GetStatus,
    SetStatus,
    VariableKey,
    chunks,
    standard_model,
)
from charge_point_emulator.faults import Fault, FaultKind, FaultPlan
from charge_point_emulator.offline_queue import OfflineQueue, QueuedMessage, backoff_delay
from charge_point_emulator.passwords import PasswordFileError, parse_passwords
from charge_point_emulator.scenario import (
    EvseType,
    ScenarioError,
    demo_scenario,
    load_scenario,
    parse_scenario,
)
from charge_point_emulator.truth import StationTruth, write_truth

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_device_model_answers_get_and_set_like_part_2() -> None:
    dm = standard_model("V", "M", [EvseHardware(1, 22_000, 3, False, False)], 300, 60)
    heartbeat = VariableKey("OCPPCommCtrlr", "HeartbeatInterval")
    assert dm.get(heartbeat) == (GetStatus.ACCEPTED, "300")
    assert dm.set(heartbeat, "60") is SetStatus.ACCEPTED
    assert dm.int_value("OCPPCommCtrlr", "HeartbeatInterval", 0) == 60
    assert dm.set(heartbeat, "soon") is SetStatus.REJECTED  # not an integer
    assert dm.set(VariableKey("ChargingStation", "Model"), "X") is SetStatus.REJECTED  # RO
    assert dm.get(VariableKey("OCPPCommCtrlr", "Nope"))[0] is GetStatus.UNKNOWN_VARIABLE
    assert dm.get(VariableKey("NoSuchCtrlr", "Enabled"))[0] is GetStatus.UNKNOWN_COMPONENT
    assert dm.get(heartbeat, "Target")[0] is GetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE
    assert dm.get(VariableKey("Connector", "ConnectorType", 1, 1)) == (
        GetStatus.ACCEPTED,
        "cType2",
    )


def test_full_report_names_every_standard_component_and_splits_into_parts() -> None:
    dm = standard_model("V", "M", [EvseHardware(n, 22_000, 3, False, False) for n in (1, 2)], 1, 1)
    report = dm.report()
    assert {r["component"]["name"] for r in report} == set(STANDARD_COMPONENTS)
    parts = list(chunks(report, 20))
    assert len(parts) > 1 and all(len(p) <= 20 for p in parts)
    assert sum(len(p) for p in parts) == len(report)
    configuration = dm.report(configuration_only=True)
    assert all(r["variable_attribute"][0]["mutability"] == "ReadWrite" for r in configuration)


def test_offline_queue_keeps_order_and_drops_only_meter_samples_when_full() -> None:
    queue = OfflineQueue(max_messages=3)
    assert queue.push(QueuedMessage("started", "S"))
    assert queue.push(QueuedMessage("sample-1", "U", droppable=True))
    assert queue.push(QueuedMessage("sample-2", "U", droppable=True))
    assert queue.push(QueuedMessage("ended", "E"))  # evicts the oldest sample
    assert queue.dropped == 1
    assert [queue.pop().unique_id for _ in range(3)] == ["started", "sample-2", "ended"]
    full = OfflineQueue(max_messages=1)
    full.push(QueuedMessage("a", "S"))
    assert not full.push(QueuedMessage("b", "E"))


@given(attempt=st.integers(0, 50), seed=st.integers(0, 1000))
def test_backoff_doubles_up_to_repeat_times_with_bounded_jitter(attempt: int, seed: int) -> None:
    delay = backoff_delay(attempt, 2.0, 10.0, 5, random.Random(seed))
    base = 2.0 * 2 ** min(attempt, 5)
    assert base <= delay < base + 10.0


def test_backoff_jitter_differs_between_stations() -> None:
    delays = {backoff_delay(0, 2.0, 10.0, 5, random.Random(seed)) for seed in range(20)}
    assert len(delays) == 20


def test_password_file_has_station_lines_and_a_default() -> None:
    book = parse_passwords("# comment\nCS1:s3cret\n\n*:fallback:with:colons\n")
    assert book.for_station("CS1") == "s3cret"
    assert book.for_station("CS2") == "fallback:with:colons"
    with pytest.raises(PasswordFileError, match="line 1"):
        parse_passwords("no-colon-here")


def test_toml_scenario_with_stations_arrivals_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        """
[defaults]
sample_interval_s = 30

[[stations]]
id = "HUB"
evses = [{type = "DC", max_power_kw = 150, bidirectional = true}, {type = "AC"}]

[[stations]]
id_prefix = "AC"
count = 3
evses = [{type = "AC", max_power_kw = 11}]

[[arrivals]]
station = "HUB"
evse = 1
at_s = 60
stay_s = 1800
soc = 0.2
target_soc = 0.9
capacity_kwh = 77
bidirectional = true
max_discharge_kw = 11
iso15118 = true

[[faults]]
station = "HUB"
kind = "drop_connection"
at_s = 600
duration_s = 120

[random_arrivals]
per_evse_per_hour = 1.0
horizon_s = 7200
seed = 3
"""
    )
    scenario = load_scenario(path)
    assert [s.id for s in scenario.stations] == ["HUB", "AC0001", "AC0002", "AC0003"]
    hub = scenario.stations[0]
    assert hub.evses[0].type is EvseType.DC and hub.evses[0].bidirectional
    assert hub.faults == (Fault(FaultKind.DROP_CONNECTION, at_s=600, duration_s=120),)
    first = [a for a in scenario.arrivals if a.station_id == "HUB" and a.evse == 1]
    assert len(first) == 1 and first[0].ev.capacity_wh == 77_000 and first[0].ev.iso15118
    assert scenario.sample_interval_s == 30
    # Generated arrivals never overlap on one EVSE.
    for station in scenario.stations:
        for evse in range(1, len(station.evses) + 1):
            mine = [a for a in scenario.arrivals if (a.station_id, a.evse) == (station.id, evse)]
            for a, b in itertools.pairwise(mine):
                assert b.at_s >= a.at_s + a.stay_s


def test_json_scenario_errors_name_the_entry(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="stations\\[0\\]"):
        parse_scenario({"stations": [{"id": "X", "evses": [{"type": "DC", "max_power_kw": 5}]}]})
    with pytest.raises(ScenarioError, match="arrivals\\[0\\]"):
        parse_scenario({"stations": [{"id": "X"}], "arrivals": [{"station": "Y"}]})
    with pytest.raises(ScenarioError, match="faults\\[0\\]"):
        parse_scenario({"stations": [{"id": "X"}], "faults": [{"kind": "explode"}]})
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ScenarioError):
        load_scenario(bad)


def test_fault_plan_fires_each_fault_once_when_due() -> None:
    plan = FaultPlan([Fault(FaultKind.NO_ANSWER, at_s=10, action="GetVariables", count=2)])
    assert plan.take(FaultKind.NO_ANSWER, 5, "GetVariables") is None  # not yet due
    assert plan.take(FaultKind.NO_ANSWER, 11, "Reset") is None  # another action
    assert plan.take(FaultKind.NO_ANSWER, 11, "GetVariables") is not None
    assert plan.take(FaultKind.NO_ANSWER, 12, "GetVariables") is not None
    assert plan.take(FaultKind.NO_ANSWER, 13, "GetVariables") is None


def test_truth_splits_energy_into_minutes_and_transactions(tmp_path: Path) -> None:
    truth = StationTruth("CS1")
    truth.start("tx", 1, T0)
    truth.add(1, "tx", T0 + timedelta(seconds=30), 60, 6_000)  # 100 Wh across two minutes
    truth.add(1, "tx", T0 + timedelta(seconds=90), 30, -12_000)  # 100 Wh fed back
    truth.end("tx", T0 + timedelta(seconds=120))
    record = truth.transactions["tx"]
    assert record.delivered_wh == pytest.approx(100)
    assert record.fed_back_wh == pytest.approx(100)
    write_truth(tmp_path / "t.json", [truth], T0)
    document = json.loads((tmp_path / "t.json").read_text())
    minutes = document["stations"][0]["power_per_minute"]["1"]
    assert [m["avg_w"] for m in minutes] == [3_000, -3_000]  # (50 - 100) Wh * 60 in minute 2


def test_sim_clock_runs_speed_times_faster() -> None:
    now = [100.0]
    clock = SimClock(speed=60, start=T0, monotonic=lambda: now[0])
    now[0] += 2.5
    assert clock.elapsed() == pytest.approx(150)
    assert clock.now() == T0 + timedelta(seconds=150)
    assert clock.real_seconds(60) == pytest.approx(1.0)


def test_demo_scenario_mixes_ac_and_bidirectional_dc_with_arrivals() -> None:
    scenario = demo_scenario(20)
    assert len(scenario.stations) == 20
    kinds = {(e.type, e.bidirectional) for s in scenario.stations for e in s.evses}
    assert kinds == {(EvseType.AC, False), (EvseType.DC, True)}
    assert scenario.arrivals and scenario.arrivals[0].at_s < 3600


def test_readme_examples_of_scenario_and_password_file_load(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Charge point emulator") :]
    toml = section[
        section.index("```toml") + len("```toml") : section.index(
            "```", section.index("```toml") + 7
        )
    ]
    scenario_file = tmp_path / "fleet.toml"
    scenario_file.write_text(toml)
    scenario = load_scenario(scenario_file)
    assert [s.id for s in scenario.stations][:2] == ["HUB-1", "AC0001"]
    assert scenario.stations[0].faults[0].kind is FaultKind.DROP_CONNECTION
    start = section.index("# passwords.txt")
    book = parse_passwords(section[start : section.index("```", start)])
    assert book.for_station("CS-0001") == "s3cret-for-one"
    assert book.for_station("ANY") == "the-password-of-all-others"


def test_local_list_full_replaces_differential_updates_and_versions_must_grow() -> None:
    from charge_point_emulator.local_list import LocalList

    def item(token: str, status: str | None) -> dict[str, object]:
        entry: dict[str, object] = {"id_token": {"id_token": token, "type": "ISO14443"}}
        if status is not None:
            entry["id_token_info"] = {"status": status}
        return entry

    local = LocalList()
    assert local.apply(1, "Full", [item("A", "Accepted"), item("B", "Accepted")]) == "Accepted"
    assert local.apply(2, "Differential", [item("A", None), item("C", "Blocked")]) == "Accepted"
    assert local.entries == {("B", "ISO14443"): "Accepted", ("C", "ISO14443"): "Blocked"}
    assert local.apply(2, "Differential", [item("D", "Accepted")]) == "VersionMismatch"
    assert local.apply(1, "Full", []) == "Accepted" and local.entries == {} and local.version == 1
