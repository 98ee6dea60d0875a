"""REST API of the swap orchestrator: swap stations, vehicles asking for and doing a swap,
and perception reports from external roadside units (`/api/v1/swap/...`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from csms.api.responses import body, error, error_content, json_content, json_response
from csms.api.server import csms_of
from swap_orchestrator.live import SwapError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _mapped(handler: Handler) -> Handler:
    """Map the service's `SwapError` to its HTTP status."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except SwapError as failure:
            return error(failure.status, str(failure))

    return run


async def post_station(request: web.Request) -> web.Response:
    station = await csms_of(request).swap.register(await body(request))
    return json_response(csms_of(request).swap.view(station.spec.id), status=201)


async def put_station(request: web.Request) -> web.Response:
    swap = csms_of(request).swap
    station, created = await swap.put_station(request.match_info["id"], await body(request))
    return json_response(swap.view(station.spec.id), status=201 if created else 200)


async def get_station(request: web.Request) -> web.Response:
    return json_response(csms_of(request).swap.view(request.match_info["id"]))


async def get_events(request: web.Request) -> web.Response:
    swap = csms_of(request).swap
    return json_response(swap.report(request.match_info["id"], swap.now()))


async def post_vehicle(request: web.Request) -> web.Response:
    swap = csms_of(request).swap
    instruction = await swap.request_swap(request.match_info["id"], await body(request))
    return json_response(instruction.json(), status=201)


async def get_instruction(request: web.Request) -> web.Response:
    swap = csms_of(request).swap
    vehicle = request.match_info["vehicle"]
    try:
        after = int(request.query.get("after", "-1"))
        wait_s = float(request.query.get("wait", "0"))
    except ValueError:
        return error(422, "after must be an integer and wait a number")
    return json_response((await swap.next_instruction(vehicle, after, wait_s)).json())


async def post_position(request: web.Request) -> web.Response:
    data = await body(request)
    position = data.get("position")
    if not isinstance(position, str):
        return error(422, "field 'position' is required (str)")
    instruction = await csms_of(request).swap.vehicle_position(
        request.match_info["vehicle"], position
    )
    return json_response(instruction.json())


async def delete_vehicle(request: web.Request) -> web.Response:
    instruction = await csms_of(request).swap.cancel(request.match_info["vehicle"])
    return json_response(instruction.json())


async def post_grid_request(request: web.Request) -> web.Response:
    swap = csms_of(request).swap
    taken = await swap.grid_request(request.match_info["id"], await body(request))
    return json_response(taken, status=201)


async def post_perception(request: web.Request) -> web.Response:
    data = await body(request)
    station = data.get("station")
    if not isinstance(station, str):
        return error(422, "field 'station' is required (str)")
    taken = await csms_of(request).swap.perceive(station, data.get("reports"))
    return json_response({"accepted": taken})


def add_routes(app: web.Application) -> None:
    add = app.router
    add.add_post("/api/v1/swap/stations", _mapped(post_station))
    add.add_get("/api/v1/swap/stations/{id}", _mapped(get_station))
    add.add_put("/api/v1/swap/stations/{id}", _mapped(put_station))
    add.add_get("/api/v1/swap/stations/{id}/events", _mapped(get_events))
    add.add_post("/api/v1/swap/stations/{id}/vehicles", _mapped(post_vehicle))
    add.add_get("/api/v1/swap/vehicles/{vehicle}", _mapped(get_instruction))
    add.add_delete("/api/v1/swap/vehicles/{vehicle}", _mapped(delete_vehicle))
    add.add_post("/api/v1/swap/vehicles/{vehicle}/position", _mapped(post_position))
    add.add_post("/api/v1/swap/stations/{id}/grid-requests", _mapped(post_grid_request))
    add.add_post("/api/v1/swap/perception", _mapped(post_perception))


# ---- OpenAPI --------------------------------------------------------------------------------


_ERROR = error_content("error; the message says why")
_ERRORS = {"401": _ERROR, "404": _ERROR, "409": _ERROR, "422": _ERROR}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_INSTRUCTION = {
    "type": "object",
    "description": "What the vehicle does now. prepare: get ready to drive to `bay` (answer "
    "with position ready); drive_to_bay; hold: stop where you are; realign: re-position "
    "in the bay; leave: drive out (answer with position left); refused (`reason`); done.",
    "properties": {
        "seq": {"type": "integer"},
        "action": {
            "enum": [
                "wait",
                "prepare",
                "drive_to_bay",
                "hold",
                "realign",
                "leave",
                "refused",
                "done",
            ]
        },
        "bay": {"type": ["integer", "null"]},
        "reason": {"type": ["string", "null"]},
    },
}
_BATTERY = {
    "type": "object",
    "required": ["serial", "type", "capacity_wh", "soc", "soh"],
    "properties": {"serial": _STR, "type": _STR, "capacity_wh": _NUM, "soc": _NUM, "soh": _NUM},
}
_REPORT = {
    "type": "object",
    "required": ["id", "vehicle", "stage", "observed_at"],
    "properties": {
        "id": _STR,
        "vehicle": _STR,
        "stage": {"enum": ["approach", "bay", "underbody"]},
        "observed_at": {"type": "string", "format": "date-time"},
        "path_clear": {"type": "boolean"},
        "lateral_offset_mm": _NUM,
        "yaw_deg": _NUM,
        "casing_damage": _NUM,
        "thermal_anomaly": {"type": "boolean"},
    },
}
_VIEW = {
    "type": "object",
    "description": "bays (number, state, vehicle), queue in service order, vehicles past "
    "the queue (phase, held reason), rack (serial, type, soc, soh, power_w, reserved_for), "
    "grid_w, swaps",
}
_VEHICLE = {"name": "vehicle", "in": "path", "required": True, "schema": _STR}
_STATION = {"name": "id", "in": "path", "required": True, "schema": _STR}


