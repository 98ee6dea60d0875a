"""REST routes of the OCPP 2.0.1 blocks beyond the core: registration status and password
(B), SetNetworkProfile (B), local lists (D), reservations (H), station-set charging limits
and reported profiles (K), multi-part reports (N, O)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from csms.api.responses import (
    ApiError,
    body,
    command_error,
    error,
    error_content,
    json_content,
    json_response,
)
from csms.api.responses import require as _require
from csms.api.server import csms_of, station_answer
from csms.blocks import bulk, charging_limits, reports, stations
from csms.blocks.local_list import LocalListError, TokenRef, local_list_state
from csms.blocks.message_split import TooLarge
from csms.blocks.reservation import ReservationError, ReservationNotFound
from csms.blocks.tariffs import TariffError, TariffNotFound, list_tariffs, transaction_cost
from csms.db.models import Station, StationEvent
from csms.gateway import schemas
from csms.grid.live_state import load_topology
from csms.ocpp_errors import CommandError, OcppError


async def _known(station_id: str) -> None:
    if not await Station.exists(id=station_id):
        raise ApiError(404, f"no station {station_id}")


async def patch_station(request: web.Request) -> web.Response:
    """Change a station's registration status and/or password."""
    station_id = request.match_info["id"]
    data = await body(request)
    unknown = set(data) - {"registration_status", "password"}
    if unknown or not data:
        return error(422, "send registration_status and/or password")
    await _known(station_id)
    result: dict[str, Any] = {}
    try:
        if "password" in data:
            await stations.set_password(station_id, _require(data, "password"))
        if "registration_status" in data:
            status = _require(data, "registration_status")
            result = await csms_of(request).registration.set_status(station_id, status)
    except ValueError as failure:
        return error(422, str(failure))
    except stations.NotFound as failure:
        return error(404, str(failure))
    if not result:
        result = (await stations.get_station(station_id)).to_json()
    return json_response(result)


async def post_network_profile(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    data = await body(request)
    payload = {
        "configurationSlot": _require(data, "configuration_slot", int),
        "connectionData": _require(data, "connection_data", dict),
    }
    csms = csms_of(request)
    return await station_answer(
        station_id, lambda: csms.remote_control.send(station_id, "SetNetworkProfile", payload)
    )


def _refs(data: dict[str, Any], name: str) -> list[TokenRef] | None:
    items = data.get(name)
    if items is None:
        return None
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("id_token"), str) for i in items
    ):
        raise ApiError(422, f"{name} must be a list of {{id_token, type?}}")
    return [TokenRef(i["id_token"], str(i.get("type", "ISO14443"))) for i in items]


