"""The router: one handler per action, observers after it."""

from __future__ import annotations

from typing import Any

import pytest

from csms.gateway.router import Router
from csms.ocpp_errors import ErrorCode, OcppError


async def heartbeat(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": "2026-12-01T00:00:00Z"}


async def refuse(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    raise OcppError(ErrorCode.SECURITY_ERROR, "no")


def test_a_second_handler_for_an_action_is_refused() -> None:
    router = Router()
    router.add("Heartbeat", heartbeat)
    with pytest.raises(ValueError, match="Heartbeat"):
        router.add("Heartbeat", heartbeat, versions=("v21",))
    router.add("BatterySwap", heartbeat, versions=("v21",))
    with pytest.raises(ValueError, match="BatterySwap"):
        router.add("BatterySwap", heartbeat)


async def test_after_hooks_see_request_and_response_in_order_once_answered() -> None:
    router = Router()
    router.add("Heartbeat", heartbeat)
    seen: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    router.after("Heartbeat", lambda s, p, r: seen.append(("first", s, p, r)))
    router.after("Heartbeat", lambda s, p, r: seen.append(("second", s, p, r)))
    answer = await router.handler_for("v201")("CS-1", "Heartbeat", {})
    assert [entry[0] for entry in seen] == ["first", "second"]
    assert seen[0][1:] == ("CS-1", {}, answer)


async def test_no_hook_runs_when_the_handler_refuses() -> None:
    router = Router()
    router.add("Authorize", refuse)
    seen: list[str] = []
    router.after("Authorize", lambda s, p, r: seen.append(s))
    with pytest.raises(OcppError):
        await router.handler_for("v21")("CS-1", "Authorize", {})
    assert seen == []


async def test_a_failing_hook_does_not_change_the_answer() -> None:
    router = Router()
    router.add("Heartbeat", heartbeat)

    def broken(station_id: str, payload: dict[str, Any], response: dict[str, Any]) -> None:
        raise RuntimeError("observer bug")

    router.after("Heartbeat", broken)
    assert await router.handler_for("v201")("CS-1", "Heartbeat", {}) == await heartbeat("", {})


async def test_an_action_without_a_handler_is_not_supported() -> None:
    with pytest.raises(OcppError) as refused:
        await Router().handler_for("v201")("CS-1", "Heartbeat", {})
    assert refused.value.code == ErrorCode.NOT_SUPPORTED
