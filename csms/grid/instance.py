"""The charging instance and schedule formats (JSON, version 1): values, validation, arrays.

See `formats/charging-instance.md`. Parsing validates every field and names the bad one;
`to_arrays` flattens an instance into the numpy arrays the kernel and the LP work on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT_VERSION = 1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class InstanceError(ValueError):
    """An instance or schedule is malformed; the message starts with the bad field's path."""


@dataclass(frozen=True, slots=True)
class Node:
    """A grid node (feeder, transformer, site, EVSE): hard net power limits per slot."""

    id: str
    parent: str | None
    import_limit_w: float
    export_limit_w: float
    import_limit_w_by_slot: tuple[float, ...] | None = None
    export_limit_w_by_slot: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A vehicle present at a node in slots [arrival_slot, departure_slot)."""

    id: str
    node: str
    arrival_slot: int
    departure_slot: int
    battery_wh: float
    initial_wh: float
    target_wh: float
    min_wh: float
    max_charge_w: float
    max_discharge_w: float
    efficiency: float
    priority: int

    @property
    def floor_wh(self) -> float:
        """Lowest allowed stored energy: the reserve, or the arrival energy when lower."""
        return min(self.min_wh, self.initial_wh)


@dataclass(frozen=True, slots=True)
class DispatchTarget:
    """A soft VPP target: the node's net power should stay <= max_net_w in [from, to)."""

    node: str
    from_slot: int
    to_slot: int
    max_net_w: float


@dataclass(frozen=True, slots=True)
class Instance:
    """One planning problem: grid tree, slots, prices, sessions, dispatch targets."""

    start: str
    slot_seconds: int
    slots: int
    import_price: tuple[float, ...]
    export_price: tuple[float, ...]
    nodes: tuple[Node, ...]
    sessions: tuple[Session, ...]
    dispatch: tuple[DispatchTarget, ...] = ()
    degradation_cost_per_kwh: float = 0.0
    shortfall_penalty_per_kwh: float = 100.0
    dispatch_penalty_per_kwh: float = 10.0

    @property
    def slot_hours(self) -> float:
        return self.slot_seconds / 3600.0


@dataclass(frozen=True, slots=True)
class Schedule:
    """A solver's answer: power per session per slot (W, charge positive) and its summary.

    `instance_sha256` is filled by whoever read the instance file (the solver only sees
    the in-memory instance); `solve_seconds` excludes JIT compilation.
    """

    solver: str
    power_w: dict[str, list[float]]
    objective: float
    violations: int
    solve_seconds: float
    instance_sha256: str = ""


@dataclass(frozen=True, slots=True)
class InstanceArrays:
    """An instance as flat arrays; nodes in topological order (parents before children).

    Node index i has parent `node_parent[i]` (-1 for a top-level node) and top-level
    ancestor `node_root[i]`; sessions keep the instance's order.
    """

    node_ids: tuple[str, ...]
    node_parent: IntArray
    node_root: IntArray
    node_import: FloatArray  # [node, slot] W
    node_export: FloatArray  # [node, slot] W
    import_price: FloatArray  # [slot] per kWh
    export_price: FloatArray  # [slot] per kWh
    slot_hours: float
    degradation_cost: float
    shortfall_penalty: float
    dispatch_penalty: float
    session_ids: tuple[str, ...]
    sess_node: IntArray
    sess_arrival: IntArray
    sess_departure: IntArray
    sess_battery: FloatArray
    sess_initial: FloatArray
    sess_target: FloatArray
    sess_floor: FloatArray
    sess_max_charge: FloatArray
    sess_max_discharge: FloatArray
    sess_efficiency: FloatArray
    sess_priority: IntArray
    disp_node: IntArray
    disp_from: IntArray
    disp_to: IntArray
    disp_max: FloatArray


# --- parsing -----------------------------------------------------------------------------


