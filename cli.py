"""Operator command line: one entry point for the CSMS, the planner, the emulator and swaps.

Each package registers its own sub-commands; this file only wires them together and turns
a `CliError` into a red one-line message and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from csms.console import CliError, console


def build_parser() -> argparse.ArgumentParser:
    from charge_point_emulator import cli as emulator_cli
    from csms import block_cli, operator_cli, security_cli
    from csms.analytics import cli as alerts_cli
    from csms.grid import cli as grid_cli
    from swap_orchestrator import cli as swap_cli

    parser = argparse.ArgumentParser(
        prog="cli.py",
        description="OCPP central system with V2G smart charging and battery-swap orchestration",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    operator_cli.register(commands)
    block_cli.register(commands)
    grid_cli.register(commands)
    emulator_cli.register(commands)
    swap_cli.register(commands)
    alerts_cli.register(commands)
    security_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except CliError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
