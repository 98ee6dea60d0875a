"""Handshake admission: a bound on handshakes checked at once. Pure."""

from __future__ import annotations


class HandshakeBound:
    """At most `limit` handshakes between `try_enter` and `leave`.

    During a reconnect storm thousands of stations arrive within seconds; each admitted
    handshake costs a database read and a password check. Past the bound a handshake is
    answered 503 at once, so the station backs off and retries instead of timing out in
    a queue that grows faster than it drains.
    """

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("the handshake bound must be at least 1")
        self.limit = limit
        self.in_progress = 0

    def try_enter(self) -> bool:
        if self.in_progress >= self.limit:
            return False
        self.in_progress += 1
        return True

    def leave(self) -> None:
        assert self.in_progress > 0, "leave() without a matching try_enter()"
        self.in_progress -= 1