def openapi_paths() -> dict[str, Any]:
    """The swap paths of the OpenAPI document."""
    return {
        "/api/v1/swap/stations": {
            "post": {
                "summary": "Register a swap station (a `stations[]` entry of the swap "
                "scenario format: bays, battery types, rack, grid limit, prices)",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"201": json_content(_VIEW, "the station's view"), **_ERRORS},
            }
        },
        "/api/v1/swap/stations/{id}": {
            "get": {
                "summary": "Bays, queue and rack of a swap station, now",
                "parameters": [_STATION],
                "responses": {"200": json_content(_VIEW, "the station's view"), **_ERRORS},
            },
            "put": {
                "summary": "Create or replace a swap station's registration (stored, restored "
                "at start); 409 while vehicles are in service there",
                "parameters": [_STATION],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": json_content(_VIEW, "updated: the station's view"),
                    "201": json_content(_VIEW, "created: the station's view"),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/swap/stations/{id}/events": {
            "get": {
                "summary": "The station's event log and power log (swap report fields "
                "events, grid_w, grid_peak_w, energy_kwh)",
                "parameters": [_STATION],
                "responses": {"200": json_content({"type": "object"}, "event log"), **_ERRORS},
            }
        },
        "/api/v1/swap/stations/{id}/grid-requests": {
            "post": {
                "summary": "The grid asks the station to keep its net power (racks and "
                "auxiliaries) at or below max_net_w from `from` to `to`; negative: the racks "
                "feed back (up to rack_discharge_w per slot, given at registration)",
                "parameters": [_STATION],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["from", "to", "max_net_w"],
                                "properties": {
                                    "from": {"type": "string", "format": "date-time"},
                                    "to": {"type": "string", "format": "date-time"},
                                    "max_net_w": _NUM,
                                },
                            }
                        }
                    }
                },
                "responses": {"201": json_content({"type": "object"}, "request taken"), **_ERRORS},
            }
        },
        "/api/v1/swap/stations/{id}/vehicles": {
            "post": {
                "summary": "A vehicle asks for a swap at this station",
                "parameters": [_STATION],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["vehicle", "battery"],
                                "properties": {
                                    "vehicle": _STR,
                                    "priority": {"enum": ["normal", "fleet", "emergency"]},
                                    "autonomous": {"type": "boolean"},
                                    "battery": _BATTERY,
                                },
                            }
                        }
                    }
                },
                "responses": {"201": json_content(_INSTRUCTION, "first instruction"), **_ERRORS},
            }
        },
        "/api/v1/swap/vehicles/{vehicle}": {
            "get": {
                "summary": "The vehicle's current instruction; with `after` and `wait`, "
                "waits (long poll, at most 30 s) for one newer than `after`",
                "parameters": [
                    _VEHICLE,
                    {"name": "after", "in": "query", "schema": {"type": "integer"}},
                    {"name": "wait", "in": "query", "schema": _NUM},
                ],
                "responses": {"200": json_content(_INSTRUCTION, "instruction"), **_ERRORS},
            },
            "delete": {
                "summary": "Cancel the swap request (only before the vehicle moves)",
                "parameters": [_VEHICLE],
                "responses": {"200": json_content(_INSTRUCTION, "instruction"), **_ERRORS},
            },
        },
        "/api/v1/swap/vehicles/{vehicle}/position": {
            "post": {
                "summary": "The vehicle reports where it is: ready (answering prepare), "
                "in_bay, realigned, left",
                "parameters": [_VEHICLE],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["position"],
                                "properties": {
                                    "position": {"enum": ["ready", "in_bay", "realigned", "left"]}
                                },
                            }
                        }
                    }
                },
                "responses": {"200": json_content(_INSTRUCTION, "next instruction"), **_ERRORS},
            }
        },
        "/api/v1/swap/perception": {
            "post": {
                "summary": "Perception reports from an external roadside unit",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["station", "reports"],
                                "properties": {
                                    "station": _STR,
                                    "reports": {"type": "array", "items": _REPORT},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": json_content(
                        {"type": "object", "properties": {"accepted": {"type": "integer"}}},
                        "reports taken (those on vehicles visiting the station)",
                    ),
                    **_ERRORS,
                },
            }
        },
    }
