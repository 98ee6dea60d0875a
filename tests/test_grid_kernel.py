from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csms.grid import kernel
from csms.grid.check import check_schedule
from csms.grid.flow_start import FlowState, flow_graph, flow_start, flow_work
from csms.grid.generate import GeneratorSettings, generate_instance
from csms.grid.instance import parse_instance, session_paths, to_arrays
from csms.grid.kernel import solve, warm_up
from csms.grid.reference import solve_lp
from tests.grid_factories import instance_doc, session

KINDS = {
    "ample": GeneratorSettings(capacity_factor=0.8, v2g_share=0.3, dispatch_share=0.2),
    "scarce": GeneratorSettings(capacity_factor=0.65, v2g_share=0.3, dispatch_share=0.1),
    "no-v2g": GeneratorSettings(capacity_factor=0.7, v2g_share=0.0, dispatch_share=0.1),
}


@st.composite
def instances(draw: st.DrawFn) -> dict[str, Any]:
    """Random trees, limits (some per slot), sessions and targets, feasible or not."""
    slots = draw(st.integers(2, 12))
    price = st.floats(-0.05, 0.5, allow_nan=False)
    import_price = [draw(price) for _ in range(slots)]
    degradation = draw(st.sampled_from([0.0, 0.03]))
    export_price = [p - draw(st.floats(0.0, 0.1)) for p in import_price]
    limit = st.floats(0.0, 40_000.0)
    nodes: list[dict[str, Any]] = []
    for k in range(draw(st.integers(1, 6))):
        parent = (
            None if k == 0 or (k < 2 and draw(st.booleans())) else f"n{draw(st.integers(0, k - 1))}"
        )
        node: dict[str, Any] = {
            "id": f"n{k}",
            "parent": parent,
            "import_limit_w": draw(limit),
            "export_limit_w": draw(limit),
        }
        if draw(st.booleans()):
            node["import_limit_w_by_slot"] = [draw(limit) for _ in range(slots)]
        nodes.append(node)
    sessions = []
    for j in range(draw(st.integers(0, 6))):
        arrival = draw(st.integers(0, slots - 1))
        battery = draw(st.floats(1_000.0, 100_000.0))
        sessions.append(
            {
                "id": f"s{j}",
                "node": f"n{draw(st.integers(0, len(nodes) - 1))}",
                "arrival_slot": arrival,
                "departure_slot": draw(st.integers(arrival + 1, slots)),
                "battery_wh": battery,
                "initial_wh": draw(st.floats(0.0, 1.0)) * battery,
                "target_wh": draw(st.floats(0.0, 1.0)) * battery,
                "min_wh": draw(st.floats(0.0, 1.0)) * battery,
                "max_charge_w": draw(st.floats(0.0, 22_000.0)),
                "max_discharge_w": draw(st.sampled_from([0.0, 5_000.0, 11_000.0])),
                "efficiency": draw(st.floats(0.5, 1.0)),
                "priority": draw(st.integers(0, 3)),
            }
        )
    dispatch = [
        {
            "node": f"n{draw(st.integers(0, len(nodes) - 1))}",
            "from_slot": 0,
            "to_slot": draw(st.integers(1, slots)),
            "max_net_w": draw(st.floats(-20_000.0, 20_000.0)),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    return {
        "version": 1,
        "start": "2026-11-24T00:00:00Z",
        "slot_seconds": draw(st.sampled_from([900, 3600])),
        "slots": slots,
        "import_price": import_price,
        "export_price": export_price,
        "degradation_cost_per_kwh": degradation,
        "nodes": nodes,
        "sessions": sessions,
        "dispatch": dispatch,
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_checker_finds_no_violation_in_any_kernel_schedule(doc: dict[str, Any]) -> None:
    instance = parse_instance(doc)
    for parallel, polish_rounds in ((False, 0), (True, 0), (False, 2)):
        schedule = solve(instance, parallel=parallel, polish_rounds=polish_rounds)
        result = check_schedule(instance, schedule)
        assert result.violations == ()
        assert schedule.violations == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sessions=st.integers(10, 160),
    transformers=st.integers(1, 6),
    capacity_factor=st.floats(0.2, 1.0),
    v2g_share=st.floats(0.0, 0.8),
    dispatch_share=st.floats(0.0, 1.0),
    demand_response_share=st.floats(0.0, 1.0),
    overask_share=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**16),
)
def test_checker_finds_no_violation_on_realistic_days(
    sessions: int,
    transformers: int,
    capacity_factor: float,
    v2g_share: float,
    dispatch_share: float,
    demand_response_share: float,
    overask_share: float,
    seed: int,
) -> None:
    # Shared feeders, many cars per transformer, dispatch windows and storage paths: the
    # flow start's long augmenting paths and dispatch relief cycles show up here.
    instance = generate_instance(
        GeneratorSettings(
            sessions=sessions,
            transformers=transformers,
            capacity_factor=capacity_factor,
            v2g_share=v2g_share,
            dispatch_share=dispatch_share,
            demand_response_share=demand_response_share,
            overask_share=overask_share,
            seed=seed,
        )
    )
    result = check_schedule(instance, solve(instance))
    assert result.violations == ()


def test_a_relief_cycle_through_storage_keeps_the_feeder_within_its_limit() -> None:
    # Found by search: dispatch relief closing its cycle at the feeder after a car served
    # as storage (more power arrives than left) once pushed the feeder 52 W over.
    instance = generate_instance(
        GeneratorSettings(
            sessions=60, transformers=2, seed=22, capacity_factor=0.8, dispatch_share=0.5
        )
    )
    result = check_schedule(instance, solve(instance))
    assert result.violations == ()


@settings(max_examples=25, deadline=None)
@given(instances())
def test_kernel_is_never_worse_than_charging_nothing(doc: dict[str, Any]) -> None:
    instance = parse_instance(doc)
    idle = {s.id: [0.0] * instance.slots for s in instance.sessions}
    schedule = solve(instance)
    nothing = check_schedule(instance, schedule.__class__("idle", idle, 0.0, 0, 0.0))
    assert schedule.objective <= nothing.objective + 1e-6


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kernel_is_within_one_percent_of_the_lp_on_100_sessions(kind: str) -> None:
    base = KINDS[kind]
    instance = generate_instance(
        GeneratorSettings(
            sessions=100,
            transformers=2,
            seed=100,
            capacity_factor=base.capacity_factor,
            v2g_share=base.v2g_share,
            dispatch_share=base.dispatch_share,
        )
    )
    kernel = check_schedule(instance, solve(instance))
    lp = check_schedule(instance, solve_lp(instance))
    assert kernel.ok
    assert (kernel.objective - lp.objective) / abs(lp.objective) <= 0.01
    assert kernel.unmet_wh <= lp.unmet_wh + 0.001 * lp.requested_wh


@pytest.mark.parametrize("polish_rounds", [1, 3, None])
def test_polish_rounds_never_make_the_schedule_worse(polish_rounds: int | None) -> None:
    instance = generate_instance(
        GeneratorSettings(sessions=150, transformers=3, seed=5, capacity_factor=0.65)
    )
    plain = check_schedule(instance, solve(instance, polish_rounds=0))
    polished = check_schedule(instance, solve(instance, polish_rounds=polish_rounds))
    assert polished.ok
    assert polished.objective <= plain.objective + 1e-6


def test_bidirectional_car_stores_energy_so_a_short_stay_is_served() -> None:
    # The transformer passes 11 kW; s-2 stays one hour and could take 22 kW. With flat
    # prices discharging never pays by itself: only as storage for s-2 does s-1 charge
    # early and discharge 11 kW while s-2 is there (the LP's optimum does the same).
    doc = instance_doc(
        import_price=[0.2, 0.2, 0.2, 0.2],
        nodes=[
            {"id": "feeder", "parent": None, "import_limit_w": 50_000, "export_limit_w": 20_000},
            {"id": "tx", "parent": "feeder", "import_limit_w": 11_000, "export_limit_w": 11_000},
            {"id": "evse-1", "parent": "tx", "import_limit_w": 11_000, "export_limit_w": 11_000},
            {"id": "evse-2", "parent": "tx", "import_limit_w": 22_000, "export_limit_w": 0},
        ],
        sessions=[
            session(max_discharge_w=11_000, initial_wh=30_000, target_wh=30_000, efficiency=0.9),
            session("s-2", "evse-2", arrival_slot=3, max_charge_w=22_000, target_wh=32_000),
        ],
    )
    instance = parse_instance(doc)
    schedule = solve(instance)
    result = check_schedule(instance, schedule)
    assert result.ok
    assert result.final_wh["s-2"] == pytest.approx(32_000, abs=1)
    assert result.final_wh["s-1"] >= 30_000 - 1
    assert schedule.power_w["s-1"][3] == pytest.approx(-11_000, abs=1)
    lp = check_schedule(instance, solve_lp(instance))
    assert (result.objective - lp.objective) / abs(lp.objective) <= 0.01


def test_a_dispatch_node_under_single_session_nodes_keeps_their_limits() -> None:
    # Found by hypothesis: n4 carries a target so it is never folded; its parent n1 holds
    # the same single session and was folded away, so n4 looked like a top-level node
    # and s0 charged 2 W through n1 and n0, whose limits are 0.
    def node(nid: str, parent: str | None, **extra: Any) -> dict[str, Any]:
        return {"id": nid, "parent": parent, "import_limit_w": 0, "export_limit_w": 0, **extra}

    doc = instance_doc(
        slots=2,
        import_price=[0.0, 0.0],
        nodes=[
            node("n0", None),
            node("n1", "n0"),
            node("n2", "n0"),
            node("n4", "n1", import_limit_w_by_slot=[2.0, 0.0]),
        ],
        sessions=[
            session("s0", "n4", departure_slot=1, target_wh=11_000, max_charge_w=2.0),
            session("s1", "n0", departure_slot=1, target_wh=10_000, max_charge_w=0.0),
        ],
        dispatch=[{"node": "n4", "from_slot": 0, "to_slot": 1, "max_net_w": 0.0}],
    )
    instance = parse_instance(doc)
    schedule = solve(instance)
    assert check_schedule(instance, schedule).violations == ()
    assert schedule.power_w["s0"] == [0.0, 0.0]


def test_a_car_at_its_floor_still_serves_as_storage() -> None:
    # The root has import room only in slot 1; s-2 comes later. s-1, at its reserve,
    # charges in slot 1 and discharges while s-2 charges: the LP's optimum, exactly.
    limits = [0.0] * 8
    limits[1] = 22_000.0
    doc = instance_doc(
        slots=8,
        import_price=[0.2] * 8,
        nodes=[
            {
                "id": "root",
                "parent": None,
                "import_limit_w": 0,
                "export_limit_w": 0,
                "import_limit_w_by_slot": limits,
            },
            {"id": "evse-1", "parent": "root", "import_limit_w": 22_000, "export_limit_w": 22_000},
            {"id": "evse-2", "parent": "root", "import_limit_w": 22_000, "export_limit_w": 0},
        ],
        sessions=[
            session(
                departure_slot=8,
                battery_wh=80_000,
                initial_wh=10_000,
                target_wh=0,
                min_wh=10_000,
                max_charge_w=22_000,
                max_discharge_w=22_000,
            ),
            session(
                "s-2",
                "evse-2",
                arrival_slot=5,
                departure_slot=8,
                battery_wh=80_000,
                initial_wh=0,
                target_wh=20_000,
                min_wh=0,
                max_charge_w=22_000,
                priority=2,
            ),
        ],
    )
    instance = parse_instance(doc)
    result = check_schedule(instance, solve(instance))
    assert result.ok
    assert result.final_wh["s-2"] == pytest.approx(20_000, abs=1)
    lp = check_schedule(instance, solve_lp(instance))
    assert result.objective == pytest.approx(lp.objective, abs=1e-3)


def test_a_residue_too_small_to_send_does_not_stop_its_class() -> None:
    # Two-hour slots: s-a still wants 1.5 mWh, which no path can carry (under 1 mW for
    # two hours). s-b, of the same class, is served by moving s-c to the other slot.
    def car(
        sid: str,
        node: str,
        arrival: int,
        departure: int,
        initial: float,
        target: float,
        efficiency: float,
        priority: int,
    ) -> dict[str, Any]:
        return session(
            sid,
            node,
            arrival_slot=arrival,
            departure_slot=departure,
            battery_wh=80_000,
            initial_wh=initial,
            target_wh=target,
            min_wh=0,
            efficiency=efficiency,
            priority=priority,
        )

    doc = instance_doc(
        slot_seconds=7200,
        slots=2,
        import_price=[0.2, 0.2],
        nodes=[{"id": "root", "parent": None, "import_limit_w": 11_000, "export_limit_w": 0}]
        + [
            {"id": f"evse-{k}", "parent": "root", "import_limit_w": 11_000, "export_limit_w": 0}
            for k in "abc"
        ],
        sessions=[
            car("s-c", "evse-c", 0, 2, 0, 22_000, 1.0, 2),
            car("s-a", "evse-a", 1, 2, 10_000, 10_000.0015, 1.0, 1),
            car("s-b", "evse-b", 0, 1, 0, 10_000, 0.9, 1),
        ],
    )
    instance = parse_instance(doc)
    result = check_schedule(instance, solve(instance))
    assert result.ok
    assert result.final_wh["s-b"] == pytest.approx(10_000, abs=1)
    assert result.final_wh["s-c"] == pytest.approx(22_000, abs=1)


def test_flow_graph_folds_single_session_nodes_and_lists_who_is_present() -> None:
    doc = instance_doc(
        sessions=[session(), session("s-2", "evse-2", arrival_slot=2)],
    )
    arrays = to_arrays(parse_instance(doc))
    paths = session_paths(arrays)
    graph = flow_graph(
        arrays.node_parent, paths, arrays.sess_arrival, arrays.sess_departure, 4, arrays.disp_node
    )
    ids = arrays.node_ids
    # Each EVSE holds one session: folded into its arcs; both attach to the transformer.
    assert [ids[n] for n in graph.unode] == ["feeder", "tx"]
    assert graph.fold.tolist() == [1, 1]
    tx = [ids[n] for n in graph.unode].index("tx")
    assert graph.attach.tolist() == [tx, tx]
    slots = arrays.import_price.shape[0]
    present = [
        sorted(
            graph.present_list[
                graph.present_first[tx * slots + t] : graph.present_first[tx * slots + t + 1]
            ].tolist()
        )
        for t in range(slots)
    ]
    assert present == [[0], [0], [0, 1], [0, 1]]
    assert graph.slot_order.tolist() == [0, 1, 2, 3]  # earliest first


def test_dispatch_relief_moves_load_out_of_a_target_through_another_transformer() -> None:
    # The feeder passes 11 kW. s-1 (under tx-a, asked to draw nothing in slot 1) charges
    # in slot 1, s-2 (under tx-c) in slot 2: neither can move alone, but swapping them
    # meets the target at no cost. Relief finds the swap as a path through the feeder.
    doc = instance_doc(
        import_price=[0.2, 0.2, 0.2, 0.2],
        nodes=[
            {"id": "feeder", "parent": None, "import_limit_w": 11_000, "export_limit_w": 0},
            {"id": "tx-a", "parent": "feeder", "import_limit_w": 11_000, "export_limit_w": 0},
            {"id": "tx-c", "parent": "feeder", "import_limit_w": 11_000, "export_limit_w": 0},
            {"id": "evse-1", "parent": "tx-a", "import_limit_w": 11_000, "export_limit_w": 0},
            {"id": "evse-2", "parent": "tx-c", "import_limit_w": 11_000, "export_limit_w": 0},
        ],
        sessions=[
            session(arrival_slot=1, departure_slot=3, target_wh=21_000),
            session("s-2", "evse-2", arrival_slot=1, departure_slot=3, target_wh=21_000),
        ],
        dispatch=[{"node": "tx-a", "from_slot": 1, "to_slot": 2, "max_net_w": 0}],
    )
    arrays = to_arrays(parse_instance(doc))
    paths = session_paths(arrays)
    power = np.array([[0.0, 11_000.0, 0.0, 0.0], [0.0, 0.0, 11_000.0, 0.0]])
    loads = np.zeros(arrays.node_import.shape)
    for i in range(2):
        for node in paths[i][paths[i] >= 0]:
            loads[node] += power[i]
    state = FlowState(
        power,
        loads,
        kernel._limits(arrays),
        kernel._sessions(arrays),
        paths,
        arrays.slot_hours,
    )
    graph = flow_graph(
        arrays.node_parent, paths, arrays.sess_arrival, arrays.sess_departure, 4, arrays.disp_node
    )
    no_stages = np.zeros(0, dtype=np.int64)
    work = flow_work(2, graph, 4)
    flow_start(np.arange(2, dtype=np.int64), state, graph, work, no_stages, relieve=False)
    assert power.tolist() == [[0.0, 11_000.0, 0.0, 0.0], [0.0, 0.0, 11_000.0, 0.0]]
    flow_start(np.arange(2, dtype=np.int64), state, graph, work, no_stages, relieve=True)
    assert power.tolist() == [[0.0, 0.0, 11_000.0, 0.0], [0.0, 11_000.0, 0.0, 0.0]]
    tx_a = arrays.node_ids.index("tx-a")
    assert loads[tx_a].tolist() == [0.0, 0.0, 11_000.0, 0.0]


def test_higher_priority_is_served_first_when_the_transformer_is_short() -> None:
    doc = instance_doc(
        sessions=[
            session(target_wh=60_000, priority=0),
            session("s-2", "evse-2", target_wh=60_000, priority=3),
        ]
    )
    instance = parse_instance(doc)
    result = check_schedule(instance, solve(instance))
    assert result.ok
    # 15 kW x 4 h = 60 kWh through the transformer; s-2 can take 11 kW x 4 h of it.
    assert result.final_wh["s-2"] == pytest.approx(10_000 + 44_000, abs=1)
    assert result.final_wh["s-1"] == pytest.approx(10_000 + 16_000, abs=1)


def test_discharges_into_the_dearest_slot_only_when_the_spread_beats_losses() -> None:
    doc = instance_doc(
        degradation_cost_per_kwh=0.02,
        sessions=[session(max_discharge_w=11_000, initial_wh=30_000, target_wh=30_000)],
    )
    power = solve(parse_instance(doc)).power_w["s-1"]
    assert power[3] == pytest.approx(-10_000)  # the transformer's export limit
    assert power[1] == pytest.approx(11_000)
    lossy = dict(
        doc,
        sessions=[
            session(max_discharge_w=11_000, initial_wh=30_000, target_wh=30_000, efficiency=0.5)
        ],
    )
    power = solve(parse_instance(lossy)).power_w["s-1"]
    assert power == [0.0, 0.0, 0.0, 0.0]


def test_surplus_above_target_is_sold_in_the_dearest_slot() -> None:
    doc = instance_doc(
        import_price=[0.2, 0.2, 0.2, 0.4],
        sessions=[session(max_discharge_w=5_000, initial_wh=30_000, target_wh=25_000)],
    )
    schedule = solve(parse_instance(doc))
    assert schedule.power_w["s-1"] == pytest.approx([0.0, 0.0, 0.0, -5_000.0])


def test_dispatch_target_is_met_by_discharging_when_the_car_can_afford_it() -> None:
    doc = instance_doc(
        sessions=[session(max_discharge_w=11_000, initial_wh=30_000, target_wh=30_000)],
        dispatch=[{"node": "tx", "from_slot": 2, "to_slot": 3, "max_net_w": -8_000}],
    )
    instance = parse_instance(doc)
    schedule = solve(instance)
    result = check_schedule(instance, schedule)
    assert result.dispatch_cost == pytest.approx(0, abs=1e-6)
    assert schedule.power_w["s-1"][2] <= -8_000
    assert result.final_wh["s-1"] >= 30_000 - 1


def test_parallel_subtrees_give_the_serial_schedule() -> None:
    instance = generate_instance(GeneratorSettings(sessions=120, transformers=45, seed=3))
    assert len({n.id for n in instance.nodes if n.parent is None}) == 3
    assert solve(instance, parallel=True).power_w == solve(instance).power_w


def test_solve_time_excludes_compilation() -> None:
    compile_seconds = warm_up()
    schedule = solve(parse_instance(instance_doc()))
    assert schedule.solver == "kernel"
    assert schedule.solve_seconds < compile_seconds


def test_worker_threads_plan_concurrently_with_the_same_result() -> None:
    instances = [
        generate_instance(GeneratorSettings(sessions=60, transformers=3, seed=seed))
        for seed in range(4)
    ]
    serial = [solve(instance).power_w for instance in instances]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda instance: solve(instance).power_w, instances))
    assert threaded == serial


