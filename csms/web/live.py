"""The console's live feed: server-sent events, one topic per page, each a JSON snapshot
sent when it changed (the page re-renders from it; nothing reloads the page)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms import strict_json
from csms.api import console_routes
from csms.api.server import csms_of
from csms.blocks import stations
from csms.blocks.transactions import list_transactions, transaction_json

if TYPE_CHECKING:
    from csms.api.server import Services


#: Seconds between two looks at a topic's data; each open page costs one set of queries
#: per interval (operators are few; thousands of stations stay one page of rows).
INTERVAL_S = 1.0
#: Seconds without a change after which a comment line keeps proxies from closing the stream.
KEEPALIVE_S = 15.0
#: Sessions the sessions page lists (newest first).
SESSION_ROWS = 200

Params = dict[str, str]
Topic = Callable[["Services", Params], Awaitable[Any]]
#: Set when the server stops: streams never end by themselves, so they end on it.
STOPPING_KEY: web.AppKey[asyncio.Event] = web.AppKey("console_stopping")


async def _overview(csms: Services, params: Params) -> Any:
    return await console_routes.overview(csms)


async def _grid(csms: Services, params: Params) -> Any:
    return await console_routes.grid_view(csms)


async def _stations(csms: Services, params: Params) -> Any:
    offset = max(0, int(params.get("offset", "0") or 0))
    limit = min(console_routes.MAX_PAGE, max(1, int(params.get("limit", "50") or 50)))
    return await console_routes.station_page(params.get("q", ""), offset, limit)


async def _station(csms: Services, params: Params) -> Any:
    try:
        return await console_routes.station_detail(csms, params.get("id", ""))
    except stations.NotFound:
        return None


async def _sessions(csms: Services, params: Params) -> Any:
    rows = await list_transactions(params.get("station") or None, SESSION_ROWS)
    return [transaction_json(row) for row in rows]


async def _session(csms: Services, params: Params) -> Any:
    return await console_routes.session_detail(params.get("station", ""), params.get("tx", ""))


async def _swap(csms: Services, params: Params) -> Any:
    return console_routes.swap_views(csms)


TOPICS: dict[str, Topic] = {
    "overview": _overview,
    "grid": _grid,
    "stations": _stations,
    "station": _station,
    "sessions": _sessions,
    "session": _session,
    "swap": _swap,
}


async def get_live(request: web.Request) -> web.StreamResponse:
    """`/live?topic=<name>&...`: an event stream of the topic's snapshots."""
    topic = TOPICS.get(request.query.get("topic", ""))
    if topic is None:
        raise web.HTTPNotFound(text=f"topics: {', '.join(TOPICS)}")
    params = dict(request.query)
    csms = csms_of(request)
    reply = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await reply.prepare(request)
    stopping = request.app[STOPPING_KEY]
    sent, quiet = "", 0.0
    try:
        while not stopping.is_set():
            try:
                data = await topic(csms, params)
            except ValueError:
                data = {"error": "bad parameters"}
            try:
                text = strict_json.dumps(data, separators=(",", ":"))
            except ValueError:  # a non-finite number: JSON.parse in the browser would fail
                text = strict_json.dumps({"error": "this view holds a value JSON cannot carry"})
            if text != sent:
                await reply.write(f"data: {text}\n\n".encode())
                sent, quiet = text, 0.0
            elif quiet >= KEEPALIVE_S:
                await reply.write(b": keep-alive\n\n")
                quiet = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), INTERVAL_S)
            quiet += INTERVAL_S
    except ConnectionResetError:
        pass  # the page went away
    return reply


async def _stop_streams(app: web.Application) -> None:
    app[STOPPING_KEY].set()


def add_routes(app: web.Application) -> None:
    app[STOPPING_KEY] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    app.router.add_get("/live", get_live)
