"""Streaming per-EVSE detectors, pure: a sample and the EVSE's track in, findings out.

Each detector compares the sample with the fleet baseline of its model (learning from
the samples it judges healthy) or with a physical bound, and fires after `confirm`
abnormal samples in a row so a single odd reading raises nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from csms.analytics.baselines import FleetBaselines
from csms.analytics.findings import AlertKind, Finding, Severity
from csms.analytics.sample import Sample
from csms.analytics.state import EvseTrack


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Detector settings; the defaults are what benchmarks/safety.py measures."""

    confirm: int = 2  # abnormal samples in a row before an alert
    z: float = 8.0  # robust z-score beyond which a value is abnormal for its model
    min_current_a: float = 6.0  # heating below this is lost in sensor noise
    sensor_noise_c: float = 0.5  # temperature resolution: the least spread a z-score assumes
    critical_c: float = 80.0  # connector temperature that stops the session
    nominal_v: float = 230.0
    voltage_band: float = 0.10  # EN 50160: +-10 % of nominal
    imbalance_min: float = 0.25  # (max - min) / max of the phase currents
    limit_tolerance: float = 0.05  # over the profile limit by more than this share ...
    limit_slack_w: float = 300.0  # ... plus this much
    under_share: float = 0.5  # below this share of min(limit, EV max): under the limit
    drift_min: float = 0.05  # register vs power integral, relative
    min_energy_wh: float = 30.0  # intervals with less energy say nothing about drift
    jump_factor: float = 1.5  # register grew this many times what the power explains
    soc_slack: float = 0.25  # percentage points of SoC rounding per interval
    min_capacity_wh: float = 20_000.0  # smallest battery before the fleet has taught one
    full_power_w: float = 1_000.0  # more than this into a battery reported full is wrong


def observe(
    sample: Sample, track: EvseTrack, fleet: FleetBaselines, limits: Thresholds
) -> list[Finding]:
    """Judge one sample, update the track and the fleet baselines; return what fired."""
    if sample.transaction_id != track.transaction_id:
        track.new_session(sample.transaction_id)
    fired = [
        f
        for check in (_thermal, _electrical, _limits, _metering, _battery)
        for f in check(sample, track, fleet, limits)
        if f.kind not in track.raised
    ]
    track.raised.update(f.kind for f in fired)
    track.last_at = sample.at
    if sample.power_w is not None:
        track.last_power_w = sample.power_w
    if sample.import_wh is not None:
        track.last_import_wh = sample.import_wh
    if sample.soc is not None:
        track.last_soc = sample.soc
    return fired


def _finding(
    sample: Sample,
    kind: AlertKind,
    severity: Severity,
    reason: str,
    threshold: float,
    score: float,
    **readings: float,
) -> Finding:
    return Finding(
        sample.station_id,
        sample.evse_id,
        kind,
        severity,
        sample.at,
        reason,
        round(threshold, 4),
        round(score, 4),
        {k: round(v, 4) for k, v in readings.items()},
        sample.transaction_id,
    )


def _thermal(
    s: Sample, track: EvseTrack, fleet: FleetBaselines, t: Thresholds
) -> Iterator[Finding]:
    """Heating per ampere squared over the session's ambient, against the model's peers."""
    if s.temperature_c is None:
        return
    if track.ambient_c is None:
        track.ambient_c = s.temperature_c
    if s.temperature_c >= t.critical_c:
        yield _finding(
            s,
            AlertKind.HOT_CONNECTOR,
            Severity.CRITICAL,
            f"connector at {s.temperature_c:.1f} °C, over the {t.critical_c:.0f} °C limit",
            t.critical_c,
            s.temperature_c,
            temperature_c=s.temperature_c,
        )
        return
    # The temperature lags the current: judge it by the larger of the current now and at
    # the last sample, or a falling current would look like a hot contact.
    now_a = max(s.currents, default=0.0)
    current, track.last_current_a = max(now_a, track.last_current_a), now_a
    if current < t.min_current_a:
        track.streak(AlertKind.HOT_CONNECTOR, False)
        return
    heating = (s.temperature_c - track.ambient_c) / (current * current)
    baseline = fleet.get(s.model, "heating_c_per_a2")
    floor = t.sensor_noise_c / (current * current)
    z = baseline.z(heating, floor) if baseline.ready else 0.0
    if z < 3.0:
        baseline.add(heating)
    if track.streak(AlertKind.HOT_CONNECTOR, z > t.z) >= t.confirm:
        yield _finding(
            s,
            AlertKind.HOT_CONNECTOR,
            Severity.WARNING,
            f"heating {heating:.4f} °C/A² at {current:.1f} A is {z:.1f} robust sigmas above "
            f"its peers' {baseline.median:.4f} (threshold {t.z:.0f})",
            t.z,
            z,
            temperature_c=s.temperature_c,
            ambient_c=track.ambient_c,
            current_a=current,
            heating_c_per_a2=heating,
            peer_median=baseline.median,
        )


