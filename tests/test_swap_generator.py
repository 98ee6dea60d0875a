from collections import Counter
from typing import Any

from swap_orchestrator.generator import GeneratorParams, generate
from swap_orchestrator.scenario import parse_scenario


def hourly(doc: dict[str, Any]) -> Counter[int]:
    return Counter(int(v["arrive_s"] // 3600) for v in doc["vehicles"])


def test_same_seed_same_scenario_and_it_parses() -> None:
    a, b = generate(GeneratorParams(seed=11)), generate(GeneratorParams(seed=11))
    assert a == b and a != generate(GeneratorParams(seed=12))
    scenario = parse_scenario(a)
    assert len(scenario.vehicles) == 450 and len(scenario.stations) == 1


def test_highway_day_is_quiet_at_night_and_busy_in_the_travel_peaks() -> None:
    per_hour = hourly(generate(GeneratorParams(seed=1, arrivals=4000)))
    night = sum(per_hour[h] for h in range(0, 5)) / 5
    peaks = sum(per_hour[h] for h in (10, 11, 16, 17)) / 4
    assert peaks > 3 * night


def test_holiday_brings_more_arrivals_and_higher_peaks() -> None:
    work = generate(GeneratorParams(seed=2))
    holiday = generate(GeneratorParams(seed=2, holiday=True))
    assert len(holiday["vehicles"]) == round(1.4 * len(work["vehicles"]))
    assert max(hourly(holiday).values()) > 1.3 * max(hourly(work).values())


def test_night_swaps_are_self_driving_parked_cars() -> None:
    doc = generate(GeneratorParams(seed=3, arrivals=3000, manual_share=0.5))
    night = [v for v in doc["vehicles"] if v["arrive_s"] < 5 * 3600]
    day = [v for v in doc["vehicles"] if v["arrive_s"] >= 6 * 3600]
    assert night and all(v["autonomous"] for v in night)
    assert 0.4 < sum(not v["autonomous"] for v in day) / len(day) < 0.6


def test_shares_of_fleet_incidents_and_faults_follow_the_parameters() -> None:
    p = GeneratorParams(seed=4, arrivals=5000, fleet_share=0.2, damaged_share=0.05)
    doc = generate(p)
    n = len(doc["vehicles"])
    classes = Counter(v["priority"] for v in doc["vehicles"])
    assert abs(classes["fleet"] / n - 0.2) < 0.03
    stages = Counter(x["stage"] for x in doc["perception"])
    assert abs(stages["underbody"] / n - (0.05 + p.thermal_share)) < 0.015
    assert abs(stages["approach"] / n - p.pedestrian_share) < 0.015
    assert {f["kind"] for f in doc["faults"]} == {"bay_fault", "rsu_offline", "grid_limit"}
    assert all(0 < f["at_s"] < doc["duration_s"] for f in doc["faults"])
    assert not generate(GeneratorParams(seed=4, faults=False))["faults"]


def test_several_stations_share_the_arrivals() -> None:
    doc = generate(GeneratorParams(seed=5, stations=3, bays=3))
    ids = {s["id"] for s in doc["stations"]}
    assert len(ids) == 3 and {v["station"] for v in doc["vehicles"]} == ids
    assert all(s["bays"] == 3 and len(s["batteries"]) == 34 for s in doc["stations"])
