"""CLI of the live grid: `grid load|show|event|report` and `plan --live`.

Topology, reports and the plan are read from the database; grid events go through the
running CSMS's REST API, so that it replans at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.tree import Tree

from csms.blocks.base import utc_now
from csms.console import CliError, console
from csms.db.models import GridPlan
from csms.grid import events
from csms.grid.live_state import load_topology, save_topology
from csms.grid.topology import Topology, TopologyError, loads_topology, node_loads
from csms.operator_cli import _add_common, call_api, with_database


def register_grid(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grid = commands.add_parser("grid", help="grid topology, grid events and their delivery")
    sub = grid.add_subparsers(dest="action", required=True)
    load = sub.add_parser("load", help="validate and load a grid topology TOML file")
    load.add_argument("file", type=Path)
    _add_common(load)
    load.set_defaults(func=cmd_load)
    show = sub.add_parser("show", help="the grid tree with live load vs limit per node")
    _add_common(show)
    show.set_defaults(func=cmd_show)
    event = sub.add_parser("event", help="post, list or delete grid events (running CSMS)")
    event_sub = event.add_subparsers(dest="event_action", required=True)
    add = event_sub.add_parser("add", help="post a limit or target; the CSMS replans at once")
    add.add_argument("--node", required=True)
    add.add_argument("--start", required=True, help="ISO 8601 with offset")
    add.add_argument("--end", required=True, help="ISO 8601 with offset")
    add.add_argument("--kind", choices=("limit", "target"), required=True)
    add.add_argument("--max-net-w", type=float, required=True, help="W; negative = export")
    listing = event_sub.add_parser("list", help="all grid events")
    delete = event_sub.add_parser("delete", help="withdraw a grid event")
    delete.add_argument("id", type=int)
    for parser in (add, listing, delete):
        parser.add_argument("--api", help="API base URL (default from CSMS_API_HOST/PORT)")
        parser.add_argument("--config", help="TOML settings file ([csms] table)")
        parser.set_defaults(func=cmd_event)
    report = sub.add_parser("report", help="requested vs delivered power of a grid event")
    report.add_argument("id", type=int)
    _add_common(report)
    report.set_defaults(func=cmd_report)


def cmd_load(args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text()
    except OSError as error:
        raise CliError(f"{args.file}: {error.strerror}") from error
    try:
        topology, document = loads_topology(text)
    except TopologyError as error:
        raise CliError(f"{args.file}: {error}") from error
    with_database(args, lambda: save_topology(document, utc_now()))
    console.print(
        f"grid topology loaded: {len(topology.nodes)} nodes, {len(topology.stations)} stations, "
        f"{sum(len(s.evses) for s in topology.stations)} EVSEs"
    )
    return 0


async def _topology() -> Topology:
    loaded = await load_topology()
    if loaded is None:
        raise CliError("no grid topology loaded (cli.py grid load FILE)")
    return loaded[1]


def _kw(watts: float) -> str:
    return f"{watts / 1000:,.1f} kW"


def render_tree(topology: Topology, loads: dict[str, float]) -> Tree:
    """The grid as a rich tree: each node's live load against its import limit."""

    def label(node_id: str) -> str:
        node = topology.node(node_id)
        assert node is not None
        load = loads.get(node_id, 0.0)
        colour = "red" if load > node.import_limit_w else "green"
        kind = f" ({node.kind})" if node.kind else ""
        return f"[bold]{node_id}[/]{kind} [{colour}]{_kw(load)}[/] / {_kw(node.import_limit_w)}"

    def grow(branch: Tree, node_id: str) -> None:
        for child in topology.children(node_id):
            grow(branch.add(label(child.id)), child.id)
        for station in topology.stations:
            if station.node == node_id:
                load = loads.get(f"station:{station.id}", 0.0)
                branch.add(f"{station.id} [dim]{len(station.evses)} EVSE[/] {_kw(load)}")

    tree = Tree("grid")
    for root in topology.children(None):
        grow(tree.add(label(root.id)), root.id)
    return tree


