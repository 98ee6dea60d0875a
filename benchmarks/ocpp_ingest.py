"""OCPP ingest throughput: N stations send TransactionEvent(Updated) with meter values as fast
as the answers allow, against (a) this CSMS, validating and durably storing every message,
and (b) a do-nothing server on the bare `ocpp` library with its default validation, both in
their own process, measured in the same run with the same load generator.

With `--ocpp 1.6` the stations speak OCPP 1.6J: one StartTransaction each, then
MeterValues with its transactionId, against the CSMS's 1.6 adapter and the bare library's
1.6 server.

    python benchmarks/ocpp_ingest.py [--stations 100] [--seconds 10] [--ocpp 1.6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import write_section  # noqa: E402

PASSWORD = "benchmark-password-0001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_bare(port: int, version: str) -> None:
    """The reference: the ocpp library's own server side, answering and storing nothing."""
    import websockets
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint as ChargePoint16
    from ocpp.v16 import call_result as result16
    from ocpp.v201 import ChargePoint, call_result

    class Bare(ChargePoint):
        @on("TransactionEvent")
        async def on_transaction_event(self, **_: Any) -> Any:
            return call_result.TransactionEvent()

    class Bare16(ChargePoint16):
        @on("StartTransaction")
        async def on_start_transaction(self, **_: Any) -> Any:
            return result16.StartTransaction(transaction_id=1, id_tag_info={"status": "Accepted"})

        @on("MeterValues")
        async def on_meter_values(self, **_: Any) -> Any:
            return result16.MeterValues()

    server_class = Bare16 if version == "1.6" else Bare

    async def handler(websocket: Any) -> None:
        station_id = websocket.request.path.rsplit("/", 1)[-1]
        await server_class(station_id, websocket).start()

    async def main() -> None:
        async with websockets.serve(
            handler,
            "127.0.0.1",
            port,
            subprotocols=[SUBPROTOCOLS[version]],  # type: ignore[list-item]
        ):
            await asyncio.Future()

    asyncio.run(main())


SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


def event(seq_no: int, register_wh: float) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "eventType": "Started" if seq_no == 0 else "Updated",
        "timestamp": now,
        "triggerReason": "Authorized" if seq_no == 0 else "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "bench-tx", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": now,
                "sampledValue": [
                    {"value": register_wh, "measurand": "Energy.Active.Import.Register"},
                    {"value": 11000.0, "measurand": "Power.Active.Import"},
                    {"value": 42.0, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
                ],
            }
        ],
    }


def start16() -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": now}


def meter_values16(transaction_id: int, register_wh: float) -> dict[str, Any]:
    # Microseconds: one station's readings never share a timestamp (the adapter would
    # rightly take a second message with the same kind and time for a resend).
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [
            {
                "timestamp": now,
                "sampledValue": [
                    {"value": f"{register_wh:.1f}", "measurand": "Energy.Active.Import.Register"},
                    {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": "42", "measurand": "SoC", "unit": "Percent"},
                ],
            }
        ],
    }


@dataclass
class Result:
    messages: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def load(port: int, stations: int, seconds: float, version: str = "2.0.1") -> Result:
    import base64

    from websockets.asyncio.client import connect

    latencies: list[float] = []
    counts = [0]
    connected = [0]
    everyone_connected = asyncio.Event()
    start_line = asyncio.Event()

    async def station(index: int) -> None:
        station_id = f"BENCH-{index:05d}"
        token = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
        async with connect(
            f"ws://127.0.0.1:{port}/ocpp/{station_id}",
            subprotocols=[SUBPROTOCOLS[version]],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
            open_timeout=60,
            max_queue=None,
        ) as websocket:
            connected[0] += 1
            if connected[0] == stations:
                everyone_connected.set()
            transaction_id = 0
            if version == "1.6":
                await websocket.send(json.dumps([2, "start", "StartTransaction", start16()]))
                transaction_id = json.loads(await websocket.recv())[2]["transactionId"]
            await start_line.wait()
            deadline = time.perf_counter() + seconds
            seq_no = 0
            while time.perf_counter() < deadline:
                if version == "1.6":
                    payload = meter_values16(transaction_id, seq_no * 10.0)
                    frame = json.dumps([2, str(seq_no), "MeterValues", payload])
                else:
                    frame = json.dumps(
                        [2, str(seq_no), "TransactionEvent", event(seq_no, seq_no * 10.0)]
                    )
                sent = time.perf_counter()
                await websocket.send(frame)
                answer = json.loads(await websocket.recv())
                latencies.append(time.perf_counter() - sent)
                if answer[0] != 3:
                    raise RuntimeError(f"{station_id}: {answer}")
                seq_no += 1
                counts[0] += 1

    tasks = [asyncio.create_task(station(i)) for i in range(stations)]
    await asyncio.wait_for(everyone_connected.wait(), 120)
    began = time.perf_counter()
    start_line.set()
    await asyncio.gather(*tasks)
    return Result(counts[0], time.perf_counter() - began, latencies)


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


async def provision(db_url: str, stations: int) -> None:
    from csms.db.database import close_database, open_database
    from csms.db.models import Station
    from csms.passwords import hash_password

    await open_database(db_url)
    hashed = hash_password(PASSWORD)
    await Station.bulk_create(
        [Station(id=f"BENCH-{i:05d}", password_hash=hashed) for i in range(stations)]
    )
    await close_database()


def measure_csms(stations: int, seconds: float, folder: Path, version: str) -> Result:
    db_url = f"sqlite://{folder / 'bench.db'}"
    asyncio.run(provision(db_url, stations))
    port = free_port()
    env = {
        **os.environ,
        "CSMS_DB_URL": db_url,
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(port),
        "CSMS_API_PORT": str(free_port()),
        "CSMS_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen([sys.executable, "cli.py", "serve"], cwd=ROOT, env=env)
    try:
        wait_for_port(port, server)
        return asyncio.run(load(port, stations, seconds, version))
    finally:
        server.terminate()
        server.wait(30)


def measure_bare(stations: int, seconds: float, version: str) -> Result:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", str(port), "--ocpp", version], cwd=ROOT
    )
    try:
        wait_for_port(port, server)
        return asyncio.run(load(port, stations, seconds, version))
    finally:
        server.terminate()
        server.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ocpp", choices=sorted(SUBPROTOCOLS), default="2.0.1")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.ocpp)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        ours = measure_csms(args.stations, args.seconds, Path(folder), args.ocpp)
    bare = measure_bare(args.stations, args.seconds, args.ocpp)
    ratio = ours.rate / bare.rate
    rows = [
        ("this CSMS (validate + durable SQLite)", ours),
        ("bare ocpp library (validate, store nothing)", bare),
    ]
    lines = [
        f"## OCPP {args.ocpp} ingest ({args.stations} stations, {args.seconds:g} s each)",
        "",
        "| server | messages/s | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for name, result in rows:
        lines.append(
            f"| {name} | {result.rate:,.0f} | {result.percentile(0.5):.1f} | "
            f"{result.percentile(0.99):.1f} |"
        )
    lines += ["", f"**Ratio a/b (throughput): {ratio:.2f}** (target >= 1.0)"]
    text = "\n".join(lines)
    print(text)
    print(f"mean latency ours {statistics.mean(ours.latencies) * 1000:.1f} ms")
    write_section("ocpp_ingest" if args.ocpp == "2.0.1" else "ocpp_ingest_16", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
