"""The id token the CSMS sent in a RequestStartTransaction, found again for the transaction
it started: many stations leave the idToken out of that transaction's events.

The command journal (`Command`) already holds every request and its answer, so the match
needs no table of its own: the request's `remoteStartId` (which the station echoes in the
Started event) or the `transactionId` of its answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from csms.db.models import Command

ACTION = "RequestStartTransaction"

#: Remote starts of one station searched, newest first: a transaction starts within minutes
#: of its request (the EV may be plugged in a little later), so a few suffice.
RECENT_STARTS = 20
#: Requests older than this never match: a remoteStartId may be reused after a long while.
MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class SentToken:
    id_token: str
    type: str


def matching_token(
    requests: list[tuple[dict[str, Any], dict[str, Any] | None]],
    transaction_id: str,
    remote_start_id: int | None,
) -> SentToken | None:
    """The token of the first (newest) request the transaction answers to, pure.

    `requests`: (request payload, answer payload or None) newest first.
    """
    for payload, answer in requests:
        by_id = remote_start_id is not None and payload.get("remoteStartId") == remote_start_id
        by_answer = answer is not None and answer.get("transactionId") == transaction_id
        if not (by_id or by_answer):
            continue
        if answer is not None and answer.get("status") not in (None, "Accepted"):
            continue
        token = payload.get("idToken") or {}
        if token.get("idToken") is None:
            continue
        return SentToken(str(token["idToken"]), str(token.get("type", "Central")))
    return None


async def sent_token(
    station_id: str, transaction_id: str, remote_start_id: int | None, now: datetime
) -> SentToken | None:
    """The token the CSMS sent when it asked `station_id` to start this transaction."""
    rows = (
        await Command.filter(station_id=station_id, action=ACTION, created_at__gte=now - MAX_AGE)
        .exclude(status__in=("invalid", "failed", "error"))
        .order_by("-id")
        .limit(RECENT_STARTS)
        .values_list("payload", "response")
    )
    return matching_token(
        [(payload, answer) for payload, answer in rows], transaction_id, remote_start_id
    )
