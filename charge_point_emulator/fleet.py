"""Fleet runner: many emulated stations on one simulated clock, EVs arriving on schedule.

`Fleet(config)`, `await fleet.start()`, `await fleet.stop()`; `fleet.snapshot()` gives the
live state, `fleet.truth()` the ground truth. `await fleet.run()` does all three for
`duration_s` and writes the truth file.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from charge_point_emulator.clock import SimClock
from charge_point_emulator.faults import SAFETY_FAULTS
from charge_point_emulator.passwords import PasswordBook
from charge_point_emulator.scenario import Arrival, Scenario
from charge_point_emulator.station import ConnectionState, EmulatedStation
from charge_point_emulator.station16 import EmulatedStation16
from charge_point_emulator.truth import StationTruth, write_truth

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Everything a fleet run needs. `connect_rate` bounds new connections per real second
    so a thousand stations do not open their sockets in the same millisecond."""

    csms_url: str
    scenario: Scenario
    passwords: PasswordBook = field(default_factory=PasswordBook)
    speed: float = 1.0
    duration_s: float | None = None
    truth_path: Path | None = None
    tick_real_s: float = 0.5
    connect_rate: float = 200.0
    validate_schemas: bool = True
    response_timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class EvseView:
    station_id: str
    evse_id: int
    status: str
    transaction_id: str | None
    charging_state: str | None
    soc: float | None
    power_w: float
    import_wh: float
    export_wh: float
    limit_w: float


@dataclass(frozen=True, slots=True)
class StationView:
    station_id: str
    state: ConnectionState
    queued: int
    evses: tuple[EvseView, ...]


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    elapsed_s: float
    speed: float
    stations: tuple[StationView, ...]

    @property
    def online(self) -> int:
        return sum(s.state is ConnectionState.ONLINE for s in self.stations)

    @property
    def sessions(self) -> int:
        return sum(e.transaction_id is not None for s in self.stations for e in s.evses)

    @property
    def power_w(self) -> float:
        return sum(e.power_w for s in self.stations for e in s.evses)


class Fleet:
    def __init__(self, config: FleetConfig, clock: SimClock | None = None) -> None:
        self.config = config
        self.clock = clock or SimClock(config.speed)
        scenario = config.scenario
        self.stations: dict[str, EmulatedStation] = {
            spec.id: (EmulatedStation16 if spec.ocpp == "1.6" else EmulatedStation)(
                spec.id,
                config.passwords.for_station(spec.id),
                config.csms_url,
                evses=spec.evses,
                clock=self.clock,
                heartbeat_interval_s=scenario.heartbeat_interval_s,
                sample_interval_s=scenario.sample_interval_s,
                faults=spec.faults,
                truth=StationTruth(spec.id),
                vendor=scenario.vendor,
                model=scenario.model,
                tick_real_s=config.tick_real_s,
                response_timeout_s=config.response_timeout_s,
                validate_schemas=config.validate_schemas,
                safety_telemetry=scenario.safety_telemetry
                or any(f.kind in SAFETY_FAULTS for f in spec.faults),
            )
            for spec in scenario.stations
        }
        self._arrivals: asyncio.Task[None] | None = None
        self.skipped_arrivals = 0

    async def start(self) -> None:
        """Start every station (paced by `connect_rate`) and the arrival schedule."""
        self._arrivals = asyncio.create_task(self._arrive(), name="fleet-arrivals")
        gap = 1.0 / self.config.connect_rate if self.config.connect_rate > 0 else 0.0
        for station in self.stations.values():
            await station.start()
            if gap:
                await asyncio.sleep(gap)

    async def stop(self) -> None:
        """Stop arrivals and stations, then write the truth file if one was asked for."""
        if self._arrivals is not None:
            self._arrivals.cancel()
            await asyncio.gather(self._arrivals, return_exceptions=True)
        await asyncio.gather(*(s.stop() for s in self.stations.values()))
        if self.config.truth_path is not None:
            write_truth(self.config.truth_path, self.truth(), self.clock.now())

    async def run(self) -> None:
        """Start, run for `duration_s` simulated seconds (forever if None), stop."""
        try:  # a cancel while stations are still starting must stop them too
            await self.start()
            if self.config.duration_s is None:
                await asyncio.Event().wait()
            else:
                await self.clock.sleep(self.config.duration_s - self.clock.elapsed())
        finally:
            await self.stop()

    async def _arrive(self) -> None:
        for arrival in self.config.scenario.arrivals:
            await self.clock.sleep(arrival.at_s - self.clock.elapsed())
            self._plug(arrival)

    def _plug(self, arrival: Arrival) -> None:
        station = self.stations[arrival.station_id]
        if station.evses[arrival.evse].ev is not None:
            # The previous car overstayed; this driver goes elsewhere.
            self.skipped_arrivals += 1
            return
        station.arrive(
            arrival.evse,
            arrival.ev,
            arrival.soc,
            arrival.target_soc,
            arrival.stay_s,
            arrival.id_token,
        )

    def idle(self) -> bool:
        """Every station idle (see `EmulatedStation.idle`)."""
        return all(station.idle for station in self.stations.values())

    def tick(self) -> None:
        """Bring every station's physics up to the clock's now."""
        for station in self.stations.values():
            station.tick()

    def truth(self) -> list[StationTruth]:
        return [s.truth for s in self.stations.values()]

    def snapshot(self) -> FleetSnapshot:
        now = self.clock.now()
        views = []
        for station in self.stations.values():
            evses = tuple(
                EvseView(
                    station_id=station.station_id,
                    evse_id=e.evse_id,
                    status=e.status.value,
                    transaction_id=e.tx.transaction_id if e.tx else None,
                    charging_state=e.tx.charging_state.value if e.tx else None,
                    soc=e.ev.soc if e.ev else None,
                    power_w=e.power_w,
                    import_wh=e.import_wh,
                    export_wh=e.export_wh,
                    limit_w=station.evse_limit_w(e, now),
                )
                for e in station.evses.values()
            )
            views.append(StationView(station.station_id, station.state, len(station.queue), evses))
        return FleetSnapshot(self.clock.elapsed(), self.clock.speed, tuple(views))
