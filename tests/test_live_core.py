"""Pure cores of live planning: instance from live state, profiles, dead-band, delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.grid.check import check_schedule
from csms.grid.events import delivery
from csms.grid.kernel import solve
from csms.grid.live_instance import (
    EFFICIENCY,
    EventKind,
    GridEventValue,
    LiveSession,
    Needs,
    build_instance,
    evse_node_id,
    needs_from_payload,
)
from csms.grid.planner import plan_document
from csms.grid.profiles import (
    RateUnit,
    SentSchedule,
    differs,
    forced_resends,
    periods,
    rate_unit_of,
    split_change,
    tx_profile,
)
from csms.grid.topology import EvsePlace, loads_topology
from tests.test_live_topology import topology_toml

NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def _session(tx: str, station: str = "CS-1", **kw: object) -> LiveSession:
    return LiveSession(station, 1, tx, kw.pop("started_at", NOW), **kw)  # type: ignore[arg-type]


def test_instance_uses_reported_soc_and_needs_and_defaults_otherwise() -> None:
    topology, _ = loads_topology(topology_toml(bidirectional=("CS-2",)))
    needs = Needs(departure=NOW + timedelta(hours=3), energy_wh=20_000)
    sessions = [
        _session("a", soc=0.5, energy_wh=2_000, needs=needs),
        _session("b", "CS-2", energy_wh=3_000, discharged_wh=1_000),
        _session("c", "CS-unknown"),
    ]
    instance, placed = build_instance(topology, sessions, [], NOW)
    assert [p.transaction_id for p in placed] == ["a", "b"]
    a, b = instance.sessions
    assert a.initial_wh == 30_000 and a.target_wh == 30_000 + 18_000
    assert a.departure_slot == 12 and a.max_discharge_w == 0
    # No SoC, no needs: arrival SoC of the defaults plus what the session already took.
    assert b.initial_wh == 0.3 * 60_000 + 2_000 and b.target_wh == 0.8 * 60_000
    assert b.departure_slot == 32 and b.max_discharge_w == 11_000
    assert b.min_wh == 0.2 * 60_000
    assert instance.slots == 96 and instance.import_price[0] == 0.30
    assert instance.import_price[8] == 0.20 and instance.import_price[32] == 0.10  # 18:00, 00:00
    assert {n.id for n in instance.nodes} >= {evse_node_id("CS-1", 1), "tx-1"}


def test_a_limit_event_caps_its_slots_and_a_target_becomes_dispatch() -> None:
    topology, _ = loads_topology(topology_toml())
    events = [
        GridEventValue(1, "tx-1", NOW + timedelta(hours=1), NOW + timedelta(hours=2),
                       EventKind.LIMIT, 5_000),
        GridEventValue(2, "site-b", NOW + timedelta(minutes=20), NOW + timedelta(hours=1),
                       EventKind.TARGET, -4_000),
    ]  # fmt: skip
    instance, _ = build_instance(topology, [_session("a")], events, NOW)
    tx = next(n for n in instance.nodes if n.id == "tx-1")
    assert tx.import_limit_w_by_slot is not None
    assert tx.import_limit_w_by_slot[3:9] == (60_000, 5_000, 5_000, 5_000, 5_000, 60_000)
    (target,) = instance.dispatch
    assert (target.node, target.from_slot, target.to_slot, target.max_net_w) == (
        "site-b", 1, 4, -4_000)  # fmt: skip
    schedule = solve(instance)
    assert check_schedule(instance, schedule).ok
    assert max(schedule.power_w["a"][4:8]) <= 5_000 + 1e-6


def test_v21_needs_give_discharge_power_target_and_departure() -> None:
    payload = {
        "evseId": 1,
        "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase",
            "departureTime": "2026-11-24T20:00:00Z",
            "controlMode": "DynamicControl",
            "v2xChargingParameters": {
                "maxChargePower": 7_000,
                "maxDischargePower": 5_000,
                "targetSoC": 70,
            },
        },
    }
    needs = needs_from_payload(payload)
    assert needs.departure == datetime(2026, 11, 24, 20, tzinfo=UTC)
    assert (needs.max_charge_w, needs.max_discharge_w, needs.target_soc) == (7_000, 5_000, 0.7)
    topology, _ = loads_topology(topology_toml(bidirectional=("CS-1",)))
    instance, _ = build_instance(topology, [_session("a", soc=0.6, needs=needs)], [], NOW)
    (s,) = instance.sessions
    assert (s.max_charge_w, s.max_discharge_w, s.target_wh, s.departure_slot) == (
        7_000, 5_000, 42_000, 16)  # fmt: skip


EVSE = EvsePlace(1, 11_000, 11_000, phases=3, voltage_v=230)
SERIES = SentSchedule(NOW, 900, (11_000.0, 11_000.0, -6_900.0, 0.0))


def test_ocpp201_profile_discharges_with_negative_limits_only_when_bidirectional() -> None:
    profile = tx_profile(EVSE, "tx-9", SERIES, RateUnit.W, "v201")["chargingProfile"]
    assert profile["transactionId"] == "tx-9" and profile["chargingProfilePurpose"] == "TxProfile"
    periods_ = profile["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert [(p["startPeriod"], p["limit"]) for p in periods_] == [
        (0, 11_000), (1800, -6_900), (2700, 0)]  # fmt: skip
    one_way = EvsePlace(1, 11_000)
    periods_ = tx_profile(one_way, "tx-9", SERIES, RateUnit.W, "v201")["chargingProfile"][
        "chargingSchedule"][0]["chargingSchedulePeriod"]  # fmt: skip
    assert all(p["limit"] >= 0 for p in periods_)


def test_ocpp21_profile_uses_discharge_limit_setpoint_and_operation_mode() -> None:
    periods_ = tx_profile(EVSE, "tx-9", SERIES, RateUnit.A, "v21")["chargingProfile"][
        "chargingSchedule"][0]["chargingSchedulePeriod"]  # fmt: skip
    charge, discharge, idle = periods_
    assert charge["operationMode"] == "ChargingOnly" and charge["limit"] == 15.9
    assert charge["numberPhases"] == 3
    assert discharge["operationMode"] == "CentralSetpoint"
    assert discharge["dischargeLimit"] == discharge["setpoint"] == -10.0
    assert idle["limit"] == 0


def test_rate_unit_is_watts_unless_the_station_only_takes_amperes() -> None:
    assert rate_unit_of("A,W") is RateUnit.W
    assert rate_unit_of(None) is RateUnit.W
    assert rate_unit_of("A") is RateUnit.A


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-11_000, 11_000), min_size=1, max_size=12),
    st.integers(0, 11),
    st.floats(0, 2_000),
)
def test_dead_band_resends_exactly_when_some_instant_moves_more_than_it(
    power: list[float], index: int, change: float
) -> None:
    old = SentSchedule(NOW, 900, tuple(power))
    assert not differs(old, old, NOW, 500)
    moved = list(power)
    index %= len(moved)
    moved[index] += change
    new = SentSchedule(NOW, 900, tuple(moved))
    assert differs(old, new, NOW, 500) == (change > 500)
    # What lies in the past does not count.
    later = NOW + timedelta(seconds=900 * (index + 1))
    if index < len(power) - 1:
        assert not differs(old, new, later, 500)


@given(st.lists(st.floats(-22_000, 22_000, allow_nan=False), min_size=1, max_size=20))
def test_profile_periods_reproduce_the_series(power: list[float]) -> None:
    merged = periods(power, 900)
    for i, value in enumerate(power):
        start_value = [w for start, w in merged if start <= i * 900][-1]
        assert abs(start_value - value) <= 5.0


def test_delivery_is_the_register_increase_per_slot() -> None:
    event = GridEventValue(1, "tx-1", NOW, NOW + timedelta(minutes=30), EventKind.LIMIT, 10_000)

    def register(watts: float) -> list[tuple[datetime, float]]:
        return [(NOW + timedelta(minutes=m), watts * m / 60) for m in range(-5, 40, 5)]

    slots = delivery(event, 900, [register(8_000), register(-3_000), [(NOW, 5.0)]])
    assert [round(s.delivered_w) for s in slots] == [5_000, 5_000]
    assert all(s.met and s.requested_w == 10_000 for s in slots)


@given(
    st.lists(st.floats(-11_000, 11_000), min_size=4, max_size=4),
    st.lists(st.floats(-11_000, 11_000), min_size=4, max_size=4),
)
def test_a_change_is_sent_as_a_cut_then_a_raise(before: list[float], after: list[float]) -> None:
    old, new = SentSchedule(NOW, 900, tuple(before)), SentSchedule(NOW, 900, tuple(after))
    cut, raised = split_change(old, new)
    assert cut is not None or raised is not None
    if cut is not None:
        assert all(c <= min(b, a) for c, b, a in zip(cut.power_w, before, after, strict=True))
    assert (raised or cut) is not None and ((raised or cut).power_w == new.power_w)  # type: ignore[union-attr]


def test_many_small_kept_changes_that_overload_a_node_are_sent_anyway() -> None:
    keys = [("S", i, f"tx{i}") for i in range(4)]
    old = SentSchedule(NOW, 900, (3_000.0,))
    new = SentSchedule(NOW, 900, (2_600.0,))  # each moved by less than the dead-band
    kept = {k: (old, new) for k in keys}
    nodes = {k: ["site"] for k in keys}
    moments = [NOW]
    assert forced_resends(kept, {}, nodes, {"site": [11_000.0]}, moments) == set(keys)
    assert forced_resends(kept, {}, nodes, {"site": [12_000.0]}, moments) == set()


def test_when_energy_is_short_the_car_leaving_first_is_served_first() -> None:
    # 12 kW under the site for two cars wanting 11 kW for 2 hours each.
    text = topology_toml({"CS-1": "site-a", "CS-2": "site-a"}, transformer_w=12_000)
    topology, _ = loads_topology(text)
    early = Needs(departure=NOW + timedelta(hours=2), energy_wh=20_000)
    late = Needs(departure=NOW + timedelta(hours=8), energy_wh=20_000)
    sessions = [_session("late", "CS-2", needs=late), _session("early", needs=early)]
    instance, placed = build_instance(topology, sessions, [], NOW)
    schedule = solve(instance)
    assert check_schedule(instance, schedule).ok
    early_kwh = sum(schedule.power_w["early"][:8]) / 4000 * EFFICIENCY
    assert early_kwh >= 19.9  # it leaves at slot 8 with what it asked for
    plan = plan_document(topology, instance, schedule, placed, "test", NOW)
    site = next(n for n in plan["nodes"] if n["id"] == "site-a")
    assert site["peak_w"] <= 12_000 + 1e-6


def test_plan_reports_the_share_of_energy_drawn_in_valley_slots() -> None:
    topology, _ = loads_topology(topology_toml())  # 0.10 from 00:00 to 06:00 UTC
    needs = Needs(departure=NOW + timedelta(hours=15), energy_wh=20_000)
    instance, placed = build_instance(topology, [_session("a", needs=needs)], [], NOW)
    plan = plan_document(topology, instance, solve(instance), placed, "test", NOW)
    tx = next(n for n in plan["nodes"] if n["id"] == "tx-1")
    assert tx["valley_share"] == 1.0 and tx["energy_kwh"] > 20
    (session,) = plan["sessions"]
    assert session["planned_final_wh"] >= session["target_wh"] - 1


def test_when_energy_is_short_a_priority_token_s_car_is_served_before_earlier_leavers() -> None:
    text = topology_toml({"CS-1": "site-a", "CS-2": "site-a"}, transformer_w=12_000)
    topology, _ = loads_topology(text)
    early = Needs(departure=NOW + timedelta(hours=2), energy_wh=20_000)
    later = Needs(departure=NOW + timedelta(hours=3), energy_wh=20_000)
    sessions = [
        _session("normal-early", needs=early),
        _session("fleet-later", "CS-2", needs=later, priority=5),
    ]
    instance, _ = build_instance(topology, sessions, [], NOW)
    assert {s.id: s.priority for s in instance.sessions} == {"normal-early": 0, "fleet-later": 5}
    schedule = solve(instance)
    assert check_schedule(instance, schedule).ok
    fleet_kwh = sum(schedule.power_w["fleet-later"][:12]) / 4000 * EFFICIENCY
    normal_kwh = sum(schedule.power_w["normal-early"][:8]) / 4000 * EFFICIENCY
    assert fleet_kwh >= 19.9  # the priority car gets all it asked for
    assert normal_kwh < 19.9  # the shortfall falls on the normal car, though it leaves first
