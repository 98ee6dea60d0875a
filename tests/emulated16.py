"""Emulated OCPP 1.6 stations connected to a running CSMS over real websockets, their
clock 600x real time; stopped when the block ends (a test module's fixture wraps it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from charge_point_emulator.clock import SimClock
from charge_point_emulator.station16 import EmulatedStation16
from csms.app import Csms
from csms.blocks.stations import add_station

PASSWORD = "emulated-station-password"
SPEED = 600.0


Factory = Callable[..., Awaitable[EmulatedStation16]]


@contextlib.asynccontextmanager
async def stations16(csms: Csms) -> AsyncIterator[Factory]:
    started: list[EmulatedStation16] = []

    async def factory(station_id: str = "EMU16-1", **options: Any) -> EmulatedStation16:
        await add_station(station_id, PASSWORD)
        settings: dict[str, Any] = {
            "clock": SimClock(SPEED),
            "sample_interval_s": 60,
            "tick_real_s": 0.02,
            "response_timeout_s": 3.0,
        }
        settings.update(options)
        station = EmulatedStation16(
            station_id, PASSWORD, f"ws://127.0.0.1:{csms.ocpp_port}/ocpp", **settings
        )
        started.append(station)
        await station.start()
        await station.wait_until(lambda: station.online)
        return station

    try:
        yield factory
    finally:
        for station in started:
            await station.stop()
