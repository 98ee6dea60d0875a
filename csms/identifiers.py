"""Identifiers from the wire are checked before they reach a path, a log or a query."""

from __future__ import annotations

import re

#: OCPP identifierString characters; station ids are at most 48 of them.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")


def is_station_id(value: str) -> bool:
    return bool(_IDENTIFIER.match(value))


def require_station_id(value: str) -> str:
    if not is_station_id(value):
        raise ValueError(
            f"invalid station id {value!r}: 1-48 characters of A-Z a-z 0-9 * - _ = : + | @ ."
        )
    return value
