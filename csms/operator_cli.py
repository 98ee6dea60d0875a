"""CLI commands that operate the CSMS: serve, stations, tokens, transactions, command."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from rich.table import Table

from csms.blocks import authorization, stations
from csms.blocks.device_model import list_variables
from csms.blocks.transactions import list_transactions, transaction_json
from csms.config import ConfigError, Settings, load_settings
from csms.console import CliError, console
from csms.db.database import close_database, open_database
from csms.grid.live_state import control_statuses

T = TypeVar("T")
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: `serve` flags: (flag, settings field, type, help).
_SERVE_FLAGS: list[tuple[str, str, type, str]] = [
    ("--db-url", "db_url", str, "database URL (CSMS_DB_URL), default sqlite://./csms.db"),
    ("--ocpp-host", "ocpp_host", str, "OCPP websocket bind address (CSMS_OCPP_HOST), 0.0.0.0"),
    ("--ocpp-port", "ocpp_port", int, "OCPP websocket port (CSMS_OCPP_PORT), default 9000"),
    ("--api-host", "api_host", str, "REST API bind address (CSMS_API_HOST), 127.0.0.1"),
    ("--api-port", "api_port", int, "REST API port (CSMS_API_PORT), default 8080"),
    ("--api-token", "api_token", str, "bearer token for the API (CSMS_API_TOKEN)"),
    ("--heartbeat-interval", "heartbeat_interval", int, "seconds (CSMS_HEARTBEAT_INTERVAL)"),
    ("--tls-cert", "tls_cert", str, "PEM certificate(s), comma separated: wss (CSMS_TLS_CERT)"),
    ("--tls-key", "tls_key", str, "PEM private key(s), same order (CSMS_TLS_KEY)"),
    ("--tls-client-ca", "tls_client_ca", str, "CA of station certificates (CSMS_TLS_CLIENT_CA)"),
    ("--ocpp-plain-port", "ocpp_plain_port", int, "ws port beside wss (CSMS_OCPP_PLAIN_PORT)"),
    ("--ca-dir", "ca_dir", str, "the CA signing CSRs (CSMS_CA_DIR), default ./csms-ca"),
    ("--max-frame-bytes", "max_frame_bytes", int, "largest OCPP frame (CSMS_MAX_FRAME_BYTES)"),
    ("--call-timeout", "call_timeout", float, "seconds a command waits (CSMS_CALL_TIMEOUT)"),
    ("--plan-interval", "plan_interval", int, "replan period, s (CSMS_PLAN_INTERVAL)"),
    ("--log-level", "log_level", str, "DEBUG, INFO, WARNING (CSMS_LOG_LEVEL)"),
    ("--redis-url", "redis_url", str, "cluster mode: redis://host:6379/0 (CSMS_REDIS_URL)"),
    ("--node-id", "node_id", str, "this process in the cluster (CSMS_NODE_ID), hostname-pid"),
]


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {field: getattr(args, field, None) for _, field, _, _ in _SERVE_FLAGS}
    try:
        return load_settings(getattr(args, "config", None), overrides=overrides)
    except ConfigError as error:
        raise CliError(str(error)) from error


def with_database(args: argparse.Namespace, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` against the configured database (CSMS_DB_URL / --db-url)."""
    settings = settings_from(args)

    async def run() -> T:
        try:
            await open_database(settings.db_url)
        except Exception as error:
            raise CliError(f"cannot open database {settings.db_url}: {error}") from error
        try:
            return await work()
        finally:
            await close_database()

    return asyncio.run(run())


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML settings file ([csms] table)")
    parser.add_argument("--db-url", dest="db_url", help="database URL (CSMS_DB_URL)")


def _add_api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="API base URL (default from CSMS_API_HOST/PORT)")
    parser.add_argument("--config", help="TOML settings file ([csms] table)")


