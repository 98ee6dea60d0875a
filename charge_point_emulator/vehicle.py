"""Emulated driverless vehicle: asks the orchestrator for a swap over the REST API, then does
what it is told (prepare, drive into the bay, hold, realign, leave) and reports where it is."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp

from charge_point_emulator.clock import SimClock
from charge_point_emulator.swap_world import Vehicle
from charge_point_emulator.swap_yard import Place, Yard

log = logging.getLogger(__name__)

_FINAL = ("done", "refused")


@dataclass(frozen=True, slots=True)
class VehicleTiming:
    """Simulated seconds a vehicle takes (the same defaults as the swap simulator)."""

    ready_s: float = 0.5  # a driverless car answers a call
    manual_ready_s: float = 60.0  # a driver walks back to a car that does not drive itself
    realign_s: float = 8.0
    release_s: float = 20.0
    settle_s: float = 0.5  # stopped in the bay until it reports so
    poll_s: float = 5.0  # real seconds one long poll may wait


class EmulatedVehicle:
    """One vehicle of the scenario at its station; `run()` returns when it is done."""

    def __init__(
        self,
        spec: Vehicle,
        approach_s: float,
        yard: Yard,
        clock: SimClock,
        http: aiohttp.ClientSession,
        timing: VehicleTiming | None = None,
    ) -> None:
        self.spec = spec
        self.approach_s = approach_s
        self.yard = yard
        self.clock = clock
        self.http = http
        self.timing = timing or VehicleTiming()
        self.truth = yard.truth(spec.id)
        self.outcome: str | None = None

    async def run(self) -> None:
        spec = self.spec
        await self.clock.sleep_until(self.clock.start + timedelta(seconds=spec.arrive_s))
        battery = spec.battery
        told = await self._json(
            "POST",
            f"/api/v1/swap/stations/{spec.station}/vehicles",
            {
                "vehicle": spec.id,
                "priority": spec.priority.label,
                "autonomous": spec.autonomous,
                "battery": {
                    "serial": battery.serial,
                    "type": battery.type,
                    "capacity_wh": battery.capacity_wh,
                    "soc": battery.soc,
                    "soh": battery.soh,
                },
            },
        )
        while told["action"] not in _FINAL or (told["action"] == "refused" and told["bay"]):
            told = await self._obey(told)
        self.outcome = told["reason"] or told["action"]
        self.truth.place = Place.GONE

    async def _obey(self, told: dict[str, Any]) -> dict[str, Any]:
        """Do what `told` says; return the next (newer) instruction."""
        action, timing, truth = told["action"], self.timing, self.truth
        if action == "prepare" and not self.spec.no_show and truth.place is Place.LANE:
            await self.clock.sleep(
                timing.ready_s if self.spec.autonomous else timing.manual_ready_s
            )
            await self._position("ready")
            # It stands at the entrance from now on: the roadside unit watches its path.
            truth.place, truth.bay = Place.ENTRANCE, told["bay"]
            if truth.ready_at is None:
                truth.ready_at = self.clock.elapsed()
        elif action == "drive_to_bay":
            truth.place = Place.APPROACHING
            await self.clock.sleep(self.approach_s)
            current = await self._poll(told["seq"] - 1)
            if current["seq"] != told["seq"]:
                return current  # told to hold on the way
            truth.place = Place.IN_BAY
            await self.clock.sleep(timing.settle_s)
            await self._position("in_bay")
        elif action == "realign":
            await self.clock.sleep(timing.realign_s)
            truth.realigns += 1
            await self._position("realigned")
        elif action == "leave":
            truth.place = Place.LEAVING
            await self.clock.sleep(timing.release_s)
            truth.place = Place.GONE
            await self._position("left")
        elif action == "hold" and truth.place in (Place.ENTRANCE, Place.APPROACHING):
            truth.place = Place.LANE  # sent back to the queue lane (its bay failed)
        return await self._poll(told["seq"])

    async def _poll(self, after: int) -> dict[str, Any]:
        return await self._json(
            "GET",
            f"/api/v1/swap/vehicles/{self.spec.id}?after={after}&wait={self.timing.poll_s}",
        )

    async def _position(self, where: str) -> dict[str, Any]:
        return await self._json(
            "POST", f"/api/v1/swap/vehicles/{self.spec.id}/position", {"position": where}
        )

    async def _json(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        async with self.http.request(method, path, json=body) as reply:
            data: dict[str, Any] = await reply.json()
            if reply.status >= 400:
                raise RuntimeError(f"{self.spec.id}: {method} {path}: {data}")
            return data
