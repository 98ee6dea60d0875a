"""Payload validation against the OCPP JSON schemas shipped in the `ocpp` package.

Each schema is compiled with fastjsonschema the first time its action is seen and kept
for the life of the process, so a message costs one call of generated Python code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any, Literal

import fastjsonschema

from csms.blocks.ports import Version
from csms.ocpp_errors import ErrorCode, OcppError

Direction = Literal["Request", "Response"]

#: fastjsonschema's failed rule -> the OCPP-J error code describing it.
_RULE_CODES = {
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "minLength": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "format": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "enum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "const": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMinimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMaximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "pattern": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMAT_VIOLATION,
}

_compile_lock = threading.Lock()

#: OCPP's `integer` is 32-bit signed (OCPP 2.0.1 part 2, primitive datatypes); the schemas
#: leave it unbounded, so a frame could carry 10**30 (or 1e30, which JSON Schema counts as
#: an integer) into an integer column. Bounding it here makes that a CALLERROR.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@cache
def actions(version: Version) -> frozenset[str]:
    """Every action that has a request schema in this OCPP version."""
    folder = resources.files("ocpp") / version / "schemas"
    if version == "v16":
        # 1.6 names a request's schema after the bare action: Heartbeat.json.
        return frozenset(
            entry.name.removesuffix(".json")
            for entry in folder.iterdir()
            if entry.name.endswith(".json") and not entry.name.endswith("Response.json")
        )
    return frozenset(
        entry.name.removesuffix("Request.json")
        for entry in folder.iterdir()
        if entry.name.endswith("Request.json")
    )


def _schema_file(version: Version, action: str, direction: Direction) -> str:
    if version == "v16" and direction == "Request":
        return f"{action}.json"
    return f"{action}{direction}.json"


@cache
def _compiled(version: Version, action: str, direction: Direction) -> Callable[[Any], Any]:
    path = resources.files("ocpp") / version / "schemas" / _schema_file(version, action, direction)
    schema = _bound_integers(json.loads(path.read_text(encoding="utf-8")))
    with _compile_lock:
        return fastjsonschema.compile(schema)


def _bound_integers(node: Any) -> Any:
    """Give every `integer` without explicit bounds the 32-bit range, recursively."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", INT32_MIN)
            node.setdefault("maximum", INT32_MAX)
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)
    return node


def validate(version: Version, action: str, direction: Direction, payload: Any) -> None:
    """Raise OcppError with the matching OCPP-J code if `payload` breaks the schema."""
    if action not in actions(version):
        raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}")
    try:
        _compiled(version, action, direction)(payload)
    except fastjsonschema.JsonSchemaValueException as error:
        code = _RULE_CODES.get(error.rule or "", ErrorCode.FORMAT_VIOLATION)
        raise OcppError(code, error.message.replace("data", "payload", 1)) from None
