"""The cluster's `CommandSender`: a command reaches the station wherever its socket is.

The requesting node looks up the station's live claim in Redis; its own stations are
called directly, others' through a request published on the owner's channel, which the
owner runs on its connection (same queue, same timeout) and answers on the requester's
reply channel. A node that no longer holds the station answers "not here" without
sending anything, and the requester looks the owner up again: a command is sent on one
socket at most, and a station that moved is found at its new node.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from csms.blocks.ports import CommandSender, StationLinks
from csms.cluster import wire
from csms.cluster.keys import Keys
from csms.cluster.ownership import Ownership
from csms.cluster.wire import Fence, Fenced, NotHere, Request
from csms.ocpp_errors import CommandTimeout, StationNotConnected

log = logging.getLogger(__name__)

#: Seconds a requester waits beyond the call timeout for the owner's answer to arrive.
RELAY_MARGIN_S = 2.0
#: Seconds between looking the owner up again while a station moves between nodes.
MOVE_POLL_S = 0.05


class LocalLinks(CommandSender, StationLinks, Protocol):
    """This process's connections (the gateway's registry)."""


class FenceSource(Protocol):
    """Where a fenced sender reads the leadership it sends under (a LeaderLease)."""

    def fence(self) -> Fence | None: ...


class ClusterSender:
    """`CommandSender` across the cluster; `serve` answers other nodes' requests.

    :param timeout: the call timeout; the owner applies it to its call, the requester
        waits `RELAY_MARGIN_S` longer for the answer before giving up with CommandTimeout.
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        node_id: str,
        ownership: Ownership,
        local: LocalLinks,
        timeout: float,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.node_id = node_id
        self.ownership = ownership
        self.local = local
        self.timeout = timeout
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self.relayed = 0

    def fenced(self, fence: FenceSource) -> CommandSender:
        """A sender whose commands carry the leadership they are sent under."""
        return _FencedSender(self, fence)

    async def send(
        self,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        fence: Fence | None = None,
    ) -> dict[str, Any]:
        try:
            return await self._route(station_id, action, payload, fence)
        except (RedisError, OSError) as error:
            # Without Redis no command can be routed, nor a fence checked: nothing sent.
            log.warning("[%s] %s not routed: Redis unavailable: %s", station_id, action, error)
            raise StationNotConnected(
                f"station {station_id} cannot be reached: cluster routing unavailable"
            ) from error

    async def _route(
        self,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        fence: Fence | None,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout + RELAY_MARGIN_S
        while True:
            owner = await self.ownership.owner(station_id)
            if owner is None:
                raise StationNotConnected(f"station {station_id} is not connected")
            try:
                if owner.node == self.node_id:
                    return await self.run(station_id, action, payload, fence)
                return await self._relay(owner.node, station_id, action, payload, fence, deadline)
            except NotHere:
                # Moving: the old node let go, the new one's claim is on its way.
                if loop.time() + MOVE_POLL_S >= deadline:
                    raise StationNotConnected(
                        f"station {station_id} moved between nodes and was not found"
                    ) from None
                await asyncio.sleep(MOVE_POLL_S)

    async def run(
        self, station_id: str, action: str, payload: dict[str, Any], fence: Fence | None
    ) -> dict[str, Any]:
        """Call a station of this node: fencing is checked right before the call."""
        if not self.local.is_connected(station_id):
            raise NotHere(f"{station_id} is not on node {self.node_id}")
        if fence is not None:
            current = await self.redis.get(self.keys.epoch(fence.role))
            if current is not None and int(current) > fence.token:
                raise Fenced(
                    f"{action} to {station_id} refused: sent as {fence.role} leader "
                    f"#{fence.token}, but #{int(current)} leads now"
                )
        return await self.local.send(station_id, action, payload)

    async def _relay(
        self,
        node: str,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        fence: Fence | None,
        deadline: float,
    ) -> dict[str, Any]:
        request = Request(
            f"{self.node_id}/{os.getpid()}/{next(self._ids)}",
            self.node_id,
            station_id,
            action,
            payload,
            fence,
        )
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = answer
        try:
            listeners = await self.redis.publish(self.keys.commands(node), request.encode())
            if not listeners:
                # The owner is not listening (it died; its claims lapse with its lease).
                raise NotHere(f"node {node} does not answer")
            self.relayed += 1
            try:
                raw = await asyncio.wait_for(answer, deadline - asyncio.get_running_loop().time())
            except TimeoutError as error:
                raise CommandTimeout(
                    f"node {node} did not answer {action} for {station_id} in time"
                ) from error
        finally:
            self._waiting.pop(request.id, None)
        return wire.outcome(raw)

    # --- the owner's side -------------------------------------------------------------------

    def on_reply(self, raw: str) -> None:
        request_id = wire.reply_id(raw)
        waiting = self._waiting.get(request_id or "")
        if waiting is not None and not waiting.done():
            waiting.set_result(raw)

    def on_request(self, raw: str) -> None:
        """Run another node's command on this node's connection (in its own task)."""
        try:
            request = Request.decode(raw)
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("node %s: unreadable command request dropped", self.node_id)
            return
        task = asyncio.create_task(self._answer(request), name=f"relay {request.id}")
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _answer(self, request: Request) -> None:
        try:
            response = await self.run(
                request.station_id, request.action, request.payload, request.fence
            )
        except Exception as error:
            reply = wire.reply_error(request.id, error)
            if not isinstance(error, NotHere | StationNotConnected):
                log.info(
                    "[%s] %s for node %s: %s",
                    request.station_id,
                    request.action,
                    request.origin,
                    error,
                )
        else:
            reply = wire.reply_ok(request.id, response)
        try:
            await self.redis.publish(self.keys.replies(request.origin), reply)
        except (RedisError, OSError) as error:
            # The requester times out and journals that; the station did answer.
            log.warning(
                "[%s] answer to %s for node %s lost: %s",
                request.station_id,
                request.action,
                request.origin,
                error,
            )

    async def stop(self) -> None:
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)


class _FencedSender:
    def __init__(self, sender: ClusterSender, source: FenceSource) -> None:
        self.sender = sender
        self.source = source

    async def send(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.sender.send(station_id, action, payload, self.source.fence())
