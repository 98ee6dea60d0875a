"""Whether the CSMS controls an EVSE's power, pure: from the station's answers to
SetChargingProfile, its device model and its meter; with back-off and a circuit breaker.

A station's link to smart charging is a circuit breaker (one per station):

    CLOSED  -- refusal or no answer -->  BACKING_OFF (failures < open_after; next try
                                         after base_s * 2 ** (failures - 1), capped)
    BACKING_OFF -- failures reach open_after, or NotImplemented / NotSupported,
                   or the device model says no smart charging -->  OPEN (unmanaged)
    OPEN    -- reprobe_s later, or boot, or firmware change -->  one probe allowed
               (a profile at the load it is planned at anyway: harmless if ignored)
    any     -- Accepted -->  CLOSED (managed)

An EVSE of a CLOSED station is disobeying (unmanaged too) once its measured power stays
clearly above the limit it accepted for `disobey_readings` meter readings in a row; it is
managed again once it stays within that limit as long (it is watched all the time, so it
needs no probe), or when its station boots or changes firmware. Time comes in as an
argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Answer(StrEnum):
    """What became of one SetChargingProfile."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"  # CALLERROR NotImplemented / NotSupported
    NO_ANSWER = "NoAnswer"  # timeout, or the station's queue full


class Breaker(StrEnum):
    CLOSED = "closed"
    BACKING_OFF = "backing off"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class ControlPolicy:
    """:param base_s: back-off after the first refusal; it doubles with each next one.
    :param max_backoff_s: longest back-off between two tries while the breaker is closed.
    :param open_after: refusals (or unanswered calls) in a row that open the breaker.
    :param reprobe_s: how long an unmanaged verdict stands before the station is tried
        again (CSMS_REPROBE_INTERVAL).
    :param disobey_margin_w: "clearly above": measured power over limit + 10 % of its
        size + this.
    :param disobey_readings: readings in a row clearly above the limit that make an EVSE
        disobeying (two meter intervals: one reading can straddle a profile change).
    """

    base_s: float = 30.0
    max_backoff_s: float = 900.0
    open_after: int = 3
    reprobe_s: float = 3600.0
    disobey_margin_w: float = 500.0
    disobey_readings: int = 2


@dataclass(frozen=True, slots=True)
class ControlStatus:
    managed: bool
    reason: str | None = None
    since: datetime | None = None

    def text(self) -> str:
        """`managed`, or `unmanaged: <reason> since <t>` (as REST and the CLI show it)."""
        if self.managed:
            return "managed"
        since = self.since.isoformat() if self.since else "?"
        return f"unmanaged: {self.reason} since {since}"


MANAGED = ControlStatus(True)


@dataclass(frozen=True, slots=True)
class Change:
    """A change of a station's control state, as one log line; `managed_changed` when an
    EVSE became managed or unmanaged (the plan must follow), not for a mere back-off."""

    text: str
    managed_changed: bool = True


@dataclass(slots=True)
class _Station:
    # Invariant: state is OPEN exactly when `unmanaged` is set.
    state: Breaker = Breaker.CLOSED
    failures: int = 0
    next_try: datetime | None = None
    unmanaged: ControlStatus | None = None


@dataclass(slots=True)
class _Evse:
    over: int = 0  # readings in a row clearly above the accepted limit
    unmanaged: ControlStatus | None = None