def _get(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise InstanceError(f"{where}{key}: missing")
    return data[key]


def _number(value: Any, where: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InstanceError(f"{where}: not a number")
    number = float(value)
    if not math.isfinite(number):
        raise InstanceError(f"{where}: not finite")
    if minimum is not None and number < minimum:
        raise InstanceError(f"{where}: below {minimum:g}")
    return number


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InstanceError(f"{where}: not an integer")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InstanceError(f"{where}: not a non-empty string")
    return value


def _series(value: Any, where: str, slots: int, *, minimum: float | None) -> tuple[float, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InstanceError(f"{where}: not a list")
    if len(value) != slots:
        raise InstanceError(f"{where}: has {len(value)} values, expected {slots}")
    return tuple(_number(v, f"{where}[{i}]", minimum=minimum) for i, v in enumerate(value))


def _list(data: Mapping[str, Any], key: str, *, required: bool) -> list[Any]:
    if key not in data:
        if required:
            raise InstanceError(f"{key}: missing")
        return []
    value = data[key]
    if not isinstance(value, list):
        raise InstanceError(f"{key}: not a list")
    return value


def _parse_node(raw: Any, where: str, slots: int) -> Node:
    if not isinstance(raw, Mapping):
        raise InstanceError(f"{where}: not an object")
    parent = raw.get("parent")
    if parent is not None:
        parent = _string(parent, f"{where}.parent")
    by_slot: dict[str, tuple[float, ...] | None] = {}
    for key in ("import_limit_w_by_slot", "export_limit_w_by_slot"):
        value = raw.get(key)
        by_slot[key] = None if value is None else _series(value, f"{where}.{key}", slots, minimum=0)
    return Node(
        id=_string(_get(raw, "id", f"{where}."), f"{where}.id"),
        parent=parent,
        import_limit_w=_number(
            _get(raw, "import_limit_w", f"{where}."), f"{where}.import_limit_w", minimum=0
        ),
        export_limit_w=_number(
            _get(raw, "export_limit_w", f"{where}."), f"{where}.export_limit_w", minimum=0
        ),
        import_limit_w_by_slot=by_slot["import_limit_w_by_slot"],
        export_limit_w_by_slot=by_slot["export_limit_w_by_slot"],
    )


def _parse_session(raw: Any, where: str, slots: int, node_ids: set[str]) -> Session:
    if not isinstance(raw, Mapping):
        raise InstanceError(f"{where}: not an object")

    def num(key: str, minimum: float | None = 0) -> float:
        return _number(_get(raw, key, f"{where}."), f"{where}.{key}", minimum=minimum)

    def integer(key: str) -> int:
        return _integer(_get(raw, key, f"{where}."), f"{where}.{key}")

    session = Session(
        id=_string(_get(raw, "id", f"{where}."), f"{where}.id"),
        node=_string(_get(raw, "node", f"{where}."), f"{where}.node"),
        arrival_slot=integer("arrival_slot"),
        departure_slot=integer("departure_slot"),
        battery_wh=num("battery_wh"),
        initial_wh=num("initial_wh"),
        target_wh=num("target_wh"),
        min_wh=num("min_wh"),
        max_charge_w=num("max_charge_w"),
        max_discharge_w=num("max_discharge_w"),
        efficiency=num("efficiency"),
        priority=integer("priority"),
    )
    if session.node not in node_ids:
        raise InstanceError(f"{where}.node: unknown node {session.node!r}")
    if not 0 <= session.arrival_slot < slots:
        raise InstanceError(f"{where}.arrival_slot: outside [0, {slots})")
    if session.departure_slot <= session.arrival_slot:
        raise InstanceError(f"{where}.departure_slot: not after arrival_slot")
    if session.departure_slot > slots:
        raise InstanceError(f"{where}.departure_slot: after the last slot ({slots})")
    for key in ("initial_wh", "target_wh", "min_wh"):
        if getattr(session, key) > session.battery_wh:
            raise InstanceError(f"{where}.{key}: above battery_wh")
    if not 0 < session.efficiency <= 1:
        raise InstanceError(f"{where}.efficiency: outside (0, 1]")
    if session.priority < 0:
        raise InstanceError(f"{where}.priority: below 0")
    return session


def _parse_dispatch(raw: Any, where: str, slots: int, node_ids: set[str]) -> DispatchTarget:
    if not isinstance(raw, Mapping):
        raise InstanceError(f"{where}: not an object")
    target = DispatchTarget(
        node=_string(_get(raw, "node", f"{where}."), f"{where}.node"),
        from_slot=_integer(_get(raw, "from_slot", f"{where}."), f"{where}.from_slot"),
        to_slot=_integer(_get(raw, "to_slot", f"{where}."), f"{where}.to_slot"),
        max_net_w=_number(_get(raw, "max_net_w", f"{where}."), f"{where}.max_net_w"),
    )
    if target.node not in node_ids:
        raise InstanceError(f"{where}.node: unknown node {target.node!r}")
    if not 0 <= target.from_slot < target.to_slot <= slots:
        raise InstanceError(f"{where}.to_slot: need 0 <= from_slot < to_slot <= {slots}")
    return target


def _check_tree(nodes: Sequence[Node]) -> None:
    index = {node.id: i for i, node in enumerate(nodes)}
    for i, node in enumerate(nodes):
        if node.parent is not None and node.parent not in index:
            raise InstanceError(f"nodes[{i}].parent: unknown node {node.parent!r}")
    for i, node in enumerate(nodes):
        seen = {node.id}
        parent = node.parent
        while parent is not None:
            if parent in seen:
                raise InstanceError(f"nodes[{i}].parent: cycle through {parent!r}")
            seen.add(parent)
            parent = nodes[index[parent]].parent


def parse_instance(data: Mapping[str, Any]) -> Instance:
    """Validate a decoded instance document; raise InstanceError naming the bad field."""
    if not isinstance(data, Mapping):
        raise InstanceError("instance: not an object")
    version = _get(data, "version", "")
    if version != FORMAT_VERSION:
        raise InstanceError(f"version: {version!r} is not supported (expected {FORMAT_VERSION})")
    start = _string(_get(data, "start", ""), "start")
    slot_seconds = _integer(_get(data, "slot_seconds", ""), "slot_seconds")
    if slot_seconds <= 0:
        raise InstanceError("slot_seconds: not positive")
    slots = _integer(_get(data, "slots", ""), "slots")
    if slots <= 0:
        raise InstanceError("slots: not positive")
    import_price = _series(_get(data, "import_price", ""), "import_price", slots, minimum=None)
    export_price = (
        _series(data["export_price"], "export_price", slots, minimum=None)
        if data.get("export_price") is not None
        else import_price
    )
    degradation = _number(
        data.get("degradation_cost_per_kwh", 0.0), "degradation_cost_per_kwh", minimum=0
    )
    for t in range(slots):
        # Otherwise charging and discharging in one slot would pay, which a single net
        # power value per slot cannot express.
        if export_price[t] > import_price[t] + degradation + 1e-12:
            raise InstanceError(f"export_price[{t}]: above import_price + degradation_cost_per_kwh")
    raw_nodes = _list(data, "nodes", required=True)
    nodes = tuple(_parse_node(raw, f"nodes[{i}]", slots) for i, raw in enumerate(raw_nodes))
    node_ids: set[str] = set()
    for i, node in enumerate(nodes):
        if node.id in node_ids:
            raise InstanceError(f"nodes[{i}].id: duplicate {node.id!r}")
        node_ids.add(node.id)
    _check_tree(nodes)
    raw_sessions = _list(data, "sessions", required=True)
    sessions = tuple(
        _parse_session(raw, f"sessions[{i}]", slots, node_ids) for i, raw in enumerate(raw_sessions)
    )
    session_ids: set[str] = set()
    for i, session in enumerate(sessions):
        if session.id in session_ids:
            raise InstanceError(f"sessions[{i}].id: duplicate {session.id!r}")
        session_ids.add(session.id)
    dispatch = tuple(
        _parse_dispatch(raw, f"dispatch[{i}]", slots, node_ids)
        for i, raw in enumerate(_list(data, "dispatch", required=False))
    )
    return Instance(
        start=start,
        slot_seconds=slot_seconds,
        slots=slots,
        import_price=import_price,
        export_price=export_price,
        nodes=nodes,
        sessions=sessions,
        dispatch=dispatch,
        degradation_cost_per_kwh=degradation,
        shortfall_penalty_per_kwh=_number(
            data.get("shortfall_penalty_per_kwh", 100.0), "shortfall_penalty_per_kwh", minimum=0
        ),
        dispatch_penalty_per_kwh=_number(
            data.get("dispatch_penalty_per_kwh", 10.0), "dispatch_penalty_per_kwh", minimum=0
        ),
    )


def _load_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise InstanceError(f"{path}: not JSON ({error})") from error


def read_instance(path: str | Path) -> Instance:
    """Read and validate an instance file."""
    return parse_instance(_load_json(path))


def file_sha256(path: str | Path) -> str:
    """The schedule's `instance_sha256`: a digest of the instance file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def instance_to_dict(instance: Instance) -> dict[str, Any]:
    """The JSON document of an instance (parse_instance's inverse)."""

    def node_dict(node: Node) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": node.id,
            "parent": node.parent,
            "import_limit_w": node.import_limit_w,
            "export_limit_w": node.export_limit_w,
        }
        if node.import_limit_w_by_slot is not None:
            out["import_limit_w_by_slot"] = list(node.import_limit_w_by_slot)
        if node.export_limit_w_by_slot is not None:
            out["export_limit_w_by_slot"] = list(node.export_limit_w_by_slot)
        return out

    session_keys = Session.__slots__
    return {
        "version": FORMAT_VERSION,
        "start": instance.start,
        "slot_seconds": instance.slot_seconds,
        "slots": instance.slots,
        "import_price": list(instance.import_price),
        "export_price": list(instance.export_price),
        "degradation_cost_per_kwh": instance.degradation_cost_per_kwh,
        "shortfall_penalty_per_kwh": instance.shortfall_penalty_per_kwh,
        "dispatch_penalty_per_kwh": instance.dispatch_penalty_per_kwh,
        "nodes": [node_dict(node) for node in instance.nodes],
        "sessions": [{key: getattr(s, key) for key in session_keys} for s in instance.sessions],
        "dispatch": [
            {
                "node": d.node,
                "from_slot": d.from_slot,
                "to_slot": d.to_slot,
                "max_net_w": d.max_net_w,
            }
            for d in instance.dispatch
        ],
    }


def write_instance(path: str | Path, instance: Instance) -> None:
    """Write an instance file (compact JSON)."""
    Path(path).write_text(json.dumps(instance_to_dict(instance), separators=(",", ":")))


# --- schedules ---------------------------------------------------------------------------


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    """The JSON document of a schedule."""
    return {
        "version": FORMAT_VERSION,
        "instance_sha256": schedule.instance_sha256,
        "solver": schedule.solver,
        "solve_seconds": schedule.solve_seconds,
        "power_w": schedule.power_w,
        "objective": schedule.objective,
        "violations": schedule.violations,
    }


def parse_schedule(data: Mapping[str, Any]) -> Schedule:
    """Validate a decoded schedule document (shape only; `check_schedule` judges it)."""
    if not isinstance(data, Mapping):
        raise InstanceError("schedule: not an object")
    if data.get("version") != FORMAT_VERSION:
        raise InstanceError(f"version: {data.get('version')!r} is not supported")
    raw_power = _get(data, "power_w", "")
    if not isinstance(raw_power, Mapping):
        raise InstanceError("power_w: not an object")
    power: dict[str, list[float]] = {}
    for key, series in raw_power.items():
        if not isinstance(series, list):
            raise InstanceError(f"power_w.{key}: not a list")
        power[str(key)] = [_number(v, f"power_w.{key}[{i}]") for i, v in enumerate(series)]
    return Schedule(
        solver=str(data.get("solver", "")),
        power_w=power,
        objective=_number(data.get("objective", 0.0), "objective"),
        violations=_integer(data.get("violations", 0), "violations"),
        solve_seconds=_number(data.get("solve_seconds", 0.0), "solve_seconds", minimum=0),
        instance_sha256=str(data.get("instance_sha256", "")),
    )


def read_schedule(path: str | Path) -> Schedule:
    """Read a schedule file."""
    return parse_schedule(_load_json(path))


def write_schedule(path: str | Path, schedule: Schedule) -> None:
    """Write a schedule file."""
    Path(path).write_text(json.dumps(schedule_to_dict(schedule), separators=(",", ":")))


# --- arrays ------------------------------------------------------------------------------


def _topological(nodes: Sequence[Node]) -> list[int]:
    children: dict[str | None, list[int]] = {}
    for i, node in enumerate(nodes):
        children.setdefault(node.parent, []).append(i)
    order: list[int] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        i = stack.pop()
        order.append(i)
        stack.extend(reversed(children.get(nodes[i].id, [])))
    return order


def to_arrays(instance: Instance) -> InstanceArrays:
    """Flatten an instance: nodes depth-first (each subtree contiguous), per-slot limits."""
    order = _topological(instance.nodes)
    position = {instance.nodes[i].id: k for k, i in enumerate(order)}
    n, slots = len(order), instance.slots
    parent = np.full(n, -1, dtype=np.int64)
    root = np.zeros(n, dtype=np.int64)
    node_import = np.empty((n, slots))
    node_export = np.empty((n, slots))
    for k, i in enumerate(order):
        node = instance.nodes[i]
        if node.parent is not None:
            parent[k] = position[node.parent]
            root[k] = root[parent[k]]
        else:
            root[k] = k
        node_import[k] = (
            node.import_limit_w_by_slot
            if node.import_limit_w_by_slot is not None
            else node.import_limit_w
        )
        node_export[k] = (
            node.export_limit_w_by_slot
            if node.export_limit_w_by_slot is not None
            else node.export_limit_w
        )
    sessions = instance.sessions

    def floats(values: Sequence[float]) -> FloatArray:
        return np.asarray(values, dtype=np.float64).reshape(len(values))

    def ints(values: Sequence[int]) -> IntArray:
        return np.asarray(values, dtype=np.int64).reshape(len(values))

    return InstanceArrays(
        node_ids=tuple(instance.nodes[i].id for i in order),
        node_parent=parent,
        node_root=root,
        node_import=node_import,
        node_export=node_export,
        import_price=floats(instance.import_price),
        export_price=floats(instance.export_price),
        slot_hours=instance.slot_hours,
        degradation_cost=instance.degradation_cost_per_kwh,
        shortfall_penalty=instance.shortfall_penalty_per_kwh,
        dispatch_penalty=instance.dispatch_penalty_per_kwh,
        session_ids=tuple(s.id for s in sessions),
        sess_node=ints([position[s.node] for s in sessions]),
        sess_arrival=ints([s.arrival_slot for s in sessions]),
        sess_departure=ints([s.departure_slot for s in sessions]),
        sess_battery=floats([s.battery_wh for s in sessions]),
        sess_initial=floats([s.initial_wh for s in sessions]),
        sess_target=floats([s.target_wh for s in sessions]),
        sess_floor=floats([s.floor_wh for s in sessions]),
        sess_max_charge=floats([s.max_charge_w for s in sessions]),
        sess_max_discharge=floats([s.max_discharge_w for s in sessions]),
        sess_efficiency=floats([s.efficiency for s in sessions]),
        sess_priority=ints([s.priority for s in sessions]),
        disp_node=ints([position[d.node] for d in instance.dispatch]),
        disp_from=ints([d.from_slot for d in instance.dispatch]),
        disp_to=ints([d.to_slot for d in instance.dispatch]),
        disp_max=floats([d.max_net_w for d in instance.dispatch]),
    )


def session_paths(arrays: InstanceArrays) -> IntArray:
    """Each session's node and its ancestors up to the top: [session, depth], -1 padded."""
    depth = np.zeros(len(arrays.node_ids), dtype=np.int64)
    for k in range(len(arrays.node_ids)):
        parent = arrays.node_parent[k]
        depth[k] = 1 if parent < 0 else depth[parent] + 1
    width = int(depth.max(initial=1))
    paths = np.full((len(arrays.session_ids), width), -1, dtype=np.int64)
    current = arrays.sess_node.copy()
    for level in range(width):
        live = current >= 0
        paths[live, level] = current[live]
        current[live] = arrays.node_parent[current[live]]
    return paths
