"""The OpenAPI 3 document of the REST API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from csms.api.responses import error_content, json_content


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        401: "missing or wrong bearer token",
        404: "not found",
        409: "conflict",
        422: "invalid input; the message says which field",
        502: "the station answered with a CALLERROR",
        503: "too many commands already wait for this station",
        504: "the station did not answer in time",
    }
    return {str(code): error_content(reasons[code]) for code in codes}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _string(nullable: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", **extra}


_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": _string()}, "required": ["error"]},
    "NewStation": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": _string(pattern=r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$"),
            "password": _string(
                minLength=16,
                maxLength=40,
                description="required below profile 3; refused when too guessable for its "
                "hash cost (README, Station passwords)",
            ),
            "node": _string(),
            "registration_status": _string(enum=["Accepted", "Pending", "Rejected"]),
            "security_profile": {
                "type": "integer",
                "enum": [1, 2, 3],
                "description": "1 basic auth (ws), 2 basic auth over TLS, 3 client "
                "certificate whose CN is the station id; lower profiles are refused",
            },
        },
    },
    "Station": {
        "type": "object",
        "properties": {
            "id": _string(),
            "node": _string(True),
            "registration_status": _string(),
            "connected": {"type": "boolean"},
            "last_seen": _string(True, format="date-time"),
            "vendor_name": _string(True),
            "model": _string(True),
            "firmware_version": _string(True),
            "protocol": _string(True),
            "status": _string(
                True,
                description="the station's own status: its StatusNotification for EVSE 0 "
                "(connector 0), never listed among the connectors",
            ),
            "status_at": _string(True, format="date-time"),
            "security_profile": {"type": "integer"},
            "pending_profile": {"type": ["integer", "null"]},
            "owner_node": {
                **_string(True),
                "description": "CSMS process holding the station's socket (list only)",
            },
            "connectors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "evse_id": {"type": "integer"},
                        "connector_id": {"type": "integer"},
                        "status": _string(),
                        "status_at": _string(format="date-time"),
                    },
                },
            },
            "control": {
                "type": "array",
                "description": "per EVSE, whether the CSMS controls its power: `managed`, "
                "or `unmanaged: <reason> since <t>` (planned as a fixed load); only in "
                "GET /api/v1/stations/{id}",
                "items": {
                    "type": "object",
                    "properties": {"evse_id": {"type": "integer"}, "status": _string()},
                },
            },
        },
    },
    "BulkResult": {
        "type": "object",
        "required": ["created", "results"],
        "properties": {
            "created": {"type": "integer"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {
                        "id": _string(),
                        "status": {
                            "type": "integer",
                            "enum": [201, 409, 422],
                            "description": "201 created, 409 exists or repeats an item, "
                            "422 invalid",
                        },
                        "error": _string(True),
                    },
                },
            },
        },
    },
    "Token": {
        "type": "object",
        "required": ["id_token"],
        "properties": {
            "id_token": _string(maxLength=36),
            "type": _string(),
            "status": _string(enum=["Accepted", "Blocked", "Expired", "Invalid"]),
            "expires_at": _string(True, format="date-time"),
            "group_id": _string(True),
            "priority": {
                "type": "integer",
                "minimum": 0,
                "maximum": 9,
                "description": "planning priority of its sessions (higher first when short)",
            },
        },
    },
    "Transaction": {
        "type": "object",
        "properties": {
            "transaction_id": _string(),
            "station_id": _string(),
            "evse_id": {"type": ["integer", "null"]},
            "connector_id": {"type": ["integer", "null"]},
            "id_token": _string(True),
            "started_at": _string(True, format="date-time"),
            "ended_at": _string(True, format="date-time"),
            "energy_wh": {"type": "number"},
            "discharged_wh": {"type": "number"},
            "state": _string(enum=["active", "ended"]),
            "charging_state": _string(True),
            "stopped_reason": _string(True),
            "remote_start_id": {"type": ["integer", "null"]},
            "seq_gaps": {"type": "array", "items": {"type": "integer"}},
            "data_quality": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "data stored but left out of the energy: flag -> how many "
                "events or readings (event_after_ended, timestamp_implausible, "
                "timestamp_outside_transaction, negative_register, decreasing_register, "
                "impossible_jump, superseded); empty when all data counted",
            },
        },
    },
    "OcppPayload": {
        "type": "object",
        "description": "An OCPP payload in wire form (camelCase), as the action's schema says",
    },
}


def _command_actions() -> list[str]:
    from csms.gateway import schemas

    return sorted(schemas.actions("v201") | schemas.actions("v21"))


_STATION_ID = {"name": "id", "in": "path", "required": True, "schema": _string()}


def openapi_document() -> dict[str, Any]:
    # Each route module imports the server, which imports this module.
    from csms.api.alert_routes import openapi_paths as alert_paths
    from csms.api.block_routes import STATION_PATCH
    from csms.api.block_routes import openapi_paths as block_paths
    from csms.api.console_routes import openapi_paths as console_paths
    from csms.api.grid_routes import openapi_paths as grid_paths
    from csms.api.security_routes import openapi_paths as security_paths
    from csms.api.swap_routes import openapi_paths as swap_paths

    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "CSMS REST API", "version": "1"},
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            **grid_paths(),
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": json_content({"type": "object"}, "OpenAPI 3 document")},
                }
            },
            "/api/v1/stations": {
                "get": {
                    "summary": "List stations",
                    "responses": {
                        "200": json_content(_array("Station"), "stations"),
                        **_errors(401),
                    },
                },
                "post": {
                    "summary": "Provision a station with its basic-auth password, or many",
                    "description": (
                        "An object provisions one station (201, 409, 422). A list provisions "
                        "many in one database transaction (up to the 1 MiB body limit, about "
                        "5,000): the answer is 200 with one result per item, in order; the "
                        "valid items are created, the others are reported and skipped."
                    ),
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"oneOf": [_ref("NewStation"), _array("NewStation")]}
                            }
                        }
                    },
                    "responses": {
                        "200": json_content(_ref("BulkResult"), "a list was processed"),
                        "201": json_content(_ref("Station"), "created"),
                        **_errors(401, 409, 422),
                    },
                },
            },
            "/api/v1/stations/{id}": {
                "get": {
                    "summary": "One station with its connectors' live status",
                    "parameters": [_STATION_ID],
                    "responses": {
                        "200": json_content(_ref("Station"), "the station"),
                        **_errors(401, 404),
                    },
                }
            },
            "/api/v1/stations/{id}/commands/{action}": {
                "post": {
                    "summary": "Send any CSMS-to-station OCPP action; returns the station's answer",
                    "description": (
                        "The action and payload of the station's OCPP version; a 1.6 "
                        "station also takes the 2.0.1 commands the CSMS translates "
                        "(README, Connecting a 1.6 charger)."
                    ),
                    "parameters": [
                        _STATION_ID,
                        {
                            "name": "action",
                            "in": "path",
                            "required": True,
                            "description": "any CSMS-to-station action of OCPP 2.0.1 or 2.1",
                            "schema": _string(enum=_command_actions()),
                        },
                    ],
                    "requestBody": {
                        "content": {"application/json": {"schema": _ref("OcppPayload")}}
                    },
                    "responses": {
                        "200": json_content(_ref("OcppPayload"), "the CALLRESULT payload"),
                        **_errors(401, 404, 409, 422, 502, 503, 504),
                    },
                }
            },
            "/api/v1/stations/{id}/variables": {
                "get": {
                    "summary": "The station's reported device model (from NotifyReport)",
                    "parameters": [
                        _STATION_ID,
                        {"name": "component", "in": "query", "schema": _string()},
                        {"name": "variable", "in": "query", "schema": _string()},
                    ],
                    "responses": {
                        "200": json_content({"type": "array"}, "variables"),
                        **_errors(401),
                    },
                }
            },
            "/api/v1/tokens": {
                "get": {
                    "summary": "List id tokens",
                    "responses": {"200": json_content(_array("Token"), "tokens"), **_errors(401)},
                },
                "post": {
                    "summary": "Add an id token",
                    "requestBody": {"content": {"application/json": {"schema": _ref("Token")}}},
                    "responses": {
                        "201": json_content(_ref("Token"), "created"),
                        **_errors(401, 409, 422),
                    },
                },
            },
            "/api/v1/tokens/{id_token}": {
                "patch": {
                    "summary": "Change a token's status (e.g. block it)",
                    "parameters": [
                        {"name": "id_token", "in": "path", "required": True, "schema": _string()}
                    ],
                    "requestBody": {"content": {"application/json": {"schema": _ref("Token")}}},
                    "responses": {
                        "200": json_content(_ref("Token"), "updated"),
                        **_errors(401, 404, 422),
                    },
                }
            },
            "/api/v1/transactions": {
                "get": {
                    "summary": "Transactions, newest first",
                    "parameters": [{"name": "station", "in": "query", "schema": _string()}],
                    "responses": {
                        "200": json_content(_array("Transaction"), "transactions"),
                        **_errors(401),
                    },
                }
            },
        },
    }
    document["paths"].update(swap_paths())
    document["paths"].update(alert_paths())
    document["paths"].update(block_paths())
    document["paths"]["/api/v1/stations/{id}"]["patch"] = STATION_PATCH
    document["paths"].update(security_paths())
    document["paths"].update(console_paths())
    return document
