"""REST API: JSON with snake_case fields under /api/v1; OCPP payloads stay camelCase."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from csms.api.openapi import openapi_document
from csms.api.responses import body, command_error, error, json_body, json_response
from csms.api.responses import require as _require
from csms.blocks import authorization, message_split, stations
from csms.blocks.transactions import list_transactions, transaction_json
from csms.db.models import Station
from csms.gateway import schemas
from csms.grid.live_state import control_statuses
from csms.ocpp_errors import CommandError, OcppError

if TYPE_CHECKING:
    from csms.analytics.service import SafetyAnalytics
    from csms.blocks.base import Clock
    from csms.blocks.certificates import Certificates
    from csms.blocks.customer import Customers
    from csms.blocks.device_model import DeviceModel
    from csms.blocks.diagnostics import Diagnostics
    from csms.blocks.local_list import LocalLists
    from csms.blocks.registration import Registration
    from csms.blocks.remote_control import RemoteControl
    from csms.blocks.reservation import Reservations
    from csms.blocks.security import Security
    from csms.blocks.tariffs import Tariffs
    from csms.config import Settings
    from csms.db.writer import DurableWriter
    from csms.grid.planner import LivePlanner
    from swap_orchestrator.live import SwapService


class Services(Protocol):
    """What the API uses of the central system (the composition root provides it)."""

    settings: Settings
    clock: Clock
    writer: DurableWriter
    remote_control: RemoteControl
    security: Security
    certificates: Certificates
    device_model: DeviceModel
    diagnostics: Diagnostics
    safety: SafetyAnalytics
    planner: LivePlanner
    swap: SwapService
    registration: Registration
    local_lists: LocalLists
    reservations: Reservations
    tariffs: Tariffs
    customers: Customers

    async def owner_nodes(self) -> dict[str, str]:
        """Station id -> the CSMS process (node) holding its socket."""
        ...

    async def readiness(self) -> dict[str, str | None]:
        """Dependency -> None when it answers, else what is wrong."""
        ...

    def node_status(self) -> dict[str, str | int | bool]:
        """This process: node_id, connected_stations, planner_leader, relayed_commands."""
        ...


CSMS_KEY: web.AppKey[Services] = web.AppKey("csms")
#: Largest request body the API reads (bytes).
MAX_BODY_BYTES = 1 << 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Set on a request by an outer middleware that authenticated it another way (a console session).
AUTHENTICATED: web.RequestKey[bool] = web.RequestKey("authenticated", bool)


_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: Load balancers' health checks and Prometheus (see ops_routes): no token, no data.
OPS_PATHS = ("/health", "/ready", "/metrics")


def _guard_middleware(token: str | None) -> Any:
    """With a token, a request needs it as a bearer token (or a console session, which the
    console's middleware checked before); without one (loopback only) refuse what a web page
    in the operator's browser could send: a foreign Host (DNS rebinding) or a non-JSON body
    (a cross-site form post needs no preflight)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPS_PATHS and request.method == "GET":
            return await handler(request)  # health checks and scrapes carry no token
        if token is None:
            if urlsplit(f"//{request.host}").hostname not in _LOOPBACK_HOSTS:
                return error(403, f"host {request.host!r} refused: the API answers on loopback")
        elif not request.get(AUTHENTICATED):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "missing or wrong bearer token")
        sends_body = request.method in ("POST", "PATCH", "PUT") and request.can_read_body
        if sends_body and request.content_type != "application/json":
            return error(415, "send the body as Content-Type: application/json")
        return await handler(request)

    return check


def csms_of(request: web.Request) -> Services:
    return request.app[CSMS_KEY]


async def get_openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


async def get_stations(request: web.Request) -> web.Response:
    owners = await csms_of(request).owner_nodes()
    return json_response(
        [s.to_json() | {"owner_node": owners.get(s.id)} for s in await stations.list_stations()]
    )


async def post_station(request: web.Request) -> web.Response:
    data = await json_body(request)
    if isinstance(data, list):
        return await _post_stations(data)
    if not isinstance(data, dict):
        return error(422, "body must be a JSON object or a list of them")
    node = data.get("node")
    if node is not None and not isinstance(node, str):
        return error(422, "field 'node' must be a string")
    profile = data.get("security_profile", 1)
    if not isinstance(profile, int) or isinstance(profile, bool):
        return error(422, "field 'security_profile' must be 1, 2 or 3")
    password = data.get("password")
    if password is not None and not isinstance(password, str):
        return error(422, "field 'password' must be a string")
    try:
        view = await stations.add_station(
            _require(data, "id"),
            password if profile == 3 else _require(data, "password"),
            node,
            data.get("registration_status", "Accepted"),
            profile,
        )
    except ValueError as failure:
        return error(422, str(failure))
    except stations.AlreadyExists as failure:
        return error(409, str(failure))
    return json_response(view.to_json(), status=201)


async def _post_stations(items: list[Any]) -> web.Response:
    """Bulk provisioning: one result per item, in order; the valid items are created."""
    wanted: list[stations.NewStation] = []
    malformed: dict[int, stations.ImportResult] = {}
    for index, item in enumerate(items):
        fields = item if isinstance(item, dict) else {}
        station_id, password = fields.get("id"), fields.get("password")
        node, status = fields.get("node"), fields.get("registration_status", "Accepted")
        profile = fields.get("security_profile", 1)
        if not (
            isinstance(station_id, str)
            and isinstance(password, str)
            and isinstance(node, str | None)
            and isinstance(status, str)
            and isinstance(profile, int)
        ):
            malformed[index] = stations.ImportResult(
                str(fields.get("id", "")),
                422,
                "an item is an object with strings id, password, node?, registration_status? "
                "and an integer security_profile?",
            )
            continue
        wanted.append(stations.NewStation(station_id, password, node, status, profile))
    created = iter(await stations.add_stations(wanted))
    results = [malformed.get(i) or next(created) for i in range(len(items))]
    return json_response(
        {
            "created": sum(r.status == 201 for r in results),
            "results": [r.to_json() for r in results],
        }
    )


