"""The grid topology and tariff file (TOML, version 1), pure: validation and tree queries.

See `formats/grid-topology.md`. `parse_topology` checks the whole document and raises
TopologyError naming the first bad key; a Topology is an immutable value.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMAT_VERSION = 1
_IDENTIFIER = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")


class TopologyError(ValueError):
    """The topology file is invalid; the message starts with the bad key's path."""


@dataclass(frozen=True, slots=True)
class Planning:
    slot_seconds: int = 900
    horizon_hours: float = 24.0
    interval_seconds: float = 60.0
    dead_band_w: float = 500.0


@dataclass(frozen=True, slots=True)
class Tariff:
    import_price_by_hour: tuple[float, ...]
    export_price_by_hour: tuple[float, ...]
    timezone: str = "UTC"
    degradation_cost_per_kwh: float = 0.0


@dataclass(frozen=True, slots=True)
class Defaults:
    """What the planner assumes for a car that announces nothing."""

    battery_wh: float = 60_000.0
    arrival_soc: float = 0.3
    target_soc: float = 0.8
    dwell_hours: float = 8.0
    min_soc: float = 0.2


@dataclass(frozen=True, slots=True)
class GridNode:
    id: str
    kind: str
    parent: str | None
    import_limit_w: float
    export_limit_w: float


@dataclass(frozen=True, slots=True)
class EvsePlace:
    id: int
    max_import_w: float
    max_export_w: float = 0.0
    phases: int = 3
    voltage_v: float = 230.0

    @property
    def bidirectional(self) -> bool:
        return self.max_export_w > 0


@dataclass(frozen=True, slots=True)
class StationPlace:
    id: str
    node: str
    evses: tuple[EvsePlace, ...]

    def evse(self, evse_id: int) -> EvsePlace | None:
        return next((e for e in self.evses if e.id == evse_id), None)


@dataclass(frozen=True, slots=True)
class Topology:
    planning: Planning
    tariff: Tariff
    defaults: Defaults
    nodes: tuple[GridNode, ...]
    stations: tuple[StationPlace, ...]
    _by_node: dict[str, GridNode] = field(default_factory=dict, compare=False, repr=False)
    _by_station: dict[str, StationPlace] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_node.update({n.id: n for n in self.nodes})
        self._by_station.update({s.id: s for s in self.stations})

    def node(self, node_id: str) -> GridNode | None:
        return self._by_node.get(node_id)

    def station(self, station_id: str) -> StationPlace | None:
        return self._by_station.get(station_id)

    def ancestors(self, node_id: str) -> Iterator[GridNode]:
        """The node itself, then its parent, up to the root."""
        current = self._by_node.get(node_id)
        while current is not None:
            yield current
            current = self._by_node.get(current.parent) if current.parent else None

    def children(self, node_id: str | None) -> list[GridNode]:
        return [n for n in self.nodes if n.parent == node_id]

    def stations_under(self, node_id: str) -> list[StationPlace]:
        """Stations attached to `node_id` or to any node below it."""
        return [s for s in self.stations if any(a.id == node_id for a in self.ancestors(s.node))]


_TOP_KEYS = {"version", "planning", "tariff", "defaults", "node", "station"}
_PLANNING_KEYS = {"slot_seconds", "horizon_hours", "interval_seconds", "dead_band_w"}
_TARIFF_KEYS = {
    "timezone",
    "import_price_by_hour",
    "export_price_by_hour",
    "degradation_cost_per_kwh",
}
_DEFAULT_KEYS = {"battery_wh", "arrival_soc", "target_soc", "dwell_hours", "min_soc"}
_NODE_KEYS = {"id", "kind", "parent", "import_limit_w", "export_limit_w"}
_STATION_KEYS = {"id", "node", "evse"}
_EVSE_KEYS = {"id", "max_import_w", "max_export_w", "phases", "voltage_v"}


