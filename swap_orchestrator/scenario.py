"""Swap scenario values (stations, vehicles, perception truth, faults) parsed from the JSON format.

The format is `shared/formats/swap-scenario.md`; parsing validates it and fails with
`ScenarioError` naming the offending field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any


class ScenarioError(ValueError):
    """The scenario does not follow the format."""


class Priority(IntEnum):
    """Priority classes; a higher value is served first."""

    NORMAL = 0
    FLEET = 1
    EMERGENCY = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Priority:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ScenarioError(f"unknown priority {text!r}") from None


@dataclass(frozen=True, slots=True)
class Battery:
    serial: str
    type: str
    capacity_wh: float
    soc: float
    soh: float


@dataclass(frozen=True, slots=True)
class StationSpec:
    id: str
    bays: int
    swap_s: float
    approach_s: float
    battery_types: tuple[str, ...]
    rack_charge_w: float
    grid_limit_w: float
    aux_w: float
    import_price: tuple[float, ...]
    min_handout_soc: float
    batteries: tuple[Battery, ...]


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    id: str
    arrive_s: float
    station: str
    battery: Battery
    priority: Priority
    autonomous: bool
    no_show: bool


@dataclass(frozen=True, slots=True)
class ApproachTruth:
    """A person or obstacle on the path, gone `clears_after_s` after the first check."""

    pedestrian_in_zone: bool
    clears_after_s: float


@dataclass(frozen=True, slots=True)
class BayTruth:
    """How the car stands in the bay; it is aligned after `settles_after_tries` re-aligns."""

    lateral_offset_mm: float
    yaw_deg: float
    settles_after_tries: int


@dataclass(frozen=True, slots=True)
class UnderbodyTruth:
    casing_damage: float
    thermal_anomaly: bool


@dataclass(frozen=True, slots=True)
class Fault:
    station: str
    kind: str  # "bay_fault" | "rsu_offline" | "grid_limit"
    at_s: float
    duration_s: float
    bay: int | None = None
    limit_w: float | None = None

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


FAULT_KINDS = ("bay_fault", "rsu_offline", "grid_limit")


@dataclass(frozen=True, slots=True)
class Scenario:
    start: datetime
    duration_s: float
    stations: tuple[StationSpec, ...]
    vehicles: tuple[VehicleSpec, ...]
    approach: dict[str, ApproachTruth]
    bay: dict[str, BayTruth]
    underbody: dict[str, UnderbodyTruth]
    faults: tuple[Fault, ...]


def _get(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ScenarioError(f"{where}: missing {key!r}")
    return obj[key]


def _num(obj: dict[str, Any], key: str, where: str, lo: float = 0.0) -> float:
    value = _get(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < lo:
        raise ScenarioError(f"{where}: {key!r} must be a number >= {lo}")
    return float(value)


def _fraction(obj: dict[str, Any], key: str, where: str) -> float:
    value = _num(obj, key, where)
    if value > 1.0:
        raise ScenarioError(f"{where}: {key!r} must be within [0, 1]")
    return value


def parse_battery(obj: dict[str, Any], where: str) -> Battery:
    return Battery(
        serial=str(_get(obj, "serial", where)),
        type=str(_get(obj, "type", where)),
        capacity_wh=_num(obj, "capacity_wh", where, lo=1.0),
        soc=_fraction(obj, "soc", where),
        soh=_fraction(obj, "soh", where),
    )


def _parse_station(obj: dict[str, Any]) -> StationSpec:
    where = f"station {obj.get('id', '?')}"
    prices = _get(obj, "import_price", where)
    if not isinstance(prices, list) or len(prices) != 24:
        raise ScenarioError(f"{where}: import_price must hold 24 hourly values")
    station = StationSpec(
        id=str(_get(obj, "id", where)),
        bays=int(_num(obj, "bays", where, lo=1)),
        swap_s=_num(obj, "swap_s", where, lo=1),
        approach_s=_num(obj, "approach_s", where),
        battery_types=tuple(str(t) for t in _get(obj, "battery_types", where)),
        rack_charge_w=_num(obj, "rack_charge_w", where),
        grid_limit_w=_num(obj, "grid_limit_w", where),
        aux_w=_num(obj, "aux_w", where),
        import_price=tuple(float(p) for p in prices),
        min_handout_soc=_fraction(obj, "min_handout_soc", where),
        batteries=tuple(
            parse_battery(b, f"{where} battery {i}")
            for i, b in enumerate(_get(obj, "batteries", where))
        ),
    )
    if station.aux_w >= station.grid_limit_w:
        raise ScenarioError(f"{where}: aux_w must be below grid_limit_w")
    return station


def parse_scenario(doc: dict[str, Any]) -> Scenario:
    """Validate a scenario document (already JSON-decoded) and return its values."""
    if doc.get("version") != 1:
        raise ScenarioError("version must be 1")
    try:
        start = datetime.fromisoformat(str(_get(doc, "start", "scenario")))
    except ValueError:
        raise ScenarioError("start must be an ISO 8601 datetime") from None
    if start.tzinfo is None:
        raise ScenarioError("start must carry a time zone (UTC)")
    stations = tuple(_parse_station(s) for s in _get(doc, "stations", "scenario"))
    station_ids = {s.id for s in stations}
    if len(station_ids) != len(stations):
        raise ScenarioError("station ids must be unique")
    vehicles = []
    for obj in _get(doc, "vehicles", "scenario"):
        where = f"vehicle {obj.get('id', '?')}"
        vehicle = VehicleSpec(
            id=str(_get(obj, "id", where)),
            arrive_s=_num(obj, "arrive_s", where),
            station=str(_get(obj, "station", where)),
            battery=parse_battery(_get(obj, "battery", where), where),
            priority=Priority.parse(str(obj.get("priority", "normal"))),
            autonomous=bool(obj.get("autonomous", True)),
            no_show=bool(obj.get("no_show", False)),
        )
        if vehicle.station not in station_ids:
            raise ScenarioError(f"{where}: unknown station {vehicle.station!r}")
        vehicles.append(vehicle)
    if len({v.id for v in vehicles}) != len(vehicles):
        raise ScenarioError("vehicle ids must be unique")
    approach: dict[str, ApproachTruth] = {}
    bay: dict[str, BayTruth] = {}
    underbody: dict[str, UnderbodyTruth] = {}
    for obj in doc.get("perception", []):
        where = f"perception of {obj.get('vehicle', '?')}"
        vid = str(_get(obj, "vehicle", where))
        stage = _get(obj, "stage", where)
        if stage == "approach":
            approach[vid] = ApproachTruth(
                bool(obj.get("pedestrian_in_zone", False)), float(obj.get("clears_after_s", 0.0))
            )
        elif stage == "bay":
            bay[vid] = BayTruth(
                float(obj.get("lateral_offset_mm", 0.0)),
                float(obj.get("yaw_deg", 0.0)),
                int(obj.get("settles_after_tries", 0)),
            )
        elif stage == "underbody":
            underbody[vid] = UnderbodyTruth(
                float(obj.get("casing_damage", 0.0)), bool(obj.get("thermal_anomaly", False))
            )
        else:
            raise ScenarioError(f"{where}: unknown stage {stage!r}")
    faults = []
    for obj in doc.get("faults", []):
        where = f"fault {obj.get('kind', '?')}"
        kind = str(_get(obj, "kind", where))
        if kind not in FAULT_KINDS:
            raise ScenarioError(f"{where}: unknown kind")
        station_id = str(_get(obj, "station", where))
        if station_id not in station_ids:
            raise ScenarioError(f"{where}: unknown station {station_id!r}")
        fault = Fault(
            station=station_id,
            kind=kind,
            at_s=_num(obj, "at_s", where),
            duration_s=_num(obj, "duration_s", where),
            bay=int(_num(obj, "bay", where, lo=1)) if kind == "bay_fault" else None,
            limit_w=_num(obj, "limit_w", where) if kind == "grid_limit" else None,
        )
        bays = next(s.bays for s in stations if s.id == station_id)
        if fault.bay is not None and fault.bay > bays:
            raise ScenarioError(f"{where}: station {station_id} has no bay {fault.bay}")
        faults.append(fault)
    return Scenario(
        start=start,
        duration_s=_num(doc, "duration_s", "scenario", lo=1),
        stations=stations,
        vehicles=tuple(sorted(vehicles, key=lambda v: (v.arrive_s, v.id))),
        approach=approach,
        bay=bay,
        underbody=underbody,
        faults=tuple(faults),
    )
