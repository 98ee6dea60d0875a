"""Derating, pure: a safety cap on an EVSE becomes a session's maximum charging power."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from csms.grid.live_instance import LiveSession, Needs


def derated(
    sessions: Sequence[LiveSession], caps: Mapping[tuple[str, int], float]
) -> list[LiveSession]:
    """The sessions with each derated EVSE's cap as the EV's maximum charging power, so
    the planner plans (and the profile it sends holds) at most that."""
    out = []
    for session in sessions:
        cap = caps.get((session.station_id, session.evse_id))
        if cap is not None:
            needs = session.needs or Needs()
            wanted = needs.max_charge_w
            needs = replace(needs, max_charge_w=cap if wanted is None else min(wanted, cap))
            session = replace(session, needs=needs)
        out.append(session)
    return out
