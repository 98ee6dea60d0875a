"""Requests split to what a station takes in one message (B06.FR.05, D01): GetVariables,
SetVariables and SendLocalList carry at most the station's ItemsPerMessage items and
BytesPerMessage bytes, as its reported device model says.

`split` is pure; `limits_of` reads the reported device model; `send_split` sends the parts
one after another and joins their answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from csms.blocks.ports import CommandSender
from csms.db.models import DeviceVariable

#: Bytes allowed for a frame's envelope beyond the payload: `[2,"<id up to 36>","<action>",`.
_ID_ALLOWANCE = 36


class TooLarge(ValueError):
    """One item alone exceeds the station's BytesPerMessage: it cannot be sent."""


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """At most `items` list entries and `bytes` bytes in one CALL frame (None: no bound)."""

    items: int | None = None
    bytes: int | None = None


#: action -> (device model component, variable instance, payload list field).
BOUNDED: dict[str, tuple[str, str | None, str]] = {
    "GetVariables": ("DeviceDataCtrlr", "GetVariables", "getVariableData"),
    "SetVariables": ("DeviceDataCtrlr", "SetVariables", "setVariableData"),
    "SendLocalList": ("LocalAuthListCtrlr", None, "localAuthorizationList"),
}


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def split(
    action: str, payload: dict[str, Any], field: str, limits: MessageLimits
) -> list[dict[str, Any]]:
    """`payload` as one or more payloads whose `field` lists fit `limits`, in order (pure).

    Raises TooLarge when one item cannot fit a message on its own.
    """
    items: Sequence[Any] = payload.get(field) or []
    envelope = _size([2, "x" * _ID_ALLOWANCE, action, {**payload, field: []}])
    parts: list[list[Any]] = []
    current: list[Any] = []
    used = envelope
    for item in items:
        cost = _size(item) + (1 if current else 0)  # the comma before it
        full_items = limits.items is not None and len(current) >= limits.items
        full_bytes = limits.bytes is not None and used + cost > limits.bytes
        if current and (full_items or full_bytes):
            parts.append(current)
            current, used, cost = [], envelope, _size(item)
        if limits.bytes is not None and used + cost > limits.bytes:
            raise TooLarge(f"one {action} item takes {envelope + cost} bytes, over {limits.bytes}")
        current.append(item)
        used += cost
    if current or not parts:
        parts.append(current)
    return [{**payload, field: part} for part in parts]


async def limits_of(station_id: str, action: str) -> MessageLimits:
    """The station's ItemsPerMessage/BytesPerMessage for `action` from its reported device
    model (no bound where it reported none, or a value that is not a positive integer)."""
    component, instance, _ = BOUNDED[action]
    rows = await DeviceVariable.filter(
        station_id=station_id,
        component=component,
        variable__in=("ItemsPerMessage", "BytesPerMessage"),
        variable_instance=instance or "",
        attribute_type="Actual",
    ).values_list("variable", "value")
    found: dict[str, int] = {}
    for variable, value in rows:
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if number > 0:
            found[variable] = number
    return MessageLimits(found.get("ItemsPerMessage"), found.get("BytesPerMessage"))


async def send_split(
    sender: CommandSender, station_id: str, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Send GetVariables/SetVariables in as many CALLs as the station needs, one after the
    other; the answer joins their result lists (as if one CALL had been answered).

    Raises TooLarge, and the sender's errors (results of parts already answered are in
    the command journal)."""
    _, _, field = BOUNDED[action]
    result_field = {"getVariableData": "getVariableResult", "setVariableData": "setVariableResult"}[
        field
    ]
    parts = split(action, payload, field, await limits_of(station_id, action))
    if len(parts) == 1:
        return await sender.send(station_id, action, parts[0])
    results: list[Any] = []
    for part in parts:
        answer = await sender.send(station_id, action, part)
        results.extend(answer.get(result_field, []))
    return {result_field: results}
