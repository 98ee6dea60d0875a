"""A station's ChargingStationMaxProfile from the grid topology (K01 use of purpose
ChargingStationMaxProfile): sent when the station boots, so that whatever its EVSEs are
told, or do offline, the station as a whole never draws more than its place in the grid
allows: the sum of its EVSEs' ratings, or the tightest node import limit above it."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from csms.blocks.ports import CommandSender
from csms.grid.live_state import StoredPlanState, rate_units
from csms.grid.profiles import RateUnit
from csms.grid.topology import Topology

log = logging.getLogger(__name__)

#: Profile id of the station maximum (the planner's ids are 1000+ and 2000+).
STATION_MAX_PROFILE_ID = 3000


def station_max_w(topology: Topology, station_id: str) -> float | None:
    """The most the station may draw (W), or None when the topology does not place it."""
    place = topology.station(station_id)
    if place is None or not place.evses:
        return None
    rated = sum(evse.max_import_w for evse in place.evses)
    return min([rated, *(node.import_limit_w for node in topology.ancestors(place.node))])


def station_max_profile(
    topology: Topology, station_id: str, unit: RateUnit
) -> dict[str, Any] | None:
    """SetChargingProfileRequest of the station maximum (pure), or None."""
    watts = station_max_w(topology, station_id)
    place = topology.station(station_id)
    if watts is None or place is None:
        return None
    period: dict[str, Any] = {"startPeriod": 0}
    if unit is RateUnit.A:
        evse = place.evses[0]
        period["limit"] = math.floor(watts / (evse.phases * evse.voltage_v) * 10) / 10
        period["numberPhases"] = evse.phases
    else:
        period["limit"] = float(math.floor(watts))
    return {
        "evseId": 0,
        "chargingProfile": {
            "id": STATION_MAX_PROFILE_ID,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [
                {
                    "id": STATION_MAX_PROFILE_ID,
                    "chargingRateUnit": unit.value,
                    "chargingSchedulePeriod": [period],
                }
            ],
        },
    }


class StationMax:
    """After an accepted boot, sends the station its maximum (one task per boot, owned
    here and cancelled by `stop`)."""

    def __init__(self, state: StoredPlanState, sender: CommandSender) -> None:
        self.state = state
        self.sender = sender
        self._tasks: set[asyncio.Task[None]] = set()

    def booted(self, station_id: str, _: dict[str, Any], response: dict[str, Any]) -> None:
        if response.get("status") != "Accepted":
            return
        task = asyncio.ensure_future(self._send(station_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, station_id: str) -> None:
        try:
            topology = await self.state.topology()
            if topology is None:
                return
            unit = (await rate_units({station_id})).get(station_id, RateUnit.W)
            request = station_max_profile(topology, station_id, unit)
            if request is None:
                return
            answer = await self.sender.send(station_id, "SetChargingProfile", request)
            log.info("[%s] station maximum: %s", station_id, answer.get("status"))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The planner's own profiles still bound the EVSEs; the next boot tries again.
            log.warning("[%s] station maximum not set: %r", station_id, error)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
