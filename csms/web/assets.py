"""The console's scripts and style sheet, written here and served from the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

STATIC = Path(str(resources.files("csms.web").joinpath("static")))


def add_routes(app: web.Application) -> None:
    app.router.add_static("/static/", STATIC, name="console-static")
