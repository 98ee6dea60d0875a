"""What every block service needs: the durable writer, the settings and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from csms.config import Settings
from csms.db.writer import DurableWriter

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BlockContext:
    writer: DurableWriter
    settings: Settings
    clock: Clock = utc_now


def ocpp_time(moment: datetime) -> str:
    """UTC RFC 3339 with a Z, millisecond precision, as OCPP prefers."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
