"""After a station boots, the transactions the CSMS holds active there are asked after
(GetTransactionStatus, E14) and those the station no longer has are ended, so that a
session a reboot lost is neither billed on nor planned for.

`verdict` is the pure decision; `Reconciliation` is the thin adapter that asks, waits and
writes through the transactions block. A transaction is only ever ended if the station has
sent no live event of it since the boot: a transaction it resumed speaks for itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from csms.blocks.base import Clock
from csms.blocks.ports import CommandSender
from csms.db.models import Transaction
from csms.ocpp_errors import CommandRejected, CommandTimeout, OcppError, StationNotConnected

log = logging.getLogger(__name__)


class Verdict(Enum):
    #: The station runs it: nothing to do.
    KEEP = "keep"
    #: The station says it has no such ongoing transaction and nothing queued about it.
    END = "end"
    #: The station still has queued messages (perhaps this transaction's Ended): ask again
    #: after the grace period.
    ASK_LATER = "ask later"
    #: The station cannot tell (no answer, NotImplemented, no ongoingIndicator): end it
    #: unless one of its live events arrives within the grace period.
    END_UNLESS_HEARD = "end unless heard"


@dataclass(frozen=True, slots=True)
class Answer:
    """What GetTransactionStatus told, or None for the fields it left out."""

    ongoing: bool | None
    messages_in_queue: bool


def verdict(answer: Answer | None, asked: int, max_asks: int) -> Verdict:
    """What to do with one transaction after the `asked`-th question (1-based); pure.

    A station that keeps reporting queued messages past `max_asks` is judged on its events
    alone, like one that cannot answer.
    """
    if answer is None or answer.ongoing is None:
        return Verdict.END_UNLESS_HEARD
    if answer.ongoing:
        return Verdict.KEEP
    if not answer.messages_in_queue:
        return Verdict.END
    return Verdict.ASK_LATER if asked < max_asks else Verdict.END_UNLESS_HEARD


#: Ends one transaction unless the station spoke of it live since the boot:
#: `(station_id, transaction_id, booted_at, evidence) -> whether it was ended`.
EndUnresumed = Callable[[str, str, datetime, str], Awaitable[bool]]


class Reconciliation:
    """Runs after every accepted BootNotification (a router after-hook).

    :param grace_s: seconds a transaction the station cannot vouch for may stay active
        after the boot, waiting for its events; also the wait before asking again a station
        that still has messages queued. A resumed transaction sends an event within its
        TxUpdatedInterval, so this should exceed that interval.
    :param max_asks: GetTransactionStatus questions per transaction and boot (one CALL
        each, in the station's queue of outbound CALLs).
    :param on_ended: told how many transactions a reconciliation ended (the planner replans).
    """

    def __init__(
        self,
        sender: CommandSender,
        end_unresumed: EndUnresumed,
        clock: Clock,
        grace_s: float = 300.0,
        max_asks: int = 3,
        on_ended: Callable[[str], None] | None = None,
        version_of: Callable[[str], str | None] | None = None,
    ):
        self.sender = sender
        #: The OCPP version of a station's link: 1.6 has no GetTransactionStatus, and its
        #: boots reach the 2.0.1 hooks through the 1.6 adapter.
        self.version_of = version_of
        self.end_unresumed = end_unresumed
        self.clock = clock
        self.grace_s = grace_s
        self.max_asks = max_asks
        self.on_ended = on_ended
        #: The running reconciliation per station; a new boot replaces it.
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def booted(self, station_id: str, _: dict[str, Any], response: dict[str, Any]) -> None:
        """After-hook of BootNotification: reconcile in the background (never blocks)."""
        if response.get("status") != "Accepted":
            return
        if self.version_of is not None and self.version_of(station_id) == "v16":
            return
        at = self.clock()
        previous = self._tasks.pop(station_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._guarded(station_id, at), name=f"reconcile {station_id}")
        self._tasks[station_id] = task
        task.add_done_callback(lambda done: self._finished(station_id, done))

    def _finished(self, station_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(station_id) is task:
            del self._tasks[station_id]

    def busy(self, station_id: str) -> bool:
        """A reconciliation of this station's transactions is under way."""
        return station_id in self._tasks

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guarded(self, station_id: str, booted_at: datetime) -> None:
        try:
            await self.reconcile(station_id, booted_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("[%s] reconciling transactions after boot failed", station_id)

    async def reconcile(self, station_id: str, booted_at: datetime) -> int:
        """Ask after each active transaction of the station; end those it lost. Returns how
        many were ended."""
        active = await Transaction.filter(station_id=station_id, state="active").values_list(
            "transaction_id", flat=True
        )
        if not active:
            return 0
        results = await asyncio.gather(
            *(self._one(station_id, str(tx), booted_at) for tx in active)
        )
        ended = sum(results)
        if ended and self.on_ended is not None:
            self.on_ended(f"{ended} transaction(s) of {station_id} not resumed after boot")
        return ended

    async def _one(self, station_id: str, transaction_id: str, booted_at: datetime) -> bool:
        asked = 0
        while True:
            asked += 1
            try:
                answer = await self._ask(station_id, transaction_id)
            except StationNotConnected:
                return False  # gone again: its next boot is reconciled anew
            decision = verdict(answer, asked, self.max_asks)
            if decision is Verdict.KEEP:
                log.info("[%s] transaction %s resumed after boot", station_id, transaction_id)
                return False
            if decision is Verdict.END:
                evidence = "GetTransactionStatus: not ongoing, no messages queued"
                break
            await asyncio.sleep(self.grace_s)
            if decision is Verdict.END_UNLESS_HEARD:
                how = "no answer" if answer is None else "no ongoingIndicator"
                if answer is not None and answer.ongoing is False:
                    how = "messages still queued"
                evidence = f"GetTransactionStatus: {how}; no event within {self.grace_s:g} s"
                break
        ended = await self.end_unresumed(station_id, transaction_id, booted_at, evidence)
        if ended:
            log.warning(
                "[%s] transaction %s ended: not resumed after boot (%s)",
                station_id,
                transaction_id,
                evidence,
            )
        return ended

    async def _ask(self, station_id: str, transaction_id: str) -> Answer | None:
        try:
            response = await self.sender.send(
                station_id, "GetTransactionStatus", {"transactionId": transaction_id}
            )
        except (CommandRejected, CommandTimeout, OcppError) as error:
            log.info(
                "[%s] GetTransactionStatus %s not answered: %s", station_id, transaction_id, error
            )
            return None
        return Answer(response.get("ongoingIndicator"), bool(response["messagesInQueue"]))
