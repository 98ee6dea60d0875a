"""Ground truth: what each station really delivered and fed back, per transaction and per
minute per EVSE, so tests can hold the CSMS's records and grid limits against reality."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from charge_point_emulator.clock import ocpp_time


@dataclass(slots=True)
class TransactionTruth:
    """`delivered_wh`/`fed_back_wh`: what really flowed. `acknowledged_*`: what the meter
    values the CSMS acknowledged say (last minus first register), which is all a correct
    CSMS can know; they differ by what was still queued when the run stopped."""

    transaction_id: str
    evse_id: int
    started_at: datetime
    ended_at: datetime | None = None
    delivered_wh: float = 0.0
    fed_back_wh: float = 0.0
    acknowledged_wh: float = 0.0
    acknowledged_fed_back_wh: float = 0.0
    first_registers: tuple[float, float] | None = None


@dataclass(slots=True)
class StationTruth:
    """Accumulates energy per transaction and per minute per EVSE; pure, time passed in."""

    station_id: str
    transactions: dict[str, TransactionTruth] = field(default_factory=dict)
    # evse id -> minute index (minutes since the epoch) -> net energy in Wh
    minutes: dict[int, dict[int, float]] = field(default_factory=dict)

    def start(self, transaction_id: str, evse_id: int, at: datetime) -> None:
        self.transactions[transaction_id] = TransactionTruth(transaction_id, evse_id, at)

    def rename(self, old: str, new: str) -> None:
        """The transaction is known by another id from now on (a 1.6 station learns its
        id from the CSMS once StartTransaction is answered)."""
        record = self.transactions.pop(old, None)
        if record is not None:
            record.transaction_id = new
            self.transactions[new] = record

    def end(self, transaction_id: str, at: datetime) -> None:
        self.transactions[transaction_id].ended_at = at

    def acknowledge(self, transaction_id: str, import_wh: float, export_wh: float) -> None:
        """The CSMS acknowledged an event of the transaction carrying these registers."""
        record = self.transactions.get(transaction_id)
        if record is None:
            return
        if record.first_registers is None:
            record.first_registers = (import_wh, export_wh)
        first_import, first_export = record.first_registers
        record.acknowledged_wh = max(record.acknowledged_wh, import_wh - first_import)
        record.acknowledged_fed_back_wh = max(
            record.acknowledged_fed_back_wh, export_wh - first_export
        )

    def add(
        self,
        evse_id: int,
        transaction_id: str | None,
        start: datetime,
        seconds: float,
        watts: float,
    ) -> None:
        """Record `watts` held on `evse_id` for `seconds` from `start`."""
        if seconds <= 0:
            return
        energy = watts * seconds / 3600.0
        if transaction_id is not None and transaction_id in self.transactions:
            record = self.transactions[transaction_id]
            if energy >= 0:
                record.delivered_wh += energy
            else:
                record.fed_back_wh -= energy
        buckets = self.minutes.setdefault(evse_id, {})
        t = start.timestamp()
        end = t + seconds
        while t < end:
            minute = math.floor(t / 60)
            upto = min(end, (minute + 1) * 60.0)
            buckets[minute] = buckets.get(minute, 0.0) + watts * (upto - t) / 3600.0
            t = upto

    def as_dict(self) -> dict[str, Any]:
        return {
            "station_id": self.station_id,
            "transactions": [
                {
                    "transaction_id": t.transaction_id,
                    "evse_id": t.evse_id,
                    "started_at": ocpp_time(t.started_at),
                    "ended_at": ocpp_time(t.ended_at) if t.ended_at else None,
                    "delivered_wh": round(t.delivered_wh, 3),
                    "fed_back_wh": round(t.fed_back_wh, 3),
                    "acknowledged_wh": round(t.acknowledged_wh, 3),
                    "acknowledged_fed_back_wh": round(t.acknowledged_fed_back_wh, 3),
                }
                for t in self.transactions.values()
            ],
            "power_per_minute": {
                str(evse): [
                    {
                        "minute": ocpp_time(datetime.fromtimestamp(0, UTC) + timedelta(minutes=m)),
                        # Average power over the minute: Wh in one minute * 60.
                        "avg_w": round(wh * 60.0, 3),
                    }
                    for m, wh in sorted(buckets.items())
                ]
                for evse, buckets in sorted(self.minutes.items())
            },
        }


def write_truth(path: Path, stations: list[StationTruth], generated_at: datetime) -> None:
    """Write every station's truth as one JSON document (format in README.md)."""
    document = {
        "generated_at": ocpp_time(generated_at),
        "stations": [s.as_dict() for s in stations],
    }
    path.write_text(json.dumps(document, indent=1))
