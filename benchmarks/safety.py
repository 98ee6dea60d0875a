"""Safety analytics on a simulated week: recall, false alarms, detection delay, cost.

500 one-EVSE stations (three models) charge for a simulated week with a meter value every
5 minutes; about a third get one safety fault of a random kind at a random time. The
meter streams come from the emulator's physics and sensors (`meter_stream.py`) and feed
the detectors directly, not over websockets: a week of 500 stations through the CSMS
would take hours on this 2-core machine. tests/test_safety_wire.py shows the same
detectors on the over-the-wire path.

Delay counts the meter values of the EVSE from the first one that could show the fault
(a hot contact needs current, an ignored limit a car wanting more) to the one that raised
the alert, inclusive: 1 means the first such meter value. For a reboot loop it counts
meter intervals from the fault's onset.

The cost is the time to parse and judge the meter values against the time to store the
same readings (SQLite, tortoise bulk insert, as the CSMS stores them), same run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ocpp.charge_point import snake_to_camel_case

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import write_section
from charge_point_emulator.faults import FaultKind
from charge_point_emulator.meter_stream import (
    BootRecord,
    MeterRecord,
    fleet_stream,
    random_fleet,
)
from csms.analytics.engine import SafetyEngine
from csms.analytics.findings import AlertKind, Finding
from csms.analytics.sample import samples_from_readings
from csms.blocks.meter import Reading, readings

#: The alert that finds each injected fault.
FINDS = {
    FaultKind.HOT_CONNECTOR: AlertKind.HOT_CONNECTOR,
    FaultKind.METER_DRIFT: AlertKind.METER_DRIFT,
    FaultKind.REGISTER_RESET: AlertKind.REGISTER_RESET,
    FaultKind.IGNORES_PROFILE: AlertKind.OVER_LIMIT,
    FaultKind.SOC_ANOMALY: AlertKind.SOC_ANOMALY,
    FaultKind.PHASE_IMBALANCE: AlertKind.PHASE_IMBALANCE,
    FaultKind.REBOOT_LOOP: AlertKind.REBOOT_LOOP,
}
START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(slots=True)
class StationOutcome:
    fault: FaultKind | None = None
    onset_s: float | None = None
    visible_values: int = 0  # meter values that could show the fault, up to the alert
    detected_after: int | None = None  # delay in meter values (or intervals)
    detected_by: Finding | None = None
    false_alarms: list[Finding] = field(default_factory=list)


@dataclass(slots=True)
class Replay:
    outcomes: dict[str, StationOutcome]
    meter_values: int = 0
    readings: int = 0
    judge_s: float = 0.0  # parsing the meter values and running the detectors
    detect_s: float = 0.0  # the detectors alone
    sample_readings: list[tuple[str, list[Reading]]] = field(default_factory=list)


def replay(
    records: list[MeterRecord | BootRecord],
    engine: SafetyEngine,
    interval_s: float,
    keep_readings: int = 0,
) -> Replay:
    """Feed the records to the engine; score each station's findings against the truth."""
    out = Replay(defaultdict(StationOutcome))
    for record in records:
        outcome = out.outcomes[record.station_id]
        if record.fault is not None and outcome.onset_s is None:
            outcome.fault = record.fault
            outcome.onset_s = record.elapsed_s
        at = START + timedelta(seconds=record.elapsed_s)
        began = time.perf_counter()
        if isinstance(record, BootRecord):
            boot = engine.booted(record.station_id, at)
            findings = [boot] if boot else []
        else:
            parsed = readings([snake_to_camel_case(record.meter_value)])
            findings = []
            for sample in samples_from_readings(
                record.station_id, 1, record.transaction_id, record.model, parsed
            ):
                sample = replace(
                    sample,
                    temperature_c=record.temperature_c,
                    limit_w=record.limit_w,
                    ev_max_w=record.ev_max_w,
                )
                detecting = time.perf_counter()
                findings += engine.observe(sample)
                out.detect_s += time.perf_counter() - detecting
            out.meter_values += 1
            out.readings += len(parsed)
            if len(out.sample_readings) < keep_readings:
                out.sample_readings.append((record.station_id, parsed))
        out.judge_s += time.perf_counter() - began
        if isinstance(record, MeterRecord) and record.visible and outcome.detected_after is None:
            outcome.visible_values += 1
        for finding in findings:
            expected = FINDS.get(outcome.fault) if outcome.fault else None
            if finding.kind is expected and outcome.onset_s is not None:
                if outcome.detected_after is None:
                    outcome.detected_by = finding
                    if expected is AlertKind.REBOOT_LOOP:
                        waited = record.elapsed_s - outcome.onset_s
                        outcome.detected_after = max(1, math.ceil(waited / interval_s))
                    else:
                        outcome.detected_after = max(1, outcome.visible_values)
            elif outcome.onset_s is None:
                outcome.false_alarms.append(finding)
    return out


