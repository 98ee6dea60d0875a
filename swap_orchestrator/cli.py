"""CLI commands of the swap orchestrator: `swap-sim` (simulate a scenario, write the
report), `swap-gen` (write a realistic scenario) and `swap status` (a live station view)."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.live import Live
from rich.table import Table

from csms.console import CliError, console
from csms.operator_cli import settings_from
from swap_orchestrator.audit import audit
from swap_orchestrator.generator import GeneratorParams, generate
from swap_orchestrator.report import build_report
from swap_orchestrator.scenario import ScenarioError, parse_scenario
from swap_orchestrator.sim import simulate
from swap_orchestrator.status_view import render


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `swap-sim` and `swap-gen`."""
    sim = commands.add_parser(
        "swap-sim", help="simulate a swap scenario and write the report with its event log"
    )
    sim.add_argument("scenario", type=Path, help="scenario JSON (swap-scenario format)")
    sim.add_argument("--out", type=Path, required=True, help="report JSON to write")
    sim.add_argument("--seed", type=int, default=0, help="seed of the simulated roadside unit")
    sim.set_defaults(func=run_sim)

    gen = commands.add_parser("swap-gen", help="write a realistic swap scenario")
    gen.add_argument("-o", "--out", type=Path, required=True, help="scenario JSON to write")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--arrivals", type=int, default=450, help="vehicles on a working day")
    gen.add_argument("--stations", type=int, default=1)
    gen.add_argument("--bays", type=int, default=2, help="bays per station")
    gen.add_argument("--holiday", action="store_true", help="holiday peaks (and more arrivals)")
    gen.add_argument("--fleet-share", type=float, default=0.15)
    gen.add_argument("--no-faults", action="store_true", help="no bay, roadside or grid faults")
    gen.set_defaults(func=run_gen)

    swap = commands.add_parser("swap", help="live swap stations")
    swap_commands = swap.add_subparsers(dest="swap_command", metavar="SUBCOMMAND", required=True)
    status = swap_commands.add_parser("status", help="bays, queue and rack of a swap station")
    status.add_argument("station", help="swap station id")
    status.add_argument("--api", help="API base URL (default from CSMS_API_HOST/PORT)")
    status.add_argument("--config", help="TOML settings file ([csms] table)")
    status.add_argument("--every", type=float, default=1.0, help="refresh period, s")
    status.add_argument("--once", action="store_true", help="print once and exit")
    status.set_defaults(func=run_status)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise CliError(f"{path} is not JSON: {error}") from None


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(doc, indent=1) + "\n")
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror}") from None


def run_sim(args: argparse.Namespace) -> int:
    doc = _read_json(args.scenario)
    try:
        scenario = parse_scenario(doc)
    except ScenarioError as error:
        raise CliError(f"{args.scenario}: {error}") from None
    report = build_report(scenario, simulate(scenario, seed=args.seed))
    _write_json(args.out, report)
    problems = audit(doc, json.loads(json.dumps(report)))
    table = Table(title=f"swap-sim {args.scenario.name}", show_header=False)
    table.add_row("swaps", str(report["swaps"]))
    table.add_row("refused", str(len(report["refused"])))
    table.add_row("no-shows", str(report["no_shows"]))
    waits = report["wait_s"]
    table.add_row("wait p50 / p95 / max", f"{waits['p50']} / {waits['p95']} / {waits['max']} s")
    table.add_row("bay utilisation", ", ".join(f"{u:.0%}" for u in report["bay_utilisation"]))
    table.add_row("grid peak", f"{report['grid_peak_w'] / 1000:.1f} kW")
    table.add_row("energy", f"{report['energy_kwh']:.1f} kWh, cost {report['energy_cost']:.2f}")
    table.add_row(
        "audit", "[green]clean[/]" if not problems else f"[red]{len(problems)} problems[/]"
    )
    console.print(table)
    for problem in problems[:20]:
        console.print(f"[red]audit:[/] {problem}", highlight=False)
    console.print(f"report written to {args.out}")
    return 0 if not problems else 2


def run_gen(args: argparse.Namespace) -> int:
    if args.arrivals < 0 or args.stations < 1 or args.bays < 1:
        raise CliError("arrivals must be >= 0, stations and bays >= 1")
    if not 0.0 <= args.fleet_share <= 1.0:
        raise CliError("--fleet-share must be within [0, 1]")
    params = GeneratorParams(
        seed=args.seed,
        arrivals=args.arrivals,
        stations=args.stations,
        bays=args.bays,
        holiday=args.holiday,
        fleet_share=args.fleet_share,
        faults=not args.no_faults,
    )
    doc = generate(params)
    _write_json(args.out, doc)
    console.print(
        f"{len(doc['vehicles'])} vehicles at {len(doc['stations'])} station(s), "
        f"{len(doc['perception'])} perception incidents, {len(doc['faults'])} faults "
        f"written to {args.out}"
    )
    return 0


def _fetch_view(url: str, headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            view: dict[str, Any] = json.loads(response.read())
            return view
    except urllib.error.HTTPError as error:
        message = json.loads(error.read() or b"{}").get("error", error.reason)
        raise CliError(f"{error.code}: {message}") from error
    except urllib.error.URLError as error:
        raise CliError(f"cannot reach the CSMS API at {url}: {error.reason}") from error


def run_status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    base = args.api or f"http://{host}:{settings.api_port}"
    url = f"{base}/api/v1/swap/stations/{args.station}"
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    if args.once:
        console.print(render(_fetch_view(url, headers)))
        return 0
    with Live(render(_fetch_view(url, headers)), console=console, auto_refresh=False) as live:
        while True:
            time.sleep(max(0.1, args.every))
            live.update(render(_fetch_view(url, headers)), refresh=True)