def _electrical(
    s: Sample, track: EvseTrack, fleet: FleetBaselines, t: Thresholds
) -> Iterator[Finding]:
    """Phase voltages outside the band; phase currents further apart than the peers'."""
    if s.voltages:
        worst = max(s.voltages, key=lambda v: abs(v - t.nominal_v))
        off = abs(worst - t.nominal_v) / t.nominal_v
        if track.streak(AlertKind.VOLTAGE_OUT_OF_BAND, off > t.voltage_band) >= t.confirm:
            yield _finding(
                s,
                AlertKind.VOLTAGE_OUT_OF_BAND,
                Severity.WARNING,
                f"phase voltage {worst:.1f} V is {off:.1%} off {t.nominal_v:.0f} V "
                f"(band {t.voltage_band:.0%})",
                t.voltage_band,
                off,
                voltage_v=worst,
            )
    if len(s.currents) < 3 or max(s.currents) < t.min_current_a:
        track.streak(AlertKind.PHASE_IMBALANCE, False)
        return
    imbalance = (max(s.currents) - min(s.currents)) / max(s.currents)
    baseline = fleet.get(s.model, "phase_imbalance")
    bound = t.imbalance_min
    if baseline.ready:
        bound = max(bound, baseline.median + t.z * baseline.sigma)
    if imbalance < bound:
        baseline.add(imbalance)
    if track.streak(AlertKind.PHASE_IMBALANCE, imbalance >= bound) >= t.confirm:
        yield _finding(
            s,
            AlertKind.PHASE_IMBALANCE,
            Severity.WARNING,
            f"phase currents {', '.join(f'{c:.1f}' for c in s.currents)} A differ by "
            f"{imbalance:.0%} (bound {bound:.0%})",
            bound,
            imbalance,
            **{f"current_{n + 1}_a": c for n, c in enumerate(s.currents)},
        )


def _limits(s: Sample, track: EvseTrack, fleet: FleetBaselines, t: Thresholds) -> Iterator[Finding]:
    """Power above the installed profile limit, or far below it while the EV wants more."""
    if s.limit_w is None or s.power_w is None:
        return
    bound = s.limit_w * (1 + t.limit_tolerance) + t.limit_slack_w
    if track.streak(AlertKind.OVER_LIMIT, s.power_w > bound) >= t.confirm:
        yield _finding(
            s,
            AlertKind.OVER_LIMIT,
            Severity.WARNING,
            f"draws {s.power_w:.0f} W over its {s.limit_source} limit {s.limit_w:.0f} W "
            f"(bound {bound:.0f} W): the station ignores its limit",
            bound,
            s.power_w / max(s.limit_w, 1.0),
            power_w=s.power_w,
            limit_w=s.limit_w,
        )
    if s.ev_max_w is None:
        return
    wanted = min(s.limit_w, s.ev_max_w)
    low = wanted > 1000.0 and s.power_w < t.under_share * wanted and (s.soc or 0.0) < 80.0
    if track.streak(AlertKind.UNDER_LIMIT, low) >= t.confirm + 1:
        yield _finding(
            s,
            AlertKind.UNDER_LIMIT,
            Severity.INFO,
            f"draws {s.power_w:.0f} W, under {t.under_share:.0%} of the {wanted:.0f} W "
            "that limit and EV allow",
            t.under_share * wanted,
            s.power_w / wanted,
            power_w=s.power_w,
            limit_w=s.limit_w,
            ev_max_w=s.ev_max_w,
        )


