"""REST routes of the grid: topology with live load, grid events and their delivery, the plan."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from csms.api.responses import (
    ApiError,
    body,
    error,
    error_content,
    json_content,
    json_response,
)
from csms.api.server import csms_of
from csms.grid import events
from csms.grid.topology import Topology, node_json, node_loads


async def _topology(request: web.Request) -> Topology:
    topology = await csms_of(request).planner.topology()
    if topology is None:
        raise ApiError(404, "no grid topology loaded (cli.py grid load FILE)")
    return topology


async def _loads(request: web.Request, topology: Topology) -> dict[str, float]:
    now = csms_of(request).clock()
    return node_loads(topology, await events.live_evse_power(now))


def grid_json(topology: Topology, loads: dict[str, float]) -> dict[str, Any]:
    return {
        "planning": asdict(topology.planning),
        "tariff": asdict(topology.tariff),
        "defaults": asdict(topology.defaults),
        "nodes": [node_json(topology, n, loads) for n in topology.nodes],
    }


async def get_grid(request: web.Request) -> web.Response:
    topology = await _topology(request)
    return json_response(grid_json(topology, await _loads(request, topology)))


async def get_node(request: web.Request) -> web.Response:
    topology = await _topology(request)
    node = topology.node(request.match_info["node"])
    if node is None:
        return error(404, f"no grid node {request.match_info['node']!r}")
    return json_response(node_json(topology, node, await _loads(request, topology)))


async def post_event(request: web.Request) -> web.Response:
    data = await body(request)
    topology = await csms_of(request).planner.topology()
    if topology is None:
        return error(422, "no grid topology loaded")
    try:
        event = events.parse_event(data, topology)
    except events.EventError as failure:
        return error(422, str(failure))
    csms = csms_of(request)
    stored = await events.add_event(csms.writer, event, csms.clock())
    csms.planner.trigger(f"grid event {stored.id}")
    return json_response(events.event_json(stored), status=201)


async def get_events(request: web.Request) -> web.Response:
    return json_response([events.event_json(e) for e in await events.list_events()])


def _event_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as failure:
        raise ApiError(404, "grid event ids are integers") from failure


async def get_event(request: web.Request) -> web.Response:
    try:
        event = await events.get_event(_event_id(request))
    except events.EventNotFound as failure:
        return error(404, str(failure))
    return json_response(events.event_json(event))


async def delete_event(request: web.Request) -> web.Response:
    csms = csms_of(request)
    try:
        await events.delete_event(csms.writer, _event_id(request))
    except events.EventNotFound as failure:
        return error(404, str(failure))
    csms.planner.trigger("grid event deleted")
    return json_response({"deleted": int(request.match_info["id"])})


async def get_report(request: web.Request) -> web.Response:
    topology = await _topology(request)
    try:
        event = await events.get_event(_event_id(request))
    except events.EventNotFound as failure:
        return error(404, str(failure))
    return json_response(await events.delivery_report(event, topology))


async def get_plan(request: web.Request) -> web.Response:
    plan = csms_of(request).planner.plan
    if plan is None:
        return error(404, "no plan yet (is a grid topology loaded?)")
    return json_response(plan)


def add_routes(app: web.Application) -> None:
    # /grid/events before /grid/{node}: a node cannot be called "events".
    app.router.add_get("/api/v1/grid", get_grid)
    app.router.add_get("/api/v1/grid/events", get_events)
    app.router.add_post("/api/v1/grid/events", post_event)
    app.router.add_get("/api/v1/grid/events/{id}", get_event)
    app.router.add_delete("/api/v1/grid/events/{id}", delete_event)
    app.router.add_get("/api/v1/grid/events/{id}/report", get_report)
    app.router.add_get("/api/v1/grid/{node}", get_node)
    app.router.add_get("/api/v1/plan", get_plan)


_OBJECT: dict[str, Any] = {"type": "object"}
_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["node", "start", "end", "kind", "max_net_w"],
    "properties": {
        "id": {"type": "integer"},
        "node": {"type": "string"},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "kind": {"type": "string", "enum": ["limit", "target"]},
        "max_net_w": {"type": "number", "description": "limit: import cap >= 0; target: net W"},
    },
}
_EVENT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


def openapi_paths() -> dict[str, Any]:
    """The grid routes for the OpenAPI document."""
    return {
        "/api/v1/grid": {
            "get": {
                "summary": "The grid topology with live load per node",
                "responses": {
                    "200": json_content(_OBJECT, "topology"),
                    "404": error_content("none loaded"),
                },
            }
        },
        "/api/v1/grid/{node}": {
            "get": {
                "summary": "One grid node: limits, live load, children, stations",
                "parameters": [
                    {"name": "node", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": json_content(_OBJECT, "the node"),
                    "404": error_content("unknown node"),
                },
            }
        },
        "/api/v1/grid/events": {
            "get": {
                "summary": "Grid events (limits and targets)",
                "responses": {"200": json_content({"type": "array", "items": _EVENT}, "events")},
            },
            "post": {
                "summary": "Post a grid event; the planner replans at once",
                "requestBody": {"content": {"application/json": {"schema": _EVENT}}},
                "responses": {
                    "201": json_content(_EVENT, "stored"),
                    "422": error_content("bad node, end before start or a missing field"),
                },
            },
        },
        "/api/v1/grid/events/{id}": {
            "get": {
                "summary": "One grid event",
                "parameters": [_EVENT_ID],
                "responses": {
                    "200": json_content(_EVENT, "the event"),
                    "404": error_content("no such event"),
                },
            },
            "delete": {
                "summary": "Withdraw a grid event",
                "parameters": [_EVENT_ID],
                "responses": {
                    "200": json_content(_OBJECT, "deleted"),
                    "404": error_content("no such event"),
                },
            },
        },
        "/api/v1/grid/events/{id}/report": {
            "get": {
                "summary": "Requested vs delivered net power per slot, from meter values",
                "parameters": [_EVENT_ID],
                "responses": {
                    "200": json_content(_OBJECT, "report"),
                    "404": error_content("no such event"),
                },
            }
        },
        "/api/v1/plan": {
            "get": {
                "summary": "The live planner's current plan",
                "responses": {
                    "200": json_content(_OBJECT, "the plan"),
                    "404": error_content("no plan yet"),
                },
            }
        },
    }
