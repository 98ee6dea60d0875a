"""Fakes of the service ports (csms.blocks.ports) for unit tests: no websocket, no database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from csms.blocks.ports import Version
from csms.db.writer import WriteOp

Answer = dict[str, Any] | BaseException


class FakeLinks:
    """Stations online and the version each speaks; edit `online` to connect or drop one."""

    def __init__(self, **online: Version) -> None:
        self.online: dict[str, Version] = dict(online)

    def version(self, station_id: str) -> Version | None:
        return self.online.get(station_id)

    def is_connected(self, station_id: str) -> bool:
        return station_id in self.online

    def station_ids(self) -> list[str]:
        return list(self.online)


class FakeSender:
    """Keeps every CALL; answers with `answer(station_id, action, payload)`: a payload, or an
    exception to raise."""

    def __init__(self, answer: Callable[[str, str, dict[str, Any]], Answer] | None = None) -> None:
        self.answer = answer or (lambda *_: {"status": "Accepted"})
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.sent = asyncio.Event()

    async def send(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((station_id, action, payload))
        self.sent.set()
        answer = self.answer(station_id, action, payload)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def actions(self) -> list[str]:
        return [action for _, action, _ in self.calls]

    async def wait_for(self, count: int) -> None:
        """Until `count` CALLs were sent (spawned work runs on the loop)."""
        async with asyncio.timeout(10):
            while len(self.calls) < count:
                self.sent.clear()
                await self.sent.wait()


class FakeWriter:
    """Counts writes and runs none of them (they are database statements)."""

    def __init__(self) -> None:
        self.submitted = 0

    async def submit(self, op: WriteOp[Any]) -> Any:
        self.submitted += 1
        return None


class FakeClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
