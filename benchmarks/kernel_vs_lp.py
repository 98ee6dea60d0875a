"""Smart-charging kernel against the HiGHS LP: speed-up, objective gap, unmet energy, scaling.

Run from the repository root: `python benchmarks/kernel_vs_lp.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import write_section
from csms.grid.check import check_schedule
from csms.grid.generate import GeneratorSettings, generate_instance
from csms.grid.instance import Instance, to_arrays
from csms.grid.kernel import solve, solve_arrays, warm_up
from csms.grid.reference import solve_lp

KINDS: dict[str, dict[str, float]] = {
    "ample": {"capacity_factor": 0.8, "v2g_share": 0.3, "dispatch_share": 0.2},
    "scarce": {"capacity_factor": 0.65, "v2g_share": 0.3, "dispatch_share": 0.1},
    "no-v2g": {"capacity_factor": 0.7, "v2g_share": 0.0, "dispatch_share": 0.1},
}
SESSIONS_PER_TRANSFORMER = 50
GAP_TARGET = 0.01
UNMET_SLACK = 0.001
SPEED_UP_TARGET = 100.0
TARGET_SECONDS = 0.5  # 10,000 sessions x 96 slots under 200 transformers, one core


def instance_of(sessions: int, kind: str, seed: int) -> Instance:
    knobs = KINDS[kind]
    settings = GeneratorSettings(
        sessions=sessions,
        transformers=max(2, sessions // SESSIONS_PER_TRANSFORMER),
        seed=seed,
        capacity_factor=knobs["capacity_factor"],
        v2g_share=knobs["v2g_share"],
        dispatch_share=knobs["dispatch_share"],
    )
    return generate_instance(settings)


def kernel_seconds(instance: Instance, *, parallel: bool = False, repeat: int = 1) -> float:
    """Best of `repeat` warm runs of the kernel alone (arrays built beforehand)."""
    arrays = to_arrays(instance)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        solve_arrays(arrays, parallel=parallel)
        best = min(best, time.perf_counter() - started)
    return best


def quality(sizes: list[int]) -> tuple[str, bool, list[str]]:
    rows = [
        "| sessions | kind | kernel s | LP s | speed-up | gap | unmet kernel | unmet LP | ok |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    all_ok = True
    fast = []
    for sessions in sizes:
        for kind in KINDS:
            instance = instance_of(sessions, kind, seed=sessions)
            kernel = solve(instance)
            kernel_time = kernel_seconds(instance, repeat=3 if sessions <= 1000 else 1)
            lp = solve_lp(instance)
            k, r = check_schedule(instance, kernel), check_schedule(instance, lp)
            gap = (k.objective - r.objective) / abs(r.objective)
            requested = max(r.requested_wh, 1.0)
            ok = k.ok and gap <= GAP_TARGET and k.unmet_wh <= r.unmet_wh + UNMET_SLACK * requested
            all_ok &= ok
            speed_up = lp.solve_seconds / kernel_time
            row = (
                f"| {sessions:,} | {kind} | {kernel_time:.3f} | {lp.solve_seconds:.2f} | "
                f"{speed_up:,.0f}x | {100 * gap:.2f}% | {100 * k.unmet_wh / requested:.2f}% | "
                f"{100 * r.unmet_wh / requested:.2f}% | {'yes' if ok else 'NO'} |"
            )
            print(row, flush=True)
            rows.append(row)
            if sessions == max(sizes):
                verdict = "meets" if speed_up >= SPEED_UP_TARGET else "misses"
                fast.append(
                    f"- {sessions:,} sessions ({kind}): {speed_up:,.0f}x HiGHS "
                    f"({verdict} the {SPEED_UP_TARGET:.0f}x target)"
                )
    return "\n".join(rows), all_ok, fast


def scaling(sizes: list[int]) -> str:
    rows = [
        "| sessions | transformers | kernel s (1 core) | parallel s | us per session |",
        "|---:|---:|---:|---:|---:|",
    ]
    for sessions in sizes:
        instance = instance_of(sessions, "ample", seed=7)
        serial = kernel_seconds(instance)
        parallel = kernel_seconds(instance, parallel=True)
        row = (
            f"| {sessions:,} | {max(2, sessions // SESSIONS_PER_TRANSFORMER)} | {serial:.3f} | "
            f"{parallel:.3f} | {1e6 * serial / sessions:.1f} |"
        )
        print(row, flush=True)
        rows.append(row)
    return "\n".join(rows)


def target(kinds: list[str]) -> str:
    lines = []
    for kind in kinds:
        instance = instance_of(10_000, kind, seed=11)
        seconds = kernel_seconds(instance, repeat=2)
        verdict = "meets" if seconds <= TARGET_SECONDS else "misses"
        line = (
            f"- 10,000 sessions x 96 slots x 200 transformers ({kind}), one core: "
            f"{seconds:.3f} s ({verdict} the {TARGET_SECONDS} s target)"
        )
        print(line, flush=True)
        lines.append(line)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 sessions only")
    args = parser.parse_args()
    compile_seconds = warm_up()
    print(f"JIT compile (or cache load): {compile_seconds:.2f} s", flush=True)
    sizes = [100, 1_000] if args.quick else [100, 1_000, 3_000]
    table, ok, fast = quality(sizes)
    print("\n".join(fast), flush=True)
    curve = scaling(
        [1_000, 3_000, 10_000] if args.quick else [1_000, 3_000, 10_000, 30_000, 100_000]
    )
    goal = target(["ample", "scarce", "no-v2g"])
    write_section(
        "kernel_vs_lp",
        "## Smart-charging kernel vs HiGHS LP\n\n"
        "Gap = (kernel - LP) / |LP| on the format's objective; unmet = energy short of target,\n"
        "as a share of requested energy. Kernel times are warm (JIT compiled beforehand; "
        f"compile or cache load took {compile_seconds:.2f} s). LP = HiGHS interior point via "
        "scipy.\n\n"
        f"{table}\n\n" + "\n".join(fast) + "\n\n"
        f"Scaling (ample grid, one core and `parallel=True`):\n\n{curve}\n\n{goal}\n",
    )
    print("quality targets met" if ok else "quality targets NOT met everywhere", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
