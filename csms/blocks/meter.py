"""Meter values, pure: OCPP sampledValue lists -> readings normalised to W, Wh, percent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

IMPORT_REGISTER = "Energy.Active.Import.Register"
EXPORT_REGISTER = "Energy.Active.Export.Register"

#: Units scaled to the base unit we store (W, Wh, var, varh, A, V).
_SCALE = {"kWh": 1000.0, "kW": 1000.0, "kvarh": 1000.0, "kvar": 1000.0, "kVA": 1000.0}
_BASE_UNIT = {"kWh": "Wh", "kW": "W", "kvarh": "varh", "kvar": "var", "kVA": "VA"}


@dataclass(frozen=True, slots=True)
class Reading:
    timestamp: datetime
    measurand: str
    value: float
    unit: str | None
    phase: str | None
    context: str | None


def parse_timestamp(text: str) -> datetime:
    """OCPP date-time (RFC 3339) -> aware datetime; a naive time is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def readings(meter_values: Iterable[Mapping[str, Any]]) -> list[Reading]:
    """Flatten meterValue[] into readings; the measurand defaults to the import register."""
    out: list[Reading] = []
    for meter_value in meter_values:
        timestamp = parse_timestamp(meter_value["timestamp"])
        for sample in meter_value.get("sampledValue", ()):
            measurand = sample.get("measurand", IMPORT_REGISTER)
            unit_of_measure = sample.get("unitOfMeasure") or {}
            unit = unit_of_measure.get("unit")
            multiplier = 10.0 ** unit_of_measure.get("multiplier", 0)
            value = float(sample["value"]) * multiplier * _SCALE.get(unit or "", 1.0)
            if unit is None and measurand.startswith("Energy"):
                unit = "Wh"
            out.append(
                Reading(
                    timestamp=timestamp,
                    measurand=measurand,
                    value=value,
                    unit=_BASE_UNIT.get(unit or "", unit),
                    phase=sample.get("phase"),
                    context=sample.get("context"),
                )
            )
    return out


def register_values(samples: Iterable[Reading], measurand: str) -> list[tuple[datetime, float]]:
    """The whole-meter (no phase) readings of one register, in time order."""
    return sorted(
        (reading.timestamp, reading.value)
        for reading in samples
        if reading.measurand == measurand and reading.phase is None
    )
