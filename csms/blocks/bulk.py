"""One action to many stations (L campaigns, and bulk commands in general): sent with at most
`max_in_flight` outstanding at once, each station's outcome reported on its own, so that a
slow or offline station holds up no other."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from csms.blocks.ports import CommandSender
from csms.ocpp_errors import (
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    OcppError,
    StationNotConnected,
)

#: Most stations one bulk command may name (one REST call must not queue a whole fleet's
#: worth of CALLs in one process; larger campaigns go as several).
MAX_STATIONS = 10_000
#: Default bound on commands in flight at once.
DEFAULT_IN_FLIGHT = 20


async def send_to_many(
    sender: CommandSender,
    station_ids: Iterable[str],
    action: str,
    payload: dict[str, Any],
    max_in_flight: int = DEFAULT_IN_FLIGHT,
) -> list[dict[str, Any]]:
    """`{station_id, outcome, response | error}` per station, in the order given.

    outcome: answered, not_connected, timeout, rejected (a CALLERROR), invalid (the payload
    breaks the schema), busy (the station's command queue is full).
    """
    gate = asyncio.Semaphore(max_in_flight)

    async def one(station_id: str) -> dict[str, Any]:
        async with gate:
            try:
                response = await sender.send(station_id, action, payload)
            except StationNotConnected:
                return {"station_id": station_id, "outcome": "not_connected"}
            except CommandTimeout as error:
                return {"station_id": station_id, "outcome": "timeout", "error": str(error)}
            except CommandRejected as error:
                return {"station_id": station_id, "outcome": "rejected", "error": str(error)}
            except CommandQueueFull as error:
                return {"station_id": station_id, "outcome": "busy", "error": str(error)}
            except OcppError as error:
                text = f"{error.code}: {error.description}"
                return {"station_id": station_id, "outcome": "invalid", "error": text}
        return {"station_id": station_id, "outcome": "answered", "response": response}

    return list(await asyncio.gather(*(one(s) for s in dict.fromkeys(station_ids))))


def summary(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many stations ended each way; `accepted`: answered with status Accepted."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
        status = (result.get("response") or {}).get("status")
        if status == "Accepted":
            counts["accepted"] = counts.get("accepted", 0) + 1
    return counts
