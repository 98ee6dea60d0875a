"""Per-EVSE and per-session detector state: a fixed handful of numbers per EVSE."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from csms.analytics.findings import AlertKind


@dataclass(slots=True)
class EvseTrack:
    """What the detectors remember of one EVSE between samples (bounded: a few floats and
    at most one counter per alert kind)."""

    transaction_id: str | None = None
    last_at: datetime | None = None
    last_power_w: float | None = None
    last_import_wh: float | None = None
    last_soc: float | None = None
    last_current_a: float = 0.0
    #: Temperature at the session's first sample: the connector's ambient.
    ambient_c: float | None = None
    #: Consecutive samples each detector has judged abnormal.
    streaks: dict[AlertKind, int] = field(default_factory=dict)
    #: Kinds raised and not yet closed: they do not fire again.
    raised: set[AlertKind] = field(default_factory=set)

    def new_session(self, transaction_id: str | None) -> None:
        """A new transaction: forget what belonged to the last one (the energy register is
        the EVSE's for life, so a reset between sessions still shows)."""
        self.transaction_id = transaction_id
        self.last_power_w = self.last_soc = None
        self.last_current_a = 0.0
        self.ambient_c = None
        self.streaks.clear()
        self.raised -= SESSION_KINDS

    def streak(self, kind: AlertKind, abnormal: bool) -> int:
        """Count one more abnormal sample of `kind` (or reset); return the run length."""
        run = self.streaks.get(kind, 0) + 1 if abnormal else 0
        self.streaks[kind] = run
        return run


#: Kinds about the session rather than the hardware: a new session may raise them again.
SESSION_KINDS = frozenset(
    {
        AlertKind.OVER_LIMIT,
        AlertKind.UNDER_LIMIT,
        AlertKind.SOC_ANOMALY,
        AlertKind.REGISTER_RESET,
        AlertKind.REGISTER_JUMP,
    }
)
