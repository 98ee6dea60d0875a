"""Fault injection: what a scenario asks a station to get wrong, and when; a pure core."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    DROP_CONNECTION = "drop_connection"  # close the socket and stay away `duration_s`
    REJECT_PROFILE = "reject_profile"  # answer SetChargingProfile with Rejected
    LATE_ANSWER = "late_answer"  # answer a CALL `delay_s` late
    NO_ANSWER = "no_answer"  # never answer a CALL
    MALFORMED_FRAME = "malformed_frame"  # send a frame that is not OCPP-J
    LOSE_RESPONSE = "lose_response"  # ignore the CSMS's answer to our next CALL
    # From `at_s` on, for good (`count` does not apply):
    NO_SMART_CHARGING = "no_smart_charging"  # smart-charging CALLs -> NotImplemented
    IGNORES_PROFILE = "ignores_profile"  # accept profiles, keep drawing full power


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: from `at_s` (simulated seconds after start) it affects `count` events."""

    kind: FaultKind
    at_s: float = 0.0
    duration_s: float = 0.0
    delay_s: float = 0.0
    action: str | None = None  # the CALL it applies to; None: any
    count: int = 1


@dataclass(slots=True)
class FaultPlan:
    """The faults pending for one station; `take` consumes one when it applies."""

    pending: list[Fault] = field(default_factory=list)
    fired: list[Fault] = field(default_factory=list)

    def take(self, kind: FaultKind, elapsed_s: float, action: str | None = None) -> Fault | None:
        """Consume one occurrence of a due fault of `kind` matching `action`, if any."""
        for index, fault in enumerate(self.pending):
            if fault.kind is not kind or fault.at_s > elapsed_s:
                continue
            if fault.action is not None and action is not None and fault.action != action:
                continue
            if fault.count <= 1:
                del self.pending[index]
            else:
                self.pending[index] = Fault(
                    fault.kind,
                    fault.at_s,
                    fault.duration_s,
                    fault.delay_s,
                    fault.action,
                    fault.count - 1,
                )
            self.fired.append(fault)
            return fault
        return None

    def active(self, kind: FaultKind, elapsed_s: float) -> bool:
        """Whether a lasting fault of `kind` is in effect at `elapsed_s`."""
        return any(f.kind is kind and f.at_s <= elapsed_s for f in self.pending)

    def next_scheduled(self) -> Fault | None:
        """The earliest fault that fires on its own (drop or malformed frame)."""
        timed = [
            f
            for f in self.pending
            if f.kind in (FaultKind.DROP_CONNECTION, FaultKind.MALFORMED_FRAME)
        ]
        return min(timed, key=lambda f: f.at_s) if timed else None