async def storing_seconds(batches: list[tuple[str, list[Reading]]]) -> float:
    """Seconds to store these readings as the CSMS does (one bulk insert per 100 values)."""
    from tortoise.transactions import in_transaction

    from csms.blocks.transactions import meter_rows
    from csms.db.database import close_database, open_database
    from csms.db.models import MeterValue
    from csms.db.writer import Batch

    with tempfile.TemporaryDirectory() as folder:
        await open_database(f"sqlite://{folder}/bench.db")
        try:
            began = time.perf_counter()
            for n in range(0, len(batches), 100):
                async with in_transaction() as conn:
                    batch = Batch(conn)
                    for station_id, parsed in batches[n : n + 100]:
                        for row in meter_rows(station_id, 1, None, parsed):
                            batch.insert_values(MeterValue, row)
                    await batch.flush()
            return time.perf_counter() - began
        finally:
            await close_database()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--interval", type=float, default=300.0, help="meter interval, s")
    parser.add_argument("--faulty-share", type=float, default=0.35)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args()
    horizon = args.days * 86_400.0
    fleet = random_fleet(args.stations, args.faulty_share, horizon, args.interval, args.seed)
    began = time.perf_counter()
    records = list(fleet_stream(fleet, START, horizon, args.interval, seed=args.seed))
    simulated = time.perf_counter() - began
    result = replay(records, SafetyEngine(), args.interval, keep_readings=5000)
    stored = asyncio.run(storing_seconds(result.sample_readings))
    stored_values = len(result.sample_readings)

    by_kind: dict[FaultKind, list[StationOutcome]] = defaultdict(list)
    for outcome in result.outcomes.values():
        if outcome.fault is not None:
            by_kind[outcome.fault].append(outcome)
    rows = []
    delays: list[int] = []
    recalls: list[float] = []
    for kind in sorted(by_kind):
        shown = [o for o in by_kind[kind] if o.visible_values or o.detected_after]
        found = [o.detected_after for o in shown if o.detected_after is not None]
        delays += found
        recall = len(found) / len(shown) if shown else float("nan")
        recalls.append(recall)
        median = statistics.median(found) if found else float("nan")
        rows.append(
            f"| {kind.value} | {len(by_kind[kind])} | {len(shown)} | {len(found)} "
            f"| {recall:.1%} | {median:g} |"
        )
    healthy_days = 0.0
    false_alarms = 0
    for outcome in result.outcomes.values():
        healthy_days += (outcome.onset_s if outcome.onset_s is not None else horizon) / 86_400
        false_alarms += len(outcome.false_alarms)
    per_1000 = 1000.0 * false_alarms / healthy_days
    judge_per_1000 = 1000.0 * result.judge_s / result.meter_values
    detect_per_1000 = 1000.0 * result.detect_s / result.meter_values
    store_per_1000 = 1000.0 * stored / stored_values
    kinds_fired = sorted({f.kind.value for o in result.outcomes.values() for f in o.false_alarms})
    text = "\n".join(
        [
            "## Safety analytics (`benchmarks/safety.py`)",
            "",
            f"{args.stations} stations, {args.days:g} simulated days, a meter value every "
            f"{args.interval:g} s while charging: {result.meter_values:,} meter values "
            f"({result.readings:,} readings), simulated in {simulated:.1f} s. The detectors are "
            "fed the emulator's meter streams directly, not over websockets (a week of 500 "
            "stations through the CSMS is too slow for this machine); the over-the-wire path "
            "is shown in tests/test_safety_wire.py.",
            "",
            "Faults as the emulator injects them: a contact heating 8x, a register counting 15 %"
            " too much or restarting from 0, a station drawing what the car wants over its "
            "limit, a BMS reporting SoC 5x too fast, a phase carrying 30 %, a reboot every "
            "interval. Delay counts the meter values from the first one that could show the "
            "fault (a hot contact needs 6 A, an ignored limit a car wanting more, drift and SoC "
            "a charging interval) to the alerting one, inclusive; for a reboot loop, intervals "
            "from the onset. Observable: stations where that happened before the week ended.",
            "",
            "| fault | stations | observable | detected | recall | median delay (meter values) |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"- recall, worst kind: {min(recalls):.1%} (goal >= 95 %)",
            f"- median detection delay, all kinds: {statistics.median(delays):g} meter "
            "intervals (goal <= 2)",
            f"- false alarms: {false_alarms} in {healthy_days:,.0f} healthy station-days = "
            f"{per_1000:.2f} per 1,000 station-days (goal <= 1)"
            + (f"; kinds: {', '.join(kinds_fired)}" if kinds_fired else ""),
            f"- cost per 1,000 meter values: parsing and judging {judge_per_1000 * 1000:.1f} ms "
            f"(the detectors alone {detect_per_1000 * 1000:.1f} ms), storing them (SQLite bulk "
            f"insert of their readings, {stored_values:,} values measured) "
            f"{store_per_1000 * 1000:.1f} ms: ratio {judge_per_1000 / store_per_1000:.2f} "
            f"(detectors alone {detect_per_1000 / store_per_1000:.2f})",
        ]
    )
    print(text)
    if not args.no_write:
        write_section("safety", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
