"""Strict JSON, pure: bounded nesting checked before parsing, no NaN or Infinity either way.

Python's json module accepts `NaN`/`Infinity` (not JSON, RFC 8259), turns `1e400` into
infinity, and recurses once per nesting level (a few thousand levels raise
RecursionError). Every input path that parses untrusted JSON goes through `loads`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Deepest nesting accepted. OCPP payloads are a handful of levels deep (an OCPP-J frame
#: adds two); the bound only has to stay far below the interpreter's recursion limit.
MAX_DEPTH = 32

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonRejected(ValueError):
    """The text is not strict JSON, or is nested deeper than allowed."""


class TooDeep(JsonRejected):
    pass


class NotFinite(JsonRejected):
    """A `NaN`/`Infinity` literal, or a number beyond the range of a float."""


def exceeds_depth(text: str, max_depth: int = MAX_DEPTH) -> bool:
    """True if arrays/objects nest deeper than `max_depth`, judged without parsing.

    Costs nothing for shallow texts (fewer openers than the bound, counted in C); otherwise
    one regular-expression pass with strings removed, so brackets inside them do not count.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def _constant(name: str) -> Any:
    raise NotFinite(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(f"number {text[:40]} is beyond the range of a float")
    return value


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON; raise TooDeep, NotFinite or JsonRejected (never RecursionError)."""
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise JsonRejected(f"not UTF-8: {error}") from error
    if exceeds_depth(text, max_depth):
        raise TooDeep(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_finite_float)
    except NotFinite:
        raise
    except ValueError as error:
        raise JsonRejected(f"not JSON: {error}") from error


def loads_lenient(text: str) -> Any:
    """Parse with each non-finite number read as None: only to find out what a refused text
    was (e.g. the message id to answer), never to use its values."""
    return json.loads(
        text,
        parse_constant=lambda _: None,
        parse_float=lambda s: value if math.isfinite(value := float(s)) else None,
    )


def dumps(value: Any, **options: Any) -> str:
    """Serialise as strict JSON: a non-finite float raises ValueError instead of emitting
    `NaN`/`Infinity`, which no strict parser reads."""
    return json.dumps(value, allow_nan=False, **options)
