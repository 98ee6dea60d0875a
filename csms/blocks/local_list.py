"""Local authorization lists (D01, D02): Full and Differential SendLocalList, an empty Full
list, parts split to the station's ItemsPerMessage/BytesPerMessage, and versions handed out
by one atomic database update, so that two pushes (even from two processes) never send the
same version.

A list larger than one message goes as a Full part followed by Differential parts, each
with the next version; the CSMS keeps the content the station last accepted, from which a
Differential push without explicit changes is computed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import F

from csms.blocks.authorization import Authorization
from csms.blocks.base import BlockContext
from csms.blocks.message_split import limits_of, split
from csms.blocks.ports import CommandSender
from csms.db.block_models import LocalListState
from csms.db.models import Station
from csms.db.writer import Batch

log = logging.getLogger(__name__)

UPDATE_TYPES = ("Full", "Differential")

#: An entry's key in the stored content: "<idToken>|<type>".
Key = str


class LocalListError(ValueError):
    """A push the CSMS refuses (HTTP 422): unknown tokens, a bad update type."""


@dataclass(frozen=True, slots=True)
class TokenRef:
    id_token: str
    type: str = "ISO14443"

    @property
    def key(self) -> Key:
        return f"{self.id_token}|{self.type}"


def _entry(key: Key, info: dict[str, Any] | None) -> dict[str, Any]:
    id_token, token_type = key.rsplit("|", 1)
    entry: dict[str, Any] = {"idToken": {"idToken": id_token, "type": token_type}}
    if info is not None:
        entry["idTokenInfo"] = info
    return entry


def difference(
    accepted: Mapping[Key, dict[str, Any]], wanted: Mapping[Key, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The Differential entries that turn `accepted` into `wanted` (pure): changed or new
    tokens with their idTokenInfo, removed ones without."""
    changed = [_entry(k, info) for k, info in wanted.items() if accepted.get(k) != info]
    removed = [_entry(k, None) for k in accepted if k not in wanted]
    return changed + removed


def applied(
    content: Mapping[Key, dict[str, Any]], entries: Sequence[dict[str, Any]]
) -> dict[Key, dict[str, Any]]:
    """The list after a Differential update (pure): an entry without idTokenInfo removes."""
    out = dict(content)
    for entry in entries:
        key = f"{entry['idToken']['idToken']}|{entry['idToken']['type']}"
        if "idTokenInfo" in entry:
            out[key] = entry["idTokenInfo"]
        else:
            out.pop(key, None)
    return out


