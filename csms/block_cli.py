"""CLI commands of the OCPP 2.0.1 blocks beyond the core, through the running server's REST
API: local lists (D), reservations (H), station-set charging limits (K), multi-part reports
(N, O). `stations set-status` and `stations set-password` live with the other station
commands (csms/operator_cli.py)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table

from csms.console import CliError, console
from csms.operator_cli import Commands, call_api, settings_from


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="API base URL (default from CSMS_API_HOST/PORT)")
    parser.add_argument("--config", help="TOML settings file ([csms] table)")


def register(commands: Commands) -> None:
    local = commands.add_parser("local-list", help="local authorization lists (SendLocalList)")
    local_commands = local.add_subparsers(dest="action", required=True)
    push = local_commands.add_parser(
        "push", help="push the list: Full (default) or Differential, split as the station needs"
    )
    push.add_argument("station")
    push.add_argument("--differential", action="store_true", help="send only changes")
    push.add_argument("--tokens", help="comma-separated tokens (Full: the list; else: added)")
    push.add_argument("--remove", help="comma-separated tokens to remove (Differential)")
    push.add_argument("--empty", action="store_true", help="a Full empty list (clears it)")
    _api_options(push)
    push.set_defaults(func=cmd_local_list_push)
    show = local_commands.add_parser("show", help="the list the station last accepted")
    show.add_argument("station")
    _api_options(show)
    show.set_defaults(func=cmd_local_list_show)

    reservations = commands.add_parser("reservations", help="reservations (ReserveNow)")
    reservation_commands = reservations.add_subparsers(dest="action", required=True)
    add = reservation_commands.add_parser("add", help="reserve an EVSE or a connector type")
    add.add_argument("station")
    add.add_argument("--token", required=True, help="the id token the EVSE is held for")
    add.add_argument("--type", default="ISO14443", help="id token type")
    add.add_argument("--minutes", type=float, default=30.0, help="how long it holds")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--evse", type=int, help="this EVSE")
    where.add_argument("--connector-type", help="any EVSE with this connector, e.g. cType2")
    add.add_argument("--group", help="group id token that may use it too")
    _api_options(add)
    add.set_defaults(func=cmd_reservations_add)
    listing = reservation_commands.add_parser("list", help="reservations, newest first")
    listing.add_argument("--station", help="only this station")
    _api_options(listing)
    listing.set_defaults(func=cmd_reservations_list)
    cancel = reservation_commands.add_parser("cancel", help="CancelReservation")
    cancel.add_argument("reservation", type=int)
    _api_options(cancel)
    cancel.set_defaults(func=cmd_reservations_cancel)

    tariffs = commands.add_parser("tariffs", help="tariffs: running and final transaction cost")
    tariff_commands = tariffs.add_subparsers(dest="action", required=True)
    tariff_add = tariff_commands.add_parser("add", help="add a tariff")
    tariff_add.add_argument("name")
    tariff_add.add_argument("--group", help="token group it applies to (default: everyone)")
    tariff_add.add_argument("--currency", default="EUR")
    tariff_add.add_argument("--energy", type=float, default=0.0, help="price per kWh")
    tariff_add.add_argument("--time", type=float, default=0.0, help="price per hour")
    tariff_add.add_argument("--fee", type=float, default=0.0, help="price per session")
    tariff_add.add_argument("--export", type=float, default=0.0, help="credit per kWh (V2G)")
    tariff_add.add_argument(
        "--window",
        action="append",
        default=[],
        help="HH:MM-HH:MM=PRICE: energy price by time of day (UTC), repeatable",
    )
    _api_options(tariff_add)
    tariff_add.set_defaults(func=cmd_tariffs_add)
    tariff_list = tariff_commands.add_parser("list", help="all tariffs")
    _api_options(tariff_list)
    tariff_list.set_defaults(func=cmd_tariffs_list)
    tariff_remove = tariff_commands.add_parser("remove", help="remove a tariff")
    tariff_remove.add_argument("name")
    _api_options(tariff_remove)
    tariff_remove.set_defaults(func=cmd_tariffs_remove)

    limits = commands.add_parser(
        "limits", help="charging limits set at a station by an EMS or the grid operator"
    )
    limits.add_argument("station")
    limits.add_argument("--all", action="store_true", help="cleared ones too")
    _api_options(limits)
    limits.set_defaults(func=cmd_limits)

    reports = commands.add_parser("reports", help="a station's multi-part report")
    reports.add_argument("station")
    reports.add_argument("kind", choices=("monitoring", "customer-information", "display-messages"))
    reports.add_argument("--request-id", type=int, help="default: the newest")
    _api_options(reports)
    reports.set_defaults(func=cmd_reports)


def _refs(text: str | None) -> list[dict[str, str]] | None:
    if text is None:
        return None
    return [{"id_token": token.strip()} for token in text.split(",") if token.strip()]


def _post(args: argparse.Namespace, path: str, payload: Any) -> Any:
    # The API waits up to call_timeout per CALL (a split list takes several).
    return call_api(args, "POST", path, payload, timeout=settings_from(args).call_timeout * 4 + 5)


def cmd_local_list_push(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"update_type": "Differential" if args.differential else "Full"}
    if args.empty:
        if args.differential or args.tokens:
            raise CliError("--empty sends a Full list with no tokens: give nothing else")
        payload["tokens"] = []
    elif args.tokens is not None:
        payload["tokens"] = _refs(args.tokens)
    if args.remove is not None:
        payload["remove"] = _refs(args.remove)
    answer = _post(args, f"/api/v1/stations/{args.station}/local-list", payload)
    colour = "green" if answer["status"] == "Accepted" else "red"
    console.print(
        f"[{colour}]{answer['status']}[/] version {answer['versionNumber']} "
        f"in {len(answer['parts'])} message(s)"
    )
    return 0 if answer["status"] == "Accepted" else 1


def cmd_local_list_show(args: argparse.Namespace) -> int:
    state = call_api(args, "GET", f"/api/v1/stations/{args.station}/local-list")
    table = Table("token", "type", "status", title=f"version {state['version']}")
    for entry in state["entries"]:
        table.add_row(
            entry["idToken"]["idToken"], entry["idToken"]["type"], entry["idTokenInfo"]["status"]
        )
    console.print(table)
    return 0


def cmd_reservations_add(args: argparse.Namespace) -> int:
    expires = datetime.now(UTC) + timedelta(minutes=args.minutes)
    payload: dict[str, Any] = {
        "id_token": args.token,
        "type": args.type,
        "expires_at": expires.isoformat(),
    }
    for key, value in (
        ("evse_id", args.evse),
        ("connector_type", args.connector_type),
        ("group_id_token", args.group),
    ):
        if value is not None:
            payload[key] = value
    made = _post(args, f"/api/v1/stations/{args.station}/reservations", payload)
    if made["status"] != "Accepted":
        raise CliError(f"reservation {made['id']} not made: the station answered {made['status']}")
    console.print(f"[green]reservation {made['id']} accepted[/] until {made['expires_at']}")
    return 0


def cmd_reservations_list(args: argparse.Namespace) -> int:
    query = f"?station={args.station}" if args.station else ""
    rows = call_api(args, "GET", f"/api/v1/reservations{query}")
    table = Table("id", "station", "evse", "connector", "token", "expires", "status")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["station_id"],
            str(row["evse_id"] or "-"),
            row["connector_type"] or "-",
            row["id_token"],
            row["expires_at"],
            row["status"],
        )
    console.print(table)
    return 0


def cmd_reservations_cancel(args: argparse.Namespace) -> int:
    answer = _post(args, f"/api/v1/reservations/{args.reservation}/cancel", {})
    if answer["status"] != "Cancelled":
        raise CliError(f"the station answered {answer['cancel_status']}")
    console.print(f"[yellow]reservation {args.reservation} cancelled[/]")
    return 0


def _window(text: str) -> dict[str, Any]:
    try:
        span, price = text.split("=")
        start, end = span.split("-")
        return {"from": start, "to": end, "energy_price": float(price)}
    except ValueError as error:
        raise CliError(f"--window {text!r}: expected HH:MM-HH:MM=PRICE") from error


def cmd_tariffs_add(args: argparse.Namespace) -> int:
    payload = {
        "name": args.name,
        "group_id": args.group,
        "currency": args.currency,
        "energy_price": args.energy,
        "time_price": args.time,
        "session_fee": args.fee,
        "export_credit": args.export,
        "windows": [_window(text) for text in args.window],
    }
    made = call_api(args, "POST", "/api/v1/tariffs", payload)
    console.print(f"[green]tariff {made['name']} added[/]")
    return 0


def cmd_tariffs_list(args: argparse.Namespace) -> int:
    table = Table("name", "group", "currency", "kWh", "hour", "session", "export kWh", "windows")
    for row in call_api(args, "GET", "/api/v1/tariffs"):
        table.add_row(
            row["name"],
            row["group_id"] or "(default)",
            row["currency"],
            f"{row['energy_price']:g}",
            f"{row['time_price']:g}",
            f"{row['session_fee']:g}",
            f"{row['export_credit']:g}",
            ", ".join(f"{w['from']}-{w['to']}={w['energy_price']:g}" for w in row["windows"]),
        )
    console.print(table)
    return 0


def cmd_tariffs_remove(args: argparse.Namespace) -> int:
    call_api(args, "DELETE", f"/api/v1/tariffs/{args.name}")
    console.print(f"[yellow]tariff {args.name} removed[/]")
    return 0


def cmd_limits(args: argparse.Namespace) -> int:
    query = "?all=true" if args.all else ""
    rows = call_api(args, "GET", f"/api/v1/stations/{args.station}/charging-limits{query}")
    table = Table("evse", "source", "grid critical", "schedule", "since", "cleared")
    for row in rows:
        periods = [
            f"{p['limit']:g} {s['chargingRateUnit']} from {p['startPeriod']} s"
            for s in row["charging_schedule"] or ()
            for p in s["chargingSchedulePeriod"]
        ]
        table.add_row(
            str(row["evse_id"] or "station"),
            row["source"],
            str(row["grid_critical"]),
            "; ".join(periods) or "-",
            row["received_at"],
            row["cleared_at"] or "-",
        )
    console.print(table)
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    query = f"?request_id={args.request_id}" if args.request_id is not None else ""
    report = call_api(args, "GET", f"/api/v1/stations/{args.station}/reports/{args.kind}{query}")
    state = "complete" if report["complete"] else "[yellow]incomplete[/]"
    console.print(f"request {report['request_id']}: {len(report['parts'])} part(s), {state}")
    console.print_json(data=report["parts"])
    return 0