def register(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="run the CSMS (OCPP gateway + REST API)")
    serve.add_argument("--config", help="TOML settings file ([csms] table)")
    for flag, field, kind, text in _SERVE_FLAGS:
        serve.add_argument(flag, dest=field, type=kind, help=text)
    serve.set_defaults(func=cmd_serve)

    station = commands.add_parser("stations", help="provision and inspect stations")
    station_commands = station.add_subparsers(dest="action", required=True)
    add = station_commands.add_parser("add", help="provision a station and its password")
    add.add_argument("id")
    secret = add.add_mutually_exclusive_group()
    secret.add_argument("--password", help="basic-auth password, 16-40 chars, hard to guess")
    secret.add_argument(
        "--generate-password", action="store_true", help="make a random one and print it once"
    )
    add.add_argument("--node", help="grid node the station hangs under")
    add.add_argument("--status", default="Accepted", choices=stations.REGISTRATION_STATUSES)
    add.add_argument(
        "--profile",
        type=int,
        default=1,
        choices=stations.SECURITY_PROFILES,
        help="OCPP security profile: 1 basic auth, 2 basic auth over TLS, 3 client certificate",
    )
    _add_common(add)
    add.set_defaults(func=cmd_stations_add)
    rotate = station_commands.add_parser(
        "rotate-password",
        help="send a connected station a new random password (A01), via the running server",
    )
    rotate.add_argument("id")
    _add_api(rotate)
    rotate.set_defaults(func=cmd_stations_rotate)
    upgrade = station_commands.add_parser(
        "raise-profile",
        help="move a connected station to a higher security profile (A05), via the server",
    )
    upgrade.add_argument("id")
    upgrade.add_argument("profile", type=int, choices=(2, 3))
    _add_api(upgrade)
    upgrade.set_defaults(func=cmd_stations_raise_profile)
    listing = station_commands.add_parser("list", help="all stations")
    _add_common(listing)
    listing.set_defaults(func=cmd_stations_list)
    bulk = station_commands.add_parser(
        "import",
        help="provision stations from a CSV file (id,password[,node][,registration_status])",
    )
    bulk.add_argument("file", type=Path)
    _add_common(bulk)
    bulk.set_defaults(func=cmd_stations_import)
    show = station_commands.add_parser("show", help="one station with its connectors")
    show.add_argument("id")
    _add_common(show)
    show.set_defaults(func=cmd_stations_show)
    set_status = station_commands.add_parser(
        "set-status",
        help="what its BootNotification answers (Pending -> Accepted: it boots again at once)",
    )
    set_status.add_argument("id")
    set_status.add_argument("status", choices=stations.REGISTRATION_STATUSES)
    set_status.add_argument("--api", help="API base URL (default from CSMS_API_HOST/PORT)")
    set_status.add_argument("--config", help="TOML settings file ([csms] table)")
    set_status.set_defaults(func=cmd_stations_set_status)
    set_password = station_commands.add_parser("set-password", help="replace its password")
    set_password.add_argument("id")
    set_password.add_argument("--password", required=True, help="basic-auth password, 16-40")
    _add_common(set_password)
    set_password.set_defaults(func=cmd_stations_set_password)

    token = commands.add_parser("tokens", help="id tokens for authorization")
    token_commands = token.add_subparsers(dest="action", required=True)
    token_add = token_commands.add_parser("add", help="add an id token")
    token_add.add_argument("token")
    token_add.add_argument("--type", default="ISO14443", choices=authorization.TOKEN_TYPES)
    token_add.add_argument("--status", default="Accepted", choices=authorization.STORED_STATUSES)
    token_add.add_argument("--expires", help="expiry, ISO 8601 with offset")
    token_add.add_argument("--group", help="group id token")
    token_add.add_argument(
        "--priority", type=int, default=0, help="planning priority 0-9 (higher first when short)"
    )
    _add_common(token_add)
    token_add.set_defaults(func=cmd_tokens_add)
    token_list = token_commands.add_parser("list", help="all id tokens")
    _add_common(token_list)
    token_list.set_defaults(func=cmd_tokens_list)
    block = token_commands.add_parser("block", help="block a token (all its types)")
    block.add_argument("token")
    _add_common(block)
    block.set_defaults(func=cmd_tokens_block)

    transactions = commands.add_parser("transactions", help="charging transactions")
    transaction_commands = transactions.add_subparsers(dest="action", required=True)
    tx_list = transaction_commands.add_parser("list", help="transactions, newest first")
    tx_list.add_argument("--station", help="only this station")
    _add_common(tx_list)
    tx_list.set_defaults(func=cmd_transactions_list)

    demo = commands.add_parser(
        "demo", help="run the CSMS with 20 emulated stations and a live view (Ctrl-C stops)"
    )
    demo.add_argument("--stations", type=int, default=20)
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    demo.add_argument("--config", help="TOML settings file ([csms] table)")
    demo.add_argument("--db-url", dest="db_url", help="default sqlite://./csms-demo.db")
    demo.set_defaults(func=cmd_demo)

    command = commands.add_parser(
        "command", help="send a CSMS->station OCPP action through the running server"
    )
    command.add_argument("station")
    command.add_argument("action", help="OCPP action, e.g. Reset")
    command.add_argument("payload", help='OCPP JSON payload, e.g. \'{"type": "Immediate"}\'')
    command.add_argument("--api", help="API base URL (default from CSMS_API_HOST/PORT)")
    command.add_argument("--config", help="TOML settings file ([csms] table)")
    command.set_defaults(func=cmd_command)


