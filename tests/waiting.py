"""Waiting for a condition in tests: generous real-time bounds, because a busy machine is
slow, not wrong; a condition that holds ends the wait at once."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

#: Real seconds a condition may take on a loaded CI machine before the test fails.
PATIENCE_S = 60.0


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    within_s: float = PATIENCE_S,
    every_s: float = 0.02,
) -> None:
    """Return once `condition()` is true; fail after `within_s` real seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within_s:g} s")
        await asyncio.sleep(every_s)
