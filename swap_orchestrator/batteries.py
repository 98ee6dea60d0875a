"""Battery choice: which rack battery a vehicle gets, keeping a reserve for priority classes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RackBattery:
    """A battery in the rack; `energy_wh` is what it holds now."""

    serial: str
    type: str
    capacity_wh: float
    energy_wh: float
    soh: float

    @property
    def soc(self) -> float:
        return self.energy_wh / self.capacity_wh


def ready_batteries(
    rack: Iterable[RackBattery], battery_type: str, min_handout_soc: float
) -> list[RackBattery]:
    """Compatible batteries at or above the hand-out SoC, fullest-and-healthiest first."""
    ready = [b for b in rack if b.type == battery_type and b.soc >= min_handout_soc]
    ready.sort(key=lambda b: (b.soc, b.soh, b.serial), reverse=True)
    return ready


def choose_battery(
    rack: Iterable[RackBattery], battery_type: str, min_handout_soc: float, reserve: int = 0
) -> RackBattery | None:
    """The battery to hand out, or None when fewer than `reserve` + 1 are ready.

    `reserve` is how many ready batteries of this type must stay for waiting vehicles of a
    higher class than the one asking.
    """
    ready = ready_batteries(rack, battery_type, min_handout_soc)
    if len(ready) <= reserve:
        return None
    return ready[0]
