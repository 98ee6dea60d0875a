"""Several real `cli.py serve` processes sharing one PostgreSQL schema and one Redis key
prefix of their own, for the cluster tests; reaped (and their data dropped) after each."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from redis.asyncio import Redis

from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("CSMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Station password used throughout the cluster tests.
PASSWORD = "correct-horse-battery"


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def free_ports(count: int) -> list[int]:
    """Distinct ports free now (held open together so that none is picked twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Node:
    """One `cli.py serve` process and its log (stderr), read as it comes."""

    name: str
    process: asyncio.subprocess.Process
    ocpp_port: int
    api_port: int
    lines: list[str] = field(default_factory=list)
    _seen: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append(raw.decode(errors="replace"))
            self._seen.set()

    async def wait_for(self, pattern: str, timeout: float = 120.0, after: int = 0) -> re.Match[str]:
        """The first log line from index `after` on matching `pattern`."""
        try:
            return await asyncio.wait_for(self._find(pattern, after), timeout)
        except TimeoutError:
            tail = "".join(self.lines[-30:])
            raise AssertionError(
                f"{self.name} never logged {pattern!r}; its log ends:\n{tail}"
            ) from None

    async def _find(self, pattern: str, after: int) -> re.Match[str]:
        checked = after
        while True:
            for line in self.lines[checked:]:
                match = re.search(pattern, line)
                if match:
                    return match
            checked = max(checked, len(self.lines))
            self._seen.clear()
            if self.process.returncode is not None:
                raise AssertionError(f"{self.name} exited:\n" + "".join(self.lines[-40:]))
            await self._seen.wait()

    async def request(
        self, method: str, path: str, body: Any = None, timeout: float = 60.0
    ) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(self.api_url) as http,
            http.request(method, path, json=body, timeout=aiohttp.ClientTimeout(timeout)) as reply,
        ):
            return reply.status, await reply.json()

    async def text(self, path: str) -> str:
        async with aiohttp.ClientSession(self.api_url) as http, http.get(path) as reply:
            assert reply.status == 200
            return await reply.text()

    def signal(self, sig: signal.Signals) -> None:
        if self.process.returncode is None:
            self.process.send_signal(sig)


@dataclass
class Cluster:
    db_url: str
    prefix: str
    redis: Redis
    lease_s: float = 2.0
    nodes: dict[str, Node] = field(default_factory=dict)
    balancer: asyncio.subprocess.Process | None = None

    def env(self, name: str, ocpp_port: int, api_port: int, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "CSMS_DB_URL": self.db_url,
            "CSMS_REDIS_URL": REDIS_URL,
            "CSMS_REDIS_PREFIX": self.prefix,
            "CSMS_NODE_ID": name,
            "CSMS_CLUSTER_LEASE": str(self.lease_s),
            "CSMS_OCPP_HOST": "127.0.0.1",
            "CSMS_OCPP_PORT": str(ocpp_port),
            "CSMS_API_PORT": str(api_port),
            "CSMS_CALL_TIMEOUT": "5",
            "CSMS_PING_INTERVAL": "5",
            "CSMS_LOG_LEVEL": "INFO",
            **extra,
        }

    async def start(self, *names: str, **extra: str) -> list[Node]:
        """Start nodes together (they race to create the schema) and wait until each serves."""
        return list(await asyncio.gather(*(self._serving(name, **extra) for name in names)))

    async def _serving(self, name: str, **extra: str) -> Node:
        for _ in range(3):
            node = await self._spawn(name, **extra)
            try:
                await node.wait_for(r"CSMS running")
                return node
            except AssertionError:
                # A free port picked here may be taken before the process binds it.
                if not any("address already in use" in line for line in node.lines):
                    raise
                await node.process.wait()
        raise AssertionError(f"{name}: no free ports")

    async def _spawn(self, name: str, **extra: str) -> Node:
        ocpp_port, api_port = free_ports(2)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "cli.py",
            "serve",
            cwd=ROOT,
            env=self.env(name, ocpp_port, api_port, **extra),
            stderr=asyncio.subprocess.PIPE,
        )
        node = self.nodes[name] = Node(name, process, ocpp_port, api_port)
        node._reader = asyncio.create_task(node._read())
        return node

    async def balance(self, tmp_path: Path) -> tuple[int, int]:
        """HAProxy in front of the nodes started so far: (OCPP port, API port)."""
        from csms.cluster.haproxy import Backend, haproxy_config

        binary = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
        if binary is None:
            pytest.skip("HAProxy is not installed (make test installs Debian's haproxy)")
        ocpp_port, api_port = free_ports(2)
        config = tmp_path / "haproxy.cfg"
        config.write_text(
            haproxy_config(
                [Backend(n.name, n.ocpp_port, n.api_port) for n in self.nodes.values()],
                ocpp_port,
                api_port,
                max_connections=1000,
            )
        )
        self.balancer = await asyncio.create_subprocess_exec(
            binary, "-db", "-f", str(config), stderr=asyncio.subprocess.DEVNULL
        )
        async with asyncio.timeout(30):
            while not reachable(f"//127.0.0.1:{ocpp_port}", ocpp_port):
                await asyncio.sleep(0.1)
        return ocpp_port, api_port

    async def leader(self, role: str) -> tuple[str, int] | None:
        raw = await self.redis.get(f"{self.prefix}:leader:{role}")
        if raw is None:
            return None
        name, token = raw.split(" ")
        return name, int(token)

    async def stop(self) -> None:
        if self.balancer is not None and self.balancer.returncode is None:
            self.balancer.kill()
            await self.balancer.wait()
        for node in self.nodes.values():
            node.signal(signal.SIGCONT)
            node.signal(signal.SIGTERM)
        for node in self.nodes.values():
            try:
                await asyncio.wait_for(node.process.wait(), 30)
            except TimeoutError:
                node.process.kill()
                await node.process.wait()
            if node._reader is not None:
                await node._reader

    async def add_stations(self, node: Node, ids: list[str]) -> None:
        status, body = await node.request(
            "POST", "/api/v1/stations", [{"id": i, "password": PASSWORD} for i in ids]
        )
        assert status == 200 and body["created"] == len(ids), body

    async def owners(self, node: Node) -> dict[str, str | None]:
        status, body = await node.request("GET", "/api/v1/stations")
        assert status == 200, body
        return {s["id"]: s["owner_node"] for s in body}


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """A cluster of no processes yet (start them with `cluster.start(...)`), with its own
    PostgreSQL schema and Redis prefix; skipped only where those servers are absent."""
    if not reachable(POSTGRES_URL, 5432):
        pytest.skip(f"cluster tests need PostgreSQL at {POSTGRES_URL}")
    if not reachable(REDIS_URL, 6379):
        pytest.skip(f"cluster tests need Redis at {REDIS_URL}")
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    await admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    running = Cluster(
        f"{POSTGRES_URL}{separator}schema={schema}", f"t{uuid.uuid4().hex[:10]}", redis
    )
    try:
        yield running
    finally:
        await running.stop()
        keys = [key async for key in redis.scan_iter(f"{running.prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


async def query(cluster: Cluster, sql: str, *args: Any) -> list[Any]:
    """Rows of `sql` run in the cluster's schema (the test reads what the nodes wrote)."""
    import asyncpg

    schema = cluster.db_url.rsplit("schema=", 1)[1]
    connection = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(f"SET search_path TO {schema}")
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()
