"""`make cluster`: N `cli.py serve` processes on this host behind HAProxy, sharing one
PostgreSQL and one Redis, until Ctrl-C.

    python -m csms.cluster.local [--nodes 3] [--ocpp-port 9000] [--api-port 8080]

Stations connect to ws://host:OCPP_PORT/ocpp/<id>, operators use http://127.0.0.1:API_PORT;
process i listens on OCPP_PORT+i and API_PORT+i. CSMS_DB_URL (PostgreSQL) and
CSMS_REDIS_URL default to the servers on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from csms.cluster.haproxy import Backend, haproxy_config

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m csms.cluster.local", description=__doc__)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--ocpp-port", type=int, default=9000)
    parser.add_argument("--api-port", type=int, default=8080)
    parser.add_argument("--bind", default="127.0.0.1", help="HAProxy's address for both ports")
    args = parser.parse_args(argv)
    haproxy = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if haproxy is None:
        print("haproxy is not installed: apt-get install haproxy", file=sys.stderr)
        return 1
    env = {
        **os.environ,
        "CSMS_DB_URL": os.environ.get("CSMS_DB_URL", DEFAULT_DB_URL),
        "CSMS_REDIS_URL": os.environ.get("CSMS_REDIS_URL", DEFAULT_REDIS_URL),
        "CSMS_OCPP_HOST": "127.0.0.1",
    }
    backends = [
        Backend(f"csms-{i}", args.ocpp_port + i, args.api_port + i)
        for i in range(1, args.nodes + 1)
    ]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for backend in backends:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "cli.py", "serve"],
                    cwd=ROOT,
                    env={
                        **env,
                        "CSMS_NODE_ID": backend.name,
                        "CSMS_OCPP_PORT": str(backend.ocpp_port),
                        "CSMS_API_PORT": str(backend.api_port),
                    },
                )
            )
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "haproxy.cfg"
            # Two descriptors per connection: stay within what this host lets HAProxy open.
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            connections = min(50_000, (limit - 100) // 2) if limit > 0 else 50_000
            config.write_text(
                haproxy_config(backends, args.ocpp_port, args.api_port, args.bind, connections)
            )
            processes.append(subprocess.Popen([haproxy, "-db", "-f", str(config)]))
            print(
                f"cluster of {args.nodes}: OCPP ws://{args.bind}:{args.ocpp_port}/ocpp/<id>, "
                f"API http://{args.bind}:{args.api_port}/api/v1 (Ctrl-C stops)",
                file=sys.stderr,
            )
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
            print("a process of the cluster exited; stopping the others", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