def configure_logging(level: str) -> None:
    """The server's log format and level. The websockets library logs every handshake,
    refusal and close at INFO without the station id; the gateway logs each with it, so
    the library's are kept for DEBUG (in a reconnect storm they cost a third of the CPU)."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("websockets").setLevel(logging.WARNING)


def cmd_serve(args: argparse.Namespace) -> int:
    from csms.app import serve_forever
    from csms.cluster.node import ClusterUnavailable

    settings = settings_from(args)
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve_forever(settings))
    except (OSError, ClusterUnavailable) as error:
        raise CliError(f"cannot start: {error}") from error
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from csms.demo import DEMO_DB_URL, run_demo

    if args.db_url is None and "CSMS_DB_URL" not in os.environ:
        args.db_url = DEMO_DB_URL
    settings = settings_from(args)
    try:
        asyncio.run(run_demo(settings, args.stations, args.speed))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        raise CliError(f"cannot start: {error}") from error
    return 0


def cmd_stations_add(args: argparse.Namespace) -> int:
    from csms.passwords import generate_password

    password = generate_password() if args.generate_password else args.password
    if password is None and args.profile < 3:
        raise CliError("give --password or --generate-password (profile 3 needs neither)")

    async def work() -> stations.StationView:
        try:
            return await stations.add_station(
                args.id, password, args.node, args.status, args.profile
            )
        except (ValueError, stations.AlreadyExists) as error:
            raise CliError(str(error)) from error

    view = with_database(args, work)
    console.print(
        f"[green]station {view.id} added[/] at security profile {view.security_profile} "
        f"(connect to /ocpp/{view.id})"
    )
    if args.generate_password:
        console.print(f"password (shown once, only its hash is stored): {password}")
    return 0


def cmd_stations_rotate(args: argparse.Namespace) -> int:
    answer = call_api(args, "POST", f"/api/v1/stations/{args.id}/rotate-password", {})
    if not answer.get("accepted"):
        raise CliError(f"station {args.id} kept its password: it answered {answer.get('status')}")
    console.print(
        f"[green]station {args.id} has a new password[/]; the old one works until the "
        "station has connected with the new one"
    )
    return 0


def cmd_stations_raise_profile(args: argparse.Namespace) -> int:
    path = f"/api/v1/stations/{args.id}/security-profile"
    call_api(args, "POST", path, {"security_profile": args.profile})
    console.print(
        f"[green]station {args.id} told to use security profile {args.profile}[/]; lower "
        "profiles are refused once it has connected with it"
    )
    return 0


def cmd_stations_list(args: argparse.Namespace) -> int:
    async def work() -> tuple[list[stations.StationView], dict[tuple[str, int], str]]:
        return await stations.list_stations(), await control_statuses()

    views, statuses = with_database(args, work)
    table = Table(
        "station", "status", "connected", "last seen", "node", "vendor / model", "control"
    )
    for view in views:
        unmanaged = [f"EVSE {e}: {s}" for (sid, e), s in sorted(statuses.items()) if sid == view.id]
        table.add_row(
            view.id,
            view.registration_status,
            "[green]yes[/]" if view.connected else "[dim]no[/]",
            view.last_seen.isoformat(timespec="seconds") if view.last_seen else "-",
            view.node or "-",
            f"{view.vendor_name or '-'} / {view.model or '-'}",
            "[yellow]" + "; ".join(unmanaged) + "[/]" if unmanaged else "managed",
        )
    console.print(table)
    return 0


#: Columns of `stations import`; id and password are required.
STATION_CSV_COLUMNS = ("id", "password", "node", "registration_status", "security_profile")


def read_station_csv(text: str) -> list[stations.NewStation]:
    """Rows of a CSV with a header naming its columns; an empty node means none."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [name for name in header if name not in STATION_CSV_COLUMNS]
    if "id" not in header or "password" not in header or unknown:
        raise CliError(
            f"the CSV header must name id and password, optionally node, "
            f"registration_status and security_profile (got {', '.join(header) or 'nothing'})"
        )
    return [
        stations.NewStation(
            row["id"] or "",
            row["password"] or "",
            row.get("node") or None,
            row.get("registration_status") or "Accepted",
            _profile(row.get("security_profile")),
        )
        for row in reader
    ]


