"""Ground truth of a swap station's yard: where each emulated vehicle is and what it has
done, shared by the vehicles, the roadside unit and the station (they observe it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from charge_point_emulator.swap_world import SwapScenario


class Place(Enum):
    LANE = "lane"  # waiting in the queue lane, out of the roadside unit's view
    ENTRANCE = "entrance"  # ready at the bay's entrance, the path in view
    APPROACHING = "approaching"
    IN_BAY = "in_bay"
    LEAVING = "leaving"
    GONE = "gone"


@dataclass(slots=True)
class VehicleTruth:
    place: Place = Place.LANE
    bay: int | None = None
    ready_at: float | None = None  # first time it stood at the entrance (scenario seconds)
    realigns: int = 0


@dataclass(slots=True)
class Yard:
    """The scenario's ground truth plus the vehicles' live positions (seconds from start)."""

    scenario: SwapScenario
    vehicles: dict[str, VehicleTruth] = field(default_factory=dict)

    def truth(self, vehicle: str) -> VehicleTruth:
        return self.vehicles.setdefault(vehicle, VehicleTruth())

    def offline(self, station: str, t: float) -> bool:
        """The roadside unit of `station` is down at `t` (an `rsu_offline` fault)."""
        return any(
            f.kind == "rsu_offline" and f.station == station and f.at_s <= t < f.end_s
            for f in self.scenario.faults
        )
