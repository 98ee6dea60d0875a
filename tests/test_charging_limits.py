"""Smart charging, station side (K): limits set at a station by an EMS or the grid operator
are stored, reach the planner as caps until cleared; reported profiles and EV schedules are
stored; multi-part reports (N, O) are kept once per part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms.app import Csms
from csms.blocks import reports
from csms.blocks.charging_limits import (
    LimitInForce,
    caps_at,
    limits_in_force,
    profile_drift,
    schedule_limit_w,
)
from csms.blocks.stations import add_station
from csms.db.block_models import ChargingLimit, EvChargingSchedule, ReportedProfile
from csms.grid.live_state import save_topology
from csms.grid.profiles import RateUnit
from csms.grid.station_max import station_max_profile, station_max_w
from csms.grid.topology import parse_topology
from tests.conftest import PEER_PASSWORD, settings_for
from tests.ocpp_wire import WirePeer, open_peer
from tests.stations import boot, tx_event

T = datetime(2026, 1, 5, 12, tzinfo=UTC)


def schedule(limit: float, unit: str = "W", **extra: object) -> dict[str, object]:
    return {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        **extra,
    }


def test_a_schedule_in_amperes_limits_in_watts_for_its_phases() -> None:
    periods = {
        "id": 1,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0, "numberPhases": 1},
            {"startPeriod": 600, "limit": 10.0},
        ],
        "duration": 1200,
    }
    assert schedule_limit_w(periods, T, T + timedelta(seconds=10)) == 16 * 230
    assert schedule_limit_w(periods, T, T + timedelta(seconds=700)) == 10 * 3 * 230
    assert schedule_limit_w(periods, T, T + timedelta(seconds=1200)) is None
    assert schedule_limit_w(periods, T, T - timedelta(seconds=1)) is None


def test_a_station_wide_limit_is_shared_by_the_station_sessions() -> None:
    limits = [
        LimitInForce("CS-1", 0, "EMS", (schedule(12_000.0),), T),
        LimitInForce("CS-1", 2, "SO", (schedule(4_000.0),), T),
        LimitInForce("CS-2", 1, "EMS", (), T),  # no schedule: nothing to plan with
    ]
    caps = caps_at(limits, [("CS-1", 1), ("CS-1", 2), ("CS-2", 1)], T)
    assert caps == {("CS-1", 1): 6_000.0, ("CS-1", 2): 4_000.0}


def test_profile_drift_names_missing_extra_and_changed_profiles() -> None:
    def profile(profile_id: int, limit: float) -> dict[str, object]:
        return {
            "id": profile_id,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingSchedule": [schedule(limit)],
        }

    installed = {1: [profile(10, 7000.0), profile(11, 5000.0)], 2: [profile(20, 3000.0)]}
    reported = {1: [profile(10, 7000.0), profile(12, 1000.0)], 2: [profile(20, 2000.0)]}
    assert profile_drift(installed, reported) == [
        {"evse_id": 1, "profile_id": 11, "drift": "missing"},
        {"evse_id": 1, "profile_id": 12, "drift": "extra"},
        {"evse_id": 2, "profile_id": 20, "drift": "different"},
    ]


async def test_a_limit_set_at_the_station_holds_until_its_source_clears_it(
    csms: Csms, peer: WirePeer
) -> None:
    assert (await peer.call("BootNotification", boot()))[0] == 3
    notify = {
        "chargingLimit": {"chargingLimitSource": "SO", "isGridCritical": True},
        "chargingSchedule": [schedule(11_000.0)],
        "evseId": 1,
    }
    assert (await peer.call("NotifyChargingLimit", notify))[2] == {}
    # A newer limit of the same source replaces it; another source's stays.
    notify["chargingSchedule"] = [schedule(9_000.0)]
    assert (await peer.call("NotifyChargingLimit", notify))[0] == 3
    ems = {"chargingLimit": {"chargingLimitSource": "EMS"}, "chargingSchedule": [schedule(8e3)]}
    assert (await peer.call("NotifyChargingLimit", ems))[0] == 3
    in_force = await limits_in_force("CS-1")
    assert [(limit.evse_id, limit.source) for limit in in_force] == [(1, "SO"), (0, "EMS")]
    now = datetime.now(UTC)
    assert caps_at(in_force, [("CS-1", 1)], now) == {("CS-1", 1): 8_000.0}

    cleared = await peer.call("ClearedChargingLimit", {"chargingLimitSource": "EMS"})
    assert cleared[2] == {}
    in_force = await limits_in_force("CS-1")
    assert caps_at(in_force, [("CS-1", 1)], now) == {("CS-1", 1): 9_000.0}
    assert await ChargingLimit.filter(station_id="CS-1").count() == 3


async def test_reported_profiles_and_ev_schedules_are_stored(csms: Csms, peer: WirePeer) -> None:
    profile = {
        "id": 1000,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [schedule(7000.0)],
    }
    report = {
        "requestId": 3,
        "chargingLimitSource": "CSO",
        "evseId": 1,
        "chargingProfile": [profile],
    }
    assert (await peer.call("ReportChargingProfiles", report))[2] == {}
    stored = await ReportedProfile.get(station_id="CS-1")
    assert (stored.request_id, stored.profile_id, stored.profile) == (3, 1000, profile)

    ev = {"timeBase": "2026-01-05T12:00:00Z", "evseId": 2, "chargingSchedule": schedule(3e3)}
    assert (await peer.call("NotifyEVChargingSchedule", ev))[2] == {"status": "Accepted"}
    row = await EvChargingSchedule.get(station_id="CS-1", evse_id=2)
    assert row.time_base == T and row.schedule == schedule(3e3)


async def test_a_report_part_sent_twice_is_kept_once(csms: Csms, peer: WirePeer) -> None:
    part = {
        "data": "part one",
        "seqNo": 0,
        "generatedAt": "2026-01-05T12:00:00Z",
        "requestId": 7,
        "tbc": True,
    }
    for _ in range(2):
        assert (await peer.call("NotifyCustomerInformation", part))[2] == {}
    last = part | {"data": "part two", "seqNo": 1, "tbc": False}
    assert (await peer.call("NotifyCustomerInformation", last))[0] == 3
    kept = await reports.report("CS-1", "NotifyCustomerInformation")
    assert kept["request_id"] == 7 and kept["complete"]
    assert [p["data"] for p in kept["parts"]] == ["part one", "part two"]


async def test_the_planner_sees_a_station_limit_as_the_session_cap(
    csms: Csms, peer: WirePeer
) -> None:
    assert (await peer.call("BootNotification", boot()))[0] == 3
    started = tx_event("Started", 0, 1, import_wh=0.0, id_token="T1")
    assert (await peer.call("TransactionEvent", started))[0] == 3
    (session,) = await csms.plan_state.sessions(datetime.now(UTC))
    assert session.needs is None or session.needs.max_charge_w is None
    notify = {
        "chargingLimit": {"chargingLimitSource": "EMS"},
        "chargingSchedule": [schedule(16.0, "A")],
    }
    assert (await peer.call("NotifyChargingLimit", notify))[0] == 3
    (session,) = await csms.plan_state.sessions(datetime.now(UTC))
    assert session.needs is not None and session.needs.max_charge_w == 16 * 3 * 230


def test_the_station_maximum_is_its_rating_or_the_tightest_node_above() -> None:
    document = {
        "version": 1,
        "tariff": {"import_price_by_hour": [0.2] * 24},
        "node": [
            {"id": "feeder", "import_limit_w": 500_000},
            {"id": "tx", "parent": "feeder", "import_limit_w": 30_000},
        ],
        "station": [
            {
                "id": "CS-1",
                "node": "tx",
                "evse": [{"id": 1, "max_import_w": 22_000}, {"id": 2, "max_import_w": 22_000}],
            },
            {"id": "CS-2", "node": "feeder", "evse": [{"id": 1, "max_import_w": 11_000}]},
        ],
    }
    topology = parse_topology(document)
    assert station_max_w(topology, "CS-1") == 30_000
    assert station_max_w(topology, "CS-2") == 11_000
    assert station_max_w(topology, "CS-3") is None
    amps = station_max_profile(topology, "CS-1", RateUnit.A)
    assert amps is not None and amps["evseId"] == 0
    (period,) = amps["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert period == {"startPeriod": 0, "limit": 43.4, "numberPhases": 3}


async def test_a_booting_station_gets_its_maximum_from_the_topology(
    db_url: str, kernel_loaded: None
) -> None:
    csms = Csms(settings_for(db_url, station_max_profile=True))
    await csms.start()
    try:
        await add_station("CS-1", PEER_PASSWORD)
        peer = await open_peer(csms, "CS-1", PEER_PASSWORD)
        document = {
            "version": 1,
            "tariff": {"import_price_by_hour": [0.2] * 24},
            "node": [{"id": "tx", "import_limit_w": 30_000}],
            "station": [{"id": "CS-1", "node": "tx", "evse": [{"id": 1, "max_import_w": 5e4}]}],
        }
        await save_topology(document, datetime.now(UTC))
        assert (await peer.call("BootNotification", boot()))[2]["status"] == "Accepted"
        call = await peer.expect_call(timeout=30)
        while call[2] != "SetChargingProfile" or call[3]["evseId"] != 0:
            await peer.answer(call[1], {"status": "Accepted"})
            call = await peer.expect_call(timeout=30)
        profile = call[3]["chargingProfile"]
        assert profile["chargingProfilePurpose"] == "ChargingStationMaxProfile"
        assert profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 30_000
        await peer.answer(call[1], {"status": "Accepted"})
        await peer.close()
    finally:
        await csms.stop()


def test_an_unreadable_limit_schedule_caps_nothing_and_stops_no_plan() -> None:
    odd = [
        {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0}]},
        schedule(5_000.0, startSchedule="0000-13-45T99:00:00Z"),
    ]
    limits = [LimitInForce("CS-1", 1, "vendor-ems-2.1", tuple(odd), T)]
    assert caps_at(limits, [("CS-1", 1)], T) == {}