def _profile(raw: str | None) -> int:
    """A CSV cell's security profile: empty is 1; anything else must be 1, 2 or 3."""
    if not raw:
        return 1
    try:
        return int(raw)
    except ValueError:
        return 0  # refused by the import with the profile's message


def cmd_stations_import(args: argparse.Namespace) -> int:
    try:
        items = read_station_csv(args.file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CliError(f"cannot read {args.file}: {error}") from error
    results = with_database(args, lambda: stations.add_stations(items))
    failed = [(line, r) for line, r in enumerate(results, start=2) if r.status != 201]
    for line, result in failed:
        console.print(f"[red]line {line}: {result.id or '?'}: {result.error}[/]")
    created = len(results) - len(failed)
    console.print(f"[green]{created} stations added[/], {len(failed)} refused")
    return 1 if failed else 0


def cmd_stations_show(args: argparse.Namespace) -> int:
    async def work() -> tuple[
        stations.StationView, dict[tuple[str, int], str], list[dict[str, Any]]
    ]:
        try:
            view = await stations.get_station(args.id)
        except stations.NotFound as error:
            raise CliError(str(error)) from error
        return view, await control_statuses(), await list_variables(args.id)

    view, statuses, variables = with_database(args, work)
    table = Table(title=f"station {view.id}", show_header=False)
    for key, value in view.to_json().items():
        if key != "connectors":
            table.add_row(key, str(value))
    console.print(table)
    connectors = Table("evse", "connector", "status", "since", "control")
    for connector in view.connectors:
        evse = int(connector["evse_id"])
        connectors.add_row(
            str(evse),
            str(connector["connector_id"]),
            connector["status"],
            connector["status_at"],
            statuses.get((view.id, evse), "managed") if evse else "-",
        )
    console.print(connectors)
    if variables:
        # The device model as reported (NotifyReport), or a 1.6 station's configuration.
        model = Table("component", "evse", "variable", "value", "mutability", title="device model")
        for row in variables:
            component = row["component"] + (
                f"[{row['component_instance']}]" if row["component_instance"] else ""
            )
            variable = row["variable"] + (
                f"[{row['variable_instance']}]" if row["variable_instance"] else ""
            )
            model.add_row(
                component,
                str(row["evse_id"] or "-"),
                variable,
                str(row["value"]),
                str(row["mutability"] or ""),
            )
        console.print(model)
    return 0


def cmd_stations_set_status(args: argparse.Namespace) -> int:
    # Through the server: a connected Pending station is asked to boot again at once.
    timeout = settings_from(args).call_timeout + 5
    answer = call_api(
        args, "PATCH", f"/api/v1/stations/{args.id}", {"registration_status": args.status}, timeout
    )
    console.print(f"[green]station {args.id} is {answer['registration_status']}[/]")
    trigger = answer.get("trigger")
    if trigger is not None:
        console.print(f"boot trigger: {trigger.get('status') or trigger.get('error')}")
    return 0


def cmd_stations_set_password(args: argparse.Namespace) -> int:
    async def work() -> None:
        try:
            await stations.set_password(args.id, args.password)
        except (ValueError, stations.NotFound) as error:
            raise CliError(str(error)) from error

    with_database(args, work)
    console.print(f"[green]password of station {args.id} replaced[/]")
    return 0


def cmd_tokens_add(args: argparse.Namespace) -> int:
    try:
        expires = datetime.fromisoformat(args.expires) if args.expires else None
    except ValueError as error:
        raise CliError(f"--expires: {error}") from error

    async def work() -> dict[str, Any]:
        try:
            return await authorization.add_token(
                args.token, args.type, args.status, expires, args.group, args.priority
            )
        except (ValueError, authorization.TokenExists) as error:
            raise CliError(str(error)) from error

    token = with_database(args, work)
    console.print(f"[green]token {token['id_token']} ({token['type']}) added[/]")
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    tokens = with_database(args, authorization.list_tokens)
    table = Table("token", "type", "status", "expires", "group", "priority")
    for token in tokens:
        table.add_row(
            token["id_token"],
            token["type"],
            token["status"],
            token["expires_at"] or "-",
            token["group_id"] or "-",
            str(token["priority"]),
        )
    console.print(table)
    return 0


def cmd_tokens_block(args: argparse.Namespace) -> int:
    async def work() -> int:
        try:
            return await authorization.set_token_status(args.token, "Blocked")
        except authorization.TokenNotFound as error:
            raise CliError(str(error)) from error

    with_database(args, work)
    console.print(f"[yellow]token {args.token} blocked[/]")
    return 0


def cmd_transactions_list(args: argparse.Namespace) -> int:
    async def work() -> list[dict[str, Any]]:
        return [transaction_json(row) for row in await list_transactions(args.station)]

    rows = with_database(args, work)
    table = Table(
        "transaction", "station", "evse", "token", "started", "ended", "kWh", "out kWh", "data"
    )
    for row in rows:
        table.add_row(
            row["transaction_id"],
            row["station_id"],
            str(row["evse_id"] or "-"),
            row["id_token"] or "-",
            row["started_at"] or "-",
            row["ended_at"] or "[green]active[/]",
            f"{row['energy_wh'] / 1000:.2f}",
            f"{row['discharged_wh'] / 1000:.2f}",
            _quality_text(row["data_quality"]),
        )
    console.print(table)
    return 0


def _quality_text(flags: dict[str, int]) -> str:
    """`ok`, or each data-quality flag with how many events or readings it left out."""
    if not flags:
        return "ok"
    return (
        "[yellow]" + ", ".join(f"{flag} x{count}" for flag, count in sorted(flags.items())) + "[/]"
    )


def cmd_command(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as error:
        raise CliError(f"payload is not JSON: {error}") from error
    path = f"/api/v1/stations/{args.station}/commands/{args.action}"
    # The API waits up to call_timeout for the station; allow for the round trip on top.
    answer = call_api(args, "POST", path, payload, timeout=settings_from(args).call_timeout + 5)
    console.print_json(data=answer)
    return 0


def call_api(
    args: argparse.Namespace, method: str, path: str, payload: Any = None, timeout: float = 30
) -> Any:
    """Call the running server's REST API (`--api`, else the configured address); its JSON
    answer, or a CliError with the status and the API's message."""
    settings = settings_from(args)
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    base = args.api or f"http://{host}:{settings.api_port}"
    headers = {"Content-Type": "application/json"}
    if settings.api_token:
        headers["Authorization"] = f"Bearer {settings.api_token}"
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        message = json.loads(error.read() or b"{}").get("error", error.reason)
        raise CliError(f"{error.code}: {message}") from error
    except urllib.error.URLError as error:
        raise CliError(f"cannot reach the CSMS API at {base}: {error.reason}") from error
