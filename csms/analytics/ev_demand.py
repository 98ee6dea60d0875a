"""What the EV asks for, as far as the CSMS can tell, pure: the maximum power of its
charging needs (NotifyEVChargingNeeds, ISO 15118), the transaction's chargingState, and
the EVSE's rating. The under-limit detector needs it: "far below its limit" is only a
fault while the EV asks for more."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: chargingState values (TransactionEvent) in which the EV wants energy. Not SuspendedEV
#: (the EV paused), EVConnected (no energy asked yet) or Idle.
ASKING = frozenset({"Charging", "SuspendedEVSE"})

_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}


def needs_max_w(payload: Mapping[str, Any]) -> float | None:
    """The EV's maximum charging power from a NotifyEVChargingNeedsRequest (2.0.1 or 2.1)."""
    needs = payload.get("chargingNeeds") or {}
    dc = needs.get("dcChargingParameters") or {}
    if dc.get("evMaxPower") is not None:
        return float(dc["evMaxPower"])
    v2x = needs.get("v2xChargingParameters") or {}
    if v2x.get("maxChargePower") is not None:
        return float(v2x["maxChargePower"])
    ac = needs.get("acChargingParameters") or {}
    if ac.get("evMaxCurrent") is None or ac.get("evMaxVoltage") is None:
        return None
    phases = _PHASES.get(str(needs.get("requestedEnergyTransfer")), 3)
    return float(ac["evMaxCurrent"]) * float(ac["evMaxVoltage"]) * phases


def ev_max_w(
    charging_state: str | None, announced_w: float | None, rating_w: float | None
) -> float | None:
    """The power the EV asks for now, or None when it asks for nothing more or nobody can
    tell (then "under the limit" says nothing).

    Its announced maximum (capped by the EVSE's rating) while it charges; an EV held in
    SuspendedEVSE asks for energy the EVSE does not give, so the rating bounds what it asks.
    An AC car without ISO 15118 may take less than the EVSE offers (its on-board charger),
    so a plain "Charging" says nothing of how much it wants.
    """
    if charging_state is not None and charging_state not in ASKING:
        return None
    if announced_w is not None and announced_w > 0:
        return min(announced_w, rating_w) if rating_w else announced_w
    if charging_state == "SuspendedEVSE":
        return rating_w
    return None
