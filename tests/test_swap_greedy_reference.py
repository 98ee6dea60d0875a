"""The greedy perfect-information reference of benchmarks/swap_day.py, on days small
enough to count by hand."""

from __future__ import annotations

from typing import Any

from swap_orchestrator.greedy_reference import greedy_swaps
from swap_orchestrator.scenario import parse_scenario


def day(
    vehicles: list[dict[str, Any]],
    batteries: list[float],
    *,
    duration_s: float = 3000.0,
    grid_limit_w: float = 1_000_000.0,
    perception: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "version": 1,
        "start": "2026-11-24T00:00:00Z",
        "duration_s": duration_s,
        "stations": [
            {
                "id": "st",
                "bays": 1,
                "swap_s": 180,
                "approach_s": 45,
                "battery_types": ["75kWh"],
                "rack_charge_w": 60000,
                "grid_limit_w": grid_limit_w,
                "aux_w": 10000,
                "import_price": [0.1] * 24,
                "min_handout_soc": 0.9,
                "batteries": [
                    {
                        "serial": f"R{i}",
                        "type": "75kWh",
                        "capacity_wh": 75000,
                        "soc": soc,
                        "soh": 0.95,
                    }
                    for i, soc in enumerate(batteries)
                ],
            }
        ],
        "vehicles": [
            {
                "id": vid,
                "arrive_s": 0.0,
                "station": "st",
                "battery": {
                    "serial": f"V-{vid}",
                    "type": btype,
                    "capacity_wh": 75000,
                    "soc": 0.2,
                    "soh": 0.9,
                },
                **extra,
            }
            for vid, btype, extra in (
                (v["id"], v.get("type", "75kWh"), v.get("extra", {})) for v in vehicles
            )
        ],
        "perception": perception or [],
        "faults": [],
    }


def test_a_bay_serves_the_longest_waiting_as_batteries_become_ready() -> None:
    # R0 is ready at once; R1 (50%) needs 30 kWh at 57 kW stored: ready after ~1,900 s,
    # then the second car swaps (done ~2,130 s); the car's 20% battery is not ready by
    # 3,000 s, so the third car waits.
    doc = day([{"id": "a"}, {"id": "b"}, {"id": "c"}], [0.95, 0.5])
    assert greedy_swaps(parse_scenario(doc)) == 2


def test_the_connection_is_shared_fullest_first() -> None:
    # 70 kW for the rack: R1 (70%) gets 60 kW and is ready after ~950 s, so car a swaps
    # by ~1,175 s. Shared evenly (35 kW each) R1 would be ready only after ~1,620 s, and
    # emptiest first neither battery would be ready within the 1,500 s day.
    doc = day([{"id": "a"}, {"id": "b"}], [0.5, 0.7], grid_limit_w=80000.0, duration_s=1500.0)
    assert greedy_swaps(parse_scenario(doc)) == 1


def test_vehicles_no_orchestrator_may_swap_are_left_out() -> None:
    doc = day(
        [
            {"id": "unsupported", "type": "60kWh"},
            {"id": "no-show", "extra": {"no_show": True}},
            {"id": "damaged"},
            {"id": "fine"},
        ],
        [0.95, 0.95, 0.95, 0.95],
        perception=[{"vehicle": "damaged", "stage": "underbody", "casing_damage": 0.9}],
    )
    assert greedy_swaps(parse_scenario(doc)) == 1