class LocalLists:
    def __init__(self, context: BlockContext, sender: CommandSender, authorization: Authorization):
        self.context = context
        self.sender = sender
        self.authorization = authorization

    async def push(
        self,
        station_id: str,
        update_type: str = "Full",
        tokens: Sequence[TokenRef] | None = None,
        remove: Sequence[TokenRef] = (),
    ) -> dict[str, Any]:
        """Send the list and return `{status, versionNumber, parts}`.

        Full: `tokens` (None: every known token; empty: an empty list). Differential:
        `tokens` added or updated and `remove` removed, or (neither given) the difference
        between the known tokens and what the station last accepted.
        Raises LocalListError, TooLarge and the sender's command errors.
        """
        if update_type not in UPDATE_TYPES:
            raise LocalListError(f"update_type must be one of {', '.join(UPDATE_TYPES)}")
        if update_type == "Full" and remove:
            raise LocalListError("a Full list replaces the whole list: nothing to remove")
        state = await self._state(station_id)
        if update_type == "Full":
            entries = [_entry(k, info) for k, info in (await self._infos(tokens)).items()]
        elif tokens is None and not remove:
            entries = difference(state.entries, await self._infos(None))
        else:
            added = await self._infos(tokens) if tokens is not None else {}
            entries = [_entry(k, info) for k, info in added.items()]
            entries += [_entry(ref.key, None) for ref in remove]
        payload = {"updateType": update_type, "localAuthorizationList": entries}
        parts = split(
            "SendLocalList",
            # Sized as the longest part can be: a Differential part with a 10-digit version.
            payload | {"versionNumber": 2**31 - 1, "updateType": "Differential"},
            "localAuthorizationList",
            await limits_of(station_id, "SendLocalList"),
        )
        first = await self._issue(station_id, len(parts))
        content = {} if update_type == "Full" else dict(state.entries)
        answers = []
        status = "Accepted"
        for index, part in enumerate(parts):
            version = first + index
            part = part | {
                "versionNumber": version,
                "updateType": update_type if index == 0 else "Differential",
            }
            if not part["localAuthorizationList"]:
                del part["localAuthorizationList"]  # an empty Full list clears it
            answer = await self.sender.send(station_id, "SendLocalList", part)
            answers.append({"versionNumber": version, **answer})
            status = str(answer.get("status"))
            if status != "Accepted":
                log.info("[%s] local list version %d: %s", station_id, version, status)
                break
            content = applied(content, part.get("localAuthorizationList", []))
            await self._accepted(station_id, version, content)
        return {"status": status, "versionNumber": answers[-1]["versionNumber"], "parts": answers}

    async def _infos(self, tokens: Sequence[TokenRef] | None) -> dict[Key, dict[str, Any]]:
        """Key -> idTokenInfo of `tokens` (None: every known token); LocalListError names
        tokens the CSMS does not know."""
        known = {
            f"{e['idToken']['idToken']}|{e['idToken']['type']}": e["idTokenInfo"]
            for e in await self.authorization.local_list()
        }
        if tokens is None:
            return known
        unknown = [ref.key for ref in tokens if ref.key not in known]
        if unknown:
            raise LocalListError(f"unknown tokens: {', '.join(unknown)}")
        return {ref.key: known[ref.key] for ref in tokens}

    async def _state(self, station_id: str) -> LocalListState:
        row = await LocalListState.filter(station_id=station_id).first()
        if row is not None:
            return row
        station = await Station.get(id=station_id)
        return LocalListState(
            station_id=station_id,
            issued=station.local_list_version,
            version=station.local_list_version,
            entries={},
            updated_at=self.context.clock(),
        )

    async def _issue(self, station_id: str, count: int) -> int:
        """Hand out `count` consecutive versions; the first of them. One UPDATE adds to the
        counter, so concurrent pushes (from any process) get distinct ranges."""
        now = self.context.clock()

        async def write(batch: Batch) -> int:
            conn = batch.conn
            if not await LocalListState.filter(station_id=station_id).using_db(conn).exists():
                station = await Station.filter(id=station_id).using_db(conn).get()
                await LocalListState.create(
                    station_id=station_id,
                    issued=station.local_list_version,
                    version=station.local_list_version,
                    entries={},
                    updated_at=now,
                    using_db=conn,
                )
            await (
                LocalListState.filter(station_id=station_id)
                .using_db(conn)
                .update(issued=F("issued") + count, updated_at=now)
            )
            row = await LocalListState.filter(station_id=station_id).using_db(conn).get()
            return int(row.issued) - count + 1

        return await self.context.writer.submit(write)

    async def _accepted(self, station_id: str, version: int, content: dict[Key, Any]) -> None:
        now = self.context.clock()

        async def write(batch: Batch) -> None:
            await (
                LocalListState.filter(station_id=station_id, version__lt=version)
                .using_db(batch.conn)
                .update(version=version, entries=content, updated_at=now)
            )
            await (
                Station.filter(id=station_id, local_list_version__lt=version)
                .using_db(batch.conn)
                .update(local_list_version=version)
            )

        await self.context.writer.submit(write)


async def local_list_state(station_id: str) -> dict[str, Any]:
    """What the CSMS knows of the station's list: accepted version and entries."""
    row = await LocalListState.filter(station_id=station_id).first()
    if row is None:
        return {"version": 0, "issued": 0, "entries": []}
    return {
        "version": row.version,
        "issued": row.issued,
        "entries": [_entry(k, info) for k, info in sorted(row.entries.items())],
    }
