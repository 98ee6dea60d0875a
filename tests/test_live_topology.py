"""Grid topology file: validation naming the bad key, `grid load/show`, REST, fallback limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from csms.app import Csms
from csms.grid.fallback import fallback_limits
from csms.grid.topology import TopologyError, loads_topology, parse_topology

PRICES = [0.10] * 6 + [0.30] * 12 + [0.20] * 6


def topology_toml(
    stations: dict[str, str] | None = None,
    *,
    transformer_w: float = 60_000,
    export_w: float = 30_000,
    evse_kw: float = 11,
    bidirectional: tuple[str, ...] = (),
    prices: list[float] = PRICES,
    extra: str = "",
) -> str:
    """feeder-1 > tx-1 > site-a / site-b with stations (id -> node), one EVSE each."""
    stations = stations or {"CS-1": "site-a", "CS-2": "site-b"}
    parts = [
        "version = 1",
        "[planning]\nslot_seconds = 900\nhorizon_hours = 24\ninterval_seconds = 60\n"
        "dead_band_w = 500",
        f"[tariff]\ntimezone = 'UTC'\nimport_price_by_hour = {prices}\n"
        "degradation_cost_per_kwh = 0.02",
        "[defaults]\nbattery_wh = 60000\narrival_soc = 0.3\ntarget_soc = 0.8\n"
        "dwell_hours = 8\nmin_soc = 0.2",
        "[[node]]\nid = 'feeder-1'\nkind = 'feeder'\nimport_limit_w = 2000000\n"
        "export_limit_w = 500000",
        f"[[node]]\nid = 'tx-1'\nkind = 'transformer'\nparent = 'feeder-1'\n"
        f"import_limit_w = {transformer_w}\nexport_limit_w = {export_w}",
        f"[[node]]\nid = 'site-a'\nkind = 'site'\nparent = 'tx-1'\nimport_limit_w = {transformer_w}"
        f"\nexport_limit_w = {export_w}",
        f"[[node]]\nid = 'site-b'\nkind = 'site'\nparent = 'tx-1'\nimport_limit_w = {transformer_w}"
        f"\nexport_limit_w = {export_w}",
    ]
    for station_id, node in stations.items():
        export = evse_kw * 1000 if station_id in bidirectional else 0
        parts.append(
            f"[[station]]\nid = '{station_id}'\nnode = '{node}'\n"
            f"  [[station.evse]]\n  id = 1\n  max_import_w = {evse_kw * 1000}\n"
            f"  max_export_w = {export}\n  phases = 3\n  voltage_v = 230"
        )
    return "\n\n".join(parts) + "\n" + extra


def test_a_full_topology_file_loads_with_its_tree_and_defaults() -> None:
    topology, _ = loads_topology(topology_toml(bidirectional=("CS-2",)))
    assert [n.id for n in topology.ancestors("site-b")] == ["site-b", "tx-1", "feeder-1"]
    assert [s.id for s in topology.stations_under("tx-1")] == ["CS-1", "CS-2"]
    assert topology.tariff.export_price_by_hour == topology.tariff.import_price_by_hour
    station = topology.station("CS-2")
    assert station is not None and station.evses[0].bidirectional
    minimal, _ = loads_topology(
        "version = 1\n[tariff]\nimport_price_by_hour = " + str(PRICES) + "\n"
        "[[node]]\nid = 'n'\nimport_limit_w = 1000\n"
    )
    assert minimal.planning.slot_seconds == 900 and minimal.defaults.battery_wh == 60_000
    assert minimal.nodes[0].export_limit_w == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda t: t.replace("dead_band_w", "dead_band_kw"), "planning.dead_band_kw: unknown key"),
        (lambda t: t.replace("parent = 'feeder-1'", "parent = 'nowhere'"), "node[1].parent"),
        (lambda t: t.replace("id = 'feeder-1'\n", "id = 'feeder-1'\nparent = 'site-a'\n"), "cycle"),
        (lambda t: t.replace("node = 'site-b'", "node = 'site-c'"), "station[1].node"),
        (lambda t: t.replace("id = 'CS-2'", "id = 'CS-1'"), "station[1].id"),
        (lambda t: t.replace("import_limit_w = 2000000", "import_limit_w = -1"), "import_limit_w"),
        (lambda t: t.replace("voltage_v", "volts"), "station[0].evse[0].volts: unknown key"),
        (lambda t: t + "\n[extra]\n", "extra: unknown key"),
        (lambda t: t.replace("timezone = 'UTC'", "timezone = 'Mars/Base'"), "tariff.timezone"),
        (
            lambda t: t.replace(
                "degradation_cost_per_kwh =",
                f"export_price_by_hour = {[0.5] * 24}\ndegradation_cost_per_kwh =",
            ),
            "tariff.export_price_by_hour[0]",
        ),
    ],
)
def test_a_bad_topology_names_the_bad_key(change: object, named: str) -> None:
    text = change(topology_toml())  # type: ignore[operator]
    with pytest.raises(TopologyError, match=named.replace("[", r"\[").replace("]", r"\]")):
        loads_topology(text)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, object]:
    count = draw(st.integers(1, 8))
    nodes = []
    for i in range(count):
        parent = None if i == 0 else f"n{draw(st.integers(0, i - 1))}"
        node = {"id": f"n{i}", "import_limit_w": draw(st.integers(0, 200_000))}
        if parent:
            node["parent"] = parent
        nodes.append(node)
    stations = [
        {
            "id": f"S{j}",
            "node": f"n{draw(st.integers(0, count - 1))}",
            "evse": [
                {"id": e + 1, "max_import_w": draw(st.integers(0, 50_000))}
                for e in range(draw(st.integers(1, 3)))
            ],
        }
        for j in range(draw(st.integers(0, 12)))
    ]
    return {
        "version": 1,
        "tariff": {"import_price_by_hour": PRICES},
        "node": nodes,
        "station": stations,
    }


@settings(max_examples=150, deadline=None)
@given(trees())
def test_fallback_limits_keep_every_node_within_its_limit(document: dict[str, object]) -> None:
    topology = parse_topology(document)
    limits = fallback_limits(topology)
    for node in topology.nodes:
        below = sum(limits[(s.id, e.id)] for s in topology.stations_under(node.id) for e in s.evses)
        assert below <= node.import_limit_w + 1e-6
    for station in topology.stations:
        for evse in station.evses:
            assert 0 <= limits[(station.id, evse.id)] <= evse.max_import_w


def test_grid_load_keeps_the_old_topology_when_the_new_file_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite://{tmp_path / 'csms.db'}"
    good = tmp_path / "grid.toml"
    good.write_text(topology_toml())
    assert main(["grid", "load", str(good), "--db-url", db]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(topology_toml({"CS-1": "site-a", "CS-9": "site-x"}))
    assert main(["grid", "load", str(bad), "--db-url", db]) == 1
    out = capsys.readouterr().out
    assert "station[1].node" in out and "site-x" in out
    assert main(["grid", "show", "--db-url", db]) == 0
    shown = capsys.readouterr().out
    assert "tx-1" in shown and "CS-2" in shown and "CS-9" not in shown
    assert "0.0 kW / 60.0 kW" in shown


@pytest.fixture
async def http(csms: Csms) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as session:
        yield session


async def test_rest_shows_the_grid_and_one_node(csms: Csms, http: aiohttp.ClientSession) -> None:
    from csms.grid.live_state import save_topology

    assert (await http.get("/api/v1/grid")).status == 404
    _, document = loads_topology(topology_toml())
    await save_topology(document, csms.transactions.context.clock())
    grid = await (await http.get("/api/v1/grid")).json()
    assert [n["id"] for n in grid["nodes"]] == ["feeder-1", "tx-1", "site-a", "site-b"]
    assert grid["planning"]["dead_band_w"] == 500
    node = await (await http.get("/api/v1/grid/site-a")).json()
    assert node["parent"] == "tx-1" and node["load_w"] == 0
    assert node["stations"][0]["id"] == "CS-1"
    assert (await http.get("/api/v1/grid/nowhere")).status == 404