def test_a_load_between_two_targets_pays_only_for_the_one_below_it() -> None:
    # Two targets on the transformer in slot 1: 0 W and 11 kW. Charging 10 kW there
    # exceeds only the first (10 per kWh), cheaper than slot 3 at 15 per kWh; counting
    # both (as the tightest) made slot 3 look cheaper.
    doc = instance_doc(
        import_price=[20.0, 0.1, 20.0, 15.0],
        sessions=[session(target_wh=20_000)],
        dispatch=[
            {"node": "tx", "from_slot": 1, "to_slot": 2, "max_net_w": 0},
            {"node": "tx", "from_slot": 1, "to_slot": 2, "max_net_w": 11_000},
        ],
    )
    instance = parse_instance(doc)
    schedule = solve(instance)
    kernel, lp = check_schedule(instance, schedule), check_schedule(instance, solve_lp(instance))
    assert schedule.power_w["s-1"] == pytest.approx([0.0, 10_000.0, 0.0, 0.0])
    assert kernel.objective == pytest.approx(lp.objective, rel=1e-6)


def test_a_load_above_both_targets_is_relieved_for_both() -> None:
    # A car with surplus sells in slot 2 to bring the transformer under both targets.
    doc = instance_doc(
        sessions=[session(max_discharge_w=11_000, initial_wh=40_000, target_wh=20_000)],
        dispatch=[
            {"node": "tx", "from_slot": 2, "to_slot": 3, "max_net_w": -4_000},
            {"node": "tx", "from_slot": 2, "to_slot": 3, "max_net_w": -8_000},
        ],
    )
    instance = parse_instance(doc)
    kernel = check_schedule(instance, solve(instance))
    lp = check_schedule(instance, solve_lp(instance))
    assert kernel.dispatch_cost == pytest.approx(0.0, abs=1e-6)
    assert kernel.objective == pytest.approx(lp.objective, rel=1e-6)


