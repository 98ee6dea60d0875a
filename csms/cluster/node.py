"""One CSMS process as a node of the cluster: its Redis client, its claims renewed, the
channels it listens on, the roles it may lead, and the station table kept true to the
cluster's links.

Background work (each owned here, stopped by `stop`): the listener of this node's
channels, the renewal of its lease and mirror, and the sweeper (led by one node) that
drops dead nodes' claims and corrects `station.connected` from the live claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from csms.blocks.base import Clock
from csms.blocks.ports import Writer
from csms.cluster.commands import ClusterSender, LocalLinks
from csms.cluster.keys import Keys
from csms.cluster.leader import LeaderLease
from csms.cluster.ownership import Ownership
from csms.cluster.wire import OwnerRecord
from csms.config import Settings
from csms.db.models import Station
from csms.db.writer import Batch

log = logging.getLogger(__name__)

#: Closes this process's link to a station: (station id, reason).
CloseLink = Callable[[str, str], Awaitable[None]]


class ClusterUnavailable(RuntimeError):
    """Redis cannot be reached at start; the message says where."""


class ClusterNode:
    """This process in the cluster. `await start()` before the gateway accepts links."""

    def __init__(
        self,
        settings: Settings,
        local: LocalLinks,
        close_link: CloseLink,
        writer: Writer,
        clock: Clock,
    ) -> None:
        assert settings.redis_url is not None
        self.settings = settings
        self.node_id = settings.node_id
        self.redis = Redis.from_url(
            settings.redis_url, health_check_interval=30, decode_responses=True
        )
        self.keys = Keys(settings.redis_prefix)
        self.lease_s = settings.cluster_lease
        self.ownership = Ownership(self.redis, self.keys, self.node_id, self.lease_s, local)
        self.sender = ClusterSender(
            self.redis, self.keys, self.node_id, self.ownership, local, settings.call_timeout
        )
        self.local = local
        self.close_link = close_link
        self.writer = writer
        self.clock = clock
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        #: Receives replan requests other processes forwarded (the leader acts on them).
        self.on_replan: Callable[[str], None] | None = None
        self._forwards: set[asyncio.Future[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._kicks: set[asyncio.Future[None]] = set()

    def lease(self, role: str) -> LeaderLease:
        return LeaderLease(self.redis, self.keys, role, self.node_id, self.lease_s)

    async def start(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as error:
            await self.redis.aclose()
            raise ClusterUnavailable(
                f"cannot reach Redis at {self.settings.redis_url}: {error}"
            ) from error
        await self.ownership.renew()
        await self.ownership.refresh()
        await self._pubsub.subscribe(
            self.keys.commands(self.node_id),
            self.keys.replies(self.node_id),
            self._kick_channel,
            self.keys.replans,
        )
        self._tasks = [
            asyncio.create_task(self._listen(), name="cluster listener"),
            asyncio.create_task(self._renew(), name="cluster lease"),
            asyncio.create_task(self.lease("sweeper").lead(self._sweep), name="cluster sweeper"),
        ]
        log.info("node %s joined the cluster (Redis prefix %s)", self.node_id, self.keys.prefix)

    async def problem(self) -> str | None:
        """None when Redis answers now, else the error."""
        try:
            await asyncio.wait_for(self.redis.ping(), 2.0)
            return None
        except (RedisError, OSError, TimeoutError) as error:
            return f"{type(error).__name__}: {error}"

    async def hand_over(self) -> set[str]:
        """At shutdown, after the gateway closed its links: release this node's claims;
        returns the stations another node holds already (they reconnected there)."""
        try:
            await self.ownership.release_all()
            return set(await self.ownership.live_claims())
        except (RedisError, OSError) as error:
            log.warning("node %s: claims not released (they lapse): %s", self.node_id, error)
            return set()

    async def stop(self) -> None:
        """Stop listening and renewing, and disconnect from Redis."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await asyncio.gather(*self._kicks, *self._forwards, return_exceptions=True)
        await self.sender.stop()
        with contextlib.suppress(RedisError, OSError):
            await self.ownership.release_all()  # none left after hand_over, unless it failed
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        await self.redis.aclose()

    # --- links ---------------------------------------------------------------------------

    async def connected(self, station_id: str, version: str) -> None:
        """Claim the station; a node still holding an older link to it is told to drop it."""
        previous = await self.ownership.claim(station_id, version)
        if previous is not None and previous.node != self.node_id:
            log.info("[%s] moved here from node %s", station_id, previous.node)
            await self.redis.publish(
                self.keys.kicks(previous.node),
                json.dumps({"station": station_id, "link": previous.link}),
            )

    async def disconnected(self, station_id: str) -> bool:
        """Release the station; False when another node holds it now (so its state is
        that node's to record, not this closed link's)."""
        try:
            return await self.ownership.release(station_id)
        except (RedisError, OSError) as error:
            log.warning("[%s] claim not released (the sweeper will): %s", station_id, error)
            return True

    def forward_replan(self, reason: str) -> None:
        """Pass a replan request on to the planner's leader (whichever process it is)."""
        sent = asyncio.ensure_future(self._publish(self.keys.replans, reason))
        self._forwards.add(sent)
        sent.add_done_callback(self._forwards.discard)

    async def _publish(self, channel: str, message: str) -> None:
        try:
            await self.redis.publish(channel, message)
        except (RedisError, OSError) as error:
            log.warning("node %s: not forwarded (%s): %s", self.node_id, message, error)

    @property
    def _kick_channel(self) -> str:
        return self.keys.kicks(self.node_id)

    def _on_kick(self, raw: str) -> None:
        try:
            doc = json.loads(raw)
            station_id, link = str(doc["station"]), str(doc["link"])
        except (ValueError, KeyError, TypeError):
            return
        mine = self.ownership.claims.get(station_id)
        if mine is None or mine.link != link:
            return
        # This node's link is older than the station's new one: it is dead or dying.
        self.ownership.claims.pop(station_id, None)
        task = asyncio.ensure_future(self.close_link(station_id, "connected to another node"))
        self._kicks.add(task)
        task.add_done_callback(self._kicks.discard)

    # --- background -----------------------------------------------------------------------

    async def _listen(self) -> None:
        commands = self.keys.commands(self.node_id)
        replies = self.keys.replies(self.node_id)
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    channel, data = message["channel"], message["data"]
                    if channel == replies:
                        self.sender.on_reply(data)
                    elif channel == commands:
                        self.sender.on_request(data)
                    elif channel == self.keys.replans:
                        if self.on_replan is not None:
                            self.on_replan(data)
                    else:
                        self._on_kick(data)
            except (RedisError, OSError) as error:
                log.warning("node %s: Redis listener lost (%s); reconnecting", self.node_id, error)
                await asyncio.sleep(self.ownership.lease_s / 3)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.ownership.renew()
                await self.ownership.refresh()
            except (RedisError, OSError) as error:
                log.warning("node %s: lease not renewed: %s", self.node_id, error)

    async def _sweep(self) -> None:
        """Led by one node: forget dead nodes' claims; make `station.connected` say what
        the live claims say (a node killed with its links open wrote no disconnect)."""
        while True:
            try:
                swept = await self.ownership.sweep()
                if swept:
                    log.info("swept %d stations of nodes that stopped renewing", len(swept))
                read_at = self.clock()
                live = await self.ownership.live_claims()
                await self.writer.submit(_reconcile(live, read_at))
            except (RedisError, OSError) as error:
                log.warning("sweep failed: %s", error)
            await asyncio.sleep(self.lease_s / 3)


def _reconcile(
    live: dict[str, OwnerRecord], read_at: datetime
) -> Callable[[Batch], Awaitable[Any]]:
    """The write correcting `connected` from claims read at `read_at`; a station whose
    link opened or closed since (last_seen later) is left to that link's own write."""

    async def write(batch: Batch) -> None:
        flagged = set(
            await Station.filter(connected=True).using_db(batch.conn).values_list("id", flat=True)
        )
        gone = sorted(flagged - set(live))
        back = sorted(set(live) - flagged)
        for start in range(0, len(gone), 500):
            await (
                Station.filter(
                    id__in=gone[start : start + 500], connected=True, last_seen__lt=read_at
                )
                .using_db(batch.conn)
                .update(connected=False)
            )
        for start in range(0, len(back), 500):
            await (
                Station.filter(
                    id__in=back[start : start + 500], connected=False, last_seen__lt=read_at
                )
                .using_db(batch.conn)
                .update(connected=True)
            )
        if gone or back:
            log.info("station table corrected: %d disconnected, %d connected", len(gone), len(back))

    return write
