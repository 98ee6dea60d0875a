"""EV model: a battery with a state of charge and a charging curve that tapers near full.

Pure functions of (spec, state of charge, power, duration); the station integrates them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EvSpec:
    """What a car is: battery, power limits, and whether it can feed back (V2G)."""

    capacity_wh: float = 60_000.0
    max_ac_w: float = 11_000.0
    max_dc_w: float = 150_000.0
    bidirectional: bool = False
    max_discharge_w: float = 0.0
    # Constant power up to this state of charge, then a linear taper to `trickle` at full.
    taper_start_soc: float = 0.8
    # Fraction of the power limit still accepted just below full, so a battery does fill.
    trickle: float = 0.05
    # A bidirectional car never discharges below this state of charge.
    min_soc: float = 0.2
    # An ISO 15118 car announces its needs with NotifyEVChargingNeeds.
    iso15118: bool = False

    def __post_init__(self) -> None:
        if self.capacity_wh <= 0:
            raise ValueError("capacity_wh must be positive")
        if not 0 < self.taper_start_soc < 1:
            raise ValueError("taper_start_soc must be in (0, 1)")


@dataclass(frozen=True, slots=True)
class EvStep:
    """The outcome of drawing power for a while: new state of charge and energy moved."""

    soc: float
    energy_wh: float  # positive: into the battery; negative: fed back


def acceptance_w(spec: EvSpec, soc: float, dc: bool) -> float:
    """The most power (W) the car accepts at `soc` on an AC or DC EVSE."""
    base = spec.max_dc_w if dc else spec.max_ac_w
    if soc >= 1.0:
        return 0.0
    if soc <= spec.taper_start_soc:
        return base
    tapered = base * (1.0 - soc) / (1.0 - spec.taper_start_soc)
    return max(tapered, base * spec.trickle)


def discharge_limit_w(spec: EvSpec, soc: float) -> float:
    """The most power (W, positive) the car can feed back at `soc`; 0 if not bidirectional."""
    if not spec.bidirectional or soc <= spec.min_soc:
        return 0.0
    return spec.max_discharge_w


def clamp_power(spec: EvSpec, soc: float, offered_w: float, dc: bool, target_soc: float) -> float:
    """The power the car really takes (or, negative, feeds back) when `offered_w` is allowed.

    A car stops charging at its target state of charge, and follows a negative offer only
    if it is bidirectional.
    """
    if offered_w >= 0:
        if soc >= target_soc:
            return 0.0
        return min(offered_w, acceptance_w(spec, soc, dc))
    return -min(-offered_w, discharge_limit_w(spec, soc))


def advance(spec: EvSpec, soc: float, power_w: float, seconds: float) -> EvStep:
    """Run `power_w` for `seconds`; the battery never leaves [min_soc when feeding back, 1]."""
    energy = power_w * seconds / 3600.0
    if energy >= 0:
        energy = min(energy, max(0.0, (1.0 - soc) * spec.capacity_wh))
    else:
        energy = max(energy, -max(0.0, (soc - spec.min_soc) * spec.capacity_wh))
    new_soc = min(1.0, max(0.0, soc + energy / spec.capacity_wh))
    return EvStep(soc=new_soc, energy_wh=energy)


def energy_needed_wh(spec: EvSpec, soc: float, target_soc: float) -> float:
    """Energy (Wh) from `soc` to `target_soc`; 0 if already there."""
    return max(0.0, (target_soc - soc) * spec.capacity_wh)