def _table(data: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise TopologyError(f"{key}: not a table")
    _only(value, allowed, f"{key}.")
    return value


def _only(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise TopologyError(f"{where}{key}: unknown key")


def _number(
    table: Mapping[str, Any],
    key: str,
    where: str,
    default: float | None = None,
    *,
    low: float = 0.0,
    high: float = math.inf,
    positive: bool = False,
) -> float:
    if key not in table:
        if default is None:
            raise TopologyError(f"{where}{key}: missing")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TopologyError(f"{where}{key}: not a number")
    if value < low or value > high or (positive and value <= 0):
        bound = "positive" if positive else f"in [{low:g}, {high:g}]"
        raise TopologyError(f"{where}{key}: must be {bound}, got {value}")
    return float(value)


def _integer(table: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = table.get(key, default)
    if value is None:
        raise TopologyError(f"{where}{key}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TopologyError(f"{where}{key}: not an integer")
    return value


def _identifier(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if value is None:
        raise TopologyError(f"{where}{key}: missing")
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise TopologyError(f"{where}{key}: not an OCPP identifier (1-48 of A-Z a-z 0-9 *-_=:+|@.)")
    return value


def _prices(table: Mapping[str, Any], key: str, where: str) -> tuple[float, ...] | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or len(value) != 24:
        raise TopologyError(f"{where}{key}: must be a list of 24 numbers")
    return tuple(
        _number({"v": v}, "v", f"{where}{key}[{i}]", low=-math.inf) for i, v in enumerate(value)
    )


def _array_of_tables(data: Mapping[str, Any], key: str, where: str = "") -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise TopologyError(f"{where}{key}: must be an array of tables ([[{key}]])")
    return value


def _parse_planning(data: Mapping[str, Any]) -> Planning:
    raw = _table(data, "planning", _PLANNING_KEYS)
    slot = _integer(raw, "slot_seconds", "planning.", 900)
    if slot < 60 or 86_400 % slot:
        raise TopologyError("planning.slot_seconds: must be >= 60 and divide a day")
    return Planning(
        slot_seconds=slot,
        horizon_hours=_number(raw, "horizon_hours", "planning.", 24.0, high=168, positive=True),
        interval_seconds=_number(raw, "interval_seconds", "planning.", 60.0, positive=True),
        dead_band_w=_number(raw, "dead_band_w", "planning.", 500.0),
    )


def _parse_tariff(data: Mapping[str, Any]) -> Tariff:
    raw = _table(data, "tariff", _TARIFF_KEYS)
    zone = raw.get("timezone", "UTC")
    try:
        if not isinstance(zone, str):
            raise TypeError
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, TypeError, ValueError) as error:
        raise TopologyError(f"tariff.timezone: unknown time zone {zone!r}") from error
    imports = _prices(raw, "import_price_by_hour", "tariff.")
    if imports is None:
        raise TopologyError("tariff.import_price_by_hour: missing")
    exports = _prices(raw, "export_price_by_hour", "tariff.") or imports
    degradation = _number(raw, "degradation_cost_per_kwh", "tariff.", 0.0)
    for hour, (buy, sell) in enumerate(zip(imports, exports, strict=True)):
        if sell > buy + degradation + 1e-12:
            raise TopologyError(
                f"tariff.export_price_by_hour[{hour}]: {sell} exceeds the import price "
                f"{buy} + degradation_cost_per_kwh {degradation}"
            )
    return Tariff(imports, exports, zone, degradation)


def _parse_defaults(data: Mapping[str, Any]) -> Defaults:
    raw = _table(data, "defaults", _DEFAULT_KEYS)
    w = "defaults."
    defaults = Defaults(
        battery_wh=_number(raw, "battery_wh", w, 60_000.0, positive=True),
        arrival_soc=_number(raw, "arrival_soc", w, 0.3, high=1.0),
        target_soc=_number(raw, "target_soc", w, 0.8, high=1.0),
        dwell_hours=_number(raw, "dwell_hours", w, 8.0, positive=True),
        min_soc=_number(raw, "min_soc", w, 0.2, high=1.0),
    )
    if defaults.min_soc > defaults.target_soc:
        raise TopologyError("defaults.min_soc: above target_soc")
    return defaults


def _parse_nodes(data: Mapping[str, Any]) -> tuple[GridNode, ...]:
    nodes: list[GridNode] = []
    seen: set[str] = set()
    for i, raw in enumerate(_array_of_tables(data, "node")):
        w = f"node[{i}]."
        _only(raw, _NODE_KEYS, w)
        node_id = _identifier(raw, "id", w)
        if node_id in seen:
            raise TopologyError(f"{w}id: duplicate node {node_id!r}")
        seen.add(node_id)
        kind = raw.get("kind", "")
        if not isinstance(kind, str):
            raise TopologyError(f"{w}kind: not a string")
        parent = raw.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise TopologyError(f"{w}parent: not a string")
        nodes.append(
            GridNode(
                node_id,
                kind,
                parent,
                _number(raw, "import_limit_w", w),
                _number(raw, "export_limit_w", w, 0.0),
            )
        )
    if not nodes:
        raise TopologyError("node: at least one [[node]] is needed")
    for i, node in enumerate(nodes):
        if node.parent is not None and node.parent not in seen:
            raise TopologyError(f"node[{i}].parent: names unknown node {node.parent!r}")
    parents = {n.id: n.parent for n in nodes}
    for i, node in enumerate(nodes):
        visited = {node.id}
        current = node.parent
        while current is not None:
            if current in visited:
                raise TopologyError(f"node[{i}].parent: cycle through {node.id!r}")
            visited.add(current)
            current = parents[current]
    return tuple(nodes)


def _parse_evse(raw: Mapping[str, Any], w: str) -> EvsePlace:
    _only(raw, _EVSE_KEYS, w)
    evse_id = _integer(raw, "id", w)
    if evse_id < 1:
        raise TopologyError(f"{w}id: EVSE ids start at 1")
    phases = _integer(raw, "phases", w, 3)
    if phases not in (1, 2, 3):
        raise TopologyError(f"{w}phases: must be 1, 2 or 3")
    return EvsePlace(
        evse_id,
        _number(raw, "max_import_w", w),
        _number(raw, "max_export_w", w, 0.0),
        phases,
        _number(raw, "voltage_v", w, 230.0, positive=True),
    )


def _parse_stations(data: Mapping[str, Any], node_ids: set[str]) -> tuple[StationPlace, ...]:
    stations: list[StationPlace] = []
    seen: set[str] = set()
    for i, raw in enumerate(_array_of_tables(data, "station")):
        w = f"station[{i}]."
        _only(raw, _STATION_KEYS, w)
        station_id = _identifier(raw, "id", w)
        if station_id in seen:
            raise TopologyError(f"{w}id: station {station_id!r} appears twice")
        seen.add(station_id)
        node = raw.get("node")
        if not isinstance(node, str) or node not in node_ids:
            raise TopologyError(f"{w}node: names unknown node {node!r}")
        evses = tuple(
            _parse_evse(e, f"{w}evse[{j}].") for j, e in enumerate(_array_of_tables(raw, "evse", w))
        )
        if not evses:
            raise TopologyError(f"{w}evse: at least one [[station.evse]] is needed")
        if len({e.id for e in evses}) != len(evses):
            raise TopologyError(f"{w}evse: duplicate EVSE id")
        stations.append(StationPlace(station_id, node, evses))
    return tuple(stations)


def parse_topology(data: Mapping[str, Any]) -> Topology:
    """Validate a whole topology document (as TOML parses it); raise TopologyError."""
    _only(data, _TOP_KEYS, "")
    if data.get("version") != FORMAT_VERSION:
        raise TopologyError(f"version: must be {FORMAT_VERSION}")
    nodes = _parse_nodes(data)
    return Topology(
        planning=_parse_planning(data),
        tariff=_parse_tariff(data),
        defaults=_parse_defaults(data),
        nodes=nodes,
        stations=_parse_stations(data, {n.id for n in nodes}),
    )


def loads_topology(text: str) -> tuple[Topology, dict[str, Any]]:
    """Parse TOML text; return the topology and the document (kept to store it)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TopologyError(f"not valid TOML: {error}") from error
    return parse_topology(data), data


def node_json(topology: Topology, node: GridNode, load_w: dict[str, float]) -> dict[str, Any]:
    """A node with its live load, children and directly attached stations (API / CLI)."""
    return {
        "id": node.id,
        "kind": node.kind,
        "parent": node.parent,
        "import_limit_w": node.import_limit_w,
        "export_limit_w": node.export_limit_w,
        "load_w": load_w.get(node.id, 0.0),
        "children": [c.id for c in topology.children(node.id)],
        "stations": [
            {
                "id": s.id,
                "load_w": load_w.get(f"station:{s.id}", 0.0),
                "evses": [
                    {
                        "id": e.id,
                        "max_import_w": e.max_import_w,
                        "max_export_w": e.max_export_w,
                        "phases": e.phases,
                        "voltage_v": e.voltage_v,
                    }
                    for e in s.evses
                ],
            }
            for s in topology.stations
            if s.node == node.id
        ],
    }


def node_loads(
    topology: Topology, evse_power_w: Mapping[tuple[str, int], float]
) -> dict[str, float]:
    """Net power (W, import positive) per node and per `station:<id>` from EVSE powers."""
    loads: dict[str, float] = {}
    for (station_id, _evse), power in evse_power_w.items():
        place = topology.station(station_id)
        if place is None:
            continue
        key = f"station:{station_id}"
        loads[key] = loads.get(key, 0.0) + power
        for node in topology.ancestors(place.node):
            loads[node.id] = loads.get(node.id, 0.0) + power
    return loads
