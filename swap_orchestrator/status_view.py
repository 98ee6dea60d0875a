"""Rich rendering of a swap station's live view (`GET /api/v1/swap/stations/{id}`)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

BAY_STYLE = {
    "idle": "dim",
    "reserved": "yellow",
    "approaching": "cyan",
    "checking": "magenta",
    "swapping": "bold green",
    "releasing": "green",
    "fault": "bold red",
}


def render(view: dict[str, Any], max_rows: int = 20) -> Group:
    """Summary, bays, vehicles past the queue, queue head and rack of one station."""
    summary = Text.assemble(
        (f"{view['id']}  ", "bold"),
        (f"t={view['t']:.0f} s  ", "dim"),
        (f"{view['swaps']} swaps  ", "bold green"),
        (f"{len(view['queue'])} queued  ", "bold cyan"),
        (f"{view['grid_w'] / 1000:,.1f} kW", "bold magenta"),
    )
    bays = Table(title="bays", header_style="bold")
    for column in ("bay", "state", "vehicle", "phase", "held"):
        bays.add_column(column)
    phases = {v["vehicle"]: v for v in view["visits"]}
    for bay in view["bays"]:
        visit = phases.get(bay["vehicle"] or "", {})
        style = BAY_STYLE.get(bay["state"], "")
        bays.add_row(
            str(bay["number"]),
            f"[{style}]{bay['state']}[/]",
            bay["vehicle"] or "-",
            visit.get("phase", "-"),
            visit.get("held") or "",
        )
    queue = Table(title=f"queue (first {max_rows})", header_style="bold")
    for column in ("#", "vehicle", "class", "battery", "waiting s"):
        queue.add_column(column, justify="right" if column in ("#", "waiting s") else "left")
    for n, entry in enumerate(view["queue"][:max_rows], start=1):
        queue.add_row(
            str(n),
            entry["vehicle"],
            entry["priority"],
            entry["battery_type"],
            f"{entry['waiting_s']:.0f}",
        )
    rack = Table(title="rack", header_style="bold")
    for column in ("battery", "type", "SoC", "SoH", "kW", "reserved for"):
        rack.add_column(column, justify="right" if column in ("SoC", "SoH", "kW") else "left")
    for battery in view["rack"]:
        rack.add_row(
            battery["serial"],
            battery["type"],
            f"{battery['soc']:.1%}",
            f"{battery['soh']:.0%}",
            f"{battery['power_w'] / 1000:.1f}",
            battery["reserved_for"] or "",
        )
    return Group(summary, bays, queue, rack)