def cmd_show(args: argparse.Namespace) -> int:
    async def work() -> tuple[Topology, dict[str, float]]:
        topology = await _topology()
        return topology, node_loads(topology, await events.live_evse_power(utc_now()))

    topology, loads = with_database(args, work)
    console.print(render_tree(topology, loads))
    return 0


def cmd_event(args: argparse.Namespace) -> int:
    if args.event_action == "add":
        payload = {
            "node": args.node,
            "start": args.start,
            "end": args.end,
            "kind": args.kind,
            "max_net_w": args.max_net_w,
        }
        event = call_api(args, "POST", "/api/v1/grid/events", payload)
        console.print(f"grid event [bold]{event['id']}[/] stored; the CSMS is replanning")
    elif args.event_action == "delete":
        call_api(args, "DELETE", f"/api/v1/grid/events/{args.id}")
        console.print(f"grid event {args.id} withdrawn")
    else:
        table = Table(title="grid events")
        for column in ("id", "node", "kind", "start", "end", "max net W"):
            table.add_column(column)
        for e in call_api(args, "GET", "/api/v1/grid/events"):
            table.add_row(
                str(e["id"]), e["node"], e["kind"], e["start"], e["end"], f"{e['max_net_w']:,.0f}"
            )
        console.print(table)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    async def work() -> dict[str, Any]:
        topology = await _topology()
        try:
            event = await events.get_event(args.id)
        except events.EventNotFound as error:
            raise CliError(str(error)) from error
        return await events.delivery_report(event, topology)

    report = with_database(args, work)
    table = Table(
        title=f"grid event {report['id']}: {report['kind']} at {report['node']}, "
        f"{100 * report['met_share']:.0f}% of slots met"
    )
    for column in ("slot start", "requested", "delivered", "met"):
        table.add_column(column, justify="right")
    for slot in report["slots"]:
        met = "[green]yes[/]" if slot["met"] else "[red]no[/]"
        table.add_row(slot["start"], _kw(slot["requested_w"]), _kw(slot["delivered_w"]), met)
    console.print(table)
    return 0


def show_live_plan(args: argparse.Namespace) -> int:
    async def work() -> dict[str, Any] | None:
        row = await GridPlan.filter(id=1).first()
        return None if row is None else dict(row.document)

    plan = with_database(args, work)
    if plan is None:
        raise CliError("no live plan yet (is the CSMS running with a grid topology loaded?)")
    profiles = plan.get("profiles", {})
    console.print(
        f"plan of {plan['created_at']} ({plan['reason']}): {len(plan['sessions'])} sessions, "
        f"{plan['slots']} slots of {plan['slot_seconds']} s from {plan['start']}, "
        f"objective {plan['objective']:,.2f}, violations {plan['violations']}; profiles "
        f"sent {profiles.get('sent', 0)}, accepted {profiles.get('accepted', 0)}, "
        f"failed {len(profiles.get('failed', []))}",
        highlight=False,
    )
    table = Table(title="planned load per node")
    for column in ("node", "peak", "import limit", "energy", "valley share"):
        table.add_column(column, justify="right")
    for node in plan["nodes"]:
        share = node["valley_share"]
        table.add_row(
            node["id"],
            _kw(node["peak_w"]),
            _kw(node["import_limit_w"]),
            f"{node['energy_kwh']:,.1f} kWh",
            "-" if share is None else f"{100 * share:.0f}%",
        )
    console.print(table)
    sessions = Table(title="sessions")
    for column in ("station", "EVSE", "transaction", "now", "target", "planned"):
        sessions.add_column(column, justify="right")
    for s in plan["sessions"]:
        sessions.add_row(
            s["station_id"],
            str(s["evse_id"]),
            s["transaction_id"][:12],
            _kw(s["power_w"][0]) if s["power_w"] else "-",
            f"{s['target_wh'] / 1000:,.1f} kWh",
            f"{s['planned_final_wh'] / 1000:,.1f} kWh",
        )
    console.print(sessions)
    return 0
