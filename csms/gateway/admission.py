"""Handshake admission: a bound on handshakes checked at once, and the security-profile
rule. Pure."""

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


def profile_refusal(required: int, offered: int) -> str | None:
    """Why a link at security profile `offered` may not serve a station that must use at
    least `required`, or None. A station provisioned (or raised) to profile N that arrives
    with a lower one is refused: a downgrade would let a stolen password stand in for a
    certificate, or send it in the clear (OCPP A00.FR.204, A05.FR.07)."""
    if offered < required:
        return f"security profile {offered} refused: the station must use profile {required}"
    return None
