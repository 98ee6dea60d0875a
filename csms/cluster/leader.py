"""Leader leases in Redis with fencing tokens: one node at a time runs a role's work.

A lease is the key `leader:<role>` = "node token", set only when absent and renewed by
its holder every third of `lease_s`; each new leadership takes the next token from the
role's counter. Commands sent for the role carry the token, and the node holding the
station's socket refuses a token older than the counter (see `commands.ClusterSender`):
a leader that was paused past its lease and wakes up cannot send once another took over.
The holder stops its work when a renewal fails or is overdue by its own clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from csms.cluster.keys import Keys
from csms.cluster.wire import Fence

log = logging.getLogger(__name__)

#: Takes the lease if free (or already this node's); returns the token, or nil.
_ACQUIRE = """
local v = redis.call('GET', KEYS[1])
if v then
  local node, token = string.match(v, '^(%S+) (%d+)$')
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token
"""
#: Extends the lease if it is still this holder's; 1 when renewed.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
#: Gives the lease up if it is still this holder's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaderLease:
    """This node's claim on leading `role`.

    :param lease_s: how long a leadership outlives its holder's last renewal; a dead
        leader is replaced after at most `lease_s` plus a third of it (the candidates'
        poll period).
    """

    def __init__(self, redis: Redis, keys: Keys, role: str, node_id: str, lease_s: float):
        self.redis = redis
        self.keys = keys
        self.role = role
        self.node_id = node_id
        self.lease_s = lease_s
        #: The fencing token of the leadership held, None when not leading.
        self.token: int | None = None
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def period_s(self) -> float:
        return self.lease_s / 3

    def fence(self) -> Fence | None:
        """The leadership commands are sent under (None: not leading, e.g. a station's
        boot-time default profile sent by whichever node it connected to)."""
        return None if self.token is None else Fence(self.role, self.token)

    async def try_acquire(self) -> int | None:
        token = await self._acquire(
            keys=[self.keys.leader(self.role), self.keys.epoch(self.role)],
            args=[self.node_id, int(self.lease_s * 1000)],
        )
        return None if token is None else int(token)

    async def renew(self, token: int) -> bool:
        renewed = await self._renew(
            keys=[self.keys.leader(self.role)],
            args=[f"{self.node_id} {token}", int(self.lease_s * 1000)],
        )
        return bool(renewed)

    async def release(self, token: int) -> None:
        await self._release(keys=[self.keys.leader(self.role)], args=[f"{self.node_id} {token}"])

    async def holder(self) -> tuple[str, int] | None:
        raw = await self.redis.get(self.keys.leader(self.role))
        if raw is None:
            return None
        node, token = str(raw).split(" ")
        return node, int(token)

    async def lead(self, work: Callable[[], Awaitable[None]]) -> None:
        """Forever: wait for the lease, run `work` while holding it, stop it when lost."""
        loop = asyncio.get_running_loop()
        while True:
            token = await self._candidate()
            self.token = token
            log.info("node %s leads %s (token %d)", self.node_id, self.role, token)
            task = asyncio.create_task(_logged(work, self.role), name=f"{self.role} leader")
            try:
                await self._hold(token, loop.time())
            finally:
                self.token = None
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            log.warning("node %s no longer leads %s", self.node_id, self.role)

    async def _candidate(self) -> int:
        while True:
            try:
                token = await self.try_acquire()
            except RedisError as error:
                log.warning("node %s: %s lease unavailable: %s", self.node_id, self.role, error)
                token = None
            if token is not None:
                return token
            await asyncio.sleep(self.period_s)

    async def _hold(self, token: int, renewed_at: float) -> None:
        """Return when the leadership is lost: refused, or not renewed within the lease by
        this node's clock (Redis unreachable: another node may lead already)."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(self.period_s)
                began = loop.time()
                if began - renewed_at > self.lease_s:
                    return
                try:
                    if not await asyncio.wait_for(self.renew(token), self.period_s):
                        return
                except (RedisError, TimeoutError) as error:
                    log.warning("node %s: %s lease not renewed: %s", self.node_id, self.role, error)
                    continue
                renewed_at = began
        except asyncio.CancelledError:
            # Stopping: hand over at once rather than after the lease.
            with contextlib.suppress(RedisError, OSError):
                await asyncio.shield(self.release(token))
            raise


async def _logged(work: Callable[[], Awaitable[None]], role: str) -> None:
    try:
        await work()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s work failed; it runs again at the next leadership", role)
