"""An emulated station against the test CSMS over real websockets on 127.0.0.1.

The clock runs 600x (one simulated minute per 0.1 s), so these tests wait on conditions,
never on sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v201 import call

from charge_point_emulator.clock import SimClock, ocpp_time, parse_ocpp_time
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.faults import Fault, FaultKind
from charge_point_emulator.scenario import EvseSpec, EvseType
from charge_point_emulator.station import ConnectionState, EmulatedStation
from tests.ocpp_test_server import TestCsms

PASSWORD = "correct horse"
SPEED = 600.0

StationFactory = Callable[..., EmulatedStation]


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    server = TestCsms({"CS1": PASSWORD, "CS2": PASSWORD})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_station(csms: TestCsms) -> AsyncIterator[StationFactory]:
    started: list[EmulatedStation] = []

    def factory(**kwargs: Any) -> EmulatedStation:
        options: dict[str, Any] = {
            "clock": SimClock(SPEED),
            "sample_interval_s": 60,
            "tick_real_s": 0.02,
            "response_timeout_s": 2.0,
        }
        options.update(kwargs)
        station = EmulatedStation(
            options.pop("station_id", "CS1"), options.pop("password", PASSWORD), csms.url, **options
        )
        station.keep_sent = True
        started.append(station)
        return station

    yield factory
    for station in started:
        await station.stop()


async def _online(station: EmulatedStation) -> EmulatedStation:
    await station.start()
    await station.wait_until(lambda: station.online)
    return station


def _events(csms: TestCsms, station_id: str = "CS1") -> list[dict[str, Any]]:
    return csms.of(station_id, "TransactionEvent")


def _measurands(event: dict[str, Any]) -> dict[str, float]:
    return {s["measurand"]: s["value"] for mv in event["meterValue"] for s in mv["sampledValue"]}


async def test_boot_retries_while_pending_then_heartbeats_at_the_interval_given(
    csms: TestCsms, make_station: StationFactory
) -> None:
    csms.behaviour.boot_statuses = ["Pending", "Rejected"]
    csms.behaviour.heartbeat_interval = 60
    station = await _online(make_station(evses=(EvseSpec(), EvseSpec())))
    assert len(csms.of("CS1", "BootNotification")) == 3
    await csms.wait_until(lambda: len(csms.of("CS1", "Heartbeat")) >= 3)
    hb = [s for s in station.sent if s.action == "Heartbeat"]
    # Heartbeats are one simulated minute apart (within a tick of the real clock).
    assert station.device_model.int_value("OCPPCommCtrlr", "HeartbeatInterval", 0) == 60
    await csms.wait_until(lambda: len(csms.of("CS1", "StatusNotification")) >= 2)
    statuses = csms.of("CS1", "StatusNotification")
    assert {(s["evseId"], s["connectorId"], s["connectorStatus"]) for s in statuses} == {
        (1, 1, "Available"),
        (2, 1, "Available"),
    }
    assert hb


async def test_wrong_password_is_refused_and_retried_with_back_off(
    csms: TestCsms, make_station: StationFactory
) -> None:
    station = make_station(password="wrong")
    await station.start()
    await csms.wait_until(lambda: csms.rejected_auth >= 3)
    assert station.state is not ConnectionState.ONLINE
    assert "CS1" not in csms.connects


async def test_transaction_runs_from_plug_in_to_departure_in_simulated_time(
    csms: TestCsms, make_station: StationFactory
) -> None:
    station = await _online(make_station())
    station.arrive(1, EvSpec(capacity_wh=60_000, max_ac_w=11_000), 0.3, 0.9, 1800, "RFID1")
    await station.wait_until(lambda: station.evses[1].ev is None, within_s=15)
    await csms.wait_until(lambda: any(e["eventType"] == "Ended" for e in _events(csms)))
    actions = [r.action for r in csms.received if r.station_id == "CS1"]
    assert actions.index("Authorize") < actions.index("TransactionEvent")
    events = _events(csms)
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert events[0]["eventType"] == "Started" and events[0]["idToken"]["idToken"] == "RFID1"
    assert events[-1]["eventType"] == "Ended"
    assert events[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert {e["transactionInfo"]["transactionId"] for e in events} == {
        events[0]["transactionInfo"]["transactionId"]
    }
    updated = [e for e in events if e["eventType"] == "Updated"]
    assert len(updated) >= 25  # one sample per simulated minute for 30 minutes
    assert set(_measurands(updated[0])) == {
        "Energy.Active.Import.Register",
        "Energy.Active.Export.Register",
        "Power.Active.Import",
        "SoC",
    }
    # Simulated time is consistent: 30 minutes at 11 kW is 5.5 kWh, SoC +9.2 points.
    begin, end = parse_ocpp_time(events[0]["timestamp"]), parse_ocpp_time(events[-1]["timestamp"])
    assert (end - begin).total_seconds() == pytest.approx(1800, abs=40)
    energy = _measurands(events[-1])["Energy.Active.Import.Register"]
    energy -= _measurands(events[0])["Energy.Active.Import.Register"]
    assert energy == pytest.approx(11_000 * (end - begin).total_seconds() / 3600, rel=0.02)
    truth = next(iter(station.truth.transactions.values()))
    assert truth.delivered_wh == pytest.approx(energy, abs=1.0)
    await csms.wait_until(lambda: len(csms.of("CS1", "StatusNotification")) == 3)
    statuses = [s["connectorStatus"] for s in csms.of("CS1", "StatusNotification")]
    assert statuses == ["Available", "Occupied", "Available"]


async def test_remote_start_and_stop(csms: TestCsms, make_station: StationFactory) -> None:
    station = await _online(make_station())
    station.plug_in(1, EvSpec(), 0.5, 0.9, 7200)
    result = await csms.send(
        "CS1",
        call.RequestStartTransaction(
            id_token={"id_token": "APP", "type": "Central"}, remote_start_id=42, evse_id=1
        ),
    )
    assert result.status == "Accepted" and result.transaction_id
    await csms.wait_until(lambda: len(_events(csms)) >= 1)
    started = _events(csms)[0]
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 42
    status = await csms.send("CS1", call.GetTransactionStatus(transaction_id=result.transaction_id))
    assert status.ongoing_indicator is True
    other = await csms.send("CS1", call.GetTransactionStatus(transaction_id="unknown"))
    assert other.ongoing_indicator is False and other.messages_in_queue is False
    stop = await csms.send("CS1", call.RequestStopTransaction(transaction_id=result.transaction_id))
    assert stop.status == "Accepted"
    await csms.wait_until(lambda: _events(csms)[-1]["eventType"] == "Ended")
    assert _events(csms)[-1]["transactionInfo"]["stoppedReason"] == "Remote"
    assert station.evses[1].ev is not None  # the car is still plugged in
    unknown = await csms.send("CS1", call.RequestStopTransaction(transaction_id="nope"))
    assert unknown.status == "Rejected"


def _tx_profile(limit: float, unit: str = "W", pid: int = 1, level: int = 0) -> dict[str, Any]:
    return {
        "id": pid,
        "stack_level": level,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": [
            {
                "id": pid,
                "charging_rate_unit": unit,
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            }
        ],
    }


async def test_charging_profile_limits_power_and_negative_limit_feeds_back(
    csms: TestCsms, make_station: StationFactory
) -> None:
    evse = EvseSpec(EvseType.DC, 50_000, bidirectional=True)
    station = await _online(make_station(evses=(evse,)))
    ev = EvSpec(bidirectional=True, max_discharge_w=10_000)
    station.arrive(1, ev, 0.5, 0.9, 7200, "RFID")
    await station.wait_until(lambda: station.evses[1].power_w == 50_000)
    result = await csms.send(
        "CS1", call.SetChargingProfile(evse_id=1, charging_profile=_tx_profile(10, "A"))
    )
    assert result.status == "Accepted"
    assert station.evses[1].power_w == pytest.approx(6_900)  # 10 A * 3 phases * 230 V
    composite = await csms.send("CS1", call.GetCompositeSchedule(duration=3600, evse_id=1))
    assert composite.status == "Accepted"
    assert composite.schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 6900.0}]
    # The same id replaces the profile: now discharge 7 kW.
    await csms.send("CS1", call.SetChargingProfile(evse_id=1, charging_profile=_tx_profile(-7000)))
    assert station.evses[1].power_w == -7_000
    exported = station.evses[1].export_wh
    await station.wait_until(lambda: station.evses[1].export_wh > exported + 100)
    await csms.wait_until(lambda: "Power.Active.Export" in _measurands(_events(csms)[-1]))
    listed = await csms.send(
        "CS1",
        call.GetChargingProfiles(
            request_id=7, charging_profile={"charging_profile_purpose": "TxProfile"}
        ),
    )
    assert listed.status == "Accepted"
    await csms.wait_until(lambda: len(csms.of("CS1", "ReportChargingProfiles")) == 1)
    report = csms.of("CS1", "ReportChargingProfiles")[0]
    assert report["requestId"] == 7 and report["chargingProfile"][0]["id"] == 1
    cleared = await csms.send("CS1", call.ClearChargingProfile(charging_profile_id=1))
    assert cleared.status == "Accepted"
    assert station.evses[1].power_w == 50_000


async def test_station_max_profile_is_shared_between_evses(
    csms: TestCsms, make_station: StationFactory
) -> None:
    station = await _online(make_station(evses=(EvseSpec(), EvseSpec())))
    station.arrive(1, EvSpec(max_ac_w=22_000), 0.2, 0.9, 7200, "A")
    station.arrive(2, EvSpec(max_ac_w=22_000), 0.2, 0.9, 7200, "B")
    await station.wait_until(lambda: all(e.power_w > 0 for e in station.evses.values()))
    profile = {
        "id": 9,
        "stack_level": 0,
        "charging_profile_purpose": "ChargingStationMaxProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 9,
                "charging_rate_unit": "W",
                "start_schedule": "2020-01-01T00:00:00Z",
                "charging_schedule_period": [{"start_period": 0, "limit": 20_000}],
            }
        ],
    }
    rejected = await csms.send("CS1", call.SetChargingProfile(evse_id=1, charging_profile=profile))
    assert rejected.status == "Rejected"  # a station maximum belongs on EVSE 0
    accepted = await csms.send("CS1", call.SetChargingProfile(evse_id=0, charging_profile=profile))
    assert accepted.status == "Accepted"
    assert sum(e.power_w for e in station.evses.values()) == pytest.approx(20_000)


async def test_offline_keeps_charging_queues_events_and_replays_them_in_order(
    csms: TestCsms, make_station: StationFactory
) -> None:
    station = await _online(make_station())
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID")
    await csms.wait_until(lambda: len(_events(csms)) >= 2)
    await station.drop_connection()
    await station.wait_until(lambda: station.state is ConnectionState.OFFLINE)
    before = station.evses[1].import_wh
    await station.wait_until(lambda: len(station.queue) >= 5)
    assert station.evses[1].import_wh > before  # still charging under its profiles
    queued_seq = [m.payload.seq_no for m in station.queue if m.payload.offline]
    station.restore_connection()
    await station.wait_until(lambda: station.online and len(station.queue) == 0)
    received = [r for r in csms.received if r.action == "TransactionEvent"]
    # A message in flight when the link died may arrive twice: then as the same message.
    first: dict[str, Any] = {}
    for r in received:
        assert first.setdefault(r.unique_id, r.payload) == r.payload
    events = list(first.values())
    assert [e["seqNo"] for e in events] == list(range(len(events)))  # in order, no gaps
    offline = [e for e in events if e.get("offline")]
    assert [e["seqNo"] for e in offline][: len(queued_seq)] == queued_seq
    assert station.boots == 1  # a reconnect is not a reboot: no second BootNotification
    assert len(csms.of("CS1", "BootNotification")) == 1
    assert csms.connects["CS1"] == 2


@pytest.mark.parametrize("lost_by", ["csms", "station"])
async def test_lost_response_resends_the_same_message(
    csms: TestCsms, make_station: StationFactory, lost_by: str
) -> None:
    faults: tuple[Fault, ...] = ()
    if lost_by == "csms":  # the CSMS never answers
        csms.behaviour.swallow["TransactionEvent"] = 1
    else:  # the answer is lost on its way back (fault injected in the station)
        faults = (Fault(FaultKind.LOSE_RESPONSE, action="TransactionEvent"),)
    station = await _online(make_station(response_timeout_s=0.3, faults=faults))
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID")
    await csms.wait_until(lambda: len(_events(csms)) >= 3)
    started = [r for r in csms.received if r.action == "TransactionEvent"][:2]
    assert started[0].unique_id == started[1].unique_id
    assert started[0].payload == started[1].payload
    assert started[1].payload["seqNo"] == 0


async def test_device_model_over_the_wire_and_base_report_in_parts(
    csms: TestCsms, make_station: StationFactory
) -> None:
    await _online(make_station())
    got = await csms.send(
        "CS1",
        call.GetVariables(
            get_variable_data=[
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {"component": {"name": "Nope"}, "variable": {"name": "X"}},
            ]
        ),
    )
    assert [r["attribute_status"] for r in got.get_variable_result] == [
        "Accepted",
        "UnknownComponent",
    ]
    assert got.get_variable_result[0]["attribute_value"] == "300"
    put = await csms.send(
        "CS1",
        call.SetVariables(
            set_variable_data=[
                {
                    "component": {"name": "SampledDataCtrlr"},
                    "variable": {"name": "TxUpdatedInterval"},
                    "attribute_value": "30",
                },
                {
                    "component": {"name": "ChargingStation"},
                    "variable": {"name": "Model"},
                    "attribute_value": "X",
                },
            ]
        ),
    )
    assert [r["attribute_status"] for r in put.set_variable_result] == ["Accepted", "Rejected"]
    report = await csms.send("CS1", call.GetBaseReport(request_id=5, report_base="FullInventory"))
    assert report.status == "Accepted"
    await csms.wait_until(lambda: any(p["tbc"] is False for p in csms.of("CS1", "NotifyReport")))
    parts = csms.of("CS1", "NotifyReport")
    assert [p["seqNo"] for p in parts] == list(range(len(parts))) and len(parts) > 1
    names = {d["component"]["name"] for p in parts for d in p["reportData"]}
    assert {
        "ChargingStation",
        "EVSE",
        "Connector",
        "OCPPCommCtrlr",
        "TxCtrlr",
        "SmartChargingCtrlr",
        "AuthCtrlr",
        "SampledDataCtrlr",
    } <= names


async def test_reset_unlock_availability_and_trigger(
    csms: TestCsms, make_station: StationFactory
) -> None:
    station = await _online(make_station(evses=(EvseSpec(), EvseSpec())))
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID")
    await station.wait_until(lambda: station.evses[1].tx is not None)
    unlock = await csms.send("CS1", call.UnlockConnector(evse_id=1, connector_id=1))
    assert unlock.status == "OngoingAuthorizedTransaction"
    assert (
        await csms.send("CS1", call.UnlockConnector(evse_id=2, connector_id=1))
    ).status == "Unlocked"
    off = await csms.send(
        "CS1", call.ChangeAvailability(operational_status="Inoperative", evse={"id": 2})
    )
    assert off.status == "Accepted"
    await csms.wait_until(
        lambda: (
            {"evseId": 2, "connectorStatus": "Unavailable"}.items()
            <= csms.of("CS1", "StatusNotification")[-1].items()
        )
    )
    trigger = await csms.send(
        "CS1", call.TriggerMessage(requested_message="MeterValues", evse={"id": 1})
    )
    assert trigger.status == "Accepted"
    await csms.wait_until(lambda: len(csms.of("CS1", "MeterValues")) == 1)
    scheduled = await csms.send("CS1", call.Reset(type="OnIdle"))
    assert scheduled.status == "Scheduled"
    reset = await csms.send("CS1", call.Reset(type="Immediate"))
    assert reset.status == "Accepted"
    await csms.wait_until(lambda: len(csms.of("CS1", "BootNotification")) == 2)
    assert csms.of("CS1", "BootNotification")[1]["reason"] == "RemoteReset"
    await csms.wait_until(lambda: _events(csms)[-1]["eventType"] == "Ended")
    ended = [e for e in _events(csms) if e["eventType"] == "Ended"]
    assert ended[0]["transactionInfo"]["stoppedReason"] == "ImmediateReset"


async def test_iso15118_car_announces_its_charging_needs(
    csms: TestCsms, make_station: StationFactory
) -> None:
    station = await _online(make_station(evses=(EvseSpec(EvseType.DC, 150_000),)))
    station.arrive(1, EvSpec(capacity_wh=80_000, iso15118=True), 0.25, 0.75, 3600, "RFID")
    await csms.wait_until(lambda: len(csms.of("CS1", "NotifyEVChargingNeeds")) == 1)
    needs = csms.of("CS1", "NotifyEVChargingNeeds")[0]["chargingNeeds"]
    assert needs["requestedEnergyTransfer"] == "DC"
    assert needs["dcChargingParameters"]["energyAmount"] == 40_000
    assert "departureTime" in needs


async def test_injected_faults_reject_late_never_malformed_and_drop(
    csms: TestCsms, make_station: StationFactory
) -> None:
    faults = (
        Fault(FaultKind.REJECT_PROFILE),
        Fault(FaultKind.NO_ANSWER, action="GetVariables"),
        Fault(FaultKind.LATE_ANSWER, action="GetTransactionStatus", delay_s=300),
        Fault(FaultKind.MALFORMED_FRAME, at_s=60),
        Fault(FaultKind.DROP_CONNECTION, at_s=900, duration_s=300),
    )
    station = await _online(make_station(faults=faults))
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID")
    await station.wait_until(lambda: station.evses[1].tx is not None)
    rejected = await csms.send(
        "CS1", call.SetChargingProfile(evse_id=1, charging_profile=_tx_profile(5000))
    )
    assert rejected.status == "Rejected"
    central = csms.connections["CS1"]
    central._response_timeout = 0.3
    with pytest.raises(TimeoutError):
        await csms.send(
            "CS1",
            call.GetVariables(
                get_variable_data=[
                    {"component": {"name": "TxCtrlr"}, "variable": {"name": "EVConnectionTimeOut"}}
                ]
            ),
        )
    central._response_timeout = 5
    asked = station.clock.elapsed()
    late = await csms.send("CS1", call.GetTransactionStatus())
    assert station.clock.elapsed() - asked >= 300  # answered five simulated minutes late
    assert late.messages_in_queue in (True, False)
    await csms.wait_until(lambda: len(csms.malformed) == 1)
    await station.wait_until(lambda: station.state is ConnectionState.OFFLINE)
    await csms.wait_until(lambda: csms.connects["CS1"] == 2, within_s=15)
    assert sorted(f.kind for f in station.faults.fired) == sorted(f.kind for f in faults)


async def test_station_without_smart_charging_answers_not_implemented(
    csms: TestCsms, make_station: StationFactory
) -> None:
    station = await _online(make_station(faults=(Fault(FaultKind.NO_SMART_CHARGING),)))
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID")
    await station.wait_until(lambda: station.evses[1].tx is not None)
    asks = (
        call.SetChargingProfile(evse_id=1, charging_profile=_tx_profile(5000)),
        call.GetCompositeSchedule(duration=60, evse_id=1),
        call.ClearChargingProfile(charging_profile_id=1),
    )
    for ask in asks:
        with pytest.raises(OCPPError) as refused:
            await csms.send("CS1", ask)
        assert refused.value.code == "NotImplemented"
    assert not station.profiles.installed
    assert station.evses[1].power_w == 11_000  # the car's own AC maximum
    # Other actions are still answered.
    status = await csms.send("CS1", call.GetTransactionStatus())
    assert status.messages_in_queue in (True, False)


async def test_station_that_ignores_profiles_accepts_them_and_draws_full_power(
    csms: TestCsms, make_station: StationFactory
) -> None:
    station = await _online(make_station(faults=(Fault(FaultKind.IGNORES_PROFILE),)))
    station.arrive(1, EvSpec(), 0.2, 0.9, 7200, "RFID")
    await station.wait_until(lambda: station.evses[1].tx is not None)
    result = await csms.send(
        "CS1", call.SetChargingProfile(evse_id=1, charging_profile=_tx_profile(2000))
    )
    assert result.status == "Accepted"
    assert len(station.profiles.installed) == 1
    assert station.evses[1].power_w == 11_000  # the car's own AC maximum, not 2 kW


async def test_call_error_from_station_for_unknown_evse(
    csms: TestCsms, make_station: StationFactory
) -> None:
    await _online(make_station())
    result = await csms.send("CS1", call.GetCompositeSchedule(duration=60, evse_id=7))
    assert result.status == "Rejected"
    with pytest.raises(OCPPError):
        # Only a local controller publishes firmware: the emulated station does not.
        await csms.send("CS1", call.UnpublishFirmware(checksum="0" * 32))


async def test_power_follows_profile_periods_to_the_second_even_with_coarse_ticks(
    csms: TestCsms, make_station: StationFactory
) -> None:
    # One tick is 300 simulated seconds; the profile changes at minute boundaries between.
    station = await _online(make_station(tick_real_s=0.5))
    station.arrive(1, EvSpec(capacity_wh=200_000), 0.2, 0.9, 7200, "RFID")
    await station.wait_until(lambda: station.evses[1].tx is not None)
    now = station.clock.now()
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=3)
    profile = {
        "id": 3,
        "stack_level": 0,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 3,
                "charging_rate_unit": "W",
                "start_schedule": ocpp_time(start),
                "duration": 180,
                "charging_schedule_period": [
                    {"start_period": 0, "limit": 4_000},
                    {"start_period": 60, "limit": 2_000},
                ],
            }
        ],
    }
    result = await csms.send("CS1", call.SetChargingProfile(evse_id=0, charging_profile=profile))
    assert result.status == "Accepted"
    end = start + timedelta(minutes=5)
    await station.wait_until(lambda: station.clock.now() > end, within_s=15)
    minutes = {m["minute"]: m["avg_w"] for m in station.truth.as_dict()["power_per_minute"]["1"]}

    def at(offset_min: int) -> float:
        return minutes[ocpp_time(start + timedelta(minutes=offset_min))]

    assert at(-1) == pytest.approx(11_000)
    assert at(0) == pytest.approx(4_000)
    assert at(1) == pytest.approx(2_000)
    assert at(2) == pytest.approx(2_000)
    assert at(3) == pytest.approx(11_000)
