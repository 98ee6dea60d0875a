"""Read-only REST routes the operator console needs beyond the rest of the API: the network
overview, a searchable station page, a station's events and commands, a session's series,
a grid node's plan and all swap stations at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.analytics.alerts import AlertFilter, alert_json, list_alerts
from csms.api.responses import error, json_response
from csms.api.server import csms_of
from csms.blocks import stations
from csms.blocks.transactions import transaction_json
from csms.db.models import Command, Connector, MeterValue, Station, Transaction
from csms.grid import events
from csms.grid.topology import Topology, node_loads
from swap_orchestrator.gates import Stage, check_gate

if TYPE_CHECKING:
    from csms.api.server import Services

#: Most stations one page of the station list returns (the browser pages the rest).
MAX_PAGE = 200
#: Most stored commands and events a station's detail returns (newest first).
MAX_HISTORY = 50
#: Most meter values one session's series reads (the newest; four make one point).
MAX_SERIES = 5000

_SERIES = {
    "Power.Active.Import": "power_w",
    "Power.Active.Export": "export_w",
    "Energy.Active.Import.Register": "energy_wh",
    "SoC": "soc",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def overview(csms: Services) -> dict[str, Any]:
    """Counts and totals for the front page (also pushed by the console's live feed)."""
    now = csms.clock()
    total = await Station.all().count()
    online = await Station.filter(connected=True).count()
    faulted = len(
        set(await Connector.filter(status="Faulted").values_list("station_id", flat=True))
    )
    active = await Transaction.filter(state="active").count()
    power = await events.live_evse_power(now)
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = await Transaction.filter(started_at__gte=midnight).values_list(
        "energy_wh", "discharged_wh"
    )
    in_force = [
        events.event_json(e) for e in await events.list_events(active_at=now) if e.start <= now
    ]
    return {
        "at": now.isoformat(),
        "stations": {"total": total, "online": online, "offline": total - online},
        "faulted": faulted,
        "active_sessions": active,
        "charging_w": round(sum(p for p in power.values() if p > 0), 1),
        "discharging_w": round(-sum(p for p in power.values() if p < 0), 1),
        "energy_today_wh": round(sum(e for e, _ in today), 1),
        "discharged_today_wh": round(sum(d for _, d in today), 1),
        "grid_events": in_force,
        "safety_alerts": [
            alert_json(row) for row in await list_alerts(AlertFilter(open=True), limit=MAX_HISTORY)
        ],
        "swap": [
            {
                "id": view["id"],
                "queue": len(view["queue"]),
                "bays_busy": sum(1 for b in view["bays"] if b["vehicle"]),
                "bays": len(view["bays"]),
            }
            for view in (csms.swap.view(sid) for sid in sorted(csms.swap.stations))
        ],
    }


async def station_page(query: str, offset: int, limit: int) -> dict[str, Any]:
    """One page of stations whose id contains `query`, with their connectors' statuses."""
    rows = Station.all()
    if query:
        rows = rows.filter(id__icontains=query)
    total = await rows.count()
    page = await rows.order_by("id").offset(offset).limit(limit)
    statuses: dict[str, list[str]] = {}
    own: dict[str, str] = {}
    for station_id, evse_id, status in await Connector.filter(
        station_id__in=[s.id for s in page]
    ).values_list("station_id", "evse_id", "status"):
        if evse_id == stations.STATION_EVSE:
            own[station_id] = status  # the station's own status, not an EVSE's
        else:
            statuses.setdefault(station_id, []).append(status)
    return {
        "total": total,
        "offset": offset,
        "items": [
            {
                "id": s.id,
                "node": s.node,
                "connected": s.connected,
                "last_seen": _iso(s.last_seen),
                "model": s.model,
                "protocol": s.protocol,
                "status": own.get(s.id),
                "statuses": sorted(statuses.get(s.id, [])),
            }
            for s in page
        ],
    }


async def station_detail(csms: Services, station_id: str) -> dict[str, Any]:
    """Raises stations.NotFound."""
    view = await stations.get_station(station_id)
    sessions = await Transaction.filter(station_id=station_id, state="active").order_by("-id")
    security = await csms.diagnostics.events(station_id, "SecurityEventNotification")
    commands = await Command.filter(station_id=station_id).order_by("-id").limit(MAX_HISTORY)
    return {
        **view.to_json(),
        "sessions": [transaction_json(t) for t in sessions],
        "variables": await csms.device_model.variables(station_id),
        "security_events": [
            {"timestamp": e.timestamp.isoformat(), **e.payload}
            for e in security[-MAX_HISTORY:][::-1]
        ],
        "commands": [
            {
                "id": c.id,
                "action": c.action,
                "payload": c.payload,
                "status": c.status,
                "response": c.response,
                "error": c.error,
                "created_at": c.created_at.isoformat(),
                "completed_at": _iso(c.completed_at),
            }
            for c in commands
        ],
    }


def _quality(row: Transaction, series: list[dict[str, Any]]) -> list[str]:
    """What an operator should know before trusting the session's figures."""
    flags = [f"missing seqNo {n}" for n in row.seq_gaps or []]
    energy = [s["energy_wh"] for s in series if "energy_wh" in s]
    if any(b < a for a, b in pairwise(energy)):
        flags.append("energy register went backwards")
    if row.state == "ended" and row.ended_at and row.started_at and row.ended_at < row.started_at:
        flags.append("ended before it started")
    return flags


async def session_detail(station_id: str, transaction_id: str) -> dict[str, Any] | None:
    row = await Transaction.filter(station_id=station_id, transaction_id=transaction_id).first()
    if row is None:
        return None
    samples = (
        await MeterValue.filter(
            station_id=station_id,
            transaction_id=transaction_id,
            measurand__in=list(_SERIES),
            phase=None,
        )
        .order_by("-timestamp")
        .limit(MAX_SERIES)
        .values_list("timestamp", "measurand", "value")
    )
    by_time: dict[datetime, dict[str, Any]] = {}
    for timestamp, measurand, value in reversed(samples):  # the newest, oldest first
        by_time.setdefault(timestamp, {"t": timestamp.isoformat()})[_SERIES[measurand]] = value
    series = list(by_time.values())
    profiles = [
        {
            "sent_at": c.created_at.isoformat(),
            "status": c.status,
            "answer": (c.response or {}).get("status"),
            "profile": c.payload.get("chargingProfile"),
        }
        for c in await Command.filter(station_id=station_id, action="SetChargingProfile")
        .order_by("-id")
        .limit(MAX_HISTORY)
        if (c.payload.get("chargingProfile") or {}).get("transactionId") == transaction_id
    ]
    return {
        **transaction_json(row),
        "series": series,
        "profiles": profiles,
        "quality": _quality(row, series),
    }


def node_plan(topology: Topology, plan: dict[str, Any], node_id: str) -> dict[str, Any]:
    """The plan's sessions under `node_id` summed per slot, split in charge and discharge,
    with the node's limits and the import price of each slot."""
    under = {s.id for s in topology.stations_under(node_id)}
    slots = int(plan["slots"])
    charge = [0.0] * slots
    discharge = [0.0] * slots
    for session in plan["sessions"]:
        if session["station_id"] not in under:
            continue
        for i, power in enumerate(session["power_w"][:slots]):
            if power >= 0:
                charge[i] += power
            else:
                discharge[i] -= power
    start = datetime.fromisoformat(str(plan["start"]))
    step = int(plan["slot_seconds"])
    prices = topology.tariff.import_price_by_hour
    node = topology.node(node_id)
    summary: dict[str, Any] = next((n for n in plan["nodes"] if n["id"] == node_id), {})
    return {
        "node": node_id,
        "import_limit_w": node.import_limit_w if node else None,
        "export_limit_w": node.export_limit_w if node else None,
        "valley_share": summary.get("valley_share"),
        "slots": [
            {
                "start": (at := start + timedelta(seconds=i * step)).isoformat(),
                "charge_w": round(charge[i], 1),
                "discharge_w": round(discharge[i], 1),
                "price": prices[at.hour % len(prices)] if prices else None,
            }
            for i in range(slots)
        ],
    }


async def grid_view(csms: Services) -> dict[str, Any] | None:
    """Topology with live load per node (and the tightest cap a grid event sets on it now),
    the events in force or to come with their delivery reports, and each node's plan;
    None without a topology."""
    topology = await csms.planner.topology()
    if topology is None:
        return None
    now = csms.clock()
    loads = node_loads(topology, await events.live_evse_power(now))
    plan = csms.planner.plan
    upcoming = await events.list_events(active_at=now)
    return {
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "parent": n.parent,
                "import_limit_w": n.import_limit_w,
                "export_limit_w": n.export_limit_w,
                "load_w": round(loads.get(n.id, 0.0), 1),
                "event_cap_w": min(
                    (
                        e.max_net_w
                        for e in upcoming
                        if e.node == n.id and e.kind.value == "limit" and e.start <= now
                    ),
                    default=None,
                ),
                "plan": node_plan(topology, plan, n.id) if plan else None,
                "events": [
                    await events.delivery_report(e, topology) for e in upcoming if e.node == n.id
                ],
            }
            for n in topology.nodes
        ],
        "plan_at": plan["created_at"] if plan else None,
    }


