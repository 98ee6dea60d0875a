"""Meter values, pure: OCPP sampledValue lists -> readings normalised to W, Wh, percent."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

IMPORT_REGISTER = "Energy.Active.Import.Register"
EXPORT_REGISTER = "Energy.Active.Export.Register"

#: Units scaled to the base unit we store (W, Wh, var, varh, A, V).
_SCALE = {"kWh": 1000.0, "kW": 1000.0, "kvarh": 1000.0, "kvar": 1000.0, "kVA": 1000.0}
_BASE_UNIT = {"kWh": "Wh", "kW": "W", "kvarh": "varh", "kvar": "var", "kVA": "VA"}


#: A decimal exponent beyond this is no real meter's (and 10**309 overflows a float).
MAX_MULTIPLIER = 30


class MeterValueError(ValueError):
    """A sampled value or time that cannot be a real measurement."""


#: The seconds of a time of day, when they are a leap second.
_LEAP_SECOND = re.compile(r"T\d\d:\d\d:(60)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Reading:
    timestamp: datetime
    measurand: str
    value: float
    unit: str | None
    phase: str | None
    context: str | None
    location: str | None = None


def parse_timestamp(text: str) -> datetime:
    """OCPP date-time (RFC 3339) -> aware UTC datetime; a naive time is taken as UTC.

    A leap second (`23:59:60`, valid RFC 3339) is read as the next second. A time that
    has no UTC datetime (year 0, 9999-12-31 west of UTC) raises MeterValueError.
    """
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    leap = _LEAP_SECOND.search(text)
    if leap is not None:
        text = text[: leap.start(1)] + "59" + text[leap.end(1) :]
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC) + timedelta(seconds=1 if leap else 0)
    except (ValueError, OverflowError) as error:
        raise MeterValueError(f"time {text[:40]!r} cannot be represented: {error}") from None


def readings(meter_values: Iterable[Mapping[str, Any]]) -> list[Reading]:
    """Flatten meterValue[] into readings; the measurand defaults to the import register."""
    out: list[Reading] = []
    for meter_value in meter_values:
        timestamp = parse_timestamp(meter_value["timestamp"])
        for sample in meter_value.get("sampledValue", ()):
            measurand = sample.get("measurand", IMPORT_REGISTER)
            unit_of_measure = sample.get("unitOfMeasure") or {}
            unit = unit_of_measure.get("unit")
            exponent = unit_of_measure.get("multiplier", 0)
            if not -MAX_MULTIPLIER <= exponent <= MAX_MULTIPLIER:
                raise MeterValueError(f"unitOfMeasure.multiplier {exponent} is out of range")
            multiplier = 10.0**exponent
            value = float(sample["value"]) * multiplier * _SCALE.get(unit or "", 1.0)
            if not math.isfinite(value):
                raise MeterValueError(f"value {sample['value']!r} x 10^{exponent} is not finite")
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
                    location=sample.get("location"),
                )
            )
    return out


def register_values(samples: Iterable[Reading], measurand: str) -> list[tuple[datetime, float]]:
    """The whole-meter (no phase) readings of one register at the outlet, in time order.

    Inlet, EV and Cable readings measure something else and would corrupt the difference.
    """
    return sorted(
        (reading.timestamp, reading.value)
        for reading in samples
        if reading.measurand == measurand
        and reading.phase is None
        and reading.location in (None, "Outlet")
    )
