"""Emulated 1.6 stations against the CSMS over real websockets, on SQLite and PostgreSQL:
the same EV model, offline queue and ground truth as the 2.0.1 stations. The emulator's
clock runs 600x; tests wait on conditions."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from charge_point_emulator.cli import CliError, add_arguments, build_config
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.faults import Fault, FaultKind
from charge_point_emulator.fleet import Fleet, FleetConfig
from charge_point_emulator.passwords import PasswordBook
from charge_point_emulator.scenario import EvseSpec, parse_scenario
from charge_point_emulator.station import ConnectionState
from charge_point_emulator.station16 import EmulatedStation16
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station, get_station
from csms.db.models import Transaction, TransactionEvent
from tests.emulated16 import PASSWORD, SPEED, Factory, stations16
from tests.waiting import eventually


@pytest.fixture
async def make_station16(csms: Csms) -> AsyncIterator[Factory]:
    async with stations16(csms) as factory:
        yield factory


async def ended(station_id: str, count: int = 1) -> bool:
    return await Transaction.filter(station_id=station_id, state="ended").count() >= count


async def test_a_16_station_boots_and_its_session_is_billed_as_delivered(
    make_station16: Callable[..., Awaitable[EmulatedStation16]],
) -> None:
    await add_token("RFID-16")
    station = await make_station16()
    view = await get_station("EMU16-1")
    assert (view.protocol, view.model) == ("ocpp1.6", "EMU-1.6")
    station.arrive(1, EvSpec(), 0.2, 0.9, 1800, "RFID-16")
    await station.wait_until(lambda: bool(station.csms_ids), within_s=30)
    await station.wait_until(lambda: station.evses[1].tx is None, within_s=60)
    await station.wait_until(lambda: station.idle, within_s=30)
    await eventually(lambda: ended("EMU16-1"))
    row = await Transaction.get(station_id="EMU16-1")
    assert row.transaction_id.isdigit() and row.id_token == "RFID-16"
    truth = station.truth.transactions[row.transaction_id]
    assert truth.delivered_wh > 1000
    assert row.energy_wh == pytest.approx(truth.delivered_wh, abs=1.0)
    assert row.stopped_reason == "EVDisconnected" and row.data_quality == {}
    seqs = [
        e.seq_no for e in await TransactionEvent.filter(station_id="EMU16-1").order_by("seq_no")
    ]
    assert seqs == list(range(len(seqs))) and len(seqs) > 5


async def test_16_sessions_across_an_offline_period_are_stored_once_and_exact(
    make_station16: Callable[..., Awaitable[EmulatedStation16]],
) -> None:
    await add_token("RFID-A")
    await add_token("RFID-B")
    station = await make_station16(evses=(EvseSpec(), EvseSpec()))
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID-A")
    await station.wait_until(lambda: bool(station.csms_ids), within_s=30)
    await station.drop_connection()
    await station.wait_until(lambda: station.state is ConnectionState.OFFLINE)
    # Started offline: its StartTransaction waits in the queue, its meter values behind it.
    station.arrive(2, EvSpec(), 0.3, 0.9, 7200, "RFID-B")
    await station.wait_until(lambda: station.evses[2].tx is not None)
    await station.wait_until(lambda: len(station.queue) >= 8, within_s=30)
    station.unplug(1)
    station.unplug(2)
    station.restore_connection()
    await station.wait_until(lambda: station.online and station.idle, within_s=60)
    await eventually(lambda: ended("EMU16-1", 2))
    rows = await Transaction.filter(station_id="EMU16-1").order_by("id")
    assert len(rows) == 2
    for row in rows:
        truth = station.truth.transactions[row.transaction_id]
        assert truth.delivered_wh > 100
        assert row.energy_wh == pytest.approx(truth.delivered_wh, abs=1.0)
        assert row.seq_gaps == [] and row.data_quality == {}


async def test_a_start_whose_answer_was_lost_is_sent_again_and_keeps_one_id(
    make_station16: Callable[..., Awaitable[EmulatedStation16]],
) -> None:
    await add_token("RFID-L")
    station = await make_station16(
        faults=[Fault(FaultKind.LOSE_RESPONSE, action="StartTransaction")],
    )
    station.arrive(1, EvSpec(), 0.2, 0.9, 1800, "RFID-L")
    await station.wait_until(lambda: bool(station.csms_ids), within_s=60)
    await station.wait_until(lambda: station.evses[1].tx is None, within_s=60)
    await station.wait_until(lambda: station.idle, within_s=30)
    await eventually(lambda: ended("EMU16-1"))
    row = await Transaction.get(station_id="EMU16-1")
    assert await Transaction.filter(station_id="EMU16-1").count() == 1
    starts = await TransactionEvent.filter(station_id="EMU16-1", event_type="Started").count()
    assert starts == 1
    truth = station.truth.transactions[row.transaction_id]
    assert row.energy_wh == pytest.approx(truth.delivered_wh, abs=1.0)


async def test_a_scenario_file_runs_16_and_201_stations_side_by_side(csms: Csms) -> None:
    scenario = parse_scenario(
        {
            "stations": [{"id": "MIX-16", "ocpp": "1.6"}, {"id": "MIX-201"}],
            "arrivals": [
                {"station": "MIX-16", "at_s": 60, "stay_s": 1200, "id_token": "RFID-M"},
                {"station": "MIX-201", "at_s": 60, "stay_s": 1200, "id_token": "RFID-M"},
            ],
        }
    )
    assert [spec.ocpp for spec in scenario.stations] == ["1.6", "2.0.1"]
    await add_token("RFID-M")
    for spec in scenario.stations:
        await add_station(spec.id, PASSWORD)
    fleet = Fleet(
        FleetConfig(
            csms_url=f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
            scenario=scenario,
            passwords=PasswordBook(default=PASSWORD),
            speed=SPEED,
            tick_real_s=0.02,
            response_timeout_s=3.0,
        )
    )
    assert isinstance(fleet.stations["MIX-16"], EmulatedStation16)
    await fleet.start()
    try:

        async def both_ended() -> bool:
            return await ended("MIX-16") and await ended("MIX-201")

        await eventually(both_ended)
    finally:
        await fleet.stop()
    protocols = {
        view.id: view.protocol
        for view in [await get_station("MIX-16"), await get_station("MIX-201")]
    }
    assert protocols == {"MIX-16": "ocpp1.6", "MIX-201": "ocpp2.0.1"}
    for station_id in ("MIX-16", "MIX-201"):
        row = await Transaction.get(station_id=station_id)
        truth = fleet.stations[station_id].truth.transactions[row.transaction_id]
        assert row.energy_wh == pytest.approx(truth.delivered_wh, abs=1.0)


def test_the_ocpp_flag_sets_every_station_s_version(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    generated = build_config(parser.parse_args(["--stations", "3", "--ocpp", "1.6"]))
    assert {spec.ocpp for spec in generated.scenario.stations} == {"1.6"}
    scenario = tmp_path / "fleet.json"
    scenario.write_text('{"stations": [{"id": "A", "ocpp": "1.6"}, {"id": "B"}]}')
    mixed = build_config(parser.parse_args(["--scenario", str(scenario)]))
    assert [spec.ocpp for spec in mixed.scenario.stations] == ["1.6", "2.0.1"]
    scenario.write_text('{"stations": [{"id": "A", "ocpp": "1.5"}]}')
    with pytest.raises(CliError, match=r"ocpp must be one of 1\.6, 2\.0\.1"):
        build_config(parser.parse_args(["--scenario", str(scenario)]))