async def post_local_list(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    data = await body(request) if request.can_read_body else {}
    update_type = data.get("update_type", "Full")
    tokens, remove = _refs(data, "tokens"), _refs(data, "remove") or []
    await _known(station_id)
    try:
        answer = await csms_of(request).local_lists.push(station_id, update_type, tokens, remove)
    except (LocalListError, TooLarge) as failure:
        return error(422, str(failure))
    except (CommandError, OcppError) as failure:
        return command_error(station_id, failure)
    return json_response(answer)


async def get_local_list(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    await _known(station_id)
    return json_response(await local_list_state(station_id))


async def post_reservation(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    data = await body(request)
    try:
        expires_at = datetime.fromisoformat(_require(data, "expires_at"))
    except ValueError as failure:
        return error(422, f"expires_at: {failure}")
    evse_id = data.get("evse_id")
    if evse_id is not None and (not isinstance(evse_id, int) or isinstance(evse_id, bool)):
        return error(422, "evse_id must be an integer")
    await _known(station_id)
    try:
        made = await csms_of(request).reservations.reserve(
            station_id,
            _require(data, "id_token"),
            str(data.get("type", "ISO14443")),
            expires_at,
            evse_id,
            data.get("connector_type"),
            data.get("group_id_token"),
        )
    except ReservationError as failure:
        return error(422, str(failure))
    except (CommandError, OcppError) as failure:
        return command_error(station_id, failure)
    return json_response(made, status=201 if made["status"] == "Accepted" else 200)


async def get_reservations(request: web.Request) -> web.Response:
    return json_response(await csms_of(request).reservations.list(request.query.get("station")))


async def post_cancel_reservation(request: web.Request) -> web.Response:
    try:
        reservation_id = int(request.match_info["id"])
    except ValueError:
        return error(404, "no such reservation")
    try:
        answer = await csms_of(request).reservations.cancel(reservation_id)
    except ReservationNotFound as failure:
        return error(404, str(failure))
    except ReservationError as failure:
        return error(409, str(failure))
    except (CommandError, OcppError) as failure:
        return command_error(str(reservation_id), failure)
    return json_response(answer)


async def get_charging_limits(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    await _known(station_id)
    everything = request.query.get("all") == "true"
    return json_response(await charging_limits.list_limits(station_id, everything))


async def get_reported_profiles(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    await _known(station_id)
    return json_response(await charging_limits.reported_profiles(station_id))


#: URL names of the multi-part reports.
REPORT_KINDS = {
    "monitoring": "NotifyMonitoringReport",
    "customer-information": "NotifyCustomerInformation",
    "display-messages": "NotifyDisplayMessages",
}


async def get_report(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    kind = REPORT_KINDS.get(request.match_info["kind"])
    if kind is None:
        return error(404, f"reports are {', '.join(REPORT_KINDS)}")
    await _known(station_id)
    raw = request.query.get("request_id")
    try:
        request_id = None if raw is None else int(raw)
    except ValueError:
        return error(422, "request_id must be an integer")
    return json_response(await reports.report(station_id, kind, request_id))


async def get_tariffs(request: web.Request) -> web.Response:
    return json_response(await list_tariffs())


async def post_tariff(request: web.Request) -> web.Response:
    try:
        made = await csms_of(request).tariffs.add(await body(request))
    except TariffError as failure:
        return error(422, str(failure))
    return json_response(made, status=201)


async def delete_tariff(request: web.Request) -> web.Response:
    try:
        await csms_of(request).tariffs.remove(request.match_info["name"])
    except TariffNotFound as failure:
        return error(404, str(failure))
    return json_response({"deleted": request.match_info["name"]})


async def get_cost(request: web.Request) -> web.Response:
    found = await transaction_cost(request.match_info["id"], request.match_info["tx"])
    if found is None:
        return error(404, "no cost: no such transaction, or no tariff applies to it")
    return json_response(found)


async def _targets(data: dict[str, Any]) -> list[str]:
    """The stations a bulk command names: a list, or every station under a grid node."""
    if "stations" in data:
        ids = data["stations"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ApiError(422, "stations must be a list of station ids")
        known = set(await Station.filter(id__in=ids).values_list("id", flat=True))
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ApiError(404, f"no stations {', '.join(unknown[:10])}")
        return list(ids)
    node = data.get("node")
    if not isinstance(node, str):
        raise ApiError(422, "name the stations (a list) or a grid node")
    loaded = await load_topology()
    if loaded is None or loaded[1].node(node) is None:
        raise ApiError(404, f"no grid node {node}")
    under = [place.id for place in loaded[1].stations_under(node)]
    provisioned = set(await Station.filter(id__in=under).values_list("id", flat=True))
    return [station_id for station_id in under if station_id in provisioned]


async def post_bulk_command(request: web.Request) -> web.Response:
    """One action to many stations; the answer holds every station's outcome."""
    action = request.match_info["action"]
    if action not in schemas.actions("v201") | schemas.actions("v21"):
        return error(404, f"unknown OCPP action {action!r}")
    data = await body(request)
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        return error(422, "payload must be an OCPP payload object")
    in_flight = data.get("max_in_flight", bulk.DEFAULT_IN_FLIGHT)
    if not isinstance(in_flight, int) or isinstance(in_flight, bool) or in_flight < 1:
        return error(422, "max_in_flight must be a positive integer")
    targets = await _targets(data)
    if len(targets) > bulk.MAX_STATIONS:
        return error(422, f"at most {bulk.MAX_STATIONS} stations per call")
    sender = csms_of(request).remote_control
    results = await bulk.send_to_many(sender, targets, action, payload, in_flight)
    return json_response({"summary": bulk.summary(results), "results": results})


async def get_firmware(request: web.Request) -> web.Response:
    """Where each station is in a firmware update: its latest FirmwareStatusNotification
    (of `request_id` when given), for following a campaign."""
    query = StationEvent.filter(kind="FirmwareStatusNotification")
    station = request.query.get("station")
    if station is not None:
        query = query.filter(station_id=station)
    raw = request.query.get("request_id")
    latest: dict[str, dict[str, Any]] = {}
    for row in await query.order_by("id"):
        if raw is not None and str(row.payload.get("requestId")) != raw:
            continue
        latest[row.station_id] = {
            "station_id": row.station_id,
            "status": row.payload.get("status"),
            "request_id": row.payload.get("requestId"),
            "at": row.timestamp.isoformat(),
        }
    found = sorted(latest.values(), key=lambda r: r["station_id"])
    counts: dict[str, int] = {}
    for item in found:
        counts[str(item["status"])] = counts.get(str(item["status"]), 0) + 1
    return json_response({"summary": counts, "stations": found})


async def post_forget_token(request: web.Request) -> web.Response:
    """Forget a customer: stations report and clear the token, the CSMS erases it."""
    data = await body(request) if request.can_read_body else {}
    token_type = data.get("type", "ISO14443")
    if not isinstance(token_type, str):
        return error(422, "type must be a string")
    if "stations" in data or "node" in data:
        targets = await _targets(data)
    else:
        targets = [
            str(i) for i in await Station.filter(connected=True).values_list("id", flat=True)
        ]
    answer = await csms_of(request).customers.forget(
        request.match_info["id_token"], token_type, targets
    )
    return json_response(answer)


async def get_profile_drift(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    await _known(station_id)
    return json_response(await charging_limits.drift(station_id))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/stations/{id}/profile-drift", get_profile_drift)
    app.router.add_post("/api/v1/tokens/{id_token}/forget", post_forget_token)
    app.router.add_post("/api/v1/commands/{action}", post_bulk_command)
    app.router.add_get("/api/v1/firmware", get_firmware)
    app.router.add_get("/api/v1/tariffs", get_tariffs)
    app.router.add_post("/api/v1/tariffs", post_tariff)
    app.router.add_delete("/api/v1/tariffs/{name}", delete_tariff)
    app.router.add_get("/api/v1/stations/{id}/transactions/{tx}/cost", get_cost)
    app.router.add_patch("/api/v1/stations/{id}", patch_station)
    app.router.add_post("/api/v1/stations/{id}/network-profile", post_network_profile)
    app.router.add_post("/api/v1/stations/{id}/local-list", post_local_list)
    app.router.add_get("/api/v1/stations/{id}/local-list", get_local_list)
    app.router.add_post("/api/v1/stations/{id}/reservations", post_reservation)
    app.router.add_get("/api/v1/reservations", get_reservations)
    app.router.add_post("/api/v1/reservations/{id}/cancel", post_cancel_reservation)
    app.router.add_get("/api/v1/stations/{id}/charging-limits", get_charging_limits)
    app.router.add_get("/api/v1/stations/{id}/reported-profiles", get_reported_profiles)
    app.router.add_get("/api/v1/stations/{id}/reports/{kind}", get_report)


_STATION = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_OBJECT: dict[str, Any] = {"type": "object"}
_TOKEN_REF = {
    "type": "object",
    "required": ["id_token"],
    "properties": {"id_token": {"type": "string"}, "type": {"type": "string"}},
}
_RESERVATION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "description": "the reservationId sent to the station"},
        "station_id": {"type": "string"},
        "evse_id": {"type": ["integer", "null"]},
        "connector_type": {"type": ["string", "null"]},
        "id_token": {"type": "string"},
        "id_token_type": {"type": "string"},
        "group_id_token": {"type": ["string", "null"]},
        "expires_at": {"type": "string", "format": "date-time"},
        "status": {
            "type": "string",
            "description": "requested, then the ReserveNow answer (Accepted, Faulted, "
            "Occupied, Rejected, Unavailable) or failed; an Accepted one ends Used, "
            "Expired, Removed or Cancelled",
        },
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): error_content("see the message") for code in codes}


def _post(summary: str, request: dict[str, Any] | None, answer: str, *codes: int) -> Any:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [_STATION],
        "responses": {"200": json_content(_OBJECT, answer), **_errors(*codes)},
    }
    if request is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": request}}}
    return operation


STATION_PATCH: dict[str, Any] = {
    "summary": "Change a station's registration status (Pending -> Accepted triggers its "
    "BootNotification when connected) and/or its basic-auth password",
    "parameters": [_STATION],
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "registration_status": {
                            "type": "string",
                            "enum": ["Accepted", "Pending", "Rejected"],
                        },
                        "password": {"type": "string", "minLength": 16, "maxLength": 40},
                    },
                }
            }
        }
    },
    "responses": {
        "200": json_content(_OBJECT, "the station, with `trigger`: the TriggerMessage answer"),
        **_errors(404, 422),
    },
}


