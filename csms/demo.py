"""`cli.py demo`: the CSMS on SQLite with an emulated fleet, shown live until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from rich.console import Console
from rich.panel import Panel
from rich.text import Text
from tortoise.functions import Sum

from charge_point_emulator.clock import SimClock
from charge_point_emulator.fleet import Fleet, FleetConfig
from charge_point_emulator.live_view import show
from charge_point_emulator.passwords import PasswordBook
from charge_point_emulator.scenario import Scenario, demo_scenario
from csms.app import Csms
from csms.blocks.authorization import TokenExists, add_token
from csms.blocks.stations import AlreadyExists, add_station
from csms.config import Settings
from csms.db.models import Transaction

#: One password for every demo station (demo only; real stations get their own).
DEMO_PASSWORD = "demo-station-password-0001"
DEMO_DB_URL = "sqlite://./csms-demo.db"


async def provision(scenario: Scenario) -> None:
    """Stations and the drivers' tokens of the scenario; existing ones are kept."""
    for spec in scenario.stations:
        with contextlib.suppress(AlreadyExists):
            await add_station(spec.id, DEMO_PASSWORD, node="demo-site")
    for token in sorted({arrival.id_token for arrival in scenario.arrivals}):
        with contextlib.suppress(TokenExists):
            await add_token(token)


async def stored_view() -> Panel:
    """What the CSMS stored, next to what the emulator did: they should agree."""
    active = await Transaction.filter(state="active").count()
    ended = await Transaction.filter(state="ended").count()
    (totals,) = (
        await Transaction.all()
        .annotate(charged=Sum("energy_wh"), fed=Sum("discharged_wh"))
        .values("charged", "fed")
    )
    energy_kwh = (totals["charged"] or 0.0) / 1000
    fed_kwh = (totals["fed"] or 0.0) / 1000
    summary = Text.assemble(
        (f"{active} active sessions   ", "bold cyan"),
        (f"{ended} ended   ", "bold"),
        (f"{energy_kwh:,.1f} kWh charged   ", "bold magenta"),
        (f"{fed_kwh:,.1f} kWh fed back", "bold magenta"),
    )
    return Panel(summary, title="what the CSMS stored (its database)")


def console_url(host: str, port: int) -> str:
    """Where the operator console answers (a wildcard bind is reached on loopback)."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


async def run_demo(settings: Settings, stations: int = 20, speed: float = 60.0) -> None:
    logging.basicConfig(level=logging.WARNING)
    # One simulated clock for the CSMS and the fleet: the CSMS judges station times against
    # its own, and readings from days ahead of it would be flagged as implausible.
    clock = SimClock(speed)
    csms = Csms(settings, clock=clock.now)
    await csms.start()
    fleet: Fleet | None = None
    try:
        scenario = demo_scenario(stations)
        await provision(scenario)
        fleet = Fleet(
            FleetConfig(
                csms_url=f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
                scenario=scenario,
                passwords=PasswordBook(default=DEMO_PASSWORD),
                speed=speed,
                tick_real_s=0.25,
            ),
            clock=clock,
        )
        await fleet.start()
        console = Console()
        sign_in = " (sign in with CSMS_API_TOKEN)" if settings.api_token else ""
        console.print(f"Operator console: {console_url(settings.api_host, csms.api_port)}{sign_in}")
        await show(fleet, console, header=stored_view)
    except asyncio.CancelledError:
        pass
    finally:
        if fleet is not None:
            await fleet.stop()
        await csms.stop()
