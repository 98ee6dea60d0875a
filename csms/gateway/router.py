"""Version adapters: route each inbound OCPP action to its block service.

OCPP 2.0.1 and 2.1 share the domain model; 2.1 adds actions on top of 2.0.1's table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from csms.gateway.ocppj import ErrorCode, OcppError
from csms.gateway.schemas import Version

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class Router:
    """Maps (version, action) to a handler `(station_id, payload) -> response payload`."""

    def __init__(self) -> None:
        self._routes: dict[Version, dict[str, Handler]] = {"v201": {}, "v21": {}}

    def add(
        self, action: str, handler: Handler, versions: tuple[Version, ...] = ("v201", "v21")
    ) -> None:
        for version in versions:
            self._routes[version][action] = handler

    def wrap(self, action: str, wrapper: Callable[[str, Handler], Handler]) -> None:
        """Put `wrapper(action, handler)` in place of `action`'s handler in every version
        that routes it, so an observer sees each handled message and its outcome."""
        for routes in self._routes.values():
            if action in routes:
                routes[action] = wrapper(action, routes[action])

    def handler_for(
        self, version: Version
    ) -> Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]:
        routes = self._routes[version]

        async def handle(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            handler = routes.get(action)
            if handler is None:
                raise OcppError(ErrorCode.NOT_SUPPORTED, f"{action} is not supported by this CSMS")
            return await handler(station_id, payload)

        return handle
