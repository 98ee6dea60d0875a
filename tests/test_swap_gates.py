import pytest

from swap_orchestrator.gates import GateLimits, PerceptionReport, Stage, check_gate

LIMITS = GateLimits()


def report(stage: Stage, observed_at: float = 9.8, **fields: float | bool) -> PerceptionReport:
    return PerceptionReport("r-1", "car-1", stage, observed_at, **fields)  # type: ignore[arg-type]


def test_approach_passes_on_a_fresh_clear_path_and_records_report_id_and_age() -> None:
    decision = check_gate(Stage.APPROACH, report(Stage.APPROACH), 10.0, LIMITS)
    assert decision.passed and decision.reason is None
    assert decision.report_id == "r-1"
    assert decision.report_age_s == pytest.approx(0.2)


def test_approach_fails_while_a_person_is_on_the_path() -> None:
    decision = check_gate(Stage.APPROACH, report(Stage.APPROACH, path_clear=False), 10.0, LIMITS)
    assert (decision.passed, decision.reason) == (False, "path_not_clear")


@pytest.mark.parametrize("stage", list(Stage))
def test_every_gate_fails_on_a_stale_report_even_a_good_one(stage: Stage) -> None:
    decision = check_gate(stage, report(stage, observed_at=8.99), 10.0, LIMITS)
    assert (decision.passed, decision.reason) == (False, "report_stale")
    assert decision.report_age_s == pytest.approx(1.01)


@pytest.mark.parametrize("stage", list(Stage))
def test_every_gate_fails_without_a_report(stage: Stage) -> None:
    decision = check_gate(stage, None, 10.0, LIMITS)
    assert (decision.passed, decision.reason, decision.report_id) == (False, "no_report", None)


def test_report_from_the_future_is_not_trusted() -> None:
    decision = check_gate(Stage.APPROACH, report(Stage.APPROACH, observed_at=10.5), 10.0, LIMITS)
    assert (decision.passed, decision.reason) == (False, "report_from_future")


def test_report_exactly_at_the_freshness_window_is_still_fresh() -> None:
    decision = check_gate(Stage.APPROACH, report(Stage.APPROACH, observed_at=9.0), 10.0, LIMITS)
    assert decision.passed


@pytest.mark.parametrize(
    ("offset", "yaw", "passed"),
    [(0, 0, True), (50, 1.5, True), (-50.1, 0, False), (10, -1.6, False)],
)
def test_bay_gate_checks_lateral_offset_and_yaw(offset: float, yaw: float, passed: bool) -> None:
    r = report(Stage.BAY, lateral_offset_mm=offset, yaw_deg=yaw)
    decision = check_gate(Stage.BAY, r, 10.0, LIMITS)
    assert decision.passed is passed
    assert decision.reason == (None if passed else "misaligned")


@pytest.mark.parametrize(
    ("damage", "thermal", "reason"),
    [
        (0.1, False, None),
        (0.5, False, "battery_casing_damage"),
        (0.93, False, "battery_casing_damage"),
        (0.0, True, "battery_thermal_anomaly"),
    ],
)
def test_underbody_gate_refuses_damaged_or_hot_batteries(
    damage: float, thermal: bool, reason: str | None
) -> None:
    r = report(Stage.UNDERBODY, casing_damage=damage, thermal_anomaly=thermal)
    decision = check_gate(Stage.UNDERBODY, r, 10.0, LIMITS)
    assert (decision.passed, decision.reason) == (reason is None, reason)


def test_a_report_for_another_stage_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        check_gate(Stage.BAY, report(Stage.APPROACH), 10.0, LIMITS)