def swap_views(csms: Services) -> list[dict[str, Any]]:
    """Every swap station's view, with each occupied bay's gate results on the latest
    perception reports (age in seconds)."""
    swap = csms.swap
    now = swap.now()
    views = []
    for station_id in sorted(swap.stations):
        view = swap.view(station_id)
        orch = swap.stations[station_id].orch
        for bay in view["bays"]:
            bay["gates"] = [
                {
                    "stage": d.stage.value,
                    "passed": d.passed,
                    "reason": d.reason,
                    "report_age_s": None if d.report_age_s is None else round(d.report_age_s, 1),
                }
                for d in (
                    check_gate(
                        stage, orch.reports.get((bay["vehicle"], stage)), now, orch.config.limits
                    )
                    for stage in Stage
                )
            ]
            if not bay["vehicle"]:
                bay["gates"] = []
        views.append(view)
    return views


# ---- handlers -------------------------------------------------------------------------------


def _int(request: web.Request, name: str, default: int, high: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        value = default
    return max(0, min(value, high))


async def get_overview(request: web.Request) -> web.Response:
    return json_response(await overview(csms_of(request)))


async def get_station_page(request: web.Request) -> web.Response:
    return json_response(
        await station_page(
            request.query.get("q", ""),
            _int(request, "offset", 0, 10**9),
            _int(request, "limit", 50, MAX_PAGE),
        )
    )


async def get_station_detail(request: web.Request) -> web.Response:
    try:
        return json_response(await station_detail(csms_of(request), request.match_info["id"]))
    except stations.NotFound as failure:
        return error(404, str(failure))


async def get_session(request: web.Request) -> web.Response:
    detail = await session_detail(request.match_info["station"], request.match_info["tx"])
    if detail is None:
        return error(404, "no such session")
    return json_response(detail)


async def get_grid_view(request: web.Request) -> web.Response:
    view = await grid_view(csms_of(request))
    if view is None:
        return error(404, "no grid topology loaded (cli.py grid load FILE)")
    return json_response(view)


async def get_swap_stations(request: web.Request) -> web.Response:
    return json_response(swap_views(csms_of(request)))


def add_routes(app: web.Application) -> None:
    add = app.router
    add.add_get("/api/v1/overview", get_overview)
    add.add_get("/api/v1/station-pages", get_station_page)
    add.add_get("/api/v1/stations/{id}/detail", get_station_detail)
    add.add_get("/api/v1/sessions/{station}/{tx}", get_session)
    add.add_get("/api/v1/grid-view", get_grid_view)
    add.add_get("/api/v1/swap/station-views", get_swap_stations)


# ---- OpenAPI --------------------------------------------------------------------------------


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json({"$ref": "#/components/schemas/Error"}, "error; the message says why")
_OBJECT: dict[str, Any] = {"type": "object"}
_STR: dict[str, Any] = {"type": "string"}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _STR}


