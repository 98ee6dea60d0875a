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
    # Power cut at `at_s`: running transactions are lost without an Ended event, then the
    # station boots again (PowerUp) and does not resume them.
    POWER_LOSS = "power_loss"
    # From `at_s` on, for good (`count` does not apply):
    NO_SMART_CHARGING = "no_smart_charging"  # smart-charging CALLs -> NotImplemented
    # Safety faults (issue 19): from `at_s` on (for `duration_s`, 0 = for good) the station's
    # hardware misbehaves; `at_s` is the ground truth of when the fault began.
    HOT_CONNECTOR = "hot_connector"  # contact resistance up: the connector heats 8x
    METER_DRIFT = "meter_drift"  # the energy register counts 15 % too much
    REGISTER_RESET = "register_reset"  # the energy register restarts from zero
    IGNORES_PROFILE = "ignores_profile"  # the station draws what the EV wants, limit or not
    SOC_ANOMALY = "soc_anomaly"  # the BMS reports SoC rising 5x faster than the energy
    PHASE_IMBALANCE = "phase_imbalance"  # a failing contactor: one phase carries 30 %
    REBOOT_LOOP = "reboot_loop"  # the station reboots every `delay_s` (60 s by default)
    UNDER_DELIVERY = "under_delivery"  # a failing power module: 30 % of what it may give


#: Faults that hold over a period rather than firing once.
SAFETY_FAULTS = frozenset(
    {
        FaultKind.HOT_CONNECTOR,
        FaultKind.METER_DRIFT,
        FaultKind.REGISTER_RESET,
        FaultKind.IGNORES_PROFILE,
        FaultKind.SOC_ANOMALY,
        FaultKind.PHASE_IMBALANCE,
        FaultKind.REBOOT_LOOP,
        FaultKind.UNDER_DELIVERY,
    }
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: from `at_s` (simulated seconds after start) it affects `count` events."""

    kind: FaultKind
    at_s: float = 0.0
    duration_s: float = 0.0
    delay_s: float = 0.0
    action: str | None = None  # the CALL it applies to; None: any
    count: int = 1
    evse: int | None = None  # the EVSE a safety fault affects; None: every EVSE

    def holds(self, elapsed_s: float, evse: int | None = None) -> bool:
        """Whether this (safety) fault is in force at `elapsed_s` on `evse`."""
        ended = self.duration_s > 0 and elapsed_s >= self.at_s + self.duration_s
        if elapsed_s < self.at_s or ended:
            return False
        return self.evse is None or evse is None or self.evse == evse


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

    def holds(self, kind: FaultKind, elapsed_s: float, evse: int | None = None) -> bool:
        """Whether a lasting fault of `kind` (safety, no_smart_charging) is in force (these are
        never consumed)."""
        return any(f.kind is kind and f.holds(elapsed_s, evse) for f in self.pending)

    def ground_truth(self) -> list[tuple[FaultKind, float, int | None]]:
        """(kind, began at elapsed seconds, EVSE) of every safety fault planned."""
        return [(f.kind, f.at_s, f.evse) for f in self.pending if f.kind in SAFETY_FAULTS]

    def next_scheduled(self) -> Fault | None:
        """The earliest fault that fires on its own (drop, malformed frame, power loss)."""
        timed = [
            f
            for f in self.pending
            if f.kind
            in (FaultKind.DROP_CONNECTION, FaultKind.MALFORMED_FRAME, FaultKind.POWER_LOSS)
        ]
        return min(timed, key=lambda f: f.at_s) if timed else None
