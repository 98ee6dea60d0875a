"""A bare OCPP-J peer for protocol tests: raw frames over a real websocket, no library logic,
so that malformed frames and exact error codes can be exercised."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from csms.app import Csms


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class WirePeer:
    """Sends CALLs and reads answers; CSMS-initiated CALLs are queued in `incoming`."""

    def __init__(self, websocket: ClientConnection):
        self.websocket = websocket
        self._ids = itertools.count(1)
        self.incoming: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._answers: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.websocket:
            frame = json.loads(text)
            if frame[0] == 2:
                await self.incoming.put(frame)
            elif frame[1] in self._answers:
                self._answers.pop(frame[1]).set_result(frame)
            else:
                await self.incoming.put(frame)

    async def send_raw(self, text: str | bytes) -> None:
        await self.websocket.send(text)

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 10) -> list[Any]:
        """Send a CALL; return the whole answer frame ([3, id, {...}] or [4, id, code, ...])."""
        unique_id = f"t{next(self._ids)}"
        return await self.call_with_id(unique_id, action, payload, timeout)

    async def call_with_id(
        self, unique_id: str, action: str, payload: dict[str, Any], timeout: float = 10
    ) -> list[Any]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._answers[unique_id] = future
        await self.websocket.send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(future, timeout)

    async def expect_call(self, timeout: float = 10) -> list[Any]:
        return await asyncio.wait_for(self.incoming.get(), timeout)

    async def expect_answer(self, timeout: float = 10) -> list[Any]:
        """The next CALLRESULT/CALLERROR frame; CALLs of the CSMS meanwhile (a boot makes it
        ask GetTransactionStatus) are answered NotImplemented, as a minimal station would."""
        while True:
            frame = await self.expect_call(timeout)
            if frame[0] != 2:
                return frame
            await self.send_raw(json.dumps([4, frame[1], "NotImplemented", "not emulated", {}]))

    async def answer(self, unique_id: str, payload: dict[str, Any]) -> None:
        await self.websocket.send(json.dumps([3, unique_id, payload]))

    async def close(self) -> None:
        await self.websocket.close()
        self._reader.cancel()


async def open_peer(
    csms: Csms,
    station_id: str,
    password: str,
    subprotocol: str = "ocpp2.0.1",
) -> WirePeer:
    websocket = await connect(
        f"ws://127.0.0.1:{csms.ocpp_port}/ocpp/{station_id}",
        subprotocols=[subprotocol],  # type: ignore[list-item]
        additional_headers=basic_auth(station_id, password),
        open_timeout=5,
    )
    return WirePeer(websocket)
