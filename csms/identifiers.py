"""Identifiers from the wire are checked before they reach a path, a log or a query."""

from __future__ import annotations

import re

#: OCPP identifierString characters, less ':' which OCPP-J bars from a station identity
#: (it separates user and password in HTTP Basic auth); at most 48 of them.
_IDENTIFIER = re.compile(r"[A-Za-z0-9*\-_=+|@.]{1,48}")


def is_station_id(value: str) -> bool:
    return _IDENTIFIER.fullmatch(value) is not None


def require_station_id(value: str) -> str:
    if not is_station_id(value):
        raise ValueError(
            f"invalid station id {value!r}: 1-48 characters of A-Z a-z 0-9 * - _ = + | @ ."
        )
    return value
