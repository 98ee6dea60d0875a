"""The safety detectors on emulated meter streams (the emulator's physics and sensors, with
labelled faults) and on hand-made samples; the pure cores only, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from benchmarks.safety import FINDS, replay
from charge_point_emulator.faults import Fault, FaultKind
from charge_point_emulator.meter_stream import MODELS, StreamStation, fleet_stream
from csms.analytics.baselines import RobustBaseline
from csms.analytics.derate import derated
from csms.analytics.engine import SafetyEngine
from csms.analytics.findings import AlertKind, Finding, Severity
from csms.analytics.policy import Action, Policy
from csms.analytics.sample import Sample
from csms.grid.live_instance import LiveSession, Needs

START = datetime(2026, 1, 5, tzinfo=UTC)
DAY = 86_400.0
INTERVAL = 300.0


def _fleet(kind: FaultKind | None, faulty: int, healthy: int) -> list[StreamStation]:
    models = sorted(MODELS) if kind is not FaultKind.PHASE_IMBALANCE else ["EMU-AC11", "EMU-AC22"]
    out = []
    for n in range(faulty + healthy):
        faults = (Fault(kind, at_s=DAY + 3600.0 * n, delay_s=INTERVAL, evse=1),)
        out.append(
            StreamStation(
                f"S{n:03d}", models[n % len(models)], faults if kind and n < faulty else ()
            )
        )
    return out


def test_a_healthy_fleet_raises_no_alert_in_three_days() -> None:
    fleet = _fleet(None, 0, 60)
    records = list(fleet_stream(fleet, START, 3 * DAY, INTERVAL, seed=3))
    result = replay(records, SafetyEngine(), INTERVAL)
    assert result.meter_values > 10_000  # the fleet charged: the detectors had work
    alarms = [f for o in result.outcomes.values() for f in o.false_alarms]
    assert alarms == []


@pytest.mark.parametrize("kind", sorted(FINDS))
def test_each_injected_fault_is_found_on_its_station_only(kind: FaultKind) -> None:
    fleet = _fleet(kind, faulty=6, healthy=24)
    records = list(fleet_stream(fleet, START, 3 * DAY, INTERVAL, seed=7))
    result = replay(records, SafetyEngine(), INTERVAL)
    faulty = [result.outcomes[s.id] for s in fleet if s.faults]
    shown = [o for o in faulty if o.visible_values or o.detected_after]
    assert shown, "the fault never became observable: the test proves nothing"
    assert all(o.detected_after is not None for o in shown)
    assert all(o.detected_after is not None and o.detected_after <= 3 for o in shown)
    assert [f for o in result.outcomes.values() for f in o.false_alarms] == []


def test_a_hot_connector_finding_says_why() -> None:
    fleet = _fleet(FaultKind.HOT_CONNECTOR, faulty=1, healthy=20)
    records = list(fleet_stream(fleet, START, 2 * DAY, INTERVAL, seed=5))
    finding = replay(records, SafetyEngine(), INTERVAL).outcomes[fleet[0].id].detected_by
    assert finding is not None and finding.kind is AlertKind.HOT_CONNECTOR
    assert "°C" in finding.reason
    assert finding.readings["temperature_c"] > finding.readings.get("ambient_c", 0.0)
    assert finding.score >= finding.threshold
    if finding.severity is Severity.WARNING:
        assert finding.readings["heating_c_per_a2"] > finding.readings["peer_median"]


def _sample(at_min: float, **values: object) -> Sample:
    return Sample("CS1", 1, START + timedelta(minutes=at_min), "M", "TX1", **values)  # type: ignore[arg-type]


def test_voltage_out_of_band_fires_on_the_second_sample_with_its_reading() -> None:
    engine = SafetyEngine()
    assert engine.observe(_sample(0, voltages=(231.0, 229.0, 230.0))) == []
    assert engine.observe(_sample(1, voltages=(231.0, 260.0, 230.0))) == []
    fired = engine.observe(_sample(2, voltages=(231.0, 261.0, 230.0)))
    assert [f.kind for f in fired] == [AlertKind.VOLTAGE_OUT_OF_BAND]
    assert fired[0].readings["voltage_v"] == 261.0
    assert fired[0].threshold == 0.1 and fired[0].score > 0.1
    assert "261.0 V" in fired[0].reason


def test_power_far_below_the_limit_while_the_ev_wants_more_is_flagged() -> None:
    engine = SafetyEngine()
    fired = []
    for minute in range(4):
        fired += engine.observe(
            _sample(minute, power_w=2_000.0, limit_w=11_000.0, ev_max_w=11_000.0, soc=40.0)
        )
    assert [f.kind for f in fired] == [AlertKind.UNDER_LIMIT]
    assert fired[0].severity is Severity.INFO


def test_power_at_the_limit_raises_nothing() -> None:
    engine = SafetyEngine()
    fired = []
    for minute in range(10):
        fired += engine.observe(
            _sample(minute, power_w=7_400.0, limit_w=7_400.0, ev_max_w=11_000.0, soc=40.0)
        )
    assert fired == []


def test_link_flapping_and_callerror_bursts_fire_once_per_window() -> None:
    engine = SafetyEngine()
    drops = [engine.disconnected("CS1", START + timedelta(minutes=m)) for m in range(8)]
    assert [d.kind for d in drops if d] == [AlertKind.LINK_FLAPPING]
    errors = [engine.call_error("CS1", START + timedelta(seconds=s)) for s in range(0, 300, 20)]
    assert [e.kind for e in errors if e] == [AlertKind.CALL_ERROR_BURST]
    spaced = [engine.call_error("CS2", START + timedelta(hours=h)) for h in range(20)]
    assert not any(spaced)


def test_the_robust_baseline_ignores_a_few_wild_values() -> None:
    rng = np.random.default_rng(1)
    baseline = RobustBaseline(window=512)
    for value in rng.normal(10.0, 1.0, 500):
        baseline.add(float(value))
    for _ in range(12):
        baseline.add(1e6)
    assert baseline.ready
    assert abs(baseline.median - 10.0) < 0.3
    assert 0.7 < baseline.sigma < 1.4


def test_the_engine_keeps_a_bounded_number_of_evse_tracks() -> None:
    engine = SafetyEngine(max_evses=10)
    for n in range(100):
        engine.observe(Sample(f"CS{n}", 1, START, "M", "TX", power_w=1000.0, import_wh=1.0))
    assert len(engine._tracks) == 10


def test_policy_stops_on_critical_derates_a_hot_connector_and_only_alerts_otherwise() -> None:
    def finding(kind: AlertKind, severity: Severity) -> Finding:
        return Finding("CS1", 1, kind, severity, START, "why", 1.0, 2.0, {}, "TX1")

    policy = Policy()
    assert policy.decide(finding(AlertKind.HOT_CONNECTOR, Severity.CRITICAL)) is Action.STOP
    assert policy.decide(finding(AlertKind.HOT_CONNECTOR, Severity.WARNING)) is Action.DERATE
    assert policy.decide(finding(AlertKind.METER_DRIFT, Severity.WARNING)) is Action.ALERT
    assert policy.derated_limit_w(10_000.0) == 5_000.0


def test_a_derate_caps_the_sessions_charging_power_for_the_planner() -> None:
    sessions = [
        LiveSession("CS1", 1, "TX1", START, needs=Needs(max_charge_w=11_000.0)),
        LiveSession("CS1", 2, "TX2", START),
        LiveSession("CS2", 1, "TX3", START),
    ]
    capped = derated(sessions, {("CS1", 1): 4_000.0, ("CS1", 2): 3_000.0})
    assert [s.needs.max_charge_w if s.needs else None for s in capped] == [4_000.0, 3_000.0, None]
    assert capped[2] is sessions[2]
