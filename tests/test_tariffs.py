"""Tariff and cost (I): prices by kWh, hour, session and time of day, per token group; the
running cost in TransactionEvent answers and the final cost stored; V2G discharge credited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.tariffs import TariffValue, Window, cost, parse_windows
from tests.ocpp_wire import WirePeer
from tests.stations import boot, tx_event

T = datetime(2026, 1, 5, 21, 0, tzinfo=UTC)
NIGHT = TariffValue(1, "night", None, "EUR", 0.40, 1.0, 0.5, 0.10, (Window(22 * 60, 6 * 60, 0.20),))


def test_energy_is_priced_when_it_was_drawn_and_discharge_is_credited() -> None:
    registers = [
        (T, 0.0),
        (T + timedelta(minutes=30), 5_000.0),
        (T + timedelta(hours=1, minutes=30), 15_000.0),
    ]
    parts = cost(NIGHT, T, T + timedelta(hours=2), registers, 15_000.0, 2_000.0)
    # 5 kWh at 21:30 (day price), 10 kWh at 22:30 (night price).
    assert parts["energy"] == pytest.approx(5 * 0.40 + 10 * 0.20)
    assert parts["time"] == pytest.approx(2.0) and parts["fee"] == 0.5
    assert parts["export_credit"] == pytest.approx(0.2)
    assert parts["total"] == pytest.approx(4.0 + 2.0 + 0.5 - 0.2)


def test_rises_are_scaled_to_the_energy_the_transaction_counts() -> None:
    # A register jump the data-quality checks refused is not billed: energy_wh says 1 kWh.
    registers = [(T, 0.0), (T + timedelta(minutes=10), 1_000.0), (T + timedelta(minutes=20), 9e9)]
    parts = cost(NIGHT, T, T + timedelta(minutes=20), registers, 1_000.0, 0.0)
    assert parts["energy"] == pytest.approx(0.40, abs=0.01)


def test_windows_must_be_clock_times() -> None:
    assert parse_windows([{"from": "22:00", "to": "06:00", "energy_price": 0.2}])[0].holds(
        T.replace(hour=23)
    )
    for bad in (
        [{"from": "25:00", "to": "06:00", "energy_price": 0.2}],
        [{"from": "22:00", "to": "22:00", "energy_price": 0.2}],
        [{"from": "22:00", "to": "06:00", "energy_price": -1}],
    ):
        with pytest.raises(ValueError):
            parse_windows(bad)


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def test_the_running_cost_is_answered_and_the_final_cost_stored(
    peer: WirePeer, http: aiohttp.ClientSession
) -> None:
    fleet = {
        "name": "fleet",
        "group_id": "FLEET",
        "energy_price": 0.30,
        "session_fee": 1.0,
        "export_credit": 0.25,
    }
    assert (await http.post("/api/v1/tariffs", json=fleet)).status == 201
    public = {"name": "public", "energy_price": 0.60}
    assert (await http.post("/api/v1/tariffs", json=public)).status == 201
    duplicate = await http.post("/api/v1/tariffs", json=public)
    assert duplicate.status == 422
    await add_token("F-1", group_id="FLEET")
    await add_token("P-1")
    await peer.call("BootNotification", boot())

    started = await peer.call(
        "TransactionEvent", tx_event("Started", 0, 0, "tx-f", import_wh=0.0, id_token="F-1")
    )
    assert started[2]["totalCost"] == 1.0  # the session fee, nothing drawn yet
    updated = await peer.call(
        "TransactionEvent", tx_event("Updated", 1, 30, "tx-f", import_wh=10_000.0, export_wh=0.0)
    )
    assert updated[2]["totalCost"] == pytest.approx(1.0 + 10 * 0.30)
    ended = await peer.call(
        "TransactionEvent",
        tx_event(
            "Ended",
            2,
            60,
            "tx-f",
            import_wh=12_000.0,
            export_wh=4_000.0,
            stopped_reason="EVDisconnected",
        ),
    )
    assert ended[2]["totalCost"] == pytest.approx(1.0 + 12 * 0.30 - 4 * 0.25)
    final = await (await http.get("/api/v1/stations/CS-1/transactions/tx-f/cost")).json()
    assert final["final"] and final["currency"] == "EUR"
    assert final["total"] == pytest.approx(3.6)

    other = await peer.call(
        "TransactionEvent", tx_event("Started", 0, 70, "tx-p", import_wh=0.0, id_token="P-1")
    )
    assert other[2]["totalCost"] == 0.0
    again = await peer.call(
        "TransactionEvent", tx_event("Updated", 1, 80, "tx-p", import_wh=2_000.0)
    )
    assert again[2]["totalCost"] == pytest.approx(1.2)
    listed = await (await http.get("/api/v1/tariffs")).json()
    assert [t["name"] for t in listed] == ["fleet", "public"]


async def test_without_tariffs_no_cost_is_answered(peer: WirePeer) -> None:
    await peer.call("BootNotification", boot())
    answer = await peer.call("TransactionEvent", tx_event("Started", 0, 0, import_wh=0.0))
    assert "totalCost" not in answer[2]
