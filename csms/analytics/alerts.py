"""Stored alerts: write a finding with its action, list with filters, acknowledge, close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from csms.analytics.findings import AlertKind, Finding, Severity
from csms.analytics.policy import Action
from csms.db.models import Alert

OPEN_STATUSES = ("open", "acknowledged")
#: Most alerts one listing returns (newest first).
MAX_LIST = 1000


class AlertNotFound(LookupError):
    pass


class AlertClosed(ValueError):
    """A closed alert can be neither acknowledged nor closed again."""


@dataclass(frozen=True, slots=True)
class AlertFilter:
    station_id: str | None = None
    kind: AlertKind | None = None
    severity: Severity | None = None
    open: bool | None = None  # True: open or acknowledged; False: closed


def alert_row(finding: Finding, action: Action, derate_w: float | None) -> Alert:
    return Alert(
        station_id=finding.station_id,
        evse_id=finding.evse_id,
        transaction_id=finding.transaction_id,
        kind=finding.kind.value,
        severity=finding.severity.value,
        reason=finding.reason,
        threshold=finding.threshold,
        score=finding.score,
        readings=finding.readings,
        action=action.value,
        derate_w=derate_w,
        raised_at=finding.at,
    )


def alert_json(row: Alert) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row.id,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "transaction_id": row.transaction_id,
        "kind": row.kind,
        "severity": row.severity,
        "reason": row.reason,
        "threshold": row.threshold,
        "score": row.score,
        "readings": row.readings,
        "action": row.action,
        "derate_w": row.derate_w,
        "status": row.status,
        "raised_at": iso(row.raised_at),
        "acknowledged_at": iso(row.acknowledged_at),
        "closed_at": iso(row.closed_at),
    }


async def list_alerts(where: AlertFilter, limit: int = MAX_LIST) -> list[Alert]:
    query = Alert.all()
    if where.station_id:
        query = query.filter(station_id=where.station_id)
    if where.kind:
        query = query.filter(kind=where.kind.value)
    if where.severity:
        query = query.filter(severity=where.severity.value)
    if where.open is True:
        query = query.filter(status__in=OPEN_STATUSES)
    elif where.open is False:
        query = query.filter(status="closed")
    return await query.order_by("-raised_at", "-id").limit(limit)


async def acknowledge(alert_id: int, now: datetime) -> Alert:
    """An operator has seen it; a derate stays in force until the alert is closed."""
    row = await Alert.get_or_none(id=alert_id)
    if row is None:
        raise AlertNotFound(f"no alert {alert_id}")
    if row.status == "closed":
        raise AlertClosed(f"alert {alert_id} is closed")
    if row.status == "open":
        row.status = "acknowledged"
        row.acknowledged_at = now
        await row.save(update_fields=["status", "acknowledged_at"])
    return row


async def close(alert_id: int, now: datetime) -> Alert:
    """Resolved: its derate lifts and the detector may raise the kind again."""
    row = await Alert.get_or_none(id=alert_id)
    if row is None:
        raise AlertNotFound(f"no alert {alert_id}")
    if row.status == "closed":
        raise AlertClosed(f"alert {alert_id} is closed")
    row.status = "closed"
    row.closed_at = now
    await row.save(update_fields=["status", "closed_at"])
    return row


async def derate_limits() -> dict[tuple[str, int], float]:
    """(station, EVSE) -> the tightest cap of the derating alerts not yet closed."""
    caps: dict[tuple[str, int], float] = {}
    for station_id, evse_id, watts in await Alert.filter(
        status__in=OPEN_STATUSES, derate_w__isnull=False
    ).values_list("station_id", "evse_id", "derate_w"):
        key = (station_id, evse_id)
        caps[key] = min(caps.get(key, watts), watts)
    return caps