@dataclass(slots=True)
class ControlBook:
    """Per station and EVSE: managed or not, and whether a profile may be sent now.

    Methods that change a status return the Change when it changed (None otherwise),
    so the caller logs a station's state changes, never each attempt.
    """

    policy: ControlPolicy = field(default_factory=ControlPolicy)
    _stations: dict[str, _Station] = field(default_factory=dict)
    _evses: dict[tuple[str, int], _Evse] = field(default_factory=dict)

    def status(self, station_id: str, evse_id: int) -> ControlStatus:
        station = self._stations.get(station_id)
        if station is not None and station.unmanaged is not None:
            return station.unmanaged
        evse = self._evses.get((station_id, evse_id))
        if evse is not None and evse.unmanaged is not None:
            return evse.unmanaged
        return MANAGED

    def station_status(self, station_id: str, evse_ids: Iterable[int]) -> ControlStatus:
        """The station's own verdict, else that of its first unmanaged EVSE."""
        for evse_id in (0, *evse_ids):
            status = self.status(station_id, evse_id)
            if not status.managed:
                return status
        return MANAGED

    def probe_due(self, station_id: str, now: datetime) -> bool:
        """Whether the station's breaker is open and its next probe may go now."""
        station = self._stations.get(station_id)
        return (
            station is not None and station.state is Breaker.OPEN and self.may_send(station_id, now)
        )

    def may_send(self, station_id: str, now: datetime) -> bool:
        """Whether a SetChargingProfile may go to the station now (not while it backs
        off; one probe once an open breaker's re-probe time has come)."""
        station = self._stations.get(station_id)
        return station is None or station.next_try is None or now >= station.next_try

    def answered(self, station_id: str, answer: Answer, now: datetime) -> Change | None:
        """Record the outcome of one SetChargingProfile sent to the station."""
        station = self._stations.setdefault(station_id, _Station())
        before = station.state
        if answer is Answer.ACCEPTED:
            self._stations[station_id] = _Station()
            if before is Breaker.CLOSED:
                return None
            return Change("managed again: a profile was accepted", before is Breaker.OPEN)
        station.failures += 1
        what = {
            Answer.REJECTED: "SetChargingProfile Rejected",
            Answer.NOT_SUPPORTED: "SetChargingProfile not implemented",
            Answer.NO_ANSWER: "SetChargingProfile unanswered",
        }[answer]
        if before is Breaker.OPEN:
            station.next_try = now + timedelta(seconds=self.policy.reprobe_s)
            return None
        if answer is Answer.NOT_SUPPORTED or station.failures >= self.policy.open_after:
            reason = what if answer is Answer.NOT_SUPPORTED else f"{what} {station.failures} times"
            return self._open(station, reason, now)
        delay = min(self.policy.base_s * 2 ** (station.failures - 1), self.policy.max_backoff_s)
        station.state = Breaker.BACKING_OFF
        station.next_try = now + timedelta(seconds=delay)
        if before is Breaker.CLOSED:
            return Change(f"backing off: {what}, next try in {delay:g} s", managed_changed=False)
        return None

    def not_capable(self, station_id: str, reason: str, now: datetime) -> Change | None:
        """The device model says the station does no smart charging."""
        station = self._stations.setdefault(station_id, _Station())
        if station.state is Breaker.OPEN:
            return None
        return self._open(station, reason, now)

    def _open(self, station: _Station, reason: str, now: datetime) -> Change:
        station.state = Breaker.OPEN
        station.unmanaged = ControlStatus(False, reason, now)
        station.next_try = now + timedelta(seconds=self.policy.reprobe_s)
        return Change(
            f"unmanaged: {reason}; planned as a fixed load, next probe in "
            f"{self.policy.reprobe_s:g} s"
        )

    def reprobe(self, station_id: str, now: datetime) -> None:
        """Boot or firmware change: try the station at once; a disobeying verdict on its
        EVSEs is dropped (the new profile is watched afresh)."""
        station = self._stations.get(station_id)
        if station is not None:
            station.next_try = now
        for key in [k for k in self._evses if k[0] == station_id]:
            del self._evses[key]

    def measured(
        self, station_id: str, evse_id: int, power_w: float, limit_w: float, now: datetime
    ) -> Change | None:
        """One meter reading of an EVSE under a limit it accepted (W)."""
        evse = self._evses.setdefault((station_id, evse_id), _Evse())
        # 10 % of the limit's size either way: a discharge limit (negative) is no looser.
        above = power_w > limit_w + abs(limit_w) * 0.1 + self.policy.disobey_margin_w
        if evse.unmanaged is not None:
            evse.over = 0 if above else evse.over + 1  # readings within, while unmanaged
            if evse.over < self.policy.disobey_readings:
                return None
            self._evses[(station_id, evse_id)] = _Evse()
            return Change(f"managed again: EVSE {evse_id} keeps within its limit {limit_w:.0f} W")
        evse.over = evse.over + 1 if above else 0
        if evse.over < self.policy.disobey_readings:
            return None
        evse.over = 0
        reason = f"disobeying: EVSE {evse_id} draws {power_w:.0f} W over its limit {limit_w:.0f} W"
        evse.unmanaged = ControlStatus(False, reason, now)
        return Change(f"unmanaged: {reason}; planned as a fixed load")
