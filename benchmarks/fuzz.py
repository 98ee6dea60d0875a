"""Fuzz: 100,000 frames for every station-to-CSMS action (schema-valid, or broken in one
known way) from several stations over real websockets, while a neighbour station charges.
Prints the count of every outcome and every answer that was wrong (any InternalError, a
wrong code, a lost link); the reference is the rate of plain Heartbeats on the same links
in the same run.

    python benchmarks/fuzz.py [--frames 100000] [--stations 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import write_section  # noqa: E402
from csms.app import Csms  # noqa: E402
from csms.blocks.stations import add_station  # noqa: E402
from csms.config import Settings  # noqa: E402
from csms.db.models import Transaction  # noqa: E402
from tests.ocpp_fuzz import PayloadGenerator, outcome, with_id  # noqa: E402
from tests.ocpp_wire import WirePeer, open_peer  # noqa: E402
from tests.stations import tx_event  # noqa: E402

PASSWORD = "benchmark-station-password-0001"
ANSWER_TIMEOUT_S = 30.0


async def answer_to(peer: WirePeer, unique_id: str) -> list[Any]:
    """The answer carrying `unique_id`; CALLs the CSMS sends meanwhile are not answered."""
    while True:
        frame = await asyncio.wait_for(peer.incoming.get(), ANSWER_TIMEOUT_S)
        if frame[0] != 2 and frame[1] == unique_id:
            return frame


async def heartbeats(peers: list[WirePeer], seconds: float) -> float:
    """Reference: Heartbeats per second over the same links, each station one at a time."""
    deadline = time.perf_counter() + seconds
    counts = [0] * len(peers)

    async def run(index: int, peer: WirePeer) -> None:
        while time.perf_counter() < deadline:
            assert (await peer.call("Heartbeat", {}))[0] == 3
            counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(run(i, p) for i, p in enumerate(peers)))
    return sum(counts) / (time.perf_counter() - started)


async def fuzz(
    peers: list[WirePeer], frames: int, seed: int
) -> tuple[Counter[str], Counter[str], list[str], float]:
    generator = PayloadGenerator()
    outcomes: Counter[str] = Counter()
    breaks: Counter[str] = Counter()
    wrong: list[str] = []
    ids = itertools.count()
    todo = iter(range(frames))

    async def run(station: int, peer: WirePeer) -> None:
        rnd = random.Random(seed * 1000 + station)
        for _ in todo:
            case = generator.case(rnd)
            unique_id = f"z{next(ids)}"
            await peer.send_raw(with_id(case, unique_id))
            label, problem = outcome(case, await answer_to(peer, unique_id))
            outcomes[label] += 1
            breaks[f"{case.how} -> {label}"] += 1
            if problem is not None:
                wrong.append(f"{case.action}: {problem}")

    started = time.perf_counter()
    await asyncio.gather(*(run(i, p) for i, p in enumerate(peers)))
    return outcomes, breaks, wrong, frames / (time.perf_counter() - started)


async def measure(frames: int, stations: int, seed: int) -> int:
    folder = Path(tempfile.mkdtemp(prefix="csms-fuzz-"))
    settings = Settings(
        db_url=f"sqlite://{folder / 'csms.db'}", ocpp_host="127.0.0.1", ocpp_port=0, api_port=0
    )
    csms = Csms(settings)
    await csms.start(api=False)
    try:
        names = [f"FUZZ-{n}" for n in range(stations)]
        for name in [*names, "NEIGHBOUR"]:
            await add_station(name, PASSWORD)
        peers = [await open_peer(csms, name, PASSWORD) for name in names]
        neighbour = await open_peer(csms, "NEIGHBOUR", PASSWORD)
        start = tx_event("Started", 0, 0, "n-tx", import_wh=0)
        assert (await neighbour.call("TransactionEvent", start))[0] == 3
        reference = await heartbeats(peers, 5.0)

        async def neighbour_charges(stop: asyncio.Event) -> int:
            seq = 0
            while not stop.is_set():
                seq += 1
                update = tx_event("Updated", seq, seq * 0.01, "n-tx", import_wh=seq * 10)
                assert (await neighbour.call("TransactionEvent", update))[0] == 3
                await asyncio.sleep(0.05)
            return seq

        stop = asyncio.Event()
        charging = asyncio.create_task(neighbour_charges(stop))
        outcomes, breaks, wrong, rate = await fuzz(peers, frames, seed)
        stop.set()
        last_seq = await charging
        alive = 0
        for peer in peers:
            alive += (await peer.call("Heartbeat", {}))[0] == 3
        billed = await Transaction.get(station_id="NEIGHBOUR", transaction_id="n-tx")
        neighbour_ok = billed.energy_wh == last_seq * 10 and billed.data_quality == {}
        for peer in [*peers, neighbour]:
            await peer.close()
    finally:
        await csms.stop()

    lines = [
        f"{frames:,} frames from {stations} stations, seed {seed}: "
        f"{rate:,.0f} frames/s = {rate / reference:.2f} x the Heartbeat rate on the same "
        f"links ({reference:,.0f}/s).",
        f"Wrong answers: **{len(wrong)}**; links alive afterwards: {alive}/{stations}; "
        f"neighbour billed exactly ({last_seq} events): {'yes' if neighbour_ok else 'NO'}.",
        "",
        "| outcome | frames |",
        "|---|---:|",
        *(f"| {label} | {count:,} |" for label, count in sorted(outcomes.items())),
        "",
        "| frame sent -> answer | frames |",
        "|---|---:|",
        *(f"| {how} | {count:,} |" for how, count in sorted(breaks.items())),
    ]
    text = "## Fuzz (benchmarks/fuzz.py)\n\n" + "\n".join(lines) + "\n"
    print(text)
    for line in wrong[:20]:
        print("WRONG", line)
    write_section("fuzz", text)
    return 0 if not wrong and alive == stations and neighbour_ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    return asyncio.run(measure(args.frames, args.stations, args.seed))


if __name__ == "__main__":
    sys.exit(main())
