"""`cli.py alerts list|ack`: the safety alerts in the database."""

from __future__ import annotations

import argparse

from rich.table import Table

from csms.analytics import alerts
from csms.analytics.findings import AlertKind, Severity
from csms.blocks.base import utc_now
from csms.console import CliError, console
from csms.db.models import Alert
from csms.operator_cli import Commands, _add_common, with_database


def register(commands: Commands) -> None:
    parser = commands.add_parser("alerts", help="safety alerts")
    sub = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="alerts, newest first")
    _add_common(listing)
    listing.add_argument("--station", help="only this station")
    listing.add_argument("--kind", choices=[k.value for k in AlertKind])
    listing.add_argument("--severity", choices=[s.value for s in Severity])
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--open", action="store_true", help="only open or acknowledged ones")
    state.add_argument("--closed", action="store_true", help="only closed ones")
    listing.set_defaults(func=cmd_list)
    ack = sub.add_parser("ack", help="acknowledge an alert")
    _add_common(ack)
    ack.add_argument("id", type=int)
    ack.set_defaults(func=cmd_ack)


def cmd_list(args: argparse.Namespace) -> int:
    where = alerts.AlertFilter(
        args.station,
        AlertKind(args.kind) if args.kind else None,
        Severity(args.severity) if args.severity else None,
        True if args.open else False if args.closed else None,
    )

    async def work() -> list[Alert]:
        return await alerts.list_alerts(where)

    table = Table("id", "raised", "station", "evse", "kind", "severity", "action", "status", "why")
    for row in with_database(args, work):
        table.add_row(
            str(row.id),
            row.raised_at.isoformat(timespec="seconds"),
            row.station_id,
            str(row.evse_id),
            row.kind,
            row.severity,
            row.action + (f" {row.derate_w / 1000:.1f} kW" if row.derate_w is not None else ""),
            row.status,
            row.reason,
        )
    console.print(table)
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    async def work() -> Alert:
        try:
            return await alerts.acknowledge(args.id, utc_now())
        except (alerts.AlertNotFound, alerts.AlertClosed) as error:
            raise CliError(str(error)) from error

    row = with_database(args, work)
    console.print(f"[green]alert {row.id} acknowledged[/] ({row.kind} on {row.station_id})")
    return 0
