"""The API's JSON conventions in one place: the error body and its HTTP status, the request
body checks, service errors mapped to statuses, and OpenAPI response objects."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from csms import strict_json
from csms.ocpp_errors import (
    CommandError,
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    OcppError,
    StationNotConnected,
)

#: The OpenAPI schema of every error body: `{"error": "what went wrong"}`.
ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer in strict JSON: a NaN or infinity raises here instead of reaching a
    client as a token no JSON parser accepts."""
    return web.json_response(data, status=status, dumps=strict_json.dumps)


def error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


class ApiError(web.HTTPException):
    """Raised where returning is awkward (helpers, validation): answers like `error()`."""

    def __init__(self, status: int, message: str) -> None:
        self.status_code = status
        super().__init__(text=json.dumps({"error": message}), content_type="application/json")


async def json_body(request: web.Request) -> Any:
    """The request's JSON value (400 when not strict JSON of a sane depth)."""
    try:
        return strict_json.loads(await request.read())
    except strict_json.JsonRejected as failure:
        raise ApiError(400, f"body refused: {failure}") from failure


async def body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (400 when not strict JSON of a sane depth, 422 when not an
    object)."""
    data = await json_body(request)
    if not isinstance(data, dict):
        raise ApiError(422, "body must be a JSON object")
    return data


def require(data: dict[str, Any], name: str, kind: type = str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise ApiError(422, f"field {name!r} is required ({kind.__name__})")
    return value


def command_error(station_id: str, failure: CommandError | OcppError) -> web.Response:
    """A failed command to a station as its HTTP status."""
    if isinstance(failure, StationNotConnected):
        return error(409, f"station {station_id} is not connected")
    if isinstance(failure, OcppError):
        return error(422, f"{failure.code}: {failure.description}")
    if isinstance(failure, CommandTimeout):
        return error(504, str(failure))
    if isinstance(failure, CommandQueueFull):
        return error(503, str(failure))
    if isinstance(failure, CommandRejected):
        return error(502, f"station answered CALLERROR {failure}")
    return error(502, str(failure))


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An OpenAPI response object with a JSON body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_content(description: str) -> dict[str, Any]:
    return json_content(ERROR_SCHEMA, description)
