"""A fleet on one simulated clock, its ground truth against what the CSMS received, the
live view, and the command line (`python -m charge_point_emulator`, `cli.py emulate`)."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from charge_point_emulator.clock import parse_ocpp_time
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.fleet import Fleet, FleetConfig
from charge_point_emulator.live_view import render, run_live
from charge_point_emulator.passwords import PasswordBook
from charge_point_emulator.scenario import Arrival, EvseSpec, Scenario, StationSpec
from tests.ocpp_test_server import TestCsms

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    server = TestCsms({f"F{n}": "pw" for n in range(1, 5)})
    await server.start()
    yield server
    await server.stop()


def _register(event: dict[str, Any]) -> float:
    for mv in event["meterValue"]:
        for s in mv["sampledValue"]:
            if s["measurand"] == "Energy.Active.Import.Register":
                return float(s["value"])
    raise AssertionError("no energy register")


async def test_fleet_truth_matches_what_the_csms_was_told(csms: TestCsms, tmp_path: Path) -> None:
    stations = tuple(StationSpec(f"F{n}", (EvseSpec(), EvseSpec())) for n in range(1, 5))
    arrivals = tuple(
        Arrival(f"F{n}", evse, at_s=60.0 * evse, stay_s=600.0, ev=EvSpec(), soc=0.3)
        for n in range(1, 5)
        for evse in (1, 2)
    )
    config = FleetConfig(
        csms_url=csms.url,
        scenario=Scenario(stations, arrivals, sample_interval_s=60),
        passwords=PasswordBook(default="pw"),
        speed=1200,
        duration_s=900,
        truth_path=tmp_path / "truth.json",
        tick_real_s=0.02,
    )
    fleet = Fleet(config)
    await fleet.start()
    await asyncio.gather(*(s.wait_until(lambda s=s: s.online) for s in fleet.stations.values()))
    first = fleet.stations["F1"]
    await first.wait_until(lambda: first.evses[1].tx is not None)
    text = Console(record=True, width=140, file=io.StringIO())
    text.print(render(fleet.snapshot()))
    shown = text.export_text()
    assert "F1" in shown and "4/4 online" in shown and "Charging" in shown
    await fleet.clock.sleep(config.duration_s - fleet.clock.elapsed())  # type: ignore[operator]
    await asyncio.gather(
        *(s.wait_until(lambda s=s: len(s.queue) == 0) for s in fleet.stations.values())
    )
    await fleet.stop()
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert {s["station_id"] for s in truth["stations"]} == {"F1", "F2", "F3", "F4"}
    for station in truth["stations"]:
        assert len(station["transactions"]) == 2
        assert set(station["power_per_minute"]) == {"1", "2"}
        for tx in station["transactions"]:
            told = [
                e
                for e in csms.of(station["station_id"], "TransactionEvent")
                if e["transactionInfo"]["transactionId"] == tx["transaction_id"]
            ]
            assert told[-1]["eventType"] == "Ended"
            metered = _register(told[-1]) - _register(told[0])
            assert tx["delivered_wh"] == pytest.approx(metered, abs=1.0)
            held = parse_ocpp_time(tx["ended_at"]) - parse_ocpp_time(tx["started_at"])
            assert 0 < held.total_seconds() <= 600  # the car leaves 600 s after plugging in
            assert tx["delivered_wh"] == pytest.approx(
                11_000 * held.total_seconds() / 3600, rel=0.01
            )
        # Power per minute adds up to the energy of the transactions.
        per_minute = sum(
            m["avg_w"] / 60 for evse in station["power_per_minute"].values() for m in evse
        )
        assert per_minute == pytest.approx(
            sum(t["delivered_wh"] for t in station["transactions"]), rel=1e-3
        )


async def test_demo_runs_a_live_view_until_cancelled_then_stops_the_fleet(
    csms: TestCsms,
) -> None:
    scenario = Scenario(tuple(StationSpec(f"F{n}", (EvseSpec(),)) for n in (1, 2)))
    fleet = Fleet(FleetConfig(csms.url, scenario, PasswordBook(default="pw"), speed=600))
    drawn = asyncio.Event()

    class Screen(io.StringIO):
        def write(self, text: str) -> int:
            drawn.set()
            return super().write(text)

    screen = Console(record=True, width=120, file=Screen(), force_terminal=True)
    demo = asyncio.create_task(run_live(fleet, screen))
    await asyncio.gather(*(s.wait_until(lambda s=s: s.online) for s in fleet.stations.values()))
    await asyncio.wait_for(drawn.wait(), 5)
    demo.cancel()
    with pytest.raises(asyncio.CancelledError):
        await demo
    assert fleet.snapshot().online == 0
    shown = screen.export_text()
    assert "what the emulated stations see" in shown and "F1" in shown and "F2" in shown


async def test_python_m_emulator_runs_a_generated_fleet(csms: TestCsms, tmp_path: Path) -> None:
    passwords = tmp_path / "passwords.txt"
    passwords.write_text("# every station\n*:pw\n")
    truth = tmp_path / "out.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "charge_point_emulator",
        "--csms", csms.url, "--stations", "3", "--evses", "2",
        "--password-file", str(passwords), "--speed", "600", "--duration", "600",
        "--arrivals-per-hour", "6", "--truth", str(truth),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert "transactions" in stdout.decode()
    # The generated stations are EMU0001..; the test CSMS only knows F1..F4.
    assert csms.rejected_auth >= 3
    assert [s["station_id"] for s in json.loads(truth.read_text())["stations"]] == [
        "EMU0001",
        "EMU0002",
        "EMU0003",
    ]


def test_cli_emulate_reports_a_bad_scenario_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sys.path.insert(0, str(ROOT))
    from cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('[[stations]]\nid = "X"\nevses = [{type = "DC", max_power_kw = 1000}]\n')
    assert main(["emulate", "--scenario", str(bad)]) == 1
    assert "DC EVSE" in capsys.readouterr().out
