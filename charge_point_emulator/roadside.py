"""Emulated roadside unit of a swap station: watches the yard's ground truth and posts
perception reports to the CSMS (`POST /api/v1/swap/perception`), as an external unit does."""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta
from typing import Any

import aiohttp

from charge_point_emulator.clock import SimClock, ocpp_time
from charge_point_emulator.swap_yard import Place, Yard

log = logging.getLogger(__name__)

_IN_BAY = (Place.IN_BAY, Place.LEAVING)
_AT_ENTRANCE = (Place.ENTRANCE, Place.APPROACHING)


class RoadsideUnit:
    """Reports every `period_s` (simulated) on the vehicles in view, `delay_s` after it
    observed them; silent while an `rsu_offline` fault lasts."""

    def __init__(
        self,
        station_id: str,
        yard: Yard,
        clock: SimClock,
        api_url: str,
        *,
        period_s: float = 0.3,
        delay_s: float = 0.05,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.station_id = station_id
        self.yard = yard
        self.clock = clock
        self.api_url = api_url
        self.period_s = period_s
        self.delay_s = delay_s
        self.headers = headers or {}
        self._ids = itertools.count(1)
        self.sent = 0

    def reports(self, t: float) -> list[dict[str, Any]]:
        """What the unit observes at `t - delay_s` (scenario seconds)."""
        observed = t - self.delay_s
        if self.yard.offline(self.station_id, observed) or self.yard.offline(self.station_id, t):
            return []
        scenario = self.yard.scenario
        found = []
        for vehicle, truth in self.yard.vehicles.items():
            if truth.place in _AT_ENTRANCE and truth.ready_at is not None:
                person = scenario.approach.get(vehicle)
                clear = (
                    person is None
                    or not person.pedestrian_in_zone
                    or observed >= truth.ready_at + person.clears_after_s
                )
                found.append(self._report(vehicle, "approach", observed, path_clear=clear))
            elif truth.place in _IN_BAY:
                bay = scenario.bay.get(vehicle)
                if bay is not None and truth.realigns < bay.settles_after_tries:
                    offset, yaw = bay.lateral_offset_mm, bay.yaw_deg
                else:
                    offset, yaw = 12.0, 0.3
                found.append(
                    self._report(vehicle, "bay", observed, lateral_offset_mm=offset, yaw_deg=yaw)
                )
                # The underbody camera sees the battery casing of a car on the platform.
                under = underbody_report(self.yard, vehicle, "", "")
                found.append(
                    self._report(
                        vehicle,
                        "underbody",
                        observed,
                        casing_damage=under["casing_damage"],
                        thermal_anomaly=under["thermal_anomaly"],
                    )
                )
        return found

    def _report(self, vehicle: str, stage: str, observed: float, **fields: Any) -> dict[str, Any]:
        return {
            "id": f"{self.station_id}-rsu-{next(self._ids)}",
            "vehicle": vehicle,
            "stage": stage,
            "observed_at": ocpp_time(self.clock.start + timedelta(seconds=observed)),
            **fields,
        }

    async def run(self) -> None:
        """Report until cancelled."""
        async with aiohttp.ClientSession(headers=self.headers) as http:
            while True:
                reports = self.reports(self.clock.elapsed())
                if reports:
                    try:
                        async with http.post(
                            f"{self.api_url}/api/v1/swap/perception",
                            json={"station": self.station_id, "reports": reports},
                        ) as reply:
                            if reply.status != 200:
                                log.warning(
                                    "%s: perception refused: %s", self.station_id, reply.status
                                )
                            else:
                                self.sent += len(reports)
                    except aiohttp.ClientError as error:
                        log.warning("%s: perception not delivered: %r", self.station_id, error)
                await self.clock.sleep(self.period_s)


def underbody_report(yard: Yard, vehicle: str, observed_at: str, report_id: str) -> dict[str, Any]:
    """The station's underbody scan of `vehicle`: casing damage and thermal state (truth)."""
    truth = yard.scenario.underbody.get(vehicle)
    return {
        "id": report_id,
        "vehicle": vehicle,
        "stage": "underbody",
        "observed_at": observed_at,
        "casing_damage": truth.casing_damage if truth else 0.02,
        "thermal_anomaly": bool(truth and truth.thermal_anomaly),
    }