def openapi_paths() -> dict[str, Any]:
    """These routes for the OpenAPI document."""
    command_errors = (404, 409, 422, 502, 503, 504)
    tariff = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "group_id": {"type": ["string", "null"], "description": "token group; null: default"},
            "currency": {"type": "string", "description": "ISO 4217, default EUR"},
            "energy_price": {"type": "number", "description": "per kWh imported"},
            "time_price": {"type": "number", "description": "per hour of transaction"},
            "session_fee": {"type": "number"},
            "export_credit": {"type": "number", "description": "per kWh discharged (V2G)"},
            "windows": {
                "type": "array",
                "description": "energy prices by time of day (UTC), first match wins",
                "items": {
                    "type": "object",
                    "properties": {
                        "from": {"type": "string", "pattern": "^\\d\\d:\\d\\d$"},
                        "to": {"type": "string", "pattern": "^\\d\\d:\\d\\d$"},
                        "energy_price": {"type": "number"},
                    },
                },
            },
        },
    }
    return {
        "/api/v1/tokens/{id_token}/forget": {
            "post": {
                "summary": "Forget a customer: CustomerInformation (report and clear) to "
                "the stations named (a list or a grid node; default: all connected), then "
                "the token is deleted and taken off stored transactions and reservations",
                "parameters": [
                    {
                        "name": "id_token",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "type": {"type": "string"},
                                    "stations": {"type": "array", "items": {"type": "string"}},
                                    "node": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": json_content(
                        _OBJECT, "request_id, erased (counts), summary, results per station"
                    ),
                    **_errors(404, 422),
                },
            }
        },
        "/api/v1/commands/{action}": {
            "post": {
                "summary": "Send one CSMS-to-station action to many stations (a list, or "
                "every station under a grid node), at most max_in_flight at once; e.g. a "
                "firmware campaign with UpdateFirmware",
                "parameters": [
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "stations": {"type": "array", "items": {"type": "string"}},
                                    "node": {"type": "string"},
                                    "payload": {"type": "object"},
                                    "max_in_flight": {"type": "integer", "minimum": 1},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": json_content(
                        _OBJECT,
                        "summary (outcome -> count, accepted) and results: per station "
                        "outcome (answered, not_connected, timeout, rejected, invalid, busy) "
                        "with the response or error",
                    ),
                    **_errors(404, 422),
                },
            }
        },
        "/api/v1/firmware": {
            "get": {
                "summary": "Firmware update progress: each station's latest "
                "FirmwareStatusNotification, with counts by status",
                "parameters": [
                    {"name": "station", "in": "query", "schema": {"type": "string"}},
                    {"name": "request_id", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": json_content(_OBJECT, "summary and stations")},
            }
        },
        "/api/v1/tariffs": {
            "get": {
                "summary": "Tariffs",
                "responses": {"200": json_content({"type": "array", "items": tariff}, "tariffs")},
            },
            "post": {
                "summary": "Add a tariff (its running cost goes out in TransactionEvent answers)",
                "requestBody": {"content": {"application/json": {"schema": tariff}}},
                "responses": {"201": json_content(tariff, "created"), **_errors(422)},
            },
        },
        "/api/v1/tariffs/{name}": {
            "delete": {
                "summary": "Remove a tariff (costs already computed stay)",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": json_content(_OBJECT, "deleted"), **_errors(404)},
            }
        },
        "/api/v1/stations/{id}/transactions/{tx}/cost": {
            "get": {
                "summary": "A transaction's cost: running, or final once it ended",
                "parameters": [
                    _STATION,
                    {"name": "tx", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": json_content(_OBJECT, "currency, total, parts, final"),
                    **_errors(404),
                },
            }
        },
        "/api/v1/stations/{id}/network-profile": {
            "post": _post(
                "SetNetworkProfile: store connection data in a configuration slot",
                {
                    "type": "object",
                    "required": ["configuration_slot", "connection_data"],
                    "properties": {
                        "configuration_slot": {"type": "integer"},
                        "connection_data": {
                            "type": "object",
                            "description": "NetworkConnectionProfileType (camelCase)",
                        },
                    },
                },
                "the SetNetworkProfile answer",
                *command_errors,
            )
        },
        "/api/v1/stations/{id}/local-list": {
            "post": _post(
                "Push the local authorization list (SendLocalList), split to the station's "
                "ItemsPerMessage/BytesPerMessage with versions never reused",
                {
                    "type": "object",
                    "properties": {
                        "update_type": {"type": "string", "enum": ["Full", "Differential"]},
                        "tokens": {
                            "type": "array",
                            "items": _TOKEN_REF,
                            "description": "Full: the list (absent: every known token; "
                            "empty: an empty list). Differential: tokens added or updated",
                        },
                        "remove": {
                            "type": "array",
                            "items": _TOKEN_REF,
                            "description": "Differential: tokens removed. Neither tokens "
                            "nor remove: the difference to what the station last accepted",
                        },
                    },
                },
                "status, versionNumber (the last sent) and the answer of each part",
                *command_errors,
            ),
            "get": {
                "summary": "The list the station last accepted, and its version",
                "parameters": [_STATION],
                "responses": {"200": json_content(_OBJECT, "version, issued, entries")},
            },
        },
        "/api/v1/stations/{id}/reservations": {
            "post": {
                **_post(
                    "ReserveNow an EVSE, or any EVSE of a connector type",
                    {
                        "type": "object",
                        "required": ["id_token", "expires_at"],
                        "properties": {
                            "id_token": {"type": "string"},
                            "type": {"type": "string"},
                            "expires_at": {"type": "string", "format": "date-time"},
                            "evse_id": {"type": "integer"},
                            "connector_type": {"type": "string"},
                            "group_id_token": {
                                "type": "string",
                                "description": "default: the token's group",
                            },
                        },
                    },
                    "the reservation (not accepted by the station)",
                    *command_errors,
                ),
                "responses": {
                    "201": json_content(_RESERVATION, "accepted by the station"),
                    "200": json_content(_RESERVATION, "answered otherwise (see status)"),
                    **_errors(*command_errors),
                },
            }
        },
        "/api/v1/reservations": {
            "get": {
                "summary": "Reservations, newest first (past ones marked Expired)",
                "parameters": [{"name": "station", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "200": json_content({"type": "array", "items": _RESERVATION}, "reservations")
                },
            }
        },
        "/api/v1/reservations/{id}/cancel": {
            "post": {
                "summary": "CancelReservation",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "200": json_content(_RESERVATION, "with cancel_status, the station's answer"),
                    **_errors(404, 409, 502, 503, 504),
                },
            }
        },
        "/api/v1/stations/{id}/charging-limits": {
            "get": {
                "summary": "Limits set at the station by an EMS or the grid operator "
                "(NotifyChargingLimit); the planner keeps within them until cleared",
                "parameters": [
                    _STATION,
                    {"name": "all", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {"200": json_content({"type": "array"}, "limits"), **_errors(404)},
            }
        },
        "/api/v1/stations/{id}/reported-profiles": {
            "get": {
                "summary": "The profiles of the station's latest ReportChargingProfiles",
                "parameters": [_STATION],
                "responses": {"200": json_content({"type": "array"}, "profiles"), **_errors(404)},
            }
        },
        "/api/v1/stations/{id}/profile-drift": {
            "get": {
                "summary": "Profiles the CSMS installed (accepted SetChargingProfile, not "
                "cleared) against the station's latest ReportChargingProfiles (ask with "
                "GetChargingProfiles): each missing, extra or different profile",
                "parameters": [_STATION],
                "responses": {
                    "200": json_content(_OBJECT, "request_id and drift items"),
                    **_errors(404),
                },
            }
        },
        "/api/v1/stations/{id}/reports/{kind}": {
            "get": {
                "summary": "A multi-part report: monitoring (NotifyMonitoringReport), "
                "customer-information, display-messages",
                "parameters": [
                    _STATION,
                    {
                        "name": "kind",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(REPORT_KINDS)},
                    },
                    {"name": "request_id", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {
                    "200": json_content(_OBJECT, "request_id, complete, parts"),
                    **_errors(404, 422),
                },
            }
        },
    }
