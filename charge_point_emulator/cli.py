"""CLI command of the emulator: `cli.py emulate` and `python -m charge_point_emulator`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from charge_point_emulator.fleet import Fleet, FleetConfig
from charge_point_emulator.passwords import PasswordBook, PasswordFileError, load_passwords
from charge_point_emulator.scenario import (
    OCPP_VERSIONS,
    EvseSpec,
    EvseType,
    ScenarioError,
    generate_scenario,
    load_scenario,
)

#: The emulator's own terminal: it shares no code with the CSMS it checks.
console = Console()


class CliError(Exception):
    """Bad flags or files; shown as one red line, exit status 1."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csms", default="ws://127.0.0.1:9000/ocpp", help="CSMS base URL")
    parser.add_argument("--stations", type=int, default=10, help="stations (without --scenario)")
    parser.add_argument("--evses", type=int, default=2, help="EVSEs per station (no --scenario)")
    parser.add_argument(
        "--evse-kw", type=float, default=22.0, help="AC EVSE power (kW, without --scenario)"
    )
    parser.add_argument("--password-file", type=Path, help="STATION_ID:PASSWORD lines")
    parser.add_argument("--scenario", type=Path, help="scenario file (.toml or .json)")
    parser.add_argument(
        "--ocpp",
        choices=OCPP_VERSIONS,
        help="OCPP version every station speaks (default: the scenario's, else 2.0.1)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument(
        "--duration", type=float, help="simulated seconds to run (default: forever)"
    )
    parser.add_argument("--truth", type=Path, help="write ground truth JSON here at the end")
    parser.add_argument("--arrivals-per-hour", type=float, default=0.5, help="EVs per EVSE-hour")
    parser.add_argument("--seed", type=int, default=1, help="random seed for generated arrivals")
    parser.add_argument("--live", action="store_true", help="show a live view of the fleet")
    parser.add_argument("--log-level", default="WARNING", help="logging level")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `emulate`."""
    parser = commands.add_parser("emulate", help="run emulated OCPP 2.0.1 charging stations")
    add_arguments(parser)
    parser.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> FleetConfig:
    """A fleet configuration from the command-line flags; CliError on bad input."""
    if args.speed <= 0:
        raise CliError("--speed must be positive")
    try:
        if args.scenario is not None:
            scenario = load_scenario(args.scenario)
        else:
            if args.stations < 1 or args.evses < 1:
                raise CliError("--stations and --evses must be at least 1")
            scenario = generate_scenario(
                args.stations,
                args.evses,
                seed=args.seed,
                per_evse_per_hour=args.arrivals_per_hour,
                horizon_s=args.duration or 86_400,
                evse=EvseSpec(EvseType.AC, args.evse_kw * 1000.0),
            )
        if args.ocpp is not None:
            stations = tuple(replace(spec, ocpp=args.ocpp) for spec in scenario.stations)
            scenario = replace(scenario, stations=stations)
        passwords = load_passwords(args.password_file) if args.password_file else PasswordBook()
    except (ScenarioError, PasswordFileError, ValueError) as error:
        raise CliError(str(error)) from error
    except OSError as error:
        raise CliError(f"cannot read {error.filename}: {error.strerror}") from error
    return FleetConfig(
        csms_url=args.csms,
        scenario=scenario,
        passwords=passwords,
        speed=args.speed,
        duration_s=args.duration,
        truth_path=args.truth,
    )


async def _run(config: FleetConfig, live: bool) -> Fleet:
    from charge_point_emulator.live_view import show

    fleet = Fleet(config)
    view = asyncio.create_task(show(fleet, console)) if live else None
    try:
        await fleet.run()
    finally:
        if view is not None:
            view.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await view
    return fleet


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        config = build_config(args)
    except CliError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 1
    console.print(
        f"emulating [bold]{len(config.scenario.stations)}[/] stations against "
        f"[bold]{config.csms_url}[/] at x{config.speed:g}"
    )
    fleet = asyncio.run(_run(config, args.live))
    transactions = [t for s in fleet.truth() for t in s.transactions.values()]
    delivered = sum(t.delivered_wh for t in transactions) / 1000
    fed_back = sum(t.fed_back_wh for t in transactions) / 1000
    unacknowledged = delivered - sum(t.acknowledged_wh for t in transactions) / 1000
    console.print(
        f"{len(transactions)} transactions, {delivered:,.1f} kWh delivered "
        f"({unacknowledged:,.1f} kWh not yet acknowledged by the CSMS at the stop), "
        f"{fed_back:,.1f} kWh fed back"
        + (f"; ground truth in {config.truth_path}" if config.truth_path else "")
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m charge_point_emulator`: the same flags as `cli.py emulate`."""
    parser = argparse.ArgumentParser(
        prog="python -m charge_point_emulator", description="emulated OCPP 2.0.1 stations"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
