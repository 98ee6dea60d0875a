"""Routing: each inbound OCPP action to the one block service that answers it, then to the
observers that watch it.

OCPP 2.0.1 and 2.1 share the domain model; 2.1 adds actions on top of 2.0.1's table.
1.6 has a table of its own, filled by its adapter (csms.gateway.v16), whose handlers
translate to 2.0.1 and go through 2.0.1's table: observers of 2.0.1 actions see 1.6
stations too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from csms.blocks.meter import MeterValueError
from csms.blocks.ports import ANY_ACTION, AfterHook, ErrorHook, Handler, Version
from csms.ocpp_errors import ErrorCode, OcppError

log = logging.getLogger(__name__)

#: The versions a route or hook applies to unless it names others.
_VERSIONS: tuple[Version, ...] = ("v201", "v21")
_ALL_VERSIONS: tuple[Version, ...] = ("v16", "v201", "v21")


class Router:
    """Maps (version, action) to one handler `(station_id, payload) -> response payload`,
    and to "after" hooks that see the request and response once the handler returned (its
    data committed). Observers hook in; they never replace a handler, so the order in which
    services are wired does not change what answers a message."""

    def __init__(self) -> None:
        self._routes: dict[Version, dict[str, Handler]] = {v: {} for v in _ALL_VERSIONS}
        self._hooks: dict[Version, dict[str, list[AfterHook]]] = {v: {} for v in _ALL_VERSIONS}
        self._error_hooks: dict[Version, dict[str, list[ErrorHook]]] = {
            v: {} for v in _ALL_VERSIONS
        }

    def add(self, action: str, handler: Handler, versions: tuple[Version, ...] = _VERSIONS) -> None:
        """Raises ValueError when `action` already has a handler for one of `versions`."""
        for version in versions:
            if action in self._routes[version]:
                raise ValueError(f"{action} ({version}) already has a handler")
        for version in versions:
            self._routes[version][action] = handler

    def handles(self, version: Version, action: str) -> bool:
        """Whether `action` has a handler in `version`."""
        return action in self._routes[version]

    def after(
        self, action: str, hook: AfterHook, versions: tuple[Version, ...] = _VERSIONS
    ) -> None:
        """Call `hook` after every successful answer to `action` (in registration order).

        A hook that raises is the observer's bug, not the station's: it is logged and the
        station still gets its answer (the data is committed; an error would make it resend).
        """
        for version in versions:
            self._hooks[version].setdefault(action, []).append(hook)

    def after_error(
        self, action: str, hook: ErrorHook, versions: tuple[Version, ...] | None = None
    ) -> None:
        """Call `hook` when the handler of `action` answered with a CALLERROR (observers that
        count a station's failures); logged like `after` hooks when it raises. With
        `ANY_ACTION`, every CALLERROR the station got, the gateway's refusals included, in
        every version (1.6 too) unless `versions` says otherwise."""
        if versions is None:
            versions = _ALL_VERSIONS if action == ANY_ACTION else _VERSIONS
        for version in versions:
            self._error_hooks[version].setdefault(action, []).append(hook)

    def refused(
        self, version: Version, station_id: str, action: str, payload: Any, error: OcppError
    ) -> None:
        """The gateway answered a CALL with a CALLERROR before any handler saw it (`action`
        "" when the frame was too broken to name one): only `ANY_ACTION` observers hear."""
        self._failed(version, station_id, action, payload, error, handled=False)

    def _failed(
        self,
        version: Version,
        station_id: str,
        action: str,
        payload: Any,
        error: OcppError,
        handled: bool = True,
    ) -> None:
        hooks = self._error_hooks[version]
        # A 1.6 handler is the adapter over the 2.0.1 routes, whose hooks heard its refusal.
        every = () if handled and version == "v16" else hooks.get(ANY_ACTION, ())
        chosen = [*(hooks.get(action, ()) if handled else ()), *every]
        for hook in chosen:
            try:
                hook(station_id, payload if isinstance(payload, dict) else {}, error)
            except Exception:
                log.exception("[%s] observer of %s failed", station_id, action or "a frame")

    def handler_for(
        self, version: Version
    ) -> Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]:
        routes = self._routes[version]
        hooks = self._hooks[version]

        def failed(station_id: str, action: str, payload: dict[str, Any], error: OcppError) -> None:
            self._failed(version, station_id, action, payload, error)

        async def handle(station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            handler = routes.get(action)
            if handler is None:
                unknown = OcppError(
                    ErrorCode.NOT_SUPPORTED, f"{action} is not supported by this CSMS"
                )
                failed(station_id, action, payload, unknown)
                raise unknown
            try:
                response = await handler(station_id, payload)
            except MeterValueError as error:
                # Schema-valid, yet no meter could have produced it (a value overflowing
                # its multiplier, a time no calendar has).
                refused = OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, str(error))
                failed(station_id, action, payload, refused)
                raise refused from None
            except OcppError as error:
                failed(station_id, action, payload, error)
                raise
            for hook in hooks.get(action, ()):
                try:
                    hook(station_id, payload, response)
                except Exception:
                    log.exception("[%s] observer of %s failed", station_id, action)
            return response

        return handle
