"""Alert policy, pure: what the CSMS does about each kind of finding."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from csms.analytics.findings import AlertKind, Finding, Severity


class Action(StrEnum):
    ALERT = "alert"  # store and count it; an operator looks
    DERATE = "derate"  # cap the EVSE through its charging profile (the planner honours it)
    STOP = "stop"  # RequestStopTransaction: thermal runaway


@dataclass(frozen=True, slots=True)
class Policy:
    """Per kind the action at warning severity; a critical finding always stops the session.

    `derate_share` is the share of the power at the finding that a derated EVSE keeps.
    """

    actions: tuple[tuple[AlertKind, Action], ...] = (
        (AlertKind.HOT_CONNECTOR, Action.DERATE),
        (AlertKind.SOC_ANOMALY, Action.DERATE),
        (AlertKind.PHASE_IMBALANCE, Action.DERATE),
    )
    derate_share: float = 0.5

    def decide(self, finding: Finding) -> Action:
        if finding.severity is Severity.CRITICAL and finding.transaction_id is not None:
            return Action.STOP
        return dict(self.actions).get(finding.kind, Action.ALERT)

    def derated_limit_w(self, power_w: float) -> float:
        """The cap a derated EVSE gets, from the power it drew when the alert fired."""
        return max(0.0, self.derate_share * power_w)
