"""Composite schedule of the emulator, against worked examples of the OCPP 2.0.1 smart
charging chapter (K), reconstructed from its descriptions (numbers are ours):

- "Stacking": a higher stackLevel TxDefaultProfile overrides a lower one while it is in
  effect; outside its duration the lower one applies again (K01, stack levels).
- "Combining purposes": the composite is the minimum of ChargingStationMaxProfile and the
  TxProfile/TxDefaultProfile in effect; a TxProfile overrides a TxDefaultProfile (K08).
- "Recurring/relative": a Daily profile repeats from startSchedule; a Relative profile
  counts from the start of the transaction.
- Rate units: amperes convert to watts with the number of phases at 230 V.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charge_point_emulator.profiles import (
    Kind,
    Period,
    Profile,
    ProfileRejected,
    ProfileStore,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
    profile_from_ocpp,
    profile_to_ocpp,
    share_station_max,
    to_watts,
)

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, midnight


def _profile(
    pid: int,
    level: int,
    purpose: Purpose,
    periods: list[tuple[int, float]],
    unit: RateUnit = RateUnit.W,
    kind: Kind = Kind.ABSOLUTE,
    start: datetime | None = T0,
    duration: int | None = None,
    recurrency: Recurrency | None = None,
    tx: str | None = None,
    phases: int | None = None,
) -> Profile:
    return Profile(
        id=pid,
        stack_level=level,
        purpose=purpose,
        kind=kind,
        schedule=Schedule(
            id=pid,
            unit=unit,
            periods=tuple(Period(s, limit, phases) for s, limit in periods),
            start=start,
            duration_s=duration,
        ),
        recurrency=recurrency,
        transaction_id=tx,
    )


def test_amperes_convert_with_phases_at_230_volts() -> None:
    assert to_watts(16, RateUnit.A, 3) == pytest.approx(11_040)
    assert to_watts(16, RateUnit.A, 1) == pytest.approx(3_680)
    assert to_watts(16, RateUnit.A, None) == pytest.approx(11_040)  # default: 3 phases
    assert to_watts(7_000, RateUnit.W, 1) == 7_000


def test_stacking_higher_level_overrides_only_while_in_effect() -> None:
    store = ProfileStore()
    # Base: every day 32 A. Override: every day from 08:00 for 10 h at 16 A.
    store.install(
        1,
        _profile(
            100,
            0,
            Purpose.TX_DEFAULT,
            [(0, 32)],
            RateUnit.A,
            Kind.RECURRING,
            recurrency=Recurrency.DAILY,
        ),
        None,
    )
    store.install(
        1,
        _profile(
            101,
            1,
            Purpose.TX_DEFAULT,
            [(0, 16)],
            RateUnit.A,
            Kind.RECURRING,
            start=T0 + timedelta(hours=8),
            duration=36_000,
            recurrency=Recurrency.DAILY,
        ),
        None,
    )
    periods = store.composite(1, T0, 2 * 86_400, None, None, 22_000)
    assert [(p.start_s, p.limit_w) for p in periods] == [
        (0, 22_000),  # 32 A * 3 * 230 = 22 080 W, capped by the 22 kW EVSE
        (8 * 3600, pytest.approx(11_040)),
        (18 * 3600, 22_000),
        (32 * 3600, pytest.approx(11_040)),  # the next day, again
        (42 * 3600, 22_000),
    ]


def test_composite_is_minimum_of_station_max_and_tx_profile() -> None:
    store = ProfileStore()
    store.install(0, _profile(1, 0, Purpose.STATION_MAX, [(0, 20_000), (3600, 8_000)]), None)
    store.install(1, _profile(2, 0, Purpose.TX_DEFAULT, [(0, 11_000)]), None)
    store.install(
        1, _profile(3, 0, Purpose.TX, [(0, 15_000), (1800, 5_000), (5400, 12_000)]), "tx-1"
    )
    periods = store.composite(1, T0, 3 * 3600, "tx-1", T0, 50_000)
    # At 1 h the station maximum drops to 8 kW, but the TxProfile's 5 kW is lower still.
    assert [(p.start_s, p.limit_w) for p in periods] == [
        (0, 15_000),  # TxProfile overrides TxDefaultProfile, under the 20 kW maximum
        (1800, 5_000),
        (5400, 8_000),  # the TxProfile allows 12 kW, the station maximum 8 kW
    ]


def test_tx_profile_overrides_tx_default_even_at_lower_stack_level() -> None:
    store = ProfileStore()
    store.install(0, _profile(1, 5, Purpose.TX_DEFAULT, [(0, 3_000)]), None)
    store.install(1, _profile(2, 0, Purpose.TX, [(0, 9_000)]), "tx-1")
    assert store.limit_w(1, T0, "tx-1", T0) == 9_000
    # Without the transaction only the default applies.
    assert store.limit_w(1, T0, None, T0) == 3_000


def test_evse_specific_default_wins_a_tie_with_station_wide_default() -> None:
    store = ProfileStore()
    store.install(0, _profile(1, 0, Purpose.TX_DEFAULT, [(0, 3_000)]), None)
    store.install(2, _profile(2, 0, Purpose.TX_DEFAULT, [(0, 7_000)]), None)
    assert store.limit_w(1, T0, None, T0) == 3_000
    assert store.limit_w(2, T0, None, T0) == 7_000


def test_relative_profile_counts_from_transaction_start() -> None:
    store = ProfileStore()
    store.install(
        1,
        _profile(1, 0, Purpose.TX, [(0, 4_000), (600, 10_000)], kind=Kind.RELATIVE, start=None),
        "tx",
    )
    started = T0 + timedelta(hours=3)
    assert store.limit_w(1, started + timedelta(seconds=599), "tx", started) == 4_000
    assert store.limit_w(1, started + timedelta(seconds=600), "tx", started) == 10_000


def test_expired_duration_falls_back_to_lower_stack_level() -> None:
    store = ProfileStore()
    store.install(1, _profile(1, 0, Purpose.TX_DEFAULT, [(0, 11_000)]), None)
    store.install(1, _profile(2, 3, Purpose.TX_DEFAULT, [(0, 2_000)], duration=900), None)
    assert store.limit_w(1, T0 + timedelta(seconds=899), None, T0) == 2_000
    assert store.limit_w(1, T0 + timedelta(seconds=900), None, T0) == 11_000


def test_negative_limit_is_kept_for_discharge() -> None:
    store = ProfileStore()
    store.install(0, _profile(1, 0, Purpose.STATION_MAX, [(0, 22_000)]), None)
    store.install(1, _profile(2, 0, Purpose.TX, [(0, -7_000)]), "tx")
    assert store.limit_w(1, T0, "tx", T0) == -7_000


def test_install_rules_of_k01() -> None:
    store = ProfileStore()
    with pytest.raises(ProfileRejected):
        store.install(1, _profile(1, 0, Purpose.STATION_MAX, [(0, 1)]), None)
    with pytest.raises(ProfileRejected):
        store.install(1, _profile(2, 0, Purpose.TX, [(0, 1)]), None)  # no transaction
    with pytest.raises(ProfileRejected):
        store.install(1, _profile(3, 0, Purpose.TX, [(0, 1)], tx="other"), "tx")
    with pytest.raises(ProfileRejected, match=r"K01\.FR\.40"):
        store.install(1, _profile(7, 0, Purpose.TX_DEFAULT, [(0, 1)], start=None), None)
    with pytest.raises(ProfileRejected, match=r"K01\.FR\.41"):
        store.install(1, _profile(8, 0, Purpose.TX_DEFAULT, [(0, 1)], kind=Kind.RELATIVE), None)
    store.install(1, _profile(4, 0, Purpose.TX_DEFAULT, [(0, 1_000)]), None)
    with pytest.raises(ProfileRejected):  # same purpose and stack level, another id
        store.install(1, _profile(5, 0, Purpose.TX_DEFAULT, [(0, 2_000)]), None)
    store.install(1, _profile(4, 0, Purpose.TX_DEFAULT, [(0, 2_000)]), None)  # same id replaces
    assert [i.profile.schedule.periods[0].limit for i in store.installed] == [2_000]
    store.install(1, _profile(6, 0, Purpose.TX, [(0, 1_000)]), "tx")
    store.end_transaction("tx")
    assert [i.profile.id for i in store.installed] == [4]
    assert store.clear(evse_id=1) == 1


def test_profile_round_trips_through_ocpp_dict() -> None:
    profile = _profile(
        7,
        2,
        Purpose.TX_DEFAULT,
        [(0, 16), (3600, 8)],
        RateUnit.A,
        Kind.RECURRING,
        recurrency=Recurrency.WEEKLY,
        phases=1,
        duration=7200,
    )
    assert profile_from_ocpp(profile_to_ocpp(profile)) == profile


limits = st.integers(min_value=-20_000, max_value=50_000)


@settings(max_examples=60, deadline=None)
@given(
    station=st.lists(st.tuples(st.integers(0, 7200), limits), min_size=1, max_size=4),
    default=st.lists(st.tuples(st.integers(0, 7200), limits), min_size=1, max_size=4),
    hardware=st.integers(1_000, 50_000),
    probe=st.integers(0, 10_799),
)
def test_composite_never_exceeds_station_max_or_hardware_and_matches_pointwise(
    station: list[tuple[int, int]],
    default: list[tuple[int, int]],
    hardware: int,
    probe: int,
) -> None:
    def periods(raw: list[tuple[int, int]]) -> list[tuple[int, float]]:
        starts = sorted({s for s, _ in raw} | {0})
        return [(s, float(dict(raw).get(s, raw[0][1]))) for s in starts]

    store = ProfileStore()
    store.install(0, _profile(1, 0, Purpose.STATION_MAX, periods(station)), None)
    store.install(1, _profile(2, 0, Purpose.TX_DEFAULT, periods(default)), None)
    composite = store.composite(1, T0, 10_800, None, None, hardware)
    at = T0 + timedelta(seconds=probe)
    current = [p for p in composite if p.start_s <= probe][-1].limit_w
    station_limit = store.station_max_w(at, T0)
    assert station_limit is not None
    assert current <= station_limit
    assert current <= hardware
    pointwise = store.limit_w(1, at, None, T0)
    assert pointwise is not None
    assert current == min(pointwise, hardware)


@given(
    demand=st.dictionaries(st.integers(1, 8), st.floats(-20_000, 50_000), max_size=8),
    station_max=st.one_of(st.none(), st.floats(0, 100_000)),
)
def test_station_max_is_shared_in_proportion_and_never_exceeded(
    demand: dict[int, float], station_max: float | None
) -> None:
    shared = share_station_max(demand, station_max)
    assert shared.keys() == demand.keys()
    charging = sum(p for p in shared.values() if p > 0)
    if station_max is not None:
        assert charging <= station_max + 1e-6
    for evse, power in shared.items():
        wanted = demand[evse]
        assert power == wanted if wanted <= 0 else 0 <= power <= wanted + 1e-9
