from pathlib import Path
from typing import Any

import numpy as np
import pytest

from csms.grid.generate import GeneratorSettings, generate_instance
from csms.grid.instance import (
    InstanceError,
    Schedule,
    instance_to_dict,
    parse_instance,
    read_instance,
    read_schedule,
    session_paths,
    to_arrays,
    write_instance,
    write_schedule,
)
from tests.grid_factories import instance_doc, session


def test_instance_round_trips_through_json(tmp_path: Path) -> None:
    instance = generate_instance(GeneratorSettings(sessions=30, transformers=3, seed=4))
    path = tmp_path / "instance.json"
    write_instance(path, instance)
    assert read_instance(path) == instance
    assert parse_instance(instance_to_dict(instance)) == instance


def test_optional_fields_take_the_documented_defaults() -> None:
    instance = parse_instance(instance_doc())
    assert instance.export_price == instance.import_price
    assert instance.degradation_cost_per_kwh == 0
    assert instance.shortfall_penalty_per_kwh == 100
    assert instance.dispatch_penalty_per_kwh == 10
    assert instance.dispatch == ()


def _with_node(index: int, **changes: Any) -> dict[str, Any]:
    doc = instance_doc()
    doc["nodes"][index].update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_with_node(1, parent="nowhere"), "nodes[1].parent: unknown node 'nowhere'"),
        (_with_node(0, parent="tx"), "nodes[0].parent: cycle"),
        (_with_node(1, import_limit_w=-1), "nodes[1].import_limit_w: below 0"),
        (
            _with_node(1, import_limit_w_by_slot=[1, 2]),
            "nodes[1].import_limit_w_by_slot: has 2 values, expected 4",
        ),
        (
            instance_doc(sessions=[session(), session(arrival_slot=3, departure_slot=2)]),
            "sessions[1].departure_slot: not after arrival_slot",
        ),
        (
            instance_doc(sessions=[session(target_wh=70_000)]),
            "sessions[0].target_wh: above battery_wh",
        ),
        (instance_doc(sessions=[session(node="evse-9")]), "sessions[0].node: unknown node"),
        (
            instance_doc(sessions=[session(efficiency=1.5)]),
            "sessions[0].efficiency: outside (0, 1]",
        ),
        (instance_doc(sessions=[session(departure_slot=5)]), "sessions[0].departure_slot: after"),
        (instance_doc(sessions=[session(), session()]), "sessions[1].id: duplicate"),
        (
            instance_doc(sessions=[session(max_charge_w="fast")]),
            "sessions[0].max_charge_w: not a number",
        ),
        (instance_doc(export_price=[0.5, 0.1, 0.2, 0.4]), "export_price[0]: above import_price"),
        (instance_doc(import_price=[0.1]), "import_price: has 1 values, expected 4"),
        (instance_doc(version=2), "version: 2 is not supported"),
        (
            instance_doc(dispatch=[{"node": "tx", "from_slot": 3, "to_slot": 3, "max_net_w": 0}]),
            "dispatch[0].to_slot",
        ),
    ],
)
def test_invalid_instance_error_names_the_bad_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InstanceError) as raised:
        parse_instance(doc)
    assert str(raised.value).startswith(message)


def test_missing_field_is_named() -> None:
    doc = instance_doc()
    del doc["sessions"][0]["battery_wh"]
    with pytest.raises(InstanceError, match=r"^sessions\[0\]\.battery_wh: missing"):
        parse_instance(doc)


def test_floor_is_the_reserve_or_the_arrival_energy_when_lower() -> None:
    instance = parse_instance(instance_doc(sessions=[session(initial_wh=3_000, min_wh=5_000)]))
    assert instance.sessions[0].floor_wh == 3_000


def test_arrays_list_parents_before_children_with_per_slot_limits() -> None:
    doc = instance_doc()
    # Children first in the file: the arrays must still be topological.
    doc["nodes"].reverse()
    doc["nodes"][0]["import_limit_w_by_slot"] = [11_000, 5_000, 11_000, 11_000]
    arrays = to_arrays(parse_instance(doc))
    for k, parent in enumerate(arrays.node_parent):
        assert parent < k
    assert arrays.node_ids[0] == "feeder"
    evse2 = arrays.node_ids.index("evse-2")
    assert list(arrays.node_import[evse2]) == [11_000, 5_000, 11_000, 11_000]
    assert set(arrays.node_root) == {0}
    paths = session_paths(arrays)
    assert [arrays.node_ids[k] for k in paths[0]] == ["evse-1", "tx", "feeder"]


def test_schedule_round_trips_through_json(tmp_path: Path) -> None:
    schedule = Schedule(
        solver="kernel",
        power_w={"s-1": [0.0, 11_000.0, -500.5, 0.0]},
        objective=12.5,
        violations=0,
        solve_seconds=0.01,
        instance_sha256="ab" * 32,
    )
    path = tmp_path / "schedule.json"
    write_schedule(path, schedule)
    assert read_schedule(path) == schedule


def test_generator_is_deterministic_and_keeps_limits_below_the_uncontrolled_peak() -> None:
    settings = GeneratorSettings(sessions=200, transformers=4, seed=7, capacity_factor=0.6)
    first, second = generate_instance(settings), generate_instance(settings)
    assert first == second
    arrays = to_arrays(first)
    # Uncontrolled: every car at full power from arrival; some transformer must exceed its limit.
    slots = np.arange(first.slots)
    present = (slots >= arrays.sess_arrival[:, None]) & (slots < arrays.sess_departure[:, None])
    uncontrolled = np.zeros_like(arrays.node_import)
    np.add.at(uncontrolled, arrays.sess_node, present * arrays.sess_max_charge[:, None])
    for k in range(len(arrays.node_ids) - 1, -1, -1):
        if arrays.node_parent[k] >= 0:
            uncontrolled[arrays.node_parent[k]] += uncontrolled[k]
    transformers = [k for k, nid in enumerate(arrays.node_ids) if nid.startswith("tx-")]
    assert any((uncontrolled[k] > arrays.node_import[k]).any() for k in transformers)
    kinds = {s.max_discharge_w > 0 for s in first.sessions}
    assert kinds == {True, False}