def test_a_car_above_its_target_gives_energy_to_one_behind_a_closed_transformer() -> None:
    # The transformer can neither import nor export in the only slot both cars are there:
    # s-2 is charged only by s-1 discharging its surplus in that same slot.
    doc = instance_doc(
        nodes=[
            {"id": "feeder", "parent": None, "import_limit_w": 50_000, "export_limit_w": 0},
            {"id": "tx", "parent": "feeder", "import_limit_w": 0, "export_limit_w": 0},
            {"id": "evse-1", "parent": "tx", "import_limit_w": 11_000, "export_limit_w": 11_000},
            {"id": "evse-2", "parent": "tx", "import_limit_w": 11_000, "export_limit_w": 11_000},
        ],
        sessions=[
            session(
                arrival_slot=1,
                departure_slot=2,
                initial_wh=40_000,
                target_wh=30_000,
                max_discharge_w=7_000,
            ),
            session("s-2", "evse-2", arrival_slot=1, departure_slot=2, target_wh=30_000),
        ],
    )
    instance = parse_instance(doc)
    schedule = solve(instance)
    kernel = check_schedule(instance, schedule)
    assert kernel.ok
    assert schedule.power_w["s-1"][1] == pytest.approx(-7_000)
    assert schedule.power_w["s-2"][1] == pytest.approx(7_000)
    assert kernel.objective == pytest.approx(
        check_schedule(instance, solve_lp(instance)).objective, rel=1e-6
    )


