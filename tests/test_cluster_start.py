"""`cli.py serve` refuses a cluster it cannot run with one red line: SQLite with Redis,
or a Redis that does not answer."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.cluster_harness import ROOT, free_ports
from tests.conftest import POSTGRES_URL


async def _serve(**env: str) -> tuple[int, str]:
    ocpp_port, api_port = free_ports(2)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "cli.py",
        "serve",
        cwd=ROOT,
        env={
            **os.environ,
            "CSMS_OCPP_HOST": "127.0.0.1",
            "CSMS_OCPP_PORT": str(ocpp_port),
            "CSMS_API_PORT": str(api_port),
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, output.decode(errors="replace")


async def test_redis_with_sqlite_is_refused_before_anything_starts() -> None:
    code, output = await _serve(
        CSMS_DB_URL="sqlite://./never.db", CSMS_REDIS_URL="redis://127.0.0.1:6379/0"
    )
    assert code == 1
    assert "needs a PostgreSQL CSMS_DB_URL" in output
    assert "Traceback" not in output


async def test_a_redis_that_does_not_answer_is_named_at_start() -> None:
    (closed_port,) = free_ports(1)
    code, output = await _serve(
        CSMS_DB_URL=POSTGRES_URL, CSMS_REDIS_URL=f"redis://127.0.0.1:{closed_port}/0"
    )
    assert code == 1
    assert f"cannot reach Redis at redis://127.0.0.1:{closed_port}/0" in output
    assert "Traceback" not in output