def _metering(
    s: Sample, track: EvseTrack, fleet: FleetBaselines, t: Thresholds
) -> Iterator[Finding]:
    """Register resets and jumps; drift between the register and the power integral."""
    last, before, p0 = track.last_import_wh, track.last_at, track.last_power_w
    if s.import_wh is None or last is None or before is None:
        return
    if s.import_wh < last - 1.0:
        yield _finding(
            s,
            AlertKind.REGISTER_RESET,
            Severity.WARNING,
            f"energy register went back from {last:.1f} to {s.import_wh:.1f} Wh",
            last,
            s.import_wh - last,
            register_wh=s.import_wh,
            previous_wh=last,
        )
        return
    hours = (s.at - before).total_seconds() / 3600.0
    if s.power_w is None or p0 is None or hours <= 0:
        return
    grown = s.import_wh - last
    integral = (p0 + s.power_w) / 2.0 * hours
    most = max(p0, s.power_w) * hours * t.jump_factor + 50.0
    if grown > most:
        yield _finding(
            s,
            AlertKind.REGISTER_JUMP,
            Severity.WARNING,
            f"energy register jumped {grown:.1f} Wh where the power allows {most:.1f} Wh",
            most,
            grown,
            register_wh=s.import_wh,
            previous_wh=last,
            power_w=s.power_w,
        )
        return
    if integral < t.min_energy_wh:
        return
    # Any power path between the two readings (monotonic within the interval) explains a
    # growth between the lower and the higher power held throughout; drift is beyond that.
    low, high = min(p0, s.power_w) * hours, max(p0, s.power_w) * hours
    off = max(grown / high - 1.0, 1.0 - grown / low if low > 0 else 0.0, 0.0)
    baseline = fleet.get(s.model, "register_off_power")
    bound = t.drift_min
    if baseline.ready:
        bound = max(bound, baseline.median + t.z * baseline.sigma)
    if off < bound:
        baseline.add(off)
    if track.streak(AlertKind.METER_DRIFT, off >= bound) >= t.confirm:
        yield _finding(
            s,
            AlertKind.METER_DRIFT,
            Severity.WARNING,
            f"register grew {grown:.1f} Wh where Power.Active.Import between {p0:.0f} and "
            f"{s.power_w:.0f} W explains {low:.1f}-{high:.1f} Wh ({off:.1%} off, bound "
            f"{bound:.1%})",
            bound,
            off,
            register_growth_wh=grown,
            power_integral_wh=integral,
        )


def _battery(
    s: Sample, track: EvseTrack, fleet: FleetBaselines, t: Thresholds
) -> Iterator[Finding]:
    """SoC rising faster than the energy delivered could move even the smallest battery of
    the model's fleet, or a battery reported full that still takes power."""
    before, p0, soc0 = track.last_at, track.last_power_w, track.last_soc
    if s.soc is None or s.power_w is None or before is None or p0 is None or soc0 is None:
        return
    hours = (s.at - before).total_seconds() / 3600.0
    energy = (p0 + s.power_w) / 2.0 * hours
    rise = s.soc - soc0
    if energy <= 0 or hours <= 0:
        return
    baseline = fleet.get(s.model, "capacity_wh")
    smallest = 0.8 * baseline.low if baseline.ready else t.min_capacity_wh
    smallest = max(smallest, 0.5 * t.min_capacity_wh)
    most = 100.0 * energy / smallest + t.soc_slack
    if rise > 1.0 and rise <= most:
        baseline.add(100.0 * energy / rise)
    # A full battery takes no energy: a BMS that says "full" while it does is wrong.
    full = s.soc >= 100.0 and s.power_w > t.full_power_w
    if track.streak(AlertKind.SOC_ANOMALY, rise > most or full) < t.confirm:
        return
    if full:
        yield _finding(
            s,
            AlertKind.SOC_ANOMALY,
            Severity.WARNING,
            f"SoC reported 100 % while the EV takes {s.power_w:.0f} W "
            f"(a full battery takes none; bound {t.full_power_w:.0f} W)",
            t.full_power_w,
            s.power_w,
            soc=s.soc,
            power_w=s.power_w,
        )
    else:
        yield _finding(
            s,
            AlertKind.SOC_ANOMALY,
            Severity.WARNING,
            f"SoC rose {rise:.1f} points on {energy:.0f} Wh; even a {smallest / 1000:.0f} kWh "
            f"battery allows {most:.1f}",
            most,
            rise,
            soc_rise=rise,
            energy_wh=energy,
            smallest_battery_wh=smallest,
        )
