"""Scenario generator: a day at highway service-area swap stations (`cli.py swap-gen`).

Arrivals follow a highway service-area curve (quiet night with self-driving parked cars
swapping on their own, morning and afternoon travel peaks; sharper and higher on holidays),
with fleet and emergency shares, damaged batteries, people on the path, misaligned cars,
no-shows and station faults, all drawn from one seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

# Relative arrivals per hour of day (UTC = local here) on a working day and on a holiday.
WORKDAY_CURVE = (
    1.2, 1.0, 0.9, 0.9, 1.0, 1.6, 2.6, 3.8, 4.6, 5.0, 5.2, 5.5,
    5.8, 5.6, 5.5, 5.8, 6.0, 6.0, 5.4, 4.4, 3.4, 2.6, 2.0, 1.5,
)  # fmt: skip
HOLIDAY_CURVE = (
    1.0, 0.8, 0.7, 0.7, 0.9, 1.6, 3.0, 5.5, 7.5, 8.5, 8.8, 8.2,
    7.0, 6.6, 6.8, 7.6, 8.4, 8.0, 6.6, 5.0, 3.6, 2.6, 1.9, 1.4,
)  # fmt: skip
NIGHT_HOURS = range(0, 5)
PRICES = (
    0.09, 0.08, 0.08, 0.08, 0.08, 0.09, 0.12, 0.16, 0.18, 0.17, 0.15, 0.14,
    0.13, 0.13, 0.14, 0.16, 0.19, 0.22, 0.24, 0.21, 0.17, 0.14, 0.12, 0.10,
)  # fmt: skip
BATTERY_TYPES = (("75kWh", 75000.0, 0.6), ("100kWh", 100000.0, 0.4))


@dataclass(frozen=True, slots=True)
class GeneratorParams:
    """What to generate. Shares are probabilities per vehicle; `holiday_factor` scales the
    number of arrivals on a holiday."""

    seed: int = 0
    arrivals: int = 450
    stations: int = 1
    bays: int = 2
    batteries_per_bay: int = 11
    duration_s: float = 86400.0
    holiday: bool = False
    holiday_factor: float = 1.4
    fleet_share: float = 0.15
    emergency_share: float = 0.01
    manual_share: float = 0.1
    no_show_share: float = 0.01
    pedestrian_share: float = 0.05
    misaligned_share: float = 0.08
    unalignable_share: float = 0.01
    damaged_share: float = 0.01
    thermal_share: float = 0.003
    unsupported_share: float = 0.005
    faults: bool = True
    grid_limit_w: float = 1_600_000.0
    rack_charge_w: float = 80_000.0


def _arrival_time(rng: random.Random, curve: tuple[float, ...], duration_s: float) -> float:
    hours = [h for h in range(24) if h * 3600 < duration_s]
    hour = rng.choices(hours, weights=[curve[h] for h in hours])[0]
    return min(duration_s - 1.0, hour * 3600 + rng.uniform(0, 3600))


def _station(index: int, p: GeneratorParams, rng: random.Random) -> dict[str, Any]:
    sid = f"pss-g2-km{118 + 37 * index}"
    batteries = []
    count = p.bays * p.batteries_per_bay + 1
    for n in range(count):
        btype, capacity, _ = BATTERY_TYPES[0] if n < round(count * 0.5) else BATTERY_TYPES[1]
        batteries.append(
            {
                "serial": f"{sid}-B{n + 1:03d}",
                "type": btype,
                "capacity_wh": capacity,
                "soc": round(rng.uniform(0.9, 1.0), 4),
                "soh": round(rng.uniform(0.88, 0.99), 3),
            }
        )
    return {
        "id": sid,
        "bays": p.bays,
        "swap_s": 180,
        "approach_s": 45,
        "battery_types": [t for t, _, _ in BATTERY_TYPES],
        "rack_charge_w": p.rack_charge_w,
        "grid_limit_w": p.grid_limit_w,
        "aux_w": 30_000.0,
        "import_price": list(PRICES),
        "min_handout_soc": 0.9,
        "batteries": batteries,
    }


def generate(p: GeneratorParams) -> dict[str, Any]:
    """A scenario document (swap-scenario format, version 1)."""
    rng = random.Random(p.seed)
    stations = [_station(i, p, rng) for i in range(p.stations)]
    curve = HOLIDAY_CURVE if p.holiday else WORKDAY_CURVE
    count = round(p.arrivals * (p.holiday_factor if p.holiday else 1.0))
    vehicles: list[dict[str, Any]] = []
    perception: list[dict[str, Any]] = []
    for n in range(count):
        vid = f"car-{n + 1:04d}"
        arrive = round(_arrival_time(rng, curve, p.duration_s), 1)
        night = int(arrive // 3600) % 24 in NIGHT_HOURS
        if rng.random() < p.unsupported_share:
            btype, capacity = "60kWh", 60000.0
        else:
            btype, capacity, _ = rng.choices(BATTERY_TYPES, weights=[w for *_, w in BATTERY_TYPES])[
                0
            ]
        # Parked cars swapping at night come with more charge left than highway travellers.
        soc = rng.uniform(0.3, 0.7) if night else rng.uniform(0.1, 0.5)
        roll = rng.random()
        priority = (
            "emergency"
            if roll < p.emergency_share
            else "fleet"
            if roll < p.emergency_share + p.fleet_share
            else "normal"
        )
        vehicles.append(
            {
                "id": vid,
                "arrive_s": arrive,
                "station": rng.choice(stations)["id"],
                "battery": {
                    "serial": f"B9{n + 1:04d}",
                    "type": btype,
                    "capacity_wh": capacity,
                    "soc": round(soc, 4),
                    "soh": round(rng.uniform(0.8, 0.99), 3),
                },
                "priority": priority,
                "autonomous": night or rng.random() >= p.manual_share,
                "no_show": rng.random() < p.no_show_share,
            }
        )
        if rng.random() < p.pedestrian_share:
            perception.append(
                {
                    "vehicle": vid,
                    "stage": "approach",
                    "pedestrian_in_zone": True,
                    "clears_after_s": round(rng.uniform(3, 90), 1),
                }
            )
        roll = rng.random()
        if roll < p.misaligned_share + p.unalignable_share:
            perception.append(
                {
                    "vehicle": vid,
                    "stage": "bay",
                    "lateral_offset_mm": round(rng.uniform(60, 160), 1),
                    "yaw_deg": round(rng.uniform(0.2, 3.0), 2),
                    "settles_after_tries": 5 if roll < p.unalignable_share else rng.randint(1, 2),
                }
            )
        roll = rng.random()
        if roll < p.damaged_share + p.thermal_share:
            perception.append(
                {
                    "vehicle": vid,
                    "stage": "underbody",
                    "casing_damage": round(rng.uniform(0.55, 0.98), 3),
                    "thermal_anomaly": roll < p.thermal_share,
                }
            )
    vehicles.sort(key=lambda v: (v["arrive_s"], v["id"]))
    faults: list[dict[str, Any]] = []
    if p.faults:
        for station in stations:
            sid = station["id"]
            faults.append(
                {
                    "station": sid,
                    "bay": rng.randint(1, p.bays),
                    "kind": "bay_fault",
                    "at_s": round(rng.uniform(0.1, 0.9) * p.duration_s),
                    "duration_s": round(rng.uniform(600, 2400)),
                }
            )
            faults.append(
                {
                    "station": sid,
                    "kind": "rsu_offline",
                    "at_s": round(rng.uniform(0.1, 0.9) * p.duration_s),
                    "duration_s": round(rng.uniform(60, 900)),
                }
            )
            faults.append(
                {
                    "station": sid,
                    "kind": "grid_limit",
                    "at_s": round(rng.uniform(0.6, 0.8) * p.duration_s),
                    "duration_s": round(rng.uniform(3600, 7200)),
                    "limit_w": round(p.grid_limit_w * rng.uniform(0.4, 0.6)),
                }
            )
    return {
        "version": 1,
        "start": "2026-11-24T00:00:00Z",
        "duration_s": p.duration_s,
        "stations": stations,
        "vehicles": vehicles,
        "perception": perception,
        "faults": faults,
    }