def test_a_car_sells_into_the_peak_through_another_car_behind_an_export_limit() -> None:
    # The transformer exports nothing: s-1 can sell at 0.50 only if s-2, which needs
    # 10 kWh, charges then instead of at 0.30; s-1 buys it back at 0.05. A pair move.
    doc = instance_doc(
        slots=3,
        import_price=[0.30, 0.50, 0.05],
        nodes=[
            {"id": "feeder", "parent": None, "import_limit_w": 50_000, "export_limit_w": 0},
            {"id": "tx", "parent": "feeder", "import_limit_w": 11_000, "export_limit_w": 0},
            {"id": "evse-1", "parent": "tx", "import_limit_w": 11_000, "export_limit_w": 11_000},
            {"id": "evse-2", "parent": "tx", "import_limit_w": 11_000, "export_limit_w": 11_000},
        ],
        sessions=[
            session(
                arrival_slot=1,
                departure_slot=3,
                initial_wh=20_000,
                target_wh=20_000,
                max_discharge_w=11_000,
            ),
            session("s-2", "evse-2", arrival_slot=0, departure_slot=2, target_wh=20_000),
        ],
    )
    instance = parse_instance(doc)
    lp = check_schedule(instance, solve_lp(instance))
    single = check_schedule(instance, solve(instance, polish_rounds=0))
    paired = solve(instance, polish_rounds=1)
    result = check_schedule(instance, paired)
    assert result.ok
    assert single.objective == pytest.approx(3.0)
    assert result.objective == pytest.approx(lp.objective, abs=1e-6)
    assert paired.power_w["s-1"] == pytest.approx([0.0, -10_000.0, 10_000.0])
    assert paired.power_w["s-2"] == pytest.approx([0.0, 10_000.0, 0.0])
