"""Hooks the console into the API server: its routes and its session middleware."""

from __future__ import annotations

from aiohttp import web

from csms.api.server import CSMS_KEY
from csms.web import assets, live, pages, session


def install(app: web.Application) -> None:
    """Add the console to the API's application (before it starts)."""
    api_token = app[CSMS_KEY].settings.api_token
    app.middlewares.insert(0, session.session_middleware(api_token))
    session.add_routes(app, api_token)
    live.add_routes(app)
    assets.add_routes(app)
    pages.add_routes(app)
