"""What an alert does: a derate caps the session in the live planner's profiles until the
alert is closed (real websockets), and the CLI lists and acknowledges alerts (real
processes), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from csms.analytics import alerts
from csms.app import Csms
from csms.blocks.stations import add_station
from csms.db.models import Alert
from csms.grid.live_state import save_topology
from csms.grid.topology import loads_topology
from tests.ocpp_wire import open_peer
from tests.stations import boot
from tests.test_cli import cli
from tests.test_live_planner import PASSWORD, ProfileSink, periods, replanned, started
from tests.test_live_topology import topology_toml


@pytest.fixture
async def grid(csms: Csms) -> AsyncIterator[Csms]:
    _, document = loads_topology(topology_toml(transformer_w=40_000, prices=[0.2] * 24))
    await save_topology(document, csms.transactions.context.clock())
    await add_station("CS-1", PASSWORD)
    yield csms


def _derating_alert(derate_w: float) -> Alert:
    return Alert(
        station_id="CS-1",
        evse_id=1,
        transaction_id="tx-a",
        kind="hot_connector",
        severity="warning",
        reason="heating 9.4 robust sigmas above its peers",
        threshold=8.0,
        score=9.4,
        readings={"temperature_c": 61.0},
        action="derate",
        derate_w=derate_w,
        raised_at=datetime.now(UTC),
    )


async def test_a_derated_evse_gets_profiles_within_the_cap_until_the_alert_is_closed(
    grid: Csms,
) -> None:
    sink = ProfileSink(await open_peer(grid, "CS-1", PASSWORD))
    assert (await sink.peer.call("BootNotification", boot()))[2]["status"] == "Accepted"
    await sink.wait(1)  # the fallback profile
    before = grid.planner.replans
    await sink.peer.call("TransactionEvent", started("tx-a", datetime.now(UTC), 20))
    await replanned(grid, before, "transaction started")
    assert max(p["limit"] for p in periods(sink.received[-1])) > 3_000

    row = _derating_alert(3_000.0)
    await row.save()
    sent = len(sink.received)
    count = grid.planner.replans
    grid.planner.trigger("safety derate")
    plan = await replanned(grid, count, "safety derate")
    assert plan["profiles"]["sent"] >= 1
    capped = sink.received[sent:]
    assert capped and all(p["limit"] <= 3_000 for c in capped for p in periods(c))

    closed = await alerts.close(row.id, datetime.now(UTC))
    count = grid.planner.replans
    grid.safety.closed(closed)
    await replanned(grid, count, "safety derate lifted")
    assert max(p["limit"] for p in periods(sink.received[-1])) > 3_000
    await sink.close()


async def test_alerts_are_listed_and_acknowledged_from_the_cli(csms: Csms, db_url: str) -> None:
    row = _derating_alert(5_000.0)
    await row.save()
    listed = await cli(db_url, "alerts", "list", "--open", "--station", "CS-1")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "hot_connector" in listed.stdout and "derate 5.0 kW" in listed.stdout
    acked = await cli(db_url, "alerts", "ack", str(row.id))
    assert acked.returncode == 0 and "acknowledged" in acked.stdout
    assert (await Alert.get(id=row.id)).status == "acknowledged"
    closed = await cli(db_url, "alerts", "list", "--closed")
    assert "hot_connector" not in closed.stdout
    missing = await cli(db_url, "alerts", "ack", "987654")
    assert missing.returncode == 1 and missing.stdout.strip() == "error: no alert 987654"