def openapi_paths() -> dict[str, Any]:
    """The console's read-only paths for the OpenAPI document."""
    return {
        "/api/v1/overview": {
            "get": {
                "summary": "Stations online/offline/faulted, active sessions, power now "
                "(charging and discharging), energy of sessions started today (UTC), grid "
                "events in force, swap queues",
                "responses": {"200": _json(_OBJECT, "overview"), "401": _ERROR},
            }
        },
        "/api/v1/station-pages": {
            "get": {
                "summary": "One page of stations whose id contains `q`, ordered by id, with "
                "their connectors' statuses and the total count",
                "parameters": [
                    {"name": "q", "in": "query", "schema": _STR},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": MAX_PAGE},
                    },
                ],
                "responses": {"200": _json(_OBJECT, "total, offset, items"), "401": _ERROR},
            }
        },
        "/api/v1/stations/{id}/detail": {
            "get": {
                "summary": "A station with its connectors, active sessions, device model "
                f"variables, the last {MAX_HISTORY} security events and commands (outcomes)",
                "parameters": [_path("id")],
                "responses": {"200": _json(_OBJECT, "detail"), "401": _ERROR, "404": _ERROR},
            }
        },
        "/api/v1/sessions/{station}/{tx}": {
            "get": {
                "summary": "A session (transaction) with its power, energy and SoC series, "
                "the charging profiles sent for it and their answers, data-quality flags",
                "parameters": [_path("station"), _path("tx")],
                "responses": {"200": _json(_OBJECT, "session"), "401": _ERROR, "404": _ERROR},
            }
        },
        "/api/v1/grid-view": {
            "get": {
                "summary": "Every grid node with live load, limits and the cap of the grid "
                "events in force (`event_cap_w`), its part of the plan "
                "per slot (charge, discharge, price, valley share) and the grid events in "
                "force or to come with their delivery reports",
                "responses": {"200": _json(_OBJECT, "grid view"), "401": _ERROR, "404": _ERROR},
            }
        },
        "/api/v1/swap/station-views": {
            "get": {
                "summary": "Every swap station's bays (with gate results on the latest "
                "perception reports and their age), queue and rack",
                "responses": {
                    "200": _json({"type": "array", "items": _OBJECT}, "views"),
                    "401": _ERROR,
                },
            }
        },
    }
