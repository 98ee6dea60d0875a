"""The live planner over real websockets: fallback at boot, TxProfiles on session start,
2.1 discharge, dead-band, retries, grid events with their REST API, CLI and delivery."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cli import main
from csms.app import Csms
from csms.blocks.base import ocpp_time
from csms.blocks.stations import add_station
from csms.grid.control import ControlBook, ControlPolicy
from csms.grid.live_state import save_topology
from csms.grid.topology import loads_topology
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import boot
from tests.test_live_topology import topology_toml
from tests.waiting import eventually

PASSWORD = "a-long-enough-password"
ROOT = Path(__file__).resolve().parent.parent


class ProfileSink:
    """Answers every SetChargingProfile the CSMS sends to a peer with `status`, keeping them.

    A change may come as two profiles (a cut, then the raise), so tests read the list.
    """

    def __init__(self, peer: WirePeer) -> None:
        self.peer = peer
        self.status = "Accepted"
        self.received: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._answer())

    async def _answer(self) -> None:
        while True:
            frame = await self.peer.incoming.get()
            assert frame[2] == "SetChargingProfile", frame
            self.received.append(frame[3]["chargingProfile"])
            await self.peer.answer(frame[1], {"status": self.status})

    async def wait(self, count: int) -> list[dict[str, Any]]:
        await eventually(lambda: len(self.received) >= count)
        return self.received

    async def close(self) -> None:
        self._task.cancel()
        await self.peer.close()


def periods(profile: dict[str, Any]) -> list[dict[str, Any]]:
    return list(profile["chargingSchedule"][0]["chargingSchedulePeriod"])


def started(tx: str, now: datetime, soc: float, evse: int = 1) -> dict[str, Any]:
    return {
        "eventType": "Started",
        "timestamp": ocpp_time(now),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": tx, "chargingState": "Charging"},
        "evse": {"id": evse, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": ocpp_time(now),
                "sampledValue": [
                    {"value": 0, "measurand": "Energy.Active.Import.Register"},
                    {"value": soc, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
                ],
            }
        ],
    }


async def replanned(csms: Csms, after: int, reason: str | None = None) -> dict[str, Any]:
    """The first plan finished after replan number `after` (with `reason`, if given)."""

    def done() -> bool:
        plan = csms.planner.plan
        # Requests arriving during a replan are merged into the next one's reason.
        merged = plan["reason"].split(", ") if plan else []
        return bool(csms.planner.replans > after and plan and (reason is None or reason in merged))

    await eventually(done)
    assert csms.planner.plan is not None
    return csms.planner.plan


@pytest.fixture
async def grid(csms: Csms) -> AsyncIterator[Csms]:
    """Two stations under a 15 kW transformer; CS-2 is bidirectional; a flat tariff (so
    only a grid request makes discharging pay)."""
    text = topology_toml(
        transformer_w=15_000, export_w=11_000, bidirectional=("CS-2",), prices=[0.2] * 24
    )
    _, document = loads_topology(text)
    await save_topology(document, csms.transactions.context.clock())
    for station_id in ("CS-1", "CS-2"):
        await add_station(station_id, PASSWORD)
    yield csms


async def test_boot_gets_the_fallback_then_a_session_gets_its_tx_profile(grid: Csms) -> None:
    sink = ProfileSink(await open_peer(grid, "CS-1", PASSWORD))
    assert (await sink.peer.call("BootNotification", boot()))[2]["status"] == "Accepted"
    (fallback,) = await sink.wait(1)
    assert fallback["chargingProfilePurpose"] == "TxDefaultProfile"
    # 15 kW shared by two 11 kW EVSEs: 7.5 kW each, whatever happens to the CSMS.
    assert periods(fallback)[0]["limit"] == 7_500
    before = grid.planner.replans
    await sink.peer.call("TransactionEvent", started("tx-a", datetime.now(UTC), 40))
    plan = await replanned(grid, before, "transaction started")
    profiles = sink.received[1:]
    assert profiles and plan["profiles"]["accepted"] == len(profiles)
    for profile in profiles:
        assert profile["chargingProfilePurpose"] == "TxProfile"
        assert profile["transactionId"] == "tx-a"
        assert all(0 <= p["limit"] <= 11_000 for p in periods(profile))
    (session,) = plan["sessions"]
    assert session["initial_wh"] == 24_000 and session["target_wh"] == 48_000
    # Nothing moved: the next replan sends nothing.
    count = grid.planner.replans
    grid.planner.trigger("test")
    plan = await replanned(grid, count, "test")
    assert plan["profiles"]["sent"] == 0 and plan["profiles"]["unchanged"] == 1
    assert len(sink.received) == 1 + len(profiles)
    await sink.close()


async def test_a_rejected_profile_backs_off_and_is_tried_again_once_the_back_off_ends(
    grid: Csms,
) -> None:
    grid.planner.control = ControlBook(ControlPolicy(base_s=0.5))
    sink = ProfileSink(await open_peer(grid, "CS-1", PASSWORD))
    await sink.peer.call("BootNotification", boot())
    await sink.wait(1)
    sink.status = "Rejected"
    before = grid.planner.replans
    await sink.peer.call("TransactionEvent", started("tx-b", datetime.now(UTC), 40))
    plan = await replanned(grid, before, "transaction started")
    failed = plan["profiles"]["failed"]
    assert failed and {(f["transaction_id"], f["outcome"]) for f in failed} == {
        ("tx-b", "Rejected")
    }
    # A refusal is not retried at once; while the station backs off nothing is sent.
    tried = len(sink.received)
    assert tried == 2
    count = grid.planner.replans
    grid.planner.trigger("backing off")
    plan = await replanned(grid, count, "backing off")
    assert {f["outcome"] for f in plan["profiles"]["failed"]} == {"backing off"}
    assert len(sink.received) == tried
    assert grid.planner.status("CS-1", [1]).managed  # one refusal is no verdict yet
    # Once the back-off has run out (in the planner's clock), the next replan tries again.
    sink.status = "Accepted"
    await asyncio.sleep(0.6)
    count = grid.planner.replans
    grid.planner.trigger("retry")
    plan = await replanned(grid, count, "retry")
    assert plan["profiles"]["failed"] == [] and plan["profiles"]["accepted"] >= 1
    assert sink.received[-1]["transactionId"] == "tx-b"
    await sink.close()


@pytest.fixture
async def http(grid: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{grid.api_port}") as session:
        yield session


async def test_ocpp21_car_discharges_for_an_export_target_posted_by_the_grid_operator(
    grid: Csms, http: aiohttp.ClientSession
) -> None:
    sink = ProfileSink(await open_peer(grid, "CS-2", PASSWORD, "ocpp2.1"))
    peer = sink.peer
    await peer.call("BootNotification", boot())
    await sink.wait(1)
    now = datetime.now(UTC)
    needs = {
        "evseId": 1,
        "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase",
            "departureTime": ocpp_time(now + timedelta(hours=10)),
            "v2xChargingParameters": {"maxDischargePower": 6_000, "targetSoC": 80},
        },
    }
    assert (await peer.call("NotifyEVChargingNeeds", needs))[2]["status"] == "Accepted"
    before = grid.planner.replans
    await peer.call("TransactionEvent", started("tx-v2g", now, 80))
    await replanned(grid, before, "transaction started")
    seen = len(sink.received)
    event = {
        "node": "site-b",
        "start": now.isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "kind": "target",
        "max_net_w": -5_000,
    }
    before = grid.planner.replans
    answer = await http.post("/api/v1/grid/events", json=event)
    assert answer.status == 201
    stored = await answer.json()
    await replanned(grid, before, f"grid event {stored['id']}")
    # The first profile after the request cuts: it discharges now.
    first = periods(sink.received[seen])[0]
    assert first["operationMode"] == "CentralSetpoint"
    assert first["setpoint"] == first["dischargeLimit"] <= -5_000
    assert first["dischargeLimit"] >= -6_000  # the car's own V2X limit
    listed = await (await http.get("/api/v1/grid/events")).json()
    assert [e["id"] for e in listed] == [stored["id"]]
    plan = await (await http.get("/api/v1/plan")).json()
    assert plan["nodes"][3]["id"] == "site-b" and plan["nodes"][3]["peak_w"] > 0  # recharges
    for bad, reason in (
        ({**event, "node": "nowhere"}, "node"),
        ({**event, "end": event["start"], "start": event["end"]}, "end"),
        ({k: v for k, v in event.items() if k != "max_net_w"}, "max_net_w"),
        ({**event, "kind": "limit"}, "max_net_w"),
    ):
        failure = await http.post("/api/v1/grid/events", json=bad)
        assert failure.status == 422 and reason in (await failure.json())["error"]
    assert (await http.delete(f"/api/v1/grid/events/{stored['id']}")).status == 200
    assert (await http.get(f"/api/v1/grid/events/{stored['id']}")).status == 404
    await sink.close()


async def test_delivery_report_compares_metered_power_with_the_request(
    grid: Csms, http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = ProfileSink(await open_peer(grid, "CS-1", PASSWORD))
    peer = sink.peer
    await peer.call("BootNotification", boot())
    await sink.wait(1)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    event = {
        "node": "tx-1",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "kind": "limit",
        "max_net_w": 6_000,
    }
    stored = await (await http.post("/api/v1/grid/events", json=event)).json()
    # 4 kW for the first 15 minutes, then 8 kW: the second slot misses the cap.
    await peer.call("TransactionEvent", started("tx-r", start - timedelta(minutes=5), 30))
    wh = 0.0
    for minute in range(0, 35, 5):
        wh += (4_000 if minute <= 15 else 8_000) * 5 / 60
        sample = {"value": wh, "measurand": "Energy.Active.Import.Register"}
        payload = {
            "evseId": 1,
            "meterValue": [{"timestamp": ocpp_time(start + timedelta(minutes=minute)),
                            "sampledValue": [sample]}],
        }  # fmt: skip
        await peer.call("MeterValues", payload)
    report = await (await http.get(f"/api/v1/grid/events/{stored['id']}/report")).json()
    assert [round(s["delivered_w"]) for s in report["slots"]][1] > 6_500
    assert [s["met"] for s in report["slots"]] == [True, False]
    assert report["met_share"] == 0.5
    assert report["guaranteed"] is True and report["not_guaranteed_because"] == []
    # A replan that found uncontrollable load alone beyond the event's cap says so (stored
    # once the planner is idle, so that no replan still under way overwrites it).
    await eventually(lambda: grid.planner.idle)
    plan = dict(grid.planner.plan or {})
    reason = "uncontrollable load 9000 W alone exceeds the limit 5000 W"
    plan["alerts"] = [{"node": "tx-1", "event_ids": [stored["id"]], "reason": reason}]
    await grid.planner.state.store(plan, datetime.now(UTC))
    report = await (await http.get(f"/api/v1/grid/events/{stored['id']}/report")).json()
    assert report["guaranteed"] is False and report["not_guaranteed_because"] == [reason]
    api = f"http://127.0.0.1:{grid.api_port}"
    assert await asyncio.to_thread(main, ["grid", "event", "list", "--api", api]) == 0
    assert "tx-1" in capsys.readouterr().out
    await sink.close()
    # The database commands run in a process of their own, as an operator runs them.
    db = ["--db-url", grid.settings.db_url]
    assert "50% of slots met" in await cli("grid", "report", str(stored["id"]), *db)
    assert "planned load per node" in await cli("plan", "--live", *db)


async def cli(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "cli.py", *args, cwd=ROOT, env={**os.environ, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode()
    return out.decode()
