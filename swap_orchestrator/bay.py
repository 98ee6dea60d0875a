"""Swap bay state machine: one platform, one vehicle at a time, every transition named.

A `Bay` is an immutable value; each transition returns the next value or raises
`IllegalTransition`, so a caller can never skip a stage (e.g. swap without checking).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class BayState(Enum):
    IDLE = "idle"
    RESERVED = "reserved"  # a vehicle is called, not yet moving
    APPROACHING = "approaching"  # the vehicle drives from the lane into the bay
    CHECKING = "checking"  # in the bay: alignment and underbody gates
    SWAPPING = "swapping"  # the mechanism exchanges the battery
    RELEASING = "releasing"  # done or refused; the vehicle waits for clearance, then leaves
    FAULT = "fault"


class IllegalTransition(Exception):
    """A transition was asked for in a state that does not allow it."""


# Invariant: `vehicle` is set in every state except IDLE, and in FAULT only when the fault
# caught a vehicle inside the bay (CHECKING or SWAPPING); that vehicle is held there until
# the bay recovers, then goes back to CHECKING so the gates run again before any motion.


@dataclass(frozen=True, slots=True)
class Bay:
    number: int
    state: BayState = BayState.IDLE
    vehicle: str | None = None
    since: float = 0.0

    def _expect(self, transition: str, *states: BayState) -> None:
        if self.state not in states:
            raise IllegalTransition(f"bay {self.number}: {transition} from {self.state.value}")

    def reserve(self, vehicle: str, now: float) -> Bay:
        """Call a vehicle to this bay."""
        self._expect("reserve", BayState.IDLE)
        return replace(self, state=BayState.RESERVED, vehicle=vehicle, since=now)

    def start_approach(self, now: float) -> Bay:
        """The approach gate passed: the vehicle drives in."""
        self._expect("start_approach", BayState.RESERVED)
        return replace(self, state=BayState.APPROACHING, since=now)

    def vehicle_in_bay(self, now: float) -> Bay:
        """The vehicle stopped on the platform; alignment and underbody checks follow."""
        self._expect("vehicle_in_bay", BayState.APPROACHING)
        return replace(self, state=BayState.CHECKING, since=now)

    def start_swap(self, now: float) -> Bay:
        """All three gates passed on fresh reports."""
        self._expect("start_swap", BayState.CHECKING)
        return replace(self, state=BayState.SWAPPING, since=now)

    def complete_swap(self, now: float) -> Bay:
        self._expect("complete_swap", BayState.SWAPPING)
        return replace(self, state=BayState.RELEASING, since=now)

    def refuse(self, now: float) -> Bay:
        """A gate refused the vehicle in the bay: it leaves without a swap."""
        self._expect("refuse", BayState.CHECKING)
        return replace(self, state=BayState.RELEASING, since=now)

    def vacate(self, now: float) -> Bay:
        """The vehicle has driven out of the bay."""
        self._expect("vacate", BayState.RELEASING)
        return replace(self, state=BayState.IDLE, vehicle=None, since=now)

    def withdraw(self, now: float) -> Bay:
        """The called vehicle never came (no-show) or cancelled before moving."""
        self._expect("withdraw", BayState.RESERVED, BayState.APPROACHING)
        return replace(self, state=BayState.IDLE, vehicle=None, since=now)

    def fault(self, now: float) -> Bay:
        """The bay reports a fault. A vehicle on the platform is held there (mechanism
        stopped, battery clamped); a vehicle not yet on it is released back to the queue by
        the caller; a vehicle already leaving carries on."""
        self._expect(
            "fault",
            BayState.IDLE,
            BayState.RESERVED,
            BayState.APPROACHING,
            BayState.CHECKING,
            BayState.SWAPPING,
            BayState.RELEASING,
        )
        held = self.state in (BayState.CHECKING, BayState.SWAPPING)
        return replace(
            self,
            state=BayState.FAULT,
            vehicle=self.vehicle if held else None,
            since=now,
        )

    def recover(self, now: float) -> Bay:
        """The fault is cleared: an empty bay is idle, a held vehicle is checked again."""
        self._expect("recover", BayState.FAULT)
        if self.vehicle is None:
            return replace(self, state=BayState.IDLE, since=now)
        return replace(self, state=BayState.CHECKING, since=now)

    @property
    def busy(self) -> bool:
        """Serving a vehicle (for utilisation)."""
        return self.state not in (BayState.IDLE, BayState.FAULT)
