"""Scenario files (JSON or TOML): stations, their EVSEs, EV arrivals and faults.

`load_scenario` reads a file; `generate_scenario` builds a random fleet from CLI flags.
The format is documented in README.md ("Charge point emulator").
"""

from __future__ import annotations

import json
import random
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from charge_point_emulator.ev import EvSpec
from charge_point_emulator.faults import Fault, FaultKind


class ScenarioError(ValueError):
    """The scenario file is not valid; the message names the offending entry."""


class EvseType(StrEnum):
    AC = "AC"
    DC = "DC"


@dataclass(frozen=True, slots=True)
class EvseSpec:
    type: EvseType = EvseType.AC
    max_power_w: float = 22_000.0
    phases: int = 3
    bidirectional: bool = False

    @property
    def dc(self) -> bool:
        return self.type is EvseType.DC


@dataclass(frozen=True, slots=True)
class Arrival:
    """An EV plugging into `evse` at `at_s` and leaving `stay_s` later."""

    station_id: str
    evse: int
    at_s: float
    stay_s: float
    ev: EvSpec
    soc: float = 0.3
    target_soc: float = 0.8
    id_token: str = "EMULATED"


#: OCPP versions an emulated station can speak (scenario `ocpp`, CLI `--ocpp`).
OCPP_VERSIONS = ("1.6", "2.0.1")


@dataclass(frozen=True, slots=True)
class StationSpec:
    id: str
    evses: tuple[EvseSpec, ...]
    faults: tuple[Fault, ...] = ()
    #: The OCPP version the station speaks: "2.0.1" or "1.6" (OCPP_VERSIONS).
    ocpp: str = "2.0.1"


@dataclass(frozen=True, slots=True)
class Scenario:
    stations: tuple[StationSpec, ...]
    arrivals: tuple[Arrival, ...] = ()
    heartbeat_interval_s: int = 300
    sample_interval_s: int = 60
    vendor: str = "Emulator"
    model: str = "EMU-2.0.1"
    #: Stations send what the safety analytics need: phase voltages and currents in their
    #: meter values, connector temperature as NotifyEvent (always on with a safety fault).
    safety_telemetry: bool = False


def _evse(raw: dict[str, Any], where: str) -> EvseSpec:
    try:
        kind = EvseType(str(raw.get("type", "AC")).upper())
    except ValueError as error:
        raise ScenarioError(f"{where}: type must be AC or DC") from error
    default_kw = 22.0 if kind is EvseType.AC else 150.0
    power_kw = float(raw.get("max_power_kw", default_kw))
    if kind is EvseType.AC and not 1 <= power_kw <= 43:
        raise ScenarioError(f"{where}: an AC EVSE delivers 1-43 kW")
    if kind is EvseType.DC and not 20 <= power_kw <= 400:
        raise ScenarioError(f"{where}: a DC EVSE delivers 20-400 kW")
    return EvseSpec(
        type=kind,
        max_power_w=power_kw * 1000.0,
        phases=int(raw.get("phases", 3)),
        bidirectional=bool(raw.get("bidirectional", False)),
    )


def _ev(raw: dict[str, Any]) -> EvSpec:
    return EvSpec(
        capacity_wh=float(raw.get("capacity_kwh", 60)) * 1000.0,
        max_ac_w=float(raw.get("max_ac_kw", 11)) * 1000.0,
        max_dc_w=float(raw.get("max_dc_kw", 150)) * 1000.0,
        bidirectional=bool(raw.get("bidirectional", False)),
        max_discharge_w=float(raw.get("max_discharge_kw", 0)) * 1000.0,
        iso15118=bool(raw.get("iso15118", False)),
    )


def _fault(raw: dict[str, Any], where: str) -> Fault:
    try:
        kind = FaultKind(raw["kind"])
    except (KeyError, ValueError) as error:
        kinds = ", ".join(k.value for k in FaultKind)
        raise ScenarioError(f"{where}: kind must be one of {kinds}") from error
    return Fault(
        kind=kind,
        at_s=float(raw.get("at_s", 0)),
        duration_s=float(raw.get("duration_s", 0)),
        delay_s=float(raw.get("delay_s", 0)),
        action=raw.get("action"),
        count=int(raw.get("count", 1)),
        evse=None if raw.get("evse") is None else int(raw["evse"]),
    )


