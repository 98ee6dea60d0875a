"""Drive a `SteppedClock`: advance a step, let the CSMS and the stations settle, repeat.

A test judged on simulated time then holds however busy the machine is: a slow machine
makes the run take longer in real time, never makes a profile late in simulated time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from charge_point_emulator.clock import SteppedClock
from charge_point_emulator.fleet import Fleet
from csms.app import Csms


class Stepper:
    """:param settled: True when nothing is in flight (no CALL unanswered, no queued
        message, no replan running) anywhere the test cares about.
    :param on_step: called right after each advance (e.g. the stations' physics tick).
    :param step_s: longest simulated step; the clock also stops at every sleeper's wake.
    :param settle_timeout_s: real seconds a step may take to settle before the test fails
        (a hang, not slowness: generous on purpose).
    """

    def __init__(
        self,
        clock: SteppedClock,
        busy: Callable[[], list[str]],
        on_step: Callable[[], None] = lambda: None,
        *,
        step_s: float = 60.0,
        settle_timeout_s: float = 120.0,
    ) -> None:
        self.clock = clock
        self.busy = busy
        self.on_step = on_step
        self.step_s = step_s
        self.settle_timeout_s = settle_timeout_s
        self.steps = 0

    async def settle(self) -> None:
        """Return once `busy()` was empty on three polls in a row (work resumed by a woken
        task shows up within one of them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_timeout_s
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0.002)
            quiet = 0 if self.busy() else quiet + 1
            if loop.time() > deadline:
                raise AssertionError(
                    f"not settled {self.settle_timeout_s:g} s (real) after simulated "
                    f"second {self.clock.elapsed():.0f}: {self.busy()[:10]}"
                )

    async def run_until(self, elapsed_s: float) -> None:
        """Step simulated time up to `elapsed_s` seconds since the clock's start."""
        await self.settle()
        while self.clock.elapsed() < elapsed_s:
            target = min(elapsed_s, self.clock.elapsed() + self.step_s)
            wake = self.clock.next_wake()
            if wake is not None:
                target = min(target, max(wake, self.clock.elapsed()))
            self.clock.advance_to(target)
            self.on_step()
            self.steps += 1
            await self.settle()


def in_flight(csms: Csms, fleet: Fleet) -> list[str]:
    """What is still in flight between a CSMS and an emulated fleet (empty when settled)."""
    stations = fleet.stations.values()
    busy = [f"station {s.station_id}: {s.activity()}" for s in stations if not s.idle]
    if not csms.planner.idle:
        busy.append("planner")
    if not csms.registry.idle():
        busy.append("a command to a station")
    return busy


async def all_online(fleet: Fleet, stepper: Stepper, within_s: float = 600) -> None:
    """Stations connect and boot; one whose handshake timed out on a busy machine backs off
    in simulated time, so time moves on in 5 s steps until every station is online (at most
    `within_s` simulated seconds; a car arriving meanwhile plugs in as it would anyway)."""
    async with asyncio.timeout(300):
        while fleet.snapshot().online < len(fleet.stations):
            assert stepper.clock.elapsed() < within_s, "stations still offline"
            await stepper.run_until(stepper.clock.elapsed() + 5)