async def get_station(request: web.Request) -> web.Response:
    try:
        view = await stations.get_station(request.match_info["id"])
    except stations.NotFound as failure:
        return error(404, str(failure))
    statuses = await control_statuses()
    evses = {int(c["evse_id"]) for c in view.connectors if c["evse_id"]}
    evses |= {evse for station, evse in statuses if station == view.id}
    control = [
        {"evse_id": evse, "status": statuses.get((view.id, evse), "managed")}
        for evse in sorted(evses)
    ]
    return json_response(view.to_json() | {"control": control})


async def get_tokens(request: web.Request) -> web.Response:
    return json_response(await authorization.list_tokens())


async def post_token(request: web.Request) -> web.Response:
    data = await body(request)
    expires = data.get("expires_at")
    priority = data.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        return error(422, "field 'priority' must be an integer")
    try:
        token = await authorization.add_token(
            _require(data, "id_token"),
            data.get("type", "ISO14443"),
            data.get("status", "Accepted"),
            datetime.fromisoformat(expires) if isinstance(expires, str) else None,
            data.get("group_id"),
            priority,
        )
    except ValueError as failure:
        return error(422, str(failure))
    except authorization.TokenExists as failure:
        return error(409, str(failure))
    return json_response(token, status=201)


async def patch_token(request: web.Request) -> web.Response:
    data = await body(request)
    try:
        await authorization.set_token_status(
            request.match_info["id_token"], _require(data, "status"), data.get("type")
        )
    except ValueError as failure:
        return error(422, str(failure))
    except authorization.TokenNotFound as failure:
        return error(404, str(failure))
    return json_response({"id_token": request.match_info["id_token"], "status": data["status"]})


async def get_transactions(request: web.Request) -> web.Response:
    rows = await list_transactions(request.query.get("station"))
    # Strict: these numbers come from the field, and a NaN would make the answer unreadable.
    return json_response([transaction_json(row) for row in rows])


async def post_command(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    action = request.match_info["action"]
    if action not in schemas.actions("v16") | schemas.actions("v201") | schemas.actions("v21"):
        return error(404, f"unknown OCPP action {action!r}")
    payload = await body(request)
    csms = csms_of(request)
    if action in SPLIT_ACTIONS:
        # Split to the station's ItemsPerMessage/BytesPerMessage (B06.FR.05).
        try:
            return await station_answer(
                station_id,
                lambda: message_split.send_split(csms.remote_control, station_id, action, payload),
            )
        except message_split.TooLarge as failure:
            return error(422, str(failure))
    return await station_answer(
        station_id, lambda: csms.remote_control.send(station_id, action, payload)
    )


#: Commands sent in as many parts as the station takes (answers joined).
SPLIT_ACTIONS = frozenset({"GetVariables", "SetVariables"})


async def station_answer(
    station_id: str, command: Callable[[], Awaitable[dict[str, Any]]]
) -> web.Response:
    """Run a command to a station; its answer, or the failure as an HTTP status."""
    if not await Station.exists(id=station_id):
        return error(404, f"no station {station_id}")
    try:
        response = await command()
    except (CommandError, OcppError) as failure:
        return command_error(station_id, failure)
    return json_response(response)


async def get_variables(request: web.Request) -> web.Response:
    rows = await csms_of(request).device_model.variables(
        request.match_info["id"], request.query.get("component"), request.query.get("variable")
    )
    return json_response(rows)


def build_app(csms: Services) -> web.Application:
    app = web.Application(
        middlewares=[_guard_middleware(csms.settings.api_token)], client_max_size=MAX_BODY_BYTES
    )
    app[CSMS_KEY] = csms
    app.router.add_get("/api/v1/openapi.json", get_openapi)
    app.router.add_get("/api/v1/stations", get_stations)
    app.router.add_post("/api/v1/stations", post_station)
    app.router.add_get("/api/v1/stations/{id}", get_station)
    app.router.add_post("/api/v1/stations/{id}/commands/{action}", post_command)
    app.router.add_get("/api/v1/stations/{id}/variables", get_variables)
    app.router.add_get("/api/v1/tokens", get_tokens)
    app.router.add_post("/api/v1/tokens", post_token)
    app.router.add_patch("/api/v1/tokens/{id_token}", patch_token)
    app.router.add_get("/api/v1/transactions", get_transactions)
    from csms.api import grid_routes  # imports this module: registered last

    grid_routes.add_routes(app)

    from csms.api import swap_routes  # imports this module too

    swap_routes.add_routes(app)
    from csms.api import alert_routes, block_routes, ops_routes, security_routes

    alert_routes.add_routes(app)
    block_routes.add_routes(app)
    security_routes.add_routes(app)
    ops_routes.add_routes(app)
    from csms.api import console_routes
    from csms.web import console

    console_routes.add_routes(app)
    console.install(app)
    return app


async def start_api(csms: Services) -> web.AppRunner:
    runner = web.AppRunner(build_app(csms), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, csms.settings.api_host, csms.settings.api_port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("the API is not listening")


async def stop_api(runner: web.AppRunner) -> None:
    await runner.cleanup()
