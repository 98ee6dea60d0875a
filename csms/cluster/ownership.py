"""Which node holds each station's socket, cluster-wide: this node's claims in Redis, and
a mirror of every node's claims for the `StationLinks` port.

A claim is an entry `station -> "node version link"` in one Redis hash; it counts while
the node's own lease key lives (renewed every third of `lease_s`), so a node that dies
loses all its stations at once after `lease_s` without a write per station. A station
that reconnects elsewhere is claimed there over the old entry (the newest link wins) and
the old node is told to drop its stale socket. Releasing is compare-and-delete, so an old
link never removes a newer one.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from csms.blocks.ports import StationLinks, Version
from csms.cluster.keys import Keys
from csms.cluster.wire import OwnerRecord

log = logging.getLogger(__name__)

#: Sets the claim and returns the entry it replaced.
_CLAIM = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old
"""
#: Deletes the claim if it is still this one; 1 when nobody else holds the station now.
_RELEASE = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 1 end
if v == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
return 0
"""
#: The claim on one station if its node is alive.
_OWNER = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local node = string.match(v, '^(%S+)')
if redis.call('EXISTS', ARGV[2] .. node) == 1 then return v end
return false
"""
#: Claims again, after this node's lease lapsed, each station nobody else took meanwhile.
_RECLAIM = """
local n = 0
local mine = ARGV[1] .. ' '
for i = 2, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if (not v) or string.sub(v, 1, string.len(mine)) == mine then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    n = n + 1
  end
end
return n
"""


class Ownership:
    """This node's station claims and the cluster's links (the `StationLinks` port).

    :param local: this process's connections; always right about its own stations.
    :param lease_s: how long claims outlive this node's last renewal.
    """

    _links = itertools.count(1)

    def __init__(
        self, redis: Redis, keys: Keys, node_id: str, lease_s: float, local: StationLinks
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.node_id = node_id
        self.lease_s = lease_s
        self.local = local
        #: This node's claims: station id -> its record (the link it names).
        self.claims: dict[str, OwnerRecord] = {}
        #: Everyone's live claims as of the last `refresh`: station id -> record.
        self._mirror: dict[str, OwnerRecord] = {}
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._owner = redis.register_script(_OWNER)
        self._reclaim = redis.register_script(_RECLAIM)
        #: Called with (station id, node) when a claim took a station from another node.
        self.on_taken: Callable[[str, OwnerRecord], Any] | None = None

    # --- this node's claims ---------------------------------------------------------------

    async def claim(self, station_id: str, version: str) -> OwnerRecord | None:
        """Record that this node holds the station's socket now; returns the claim it
        replaced (another node's stale link, or this node's previous one)."""
        record = OwnerRecord(self.node_id, version, f"{os.getpid()}.{next(self._links)}")
        self.claims[station_id] = record
        raw = await self._claim(keys=[self.keys.owners], args=[station_id, record.encode()])
        self._mirror[station_id] = record
        return None if raw is None else OwnerRecord.decode(raw)

    async def release(self, station_id: str) -> bool:
        """Drop this node's claim after its link closed; True unless another node holds
        the station now (then its link, not this closed one, is the station's state)."""
        record = self.claims.pop(station_id, None)
        if record is None:
            return (await self.owner(station_id)) is None
        self._mirror.pop(station_id, None)
        freed = await self._release(keys=[self.keys.owners], args=[station_id, record.encode()])
        return bool(freed)

    async def release_all(self) -> None:
        """At shutdown: every claim of this node goes, then the node's lease."""
        claims, self.claims = self.claims, {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for station_id, record in claims.items():
                await self._release(
                    keys=[self.keys.owners], args=[station_id, record.encode()], client=pipe
                )
            await pipe.delete(self.keys.node(self.node_id))
            await pipe.execute()

    async def renew(self) -> None:
        """Keep this node's claims alive; if its lease lapsed meanwhile (a long pause, a
        Redis restart), claim its stations again unless another node took them."""
        previous = await self.redis.set(
            self.keys.node(self.node_id), "1", px=int(self.lease_s * 1000), get=True
        )
        if previous is None and self.claims:
            args: list[str] = [self.node_id]
            for station_id, record in self.claims.items():
                args += [station_id, record.encode()]
            again = await self._reclaim(keys=[self.keys.owners], args=args)
            log.warning(
                "node %s: lease had lapsed; %d of %d stations claimed again",
                self.node_id,
                again,
                len(self.claims),
            )

    # --- anyone's claims ------------------------------------------------------------------

    async def owner(self, station_id: str) -> OwnerRecord | None:
        """The live claim on the station (None: no node holds its socket)."""
        raw = await self._owner(keys=[self.keys.owners], args=[station_id, self.keys.node("")])
        return None if raw is None else OwnerRecord.decode(raw)

    async def live_claims(self) -> dict[str, OwnerRecord]:
        """Every claim whose node is alive, read now."""
        entries: dict[str, str] = await self.redis.hgetall(self.keys.owners)  # type: ignore[assignment]
        records = {k: OwnerRecord.decode(v) for k, v in entries.items()}
        nodes = sorted({r.node for r in records.values() if r is not None})
        alive = await self.redis.mget([self.keys.node(n) for n in nodes]) if nodes else []
        live = {n for n, flag in zip(nodes, alive, strict=True) if flag is not None}
        return {s: r for s, r in records.items() if r is not None and r.node in live}

    async def refresh(self) -> dict[str, OwnerRecord]:
        """Read every live claim into the mirror; returns it."""
        self._mirror = await self.live_claims()
        return self._mirror

    async def sweep(self) -> list[str]:
        """Remove the claims of dead nodes (their stations are offline); returns them."""
        entries: dict[str, str] = await self.redis.hgetall(self.keys.owners)  # type: ignore[assignment]
        live = await self.live_claims()
        dead = [(k, v) for k, v in entries.items() if k not in live]
        for station_id, value in dead:
            await self._release(keys=[self.keys.owners], args=[station_id, value])
        return [station_id for station_id, _ in dead]

    def node_of(self, station_id: str) -> str | None:
        """The node holding the station's socket, as of the last refresh (own: now)."""
        if self.local.is_connected(station_id):
            return self.node_id
        record = self._mirror.get(station_id)
        return None if record is None or record.node == self.node_id else record.node

    # --- the StationLinks port --------------------------------------------------------------

    def version(self, station_id: str) -> Version | None:
        local = self.local.version(station_id)
        if local is not None:
            return local
        record = self._mirror.get(station_id)
        if record is None or record.node == self.node_id:
            return None
        return record.version  # type: ignore[return-value]

    def is_connected(self, station_id: str) -> bool:
        return self.version(station_id) is not None

    def station_ids(self) -> list[str]:
        remote = [s for s, r in self._mirror.items() if r.node != self.node_id]
        return list(dict.fromkeys([*self.local.station_ids(), *remote]))
