"""A rich live view of a running fleet: stations, sessions, state of charge and power."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from charge_point_emulator.fleet import Fleet, FleetSnapshot
from charge_point_emulator.station import ConnectionState

STATE_STYLE = {
    ConnectionState.ONLINE: "green",
    ConnectionState.PENDING: "yellow",
    ConnectionState.CONNECTING: "yellow",
    ConnectionState.OFFLINE: "red",
}


def render(snapshot: FleetSnapshot, max_rows: int = 40) -> Group:
    """The view of one snapshot: a summary line and one row per EVSE (first `max_rows`)."""
    elapsed = timedelta(seconds=int(snapshot.elapsed_s))
    summary = Text.assemble(
        ("simulated ", "dim"),
        (str(elapsed), "bold"),
        (f" (x{snapshot.speed:g})   ", "dim"),
        (f"{snapshot.online}/{len(snapshot.stations)} online   ", "bold green"),
        (f"{snapshot.sessions} sessions   ", "bold cyan"),
        (f"{snapshot.power_w / 1000:,.1f} kW", "bold magenta"),
    )
    table = Table(expand=True, header_style="bold")
    for column in ("station", "link", "EVSE", "status", "session", "SoC", "kW", "limit kW", "kWh"):
        table.add_column(
            column, justify="right" if column in ("SoC", "kW", "limit kW", "kWh") else "left"
        )
    rows = 0
    for station in snapshot.stations:
        for evse in station.evses:
            if rows >= max_rows:
                break
            rows += 1
            link = Text(station.state.value, style=STATE_STYLE[station.state])
            if station.queued:
                link.append(f" +{station.queued}q", style="yellow")
            power_style = "magenta" if evse.power_w < 0 else "white"
            table.add_row(
                station.station_id if evse.evse_id == 1 else "",
                link if evse.evse_id == 1 else "",
                str(evse.evse_id),
                evse.status,
                (evse.charging_state or "") if evse.transaction_id else "-",
                f"{evse.soc * 100:.0f}%" if evse.soc is not None else "",
                Text(f"{evse.power_w / 1000:.1f}", style=power_style),
                f"{evse.limit_w / 1000:.1f}",
                f"{(evse.import_wh - evse.export_wh) / 1000:.1f}",
            )
    hidden = sum(len(s.evses) for s in snapshot.stations) - rows
    footer = Text(f"... {hidden} more EVSEs", style="dim") if hidden > 0 else Text("")
    title = "what the emulated stations see (emulator ground truth)"
    return Group(Panel(summary, title=title), table, footer)


#: Something else to show above the fleet, e.g. what a CSMS stored (read each refresh).
Header = Callable[[], Awaitable[RenderableType]]


async def show(
    fleet: Fleet,
    console: Console | None = None,
    refresh_s: float = 0.5,
    header: Header | None = None,
) -> None:
    """Redraw the view every `refresh_s` real seconds until cancelled."""

    async def view() -> RenderableType:
        fleet_view = render(fleet.snapshot())
        return fleet_view if header is None else Group(await header(), fleet_view)

    with Live(await view(), console=console, refresh_per_second=4) as live:
        while True:
            await asyncio.sleep(refresh_s)
            live.update(await view())


async def run_live(fleet: Fleet, console: Console | None = None) -> None:
    """Start the fleet, show it until cancelled (Ctrl-C in `make demo`), then stop it."""
    try:  # a cancel while stations are still starting must stop them too
        await fleet.start()
        await show(fleet, console)
    finally:
        await fleet.stop()
