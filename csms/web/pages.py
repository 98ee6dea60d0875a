"""The console's HTML pages: one shell per page (navigation, heading, live-status line);
the page's script fills it from the live feed."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template

from aiohttp import web

from csms.web.session import SIGNER_KEY, csrf_token

#: Page name -> (path, navigation label).
NAVIGATION = {
    "overview": ("/", "Overview"),
    "grid": ("/grid", "Grid"),
    "stations": ("/stations", "Stations"),
    "sessions": ("/sessions", "Sessions"),
    "swap": ("/swap", "Swap"),
}


@cache
def _template(name: str) -> Template:
    return Template(resources.files("csms.web").joinpath("templates", name).read_text())


def _page(
    request: web.Request, page: str, heading: str, attrs: dict[str, str] | None = None
) -> web.Response:
    section = page.split(":")[0]
    nav = "".join(
        f'<li><a href="{path}"{" aria-current=page" if name == section else ""}>{label}</a></li>'
        for name, (path, label) in NAVIGATION.items()
    )
    signed_in = request.app[SIGNER_KEY] is not None
    text = _template("page.html").substitute(
        title=html.escape(heading),
        heading=html.escape(heading),
        page=html.escape(page),
        csrf=html.escape(csrf_token(request)),
        nav=nav,
        signout='<button type="button" id="signout">Sign out</button>' if signed_in else "",
        attrs=" ".join(
            f'data-{key}="{html.escape(value)}"' for key, value in (attrs or {}).items()
        ),
    )
    return web.Response(text=text, content_type="text/html", headers=_HEADERS)


#: Scripts and styles come from this server only; no framing by other sites.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


async def overview(request: web.Request) -> web.Response:
    return _page(request, "overview", "Overview")


async def grid(request: web.Request) -> web.Response:
    return _page(request, "grid", "Grid")


async def station_list(request: web.Request) -> web.Response:
    return _page(request, "stations", "Stations")


async def station(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    return _page(request, "stations:detail", f"Station {station_id}", {"station": station_id})


async def session_list(request: web.Request) -> web.Response:
    return _page(request, "sessions", "Sessions")


async def session(request: web.Request) -> web.Response:
    station_id, tx = request.match_info["station"], request.match_info["tx"]
    return _page(
        request,
        "sessions:detail",
        f"Session {tx} at {station_id}",
        {"station": station_id, "tx": tx},
    )


async def swap(request: web.Request) -> web.Response:
    return _page(request, "swap", "Swap stations")


async def login(request: web.Request) -> web.Response:
    target = request.query.get("next", "/")
    # Only back into this console, never to another site: browsers read `/\host` as
    # `//host`, and control characters can split a URL.
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        target = "/"
    text = _template("login.html").substitute(next=html.escape(target))
    return web.Response(text=text, content_type="text/html", headers=_HEADERS)


def add_routes(app: web.Application) -> None:
    add = app.router.add_get
    add("/", overview)
    add("/grid", grid)
    add("/stations", station_list)
    add("/stations/{id}", station)
    add("/sessions", session_list)
    add("/sessions/{station}/{tx}", session)
    add("/swap", swap)
    add("/login", login)
