"""Cold start: the CSMS answers from its first second while the kernel compiles elsewhere.

`cli.py serve` starts with an empty numba cache (a fresh NUMBA_CACHE_DIR), as on a fresh
install whose warm-up was skipped: it compiles the kernel in a child process. From the
moment the server is spawned, 100 stations connect (handshake) and send Heartbeats over
and over; reported: p50/p99/max of handshake and Heartbeat round trips during the first
seconds, against the same figures with a warm cache, measured in the same run. Then the
compile time, and the exit time after SIGTERM sent while a compile is running.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.headers import build_authorization_basic  # noqa: E402

from benchmarks.report import write_section  # noqa: E402

STATIONS = 100
#: Random, as the README asks of station passwords (the cheapest hash cost).
PASSWORD = "bS7qK2vXw9LmT4rYp8NcZ3hF"
#: Seconds from the spawn during which stations connect and send Heartbeats.
WINDOW_S = 15.0
#: Heartbeats per connection and the pause between them: 100 messages/s in all, light
#: enough that the client (one Python process) does not dominate what is measured.
HEARTBEATS = 3
HEARTBEAT_GAP_S = 1.0
TARGET_P99_S = 0.1
EXIT_TARGET_S = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provision(db_url: str) -> None:
    rows = "\n".join(f"C{n:03d},{PASSWORD}" for n in range(STATIONS))
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as csv:
        csv.write(f"id,password\n{rows}\n")
    subprocess.run(
        [sys.executable, "cli.py", "stations", "import", csv.name],
        cwd=ROOT,
        env={**os.environ, "CSMS_DB_URL": db_url},
        check=True,
        capture_output=True,
    )
    os.unlink(csv.name)


def spawn(db_url: str, cache: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CSMS_DB_URL": db_url,
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(port),
        "CSMS_API_PORT": str(_free_port()),
        "NUMBA_CACHE_DIR": str(cache),
    }
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "cli.py", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out
    )


async def station(sid: str, port: int, until: float, out: dict[str, list[float]]) -> None:
    """Connect, send Heartbeats one after the other, reconnect, until `until`."""
    header = {"Authorization": build_authorization_basic(sid, PASSWORD)}
    n = 0
    while time.monotonic() < until:
        began = time.monotonic()
        try:
            async with connect(
                f"ws://127.0.0.1:{port}/ocpp/{sid}",
                subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                additional_headers=header,
                open_timeout=30,
            ) as ws:
                out["handshake"].append(time.monotonic() - began)
                for _ in range(HEARTBEATS):
                    n += 1
                    began = time.monotonic()
                    await ws.send(f'[2,"{sid}-{n}","Heartbeat",{{}}]')
                    await ws.recv()
                    out["heartbeat"].append(time.monotonic() - began)
                    await asyncio.sleep(HEARTBEAT_GAP_S)
        except OSError:
            await asyncio.sleep(0.01)  # not listening yet: the first tenths of a second


async def latencies(port: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"handshake": [], "heartbeat": []}
    until = time.monotonic() + WINDOW_S
    await asyncio.gather(*(station(f"C{n:03d}", port, until, out) for n in range(STATIONS)))
    return out


def wait_for_line(log: Path, pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text())
        if match:
            return match
        time.sleep(0.2)
    raise RuntimeError(f"no {pattern!r} in {log}")


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(workdir: Path) -> dict[str, Any]:
    db_url = f"sqlite://{workdir / 'csms.db'}"
    provision(db_url)
    figures: dict[str, Any] = {"load_avg": os.getloadavg()[0]}
    cold = workdir / "cold-cache"
    # Cold start: latencies while the child compiles, then the compile time.
    port = _free_port()
    server = spawn(db_url, cold, port, workdir / "cold.log")
    figures["cold"] = asyncio.run(latencies(port))
    match = wait_for_line(workdir / "cold.log", r"kernel ready: ([\d.]+) s", 900)
    figures["compile_s"] = float(match.group(1))
    server.terminate()
    server.wait(30)
    # Warm start on the cache just filled: the reference.
    port = _free_port()
    server = spawn(db_url, cold, port, workdir / "warm.log")
    figures["warm"] = asyncio.run(latencies(port))
    server.terminate()
    server.wait(30)
    # SIGTERM during a compile (another empty cache).
    server = spawn(db_url, workdir / "cold-again", _free_port(), workdir / "term.log")
    wait_for_line(workdir / "term.log", r"compiling the kernel in process", 60)
    time.sleep(2.0)
    began = time.monotonic()
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    figures["exit_during_compile_s"] = time.monotonic() - began
    return figures


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(Path(tmp))
    rows = []
    ok = figures["exit_during_compile_s"] <= EXIT_TARGET_S
    for kind in ("handshake", "heartbeat"):
        cold, warm = figures["cold"][kind], figures["warm"][kind]
        ok &= pct(cold, 0.99) <= TARGET_P99_S
        rows.append(
            f"| {kind} | {len(cold):,} | {pct(cold, 0.5) * 1000:.1f} ms | "
            f"{pct(cold, 0.99) * 1000:.1f} ms | {max(cold) * 1000:.1f} ms | "
            f"{pct(warm, 0.99) * 1000:.1f} ms | {pct(cold, 0.99) / pct(warm, 0.99):.2f}x |"
        )
        print(
            f"{kind}: cold start p50 {pct(cold, 0.5) * 1000:.1f} ms, p99 "
            f"{pct(cold, 0.99) * 1000:.1f} ms, max {max(cold) * 1000:.1f} ms over {len(cold)} "
            f"(warm start p99 {pct(warm, 0.99) * 1000:.1f} ms; target p99 <= 100 ms)"
        )
    print(
        f"kernel compile in the child process: {figures['compile_s']:.0f} s; "
        f"exit after SIGTERM during a compile: {figures['exit_during_compile_s']:.2f} s "
        f"(target <= {EXIT_TARGET_S:g} s)"
    )
    write_section(
        "cold_start",
        "## Cold start (`benchmarks/cold_start.py`)\n\n"
        f"`cli.py serve` with an empty numba cache compiles the kernel in a child process;\n"
        f"{STATIONS} stations connect from the spawn on and send Heartbeats for "
        f"{WINDOW_S:g} s (each\nconnection: a handshake, then {HEARTBEATS} Heartbeats "
        f"{HEARTBEAT_GAP_S:g} s apart). Load average at the start: {figures['load_avg']:.1f} "
        "(2 cores). "
        "Reference: the same with the cache\nwarm, in the same run.\n\n"
        "| round trip | count | p50 cold | p99 cold | max cold | p99 warm (reference) | "
        "p99 ratio |\n|---|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows)
        + f"\n\nKernel compile on this machine (child process): {figures['compile_s']:.0f} s. "
        f"Exit after SIGTERM during a compile: {figures['exit_during_compile_s']:.2f} s "
        f"(target <= {EXIT_TARGET_S:g} s).\n",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
