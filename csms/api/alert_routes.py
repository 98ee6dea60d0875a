"""REST routes of the safety alerts: list with filters, acknowledge, close."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from csms.analytics import alerts
from csms.analytics.findings import AlertKind, Severity
from csms.api.responses import ApiError, error, json_response
from csms.api.server import csms_of


def _filter(request: web.Request) -> alerts.AlertFilter:
    query = request.query
    try:
        kind = AlertKind(query["kind"]) if "kind" in query else None
        severity = Severity(query["severity"]) if "severity" in query else None
    except ValueError as failure:
        raise web.HTTPUnprocessableEntity(
            text=f'{{"error": "{failure}"}}', content_type="application/json"
        ) from failure
    state = query.get("open")
    if state not in (None, "true", "false"):
        raise web.HTTPUnprocessableEntity(
            text='{"error": "open must be true or false"}', content_type="application/json"
        )
    return alerts.AlertFilter(
        query.get("station"), kind, severity, None if state is None else state == "true"
    )


async def get_alerts(request: web.Request) -> web.Response:
    rows = await alerts.list_alerts(_filter(request))
    return json_response([alerts.alert_json(row) for row in rows])


def _alert_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as failure:
        raise ApiError(404, "no such alert") from failure


async def post_acknowledge(request: web.Request) -> web.Response:
    now = csms_of(request).clock()
    try:
        row = await alerts.acknowledge(_alert_id(request), now)
    except alerts.AlertNotFound as failure:
        return error(404, str(failure))
    except alerts.AlertClosed as failure:
        return error(409, str(failure))
    return json_response(alerts.alert_json(row))


async def post_close(request: web.Request) -> web.Response:
    csms = csms_of(request)
    try:
        row = await alerts.close(_alert_id(request), csms.clock())
    except alerts.AlertNotFound as failure:
        return error(404, str(failure))
    except alerts.AlertClosed as failure:
        return error(409, str(failure))
    csms.safety.closed(row)
    return json_response(alerts.alert_json(row))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/alerts", get_alerts)
    app.router.add_post("/api/v1/alerts/{id}/acknowledge", post_acknowledge)
    app.router.add_post("/api/v1/alerts/{id}/close", post_close)


_ALERT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "station_id": {"type": "string"},
        "evse_id": {"type": "integer", "description": "0: the station as a whole"},
        "transaction_id": {"type": "string", "nullable": True},
        "kind": {"type": "string", "enum": [k.value for k in AlertKind]},
        "severity": {"type": "string", "enum": [s.value for s in Severity]},
        "reason": {"type": "string", "description": "why the detector fired, in words"},
        "threshold": {"type": "number"},
        "score": {"type": "number"},
        "readings": {"type": "object", "additionalProperties": {"type": "number"}},
        "action": {"type": "string", "enum": ["alert", "derate", "stop"]},
        "derate_w": {"type": "number", "nullable": True},
        "status": {"type": "string", "enum": ["open", "acknowledged", "closed"]},
        "raised_at": {"type": "string", "format": "date-time"},
        "acknowledged_at": {"type": "string", "format": "date-time", "nullable": True},
        "closed_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_paths() -> dict[str, Any]:
    """The alert routes for the OpenAPI document."""

    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "schema": schema, "description": description}

    transition = {
        "parameters": [_ID],
        "responses": {
            "200": _json(_ALERT, "the alert"),
            "404": _json(_ERROR, "no such alert"),
            "409": _json(_ERROR, "the alert is closed"),
        },
    }
    return {
        "/api/v1/alerts": {
            "get": {
                "summary": "Safety alerts, newest first (at most 1000)",
                "parameters": [
                    query("station", {"type": "string"}, "only this station"),
                    query("kind", _ALERT["properties"]["kind"], "only this kind"),
                    query("severity", _ALERT["properties"]["severity"], "only this severity"),
                    query("open", {"type": "boolean"}, "true: open or acknowledged; false: closed"),
                ],
                "responses": {
                    "200": _json({"type": "array", "items": _ALERT}, "alerts"),
                    "422": _json(_ERROR, "unknown kind or severity"),
                },
            }
        },
        "/api/v1/alerts/{id}/acknowledge": {
            "post": {"summary": "Acknowledge an alert (a derate stays in force)", **transition}
        },
        "/api/v1/alerts/{id}/close": {
            "post": {
                "summary": "Close an alert: its derate lifts, its detector may raise it again",
                **transition,
            }
        },
    }
