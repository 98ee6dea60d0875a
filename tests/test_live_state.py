"""What the live planner reads from the database (csms/grid/live_state.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms.app import Csms
from csms.db.models import MeterValue, Transaction
from csms.grid.live_state import live_sessions


async def test_two_stations_with_the_same_transaction_id_keep_their_own_soc(csms: Csms) -> None:
    now = datetime.now(UTC)
    for station_id, soc in (("CS-A", 20.0), ("CS-B", 80.0)):
        await Transaction.create(
            station_id=station_id,
            transaction_id="1",  # simple firmware numbers its transactions from 1
            evse_id=1,
            state="active",
            started_at=now - timedelta(minutes=10),
            machine={},
        )
        await MeterValue.create(
            station_id=station_id,
            evse_id=1,
            transaction_id="1",
            timestamp=now - timedelta(minutes=1),
            measurand="SoC",
            value=soc,
        )
    sessions = {s.station_id: s for s in await live_sessions(now)}
    assert sessions["CS-A"].soc == 0.2 and sessions["CS-B"].soc == 0.8
