"""Handshake admission: a bound on handshakes checked at once, and a per-address throttle
for the log lines of refused handshakes. Pure: time comes in as an argument."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(slots=True)
class _Window:
    started: float
    emitted: int = 0
    suppressed: int = 0


class LogThrottle:
    """Up to `per_window` records per key (a peer address) every `window_s` seconds.

    A misconfigured station retrying every second with a wrong password, or a scanner,
    must not fill the log; the next record that gets through says how many were held back.
    At most `max_keys` keys are remembered (each costs ~200 bytes); when full, windows
    that ended are forgotten first, then all.
    """

    def __init__(self, per_window: int = 3, window_s: float = 60.0, max_keys: int = 10_000):
        self.per_window = per_window
        self.window_s = window_s
        self.max_keys = max_keys
        self._windows: dict[str, _Window] = {}

    def admit(self, key: str, now: float) -> int | None:
        """None: don't log this one. Otherwise log it, with this many held back before it."""
        window = self._windows.get(key)
        if window is None or now - window.started >= self.window_s:
            held_back = window.suppressed if window is not None else 0
            if window is None and len(self._windows) >= self.max_keys:
                self._forget_ended(now)
            self._windows[key] = _Window(started=now, emitted=1)
            return held_back
        if window.emitted < self.per_window:
            window.emitted += 1
            return 0
        window.suppressed += 1
        return None

    def _forget_ended(self, now: float) -> None:
        ended = [k for k, w in self._windows.items() if now - w.started >= self.window_s]
        for key in ended:
            del self._windows[key]
        if len(self._windows) >= self.max_keys:
            self._windows.clear()