def parse_scenario(data: dict[str, Any]) -> Scenario:
    """A scenario from the decoded JSON/TOML document."""
    defaults = data.get("defaults", {})
    faults_by_station: dict[str, list[Fault]] = {}
    for index, raw in enumerate(data.get("faults", [])):
        station = raw.get("station", "*")
        faults_by_station.setdefault(station, []).append(_fault(raw, f"faults[{index}]"))
    stations: list[StationSpec] = []
    for index, raw in enumerate(data.get("stations", [])):
        where = f"stations[{index}]"
        evses = tuple(_evse(e, f"{where}.evses") for e in raw.get("evses", [{}]))
        count = int(raw.get("count", 1))
        ids = (
            [raw["id"]]
            if "id" in raw and count == 1
            else [
                f"{raw.get('id_prefix', raw.get('id', 'EMU'))}{n:04d}" for n in range(1, count + 1)
            ]
        )
        ocpp = str(raw.get("ocpp", defaults.get("ocpp", "2.0.1")))
        if ocpp not in OCPP_VERSIONS:
            raise ScenarioError(f"{where}.ocpp must be one of {', '.join(OCPP_VERSIONS)}")
        for station_id in ids:
            faults = faults_by_station.get(station_id, []) + faults_by_station.get("*", [])
            stations.append(StationSpec(station_id, evses, tuple(faults), ocpp))
    if not stations:
        raise ScenarioError("a scenario needs at least one station")
    known = {s.id: s for s in stations}
    arrivals: list[Arrival] = []
    for index, raw in enumerate(data.get("arrivals", [])):
        where = f"arrivals[{index}]"
        station_id = raw.get("station")
        if station_id not in known:
            raise ScenarioError(f"{where}: unknown station {station_id!r}")
        evse = int(raw.get("evse", 1))
        if not 1 <= evse <= len(known[station_id].evses):
            raise ScenarioError(f"{where}: station {station_id} has no EVSE {evse}")
        arrivals.append(
            Arrival(
                station_id=station_id,
                evse=evse,
                at_s=float(raw.get("at_s", 0)),
                stay_s=float(raw.get("stay_s", 3600)),
                ev=_ev(raw),
                soc=float(raw.get("soc", 0.3)),
                target_soc=float(raw.get("target_soc", 0.8)),
                id_token=str(raw.get("id_token", "EMULATED")),
            )
        )
    generated = data.get("random_arrivals")
    if generated:
        arrivals.extend(
            random_arrivals(
                tuple(stations),
                per_evse_per_hour=float(generated.get("per_evse_per_hour", 0.5)),
                horizon_s=float(generated.get("horizon_s", 86_400)),
                seed=int(generated.get("seed", 1)),
                skip={(a.station_id, a.evse) for a in arrivals},
            )
        )
    return Scenario(
        stations=tuple(stations),
        arrivals=tuple(sorted(arrivals, key=lambda a: a.at_s)),
        heartbeat_interval_s=int(defaults.get("heartbeat_interval_s", 300)),
        sample_interval_s=int(defaults.get("sample_interval_s", 60)),
        vendor=str(defaults.get("vendor", "Emulator")),
        model=str(defaults.get("model", "EMU-2.0.1")),
        safety_telemetry=bool(defaults.get("safety_telemetry", False)),
    )


def load_scenario(path: Path) -> Scenario:
    """Read a `.toml` or `.json` scenario file."""
    text = path.read_text()
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ScenarioError(f"{path}: {error}") from error
    return parse_scenario(data)


def random_arrivals(
    stations: tuple[StationSpec, ...],
    per_evse_per_hour: float,
    horizon_s: float,
    seed: int,
    skip: set[tuple[str, int]] | None = None,
) -> list[Arrival]:
    """EVs arriving at random (Poisson) on every EVSE, never two on one EVSE at once."""
    rng = random.Random(seed)
    out: list[Arrival] = []
    rate_per_s = per_evse_per_hour / 3600.0
    for station in stations:
        for number, evse in enumerate(station.evses, start=1):
            if (skip and (station.id, number) in skip) or rate_per_s <= 0:
                continue
            t = rng.expovariate(rate_per_s) * 0.25
            while t < horizon_s:
                stay = rng.uniform(1800, 4 * 3600)
                bidirectional = evse.bidirectional and rng.random() < 0.5
                ev = EvSpec(
                    capacity_wh=rng.choice((40_000.0, 60_000.0, 77_000.0, 100_000.0)),
                    max_ac_w=rng.choice((7_400.0, 11_000.0, 22_000.0)),
                    max_dc_w=rng.choice((50_000.0, 150_000.0, 250_000.0)),
                    bidirectional=bidirectional,
                    max_discharge_w=10_000.0 if bidirectional else 0.0,
                    iso15118=rng.random() < 0.3,
                )
                out.append(
                    Arrival(
                        station_id=station.id,
                        evse=number,
                        at_s=t,
                        stay_s=stay,
                        ev=ev,
                        soc=rng.uniform(0.1, 0.5),
                        target_soc=rng.uniform(0.8, 1.0),
                        id_token=f"TOKEN{rng.randrange(1, 1000):04d}",
                    )
                )
                t += stay + rng.expovariate(rate_per_s)
    return out


def generate_scenario(
    stations: int,
    evses: int,
    seed: int = 1,
    per_evse_per_hour: float = 0.5,
    horizon_s: float = 86_400,
    prefix: str = "EMU",
    evse: EvseSpec | None = None,
) -> Scenario:
    """A fleet of `stations` identical stations with `evses` EVSEs and random arrivals."""
    spec = evse or EvseSpec()
    fleet = tuple(StationSpec(f"{prefix}{n:04d}", (spec,) * evses) for n in range(1, stations + 1))
    return Scenario(
        stations=fleet,
        arrivals=tuple(
            sorted(random_arrivals(fleet, per_evse_per_hour, horizon_s, seed), key=lambda a: a.at_s)
        ),
    )


def demo_scenario(stations: int = 20, seed: int = 1, horizon_s: float = 86_400) -> Scenario:
    """A mixed fleet for `make demo`: AC 11 and 22 kW stations and bidirectional DC
    chargers, with EVs arriving about once per EVSE every two hours."""
    kinds = (
        (EvseSpec(EvseType.AC, 22_000.0), EvseSpec(EvseType.AC, 22_000.0)),
        (EvseSpec(EvseType.AC, 11_000.0), EvseSpec(EvseType.AC, 11_000.0)),
        (EvseSpec(EvseType.DC, 150_000.0, bidirectional=True),),
    )
    fleet = tuple(
        StationSpec(f"DEMO{n:03d}", kinds[n % len(kinds)]) for n in range(1, stations + 1)
    )
    arrivals = random_arrivals(fleet, per_evse_per_hour=0.5, horizon_s=horizon_s, seed=seed)
    return Scenario(stations=fleet, arrivals=tuple(sorted(arrivals, key=lambda a: a.at_s)))
