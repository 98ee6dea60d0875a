"""Commands to stations (CSMS -> CS CALLs) with a stored outcome, and local auth lists."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from csms.blocks.authorization import Authorization
from csms.blocks.base import BlockContext
from csms.blocks.ports import CommandSender, Writer
from csms.db.models import Command
from csms.db.writer import Batch
from csms.ocpp_errors import (
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    OcppError,
    StationNotConnected,
)

log = logging.getLogger(__name__)

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a command ended: `status` as in `Command.status`, with the answer or the error."""

    status: str
    response: dict[str, Any] | None = None
    error: str | None = None


class CommandJournal(Protocol):
    """Where every command and its outcome is recorded."""

    async def opened(self, station_id: str, action: str, payload: Payload, at: datetime) -> int:
        """Record a command about to be sent; returns its id."""
        ...

    async def closed(self, command_id: int, outcome: Outcome, at: datetime) -> None: ...


class StoredCommands:
    """The journal in the `command` table, through the durable writer."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def opened(self, station_id: str, action: str, payload: Payload, at: datetime) -> int:
        async def write(batch: Batch) -> int:
            row = await Command.create(
                station_id=station_id,
                action=action,
                payload=payload,
                status="sent",
                created_at=at,
                using_db=batch.conn,
            )
            return int(row.id)

        return await self.writer.submit(write)

    async def closed(self, command_id: int, outcome: Outcome, at: datetime) -> None:
        async def write(batch: Batch) -> None:
            await (
                Command.filter(id=command_id)
                .using_db(batch.conn)
                .update(
                    status=outcome.status,
                    response=outcome.response,
                    error=outcome.error,
                    completed_at=at,
                )
            )

        await self.writer.submit(write)


#: Device-model variables whose values never reach the command journal.
SECRET_VARIABLES = frozenset({"BasicAuthPassword"})


def redacted(action: str, payload: Payload) -> Payload:
    """The payload as journaled: a password sent with SetVariables is stored as "***"."""
    if action != "SetVariables":
        return payload
    items = payload.get("setVariableData")
    if not isinstance(items, list):
        return payload
    return {
        **payload,
        "setVariableData": [
            {**item, "attributeValue": "***"}
            if isinstance(item, dict)
            and isinstance(item.get("variable"), dict)
            and item["variable"].get("name") in SECRET_VARIABLES
            else item
            for item in items
        ],
    }


class RemoteControl:
    """The operator's `CommandSender`: sends through the transport `sender` (one process's
    connections, or a cluster's) and journals every outcome."""

    def __init__(
        self,
        context: BlockContext,
        sender: CommandSender,
        authorization: Authorization,
        journal: CommandJournal | None = None,
    ):
        self.context = context
        self.sender = sender
        self.authorization = authorization
        self.journal = journal or StoredCommands(context.writer)

    async def send(self, station_id: str, action: str, payload: Payload) -> Payload:
        """Send `action` and return the station's answer; the outcome is stored either way.

        Raises StationNotConnected, OcppError (payload breaks the schema), CommandQueueFull,
        CommandTimeout or CommandRejected.
        """
        record = await self.journal.opened(
            station_id, action, redacted(action, payload), self.context.clock()
        )
        try:
            response = await self.sender.send(station_id, action, payload)
        except asyncio.CancelledError:
            # The requester went away: record that, then let the cancellation through.
            await asyncio.shield(self._finish(record, Outcome("cancelled")))
            raise
        except OcppError as error:
            await self._finish(
                record, Outcome("invalid", error=f"{error.code}: {error.description}")
            )
            raise
        except CommandTimeout as error:
            await self._finish(record, Outcome("timeout", error=str(error)))
            raise
        except CommandRejected as error:
            await self._finish(record, Outcome("error", error=str(error)))
            raise
        except (StationNotConnected, CommandQueueFull) as error:
            await self._finish(record, Outcome("failed", error=str(error) or type(error).__name__))
            raise
        await self._finish(record, Outcome("answered", response=response))
        return response

    async def _finish(self, command_id: int, outcome: Outcome) -> None:
        await self.journal.closed(command_id, outcome, self.context.clock())
