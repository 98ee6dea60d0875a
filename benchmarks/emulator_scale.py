"""Scale of the emulator: 1,000 stations in one process holding heartbeats and meter values.

Runs a minimal OCPP-J answering server in a subprocess, then, each in a fresh process:
- reference: 1,000 bare websocket clients sending pre-serialised frames of the same size
  at the same rate (the cost of the traffic itself);
- emulator: a Fleet of 1,000 EmulatedStations, every EVSE charging, at the same rate,
  with and without the `ocpp` library's JSON-schema validation.
Reports CPU (share of one core) and resident memory, and their ratios to the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from charge_point_emulator.station import EmulatedStation

STATIONS = 1_000
SPEED = 10.0  # simulated seconds per real second
HEARTBEAT_S = 300  # simulated
SAMPLE_S = 60  # simulated: one TransactionEvent per EVSE per simulated minute
WINDOW_S = 24.0  # real seconds measured (four sample periods), after every station is up


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- server ---------------------------------------------------------------------------


async def serve() -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Subprotocol

    counts = {"messages": 0}

    def answer(action: str) -> dict[str, Any]:
        if action == "BootNotification":
            return {"currentTime": _now(), "interval": HEARTBEAT_S, "status": "Accepted"}
        if action == "Heartbeat":
            return {"currentTime": _now()}
        if action == "Authorize":
            return {"idTokenInfo": {"status": "Accepted"}}
        return {}

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        if connection.request.path.endswith("/stats"):
            await connection.send(json.dumps(counts))
            return
        try:
            async for raw in connection:
                frame = json.loads(raw)
                if frame[0] == 2:
                    counts["messages"] += 1
                    await connection.send(json.dumps([3, frame[1], answer(frame[2])]))
        except ConnectionClosed:
            pass  # clients of a finished role go away without a closing handshake

    async with ws_serve(
        handler, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp2.0.1")], ping_interval=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)  # the parent reads the port from the first line
        await asyncio.Event().wait()


async def server_count(url: str) -> int:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    async with connect(f"{url}/stats", subprotocols=[Subprotocol("ocpp2.0.1")]) as ws:
        return int(json.loads(await ws.recv())["messages"])


# --- measurement helpers ----------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(url: str) -> dict[str, float]:
    before_msgs = await server_count(url)
    cpu0, t0 = cpu_s(), time.monotonic()
    await asyncio.sleep(WINDOW_S)
    cpu1, t1 = cpu_s(), time.monotonic()
    after_msgs = await server_count(url)
    return {
        "cpu_share": (cpu1 - cpu0) / (t1 - t0),
        "rss_mb": rss_mb(),
        "msgs_per_s": (after_msgs - before_msgs) / (t1 - t0),
    }


# --- reference: bare websockets ----------------------------------------------------------


async def reference(url: str) -> dict[str, float]:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.typing import Subprotocol

    base_rss = rss_mb()
    event = json.dumps(
        {
            "eventType": "Updated",
            "timestamp": _now(),
            "triggerReason": "MeterValuePeriodic",
            "seqNo": 1,
            "transactionInfo": {"transactionId": "0" * 36, "chargingState": "Charging"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {
                    "timestamp": _now(),
                    "sampledValue": [
                        {"value": 1234.5, "context": "Sample.Periodic", "measurand": m,
                         "unitOfMeasure": {"unit": "Wh"}}
                        for m in ("Energy.Active.Import.Register",
                                  "Energy.Active.Export.Register", "Power.Active.Import", "SoC")
                    ],
                }
            ],
        }
    )  # fmt: skip

    async def client(n: int, ws: ClientConnection) -> None:
        rng = random.Random(n)
        one_call = asyncio.Lock()  # one outstanding CALL per connection, as OCPP-J requires

        async def every(period_s: float, action: str, payload: str) -> None:
            await asyncio.sleep(rng.uniform(0, period_s))
            counter = 0
            while True:
                counter += 1
                async with one_call:
                    await ws.send(f'[2,"{n}-{action}-{counter}","{action}",{payload}]')
                    await ws.recv()
                await asyncio.sleep(period_s)

        await asyncio.gather(
            every(HEARTBEAT_S / SPEED, "Heartbeat", "{}"),
            every(SAMPLE_S / SPEED, "TransactionEvent", event),
        )

    sockets = [
        await connect(f"{url}/REF{n:04d}", subprotocols=[Subprotocol("ocpp2.0.1")])
        for n in range(STATIONS)
    ]
    tasks = [asyncio.create_task(client(n, ws)) for n, ws in enumerate(sockets)]
    await asyncio.sleep(SAMPLE_S / SPEED)  # every client in its rhythm
    result = await measure(url)
    result["rss_mb"] -= base_rss
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return result


# --- the emulator -----------------------------------------------------------------------


def _charging(station: EmulatedStation) -> bool:
    return station.online and station.evses[1].tx is not None


async def emulator(url: str, validate: bool) -> dict[str, float]:
    from charge_point_emulator.ev import EvSpec
    from charge_point_emulator.fleet import Fleet, FleetConfig
    from charge_point_emulator.scenario import Arrival, EvseSpec, Scenario, StationSpec

    base_rss = rss_mb()
    stations = tuple(StationSpec(f"EMU{n:04d}", (EvseSpec(),)) for n in range(STATIONS))
    # Every EVSE charges for the whole run (a big battery, a long stay); cars arrive spread
    # over one sample period, so the load is even rather than in bursts.
    rng = random.Random(1)
    arrivals = tuple(
        Arrival(
            s.id,
            1,
            at_s=rng.uniform(0, SAMPLE_S),
            stay_s=86_400,
            ev=EvSpec(capacity_wh=200_000),
            soc=0.1,
        )
        for s in stations
    )
    scenario = Scenario(
        stations, arrivals, heartbeat_interval_s=HEARTBEAT_S, sample_interval_s=SAMPLE_S
    )
    fleet = Fleet(
        FleetConfig(
            url,
            scenario,
            speed=SPEED,
            tick_real_s=1.0,
            connect_rate=500,
            validate_schemas=validate,
            response_timeout_s=30,
        )
    )
    ramp0 = time.monotonic()
    await fleet.start()
    await asyncio.gather(
        *(
            station.wait_until(partial(_charging, station), within_s=300)
            for station in fleet.stations.values()
        )
    )
    ramp = time.monotonic() - ramp0
    await asyncio.sleep(SAMPLE_S / SPEED)
    result = await measure(url)
    result["rss_mb"] -= base_rss
    snapshot = fleet.snapshot()
    result["online"] = snapshot.online
    result["queued"] = sum(s.queued for s in snapshot.stations)
    result["ramp_s"] = ramp
    await fleet.stop()
    return result


# --- orchestration ------------------------------------------------------------------------


def run_role(role: str, url: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--role", role, "--url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,  # a role that hangs fails the benchmark instead of blocking `make bench`
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--role", choices=["server", "reference", "emulator", "emulator-novalidate"]
    )
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(serve())
        return 0
    if args.role == "reference":
        print(json.dumps(asyncio.run(reference(args.url))))
        return 0
    if args.role in ("emulator", "emulator-novalidate"):
        print(json.dumps(asyncio.run(emulator(args.url, args.role == "emulator"))))
        return 0

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    server = subprocess.Popen(
        [sys.executable, __file__, "--role", "server"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"ws://127.0.0.1:{server.stdout.readline().strip()}/ocpp"
        expected = STATIONS * (1 / (HEARTBEAT_S / SPEED) + 1 / (SAMPLE_S / SPEED))
        ref = run_role("reference", url)
        emu = run_role("emulator", url)
        fast = run_role("emulator-novalidate", url)
    finally:
        server.terminate()
        server.wait()

    def row(name: str, r: dict[str, float]) -> str:
        return (
            f"| {name} | {r['msgs_per_s']:.0f} | {r['cpu_share'] * 100:.1f} % "
            f"| {r['cpu_share'] / ref['cpu_share']:.2f}x | {r['rss_mb']:.0f} MB "
            f"| {r['rss_mb'] / max(ref['rss_mb'], 1):.2f}x |"
        )

    markdown = "\n".join(
        [
            "## Emulator scale (`benchmarks/emulator_scale.py`)",
            "",
            f"{STATIONS:,} stations in one process at x{SPEED:g} simulated speed, each with a "
            f"charging EV: a Heartbeat every {HEARTBEAT_S} s and a TransactionEvent with four "
            f"measurands every {SAMPLE_S} s of simulated time (expected {expected:.0f} msg/s), "
            f"measured over {WINDOW_S:g} s. Reference: {STATIONS:,} bare websocket clients "
            "sending frames of the same size at the same rate, in the same run.",
            "",
            "| client | msg/s delivered | CPU (one core) | CPU vs reference "
            "| memory (RSS growth) | memory vs reference |",
            "|---|---|---|---|---|---|",
            row("bare websockets (reference)", ref),
            row("emulator, ocpp schema validation on", emu),
            row("emulator, validation off", fast),
            "",
            f"Emulator: {emu['online']:.0f}/{STATIONS} stations online at the end, "
            f"{emu['queued']:.0f} events queued, all {STATIONS} booted and charging after "
            f"{emu['ramp_s']:.1f} s.",
        ]
    )
    print(markdown)
    from benchmarks.report import write_section

    write_section("emulator_scale", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
