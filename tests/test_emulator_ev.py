"""EV model: constant power, then a taper near full; energy and state of charge agree.

Worked example after the smart charging chapter's AC example: a 60 kWh car at 30 % on a
3-phase 16 A (11.04 kW) EVSE for one hour gains 11.04 kWh, i.e. 18.4 points of charge.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charge_point_emulator.ev import (
    EvSpec,
    acceptance_w,
    advance,
    clamp_power,
    discharge_limit_w,
    energy_needed_wh,
)
from charge_point_emulator.profiles import RateUnit, to_watts


def test_one_hour_at_16_amperes_three_phase() -> None:
    ev = EvSpec(capacity_wh=60_000, max_ac_w=11_000)
    offered = to_watts(16, RateUnit.A, 3)
    power = clamp_power(ev, 0.3, offered, dc=False, target_soc=1.0)
    assert power == 11_000  # the car's onboard charger is the bottleneck
    step = advance(ev, 0.3, 11_040, 3600)
    assert step.energy_wh == pytest.approx(11_040)
    assert step.soc == pytest.approx(0.484)


def test_power_is_flat_until_taper_then_falls_towards_full() -> None:
    ev = EvSpec(max_dc_w=150_000, taper_start_soc=0.8, trickle=0.05)
    assert acceptance_w(ev, 0.5, dc=True) == 150_000
    assert acceptance_w(ev, 0.8, dc=True) == 150_000
    assert acceptance_w(ev, 0.9, dc=True) == pytest.approx(75_000)
    assert acceptance_w(ev, 0.999, dc=True) == pytest.approx(7_500)  # trickle floor
    assert acceptance_w(ev, 1.0, dc=True) == 0


def test_car_stops_at_target_and_only_bidirectional_cars_feed_back() -> None:
    plain = EvSpec()
    v2g = EvSpec(bidirectional=True, max_discharge_w=7_000, min_soc=0.2)
    assert clamp_power(plain, 0.8, 11_000, dc=False, target_soc=0.8) == 0
    assert clamp_power(plain, 0.5, -5_000, dc=False, target_soc=0.8) == 0
    assert clamp_power(v2g, 0.5, -5_000, dc=False, target_soc=0.8) == -5_000
    assert clamp_power(v2g, 0.5, -9_000, dc=False, target_soc=0.8) == -7_000
    assert discharge_limit_w(v2g, 0.2) == 0  # never below its reserve


def test_energy_needed_to_target() -> None:
    assert energy_needed_wh(EvSpec(capacity_wh=77_000), 0.2, 0.8) == pytest.approx(46_200)
    assert energy_needed_wh(EvSpec(), 0.9, 0.8) == 0


@given(
    soc=st.floats(0.0, 1.0),
    power=st.floats(-50_000, 350_000),
    seconds=st.floats(0, 7200),
    capacity=st.floats(10_000, 120_000),
)
def test_battery_never_leaves_its_bounds_and_energy_matches_soc(
    soc: float, power: float, seconds: float, capacity: float
) -> None:
    ev = EvSpec(capacity_wh=capacity, bidirectional=True, max_discharge_w=50_000, min_soc=0.2)
    step = advance(ev, soc, power, seconds)
    assert 0.0 <= step.soc <= 1.0
    if power < 0 and soc >= ev.min_soc:
        assert step.soc >= ev.min_soc - 1e-9
    assert abs(step.energy_wh) <= abs(power) * seconds / 3600 + 1e-6
    assert step.energy_wh == pytest.approx((step.soc - soc) * capacity, abs=1e-6)
