"""CLI commands of the planner: `plan` (an instance file, or `--live`: the running plan),
`plan-gen`, and `grid load|show|event|report` (topology, grid events, delivery)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rich.table import Table

from csms.console import CliError, console
from csms.grid.check import CheckResult, check_schedule
from csms.grid.generate import GeneratorSettings, generate_instance
from csms.grid.instance import (
    Instance,
    InstanceError,
    Schedule,
    file_sha256,
    read_instance,
    write_instance,
    write_schedule,
)
from csms.grid.live_cli import register_grid
from csms.operator_cli import _add_common


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the planner's sub-commands."""
    plan = commands.add_parser("plan", help="plan a charging instance and summarise the schedule")
    plan.add_argument("instance", type=Path, metavar="INSTANCE.json", nargs="?")
    plan.add_argument("--live", action="store_true", help="show the live planner's current plan")
    _add_common(plan)
    plan.add_argument("--solver", choices=("kernel", "lp"), default="kernel")
    plan.add_argument("--parallel", action="store_true", help="kernel: subtrees in parallel")
    plan.add_argument(
        "--polish",
        type=int,
        default=None,
        metavar="ROUNDS",
        help="kernel: rounds of augmenting paths and exchanges after the moves (slower; "
        "default: 2 in top-level subtrees of up to 250 sessions, else none)",
    )
    plan.add_argument("--out", type=Path, metavar="SCHEDULE.json", help="write the schedule")
    plan.set_defaults(func=run_plan)

    gen = commands.add_parser("plan-gen", help="write a realistic random charging instance")
    defaults = GeneratorSettings()
    gen.add_argument("--sessions", type=int, default=defaults.sessions)
    gen.add_argument("--nodes", type=int, default=defaults.transformers, help="transformers")
    gen.add_argument("--slots", type=int, default=defaults.slots)
    gen.add_argument("--v2g-share", type=float, default=defaults.v2g_share)
    gen.add_argument("--capacity-factor", type=float, default=defaults.capacity_factor)
    gen.add_argument("--dispatch-share", type=float, default=defaults.dispatch_share)
    gen.add_argument("--demand-response-share", type=float, default=defaults.demand_response_share)
    gen.add_argument("--overask-share", type=float, default=defaults.overask_share)
    gen.add_argument("--seed", type=int, default=defaults.seed)
    gen.add_argument("-o", "--out", type=Path, required=True, metavar="FILE")
    gen.set_defaults(func=run_plan_gen)
    register_grid(commands)


def _load(path: Path) -> Instance:
    try:
        return read_instance(path)
    except OSError as error:
        raise CliError(f"{path}: {error.strerror}") from error
    except InstanceError as error:
        raise CliError(f"{path}: {error}") from error


def _solve(
    instance: Instance, solver: str, parallel: bool, polish: int | None
) -> tuple[Schedule, float | None]:
    if solver == "lp":
        from csms.grid.reference import ReferenceError, solve_lp

        try:
            return solve_lp(instance), None
        except ReferenceError as error:
            raise CliError(str(error)) from error
    from csms.grid.kernel import solve, warm_up

    compile_seconds = warm_up()
    return solve(instance, parallel=parallel, polish_rounds=polish), compile_seconds


def run_plan(args: argparse.Namespace) -> int:
    if args.live:
        from csms.grid.live_cli import show_live_plan

        return show_live_plan(args)
    if args.instance is None:
        raise CliError("give an INSTANCE.json, or --live for the running plan")
    instance = _load(args.instance)
    if args.polish is not None and args.polish < 0:
        raise CliError("--polish: rounds cannot be negative")
    schedule, compile_seconds = _solve(instance, args.solver, args.parallel, args.polish)
    schedule = replace(schedule, instance_sha256=file_sha256(args.instance))
    result = check_schedule(instance, schedule)
    _print_summary(instance, schedule, result, compile_seconds)
    if args.out is not None:
        write_schedule(args.out, schedule)
        console.print(f"schedule written to [bold]{args.out}[/]")
    return 0 if result.ok else 1


def _print_summary(
    instance: Instance, schedule: Schedule, result: CheckResult, compile_seconds: float | None
) -> None:
    table = Table(title=f"plan: {len(instance.sessions)} sessions, {instance.slots} slots")
    table.add_column("figure")
    table.add_column("value", justify="right")
    requested = result.requested_wh / 1000
    table.add_row("energy requested", f"{requested:,.1f} kWh")
    table.add_row("energy delivered", f"{result.delivered_wh / 1000:,.1f} kWh")
    short = result.unmet_wh / 1000
    share = f" ({100 * short / requested:.2f}%)" if requested > 0 else ""
    table.add_row("energy short", f"{short:,.1f} kWh{share}")
    table.add_row("energy imported", f"{result.imported_kwh:,.1f} kWh")
    table.add_row("energy exported", f"{result.exported_kwh:,.1f} kWh")
    table.add_row("energy cost", f"{result.energy_cost + result.degradation_cost:,.2f}")
    table.add_row("shortfall penalty", f"{result.shortfall_cost:,.2f}")
    table.add_row("dispatch penalty", f"{result.dispatch_cost:,.2f}")
    table.add_row("objective", f"[bold]{result.objective:,.2f}[/]")
    colour = "green" if result.ok else "red"
    table.add_row("violations", f"[{colour}]{result.violation_count}[/]")
    table.add_row(f"solve time ({schedule.solver})", f"{schedule.solve_seconds:.4f} s")
    if compile_seconds is not None:
        table.add_row("JIT compile time (once per process)", f"{compile_seconds:.2f} s")
    console.print(table)
    peaks = Table(title="peak per top-level node")
    peaks.add_column("node")
    peaks.add_column("peak import", justify="right")
    peaks.add_column("import limit", justify="right")
    for node, (peak, limit) in result.peak_w.items():
        peaks.add_row(node, f"{peak / 1000:,.1f} kW", f"{limit / 1000:,.1f} kW")
    console.print(peaks)
    for violation in result.violations[:20]:
        console.print(f"[red]violation:[/] {violation}", highlight=False)


def run_plan_gen(args: argparse.Namespace) -> int:
    if args.sessions < 0 or args.nodes < 1 or args.slots < 2:
        raise CliError("need --sessions >= 0, --nodes >= 1 and --slots >= 2")
    for name in ("v2g_share", "dispatch_share", "demand_response_share", "overask_share"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise CliError(f"--{name.replace('_', '-')} must lie in [0, 1]")
    if args.capacity_factor <= 0:
        raise CliError("--capacity-factor must be positive")
    settings = GeneratorSettings(
        sessions=args.sessions,
        transformers=args.nodes,
        slots=args.slots,
        v2g_share=args.v2g_share,
        seed=args.seed,
        capacity_factor=args.capacity_factor,
        dispatch_share=args.dispatch_share,
        demand_response_share=args.demand_response_share,
        overask_share=args.overask_share,
    )
    instance = generate_instance(settings)
    write_instance(args.out, instance)
    console.print(
        f"wrote [bold]{args.out}[/]: {len(instance.sessions)} sessions, "
        f"{len(instance.nodes)} nodes, {len(instance.dispatch)} dispatch targets"
    )
    return 0
