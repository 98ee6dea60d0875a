"""Password file: `STATION_ID:PASSWORD` per line, `*:PASSWORD` for every other station.

Blank lines and lines starting with `#` are ignored; a password may contain `:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class PasswordFileError(ValueError):
    """A line of the password file is not `STATION_ID:PASSWORD`."""


@dataclass(frozen=True, slots=True)
class PasswordBook:
    by_station: dict[str, str] = field(default_factory=dict)
    default: str | None = None

    def for_station(self, station_id: str) -> str | None:
        return self.by_station.get(station_id, self.default)


def parse_passwords(text: str) -> PasswordBook:
    by_station: dict[str, str] = {}
    default: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        station, sep, password = line.partition(":")
        if not sep or not station or not password:
            raise PasswordFileError(f"line {number}: expected STATION_ID:PASSWORD")
        if station == "*":
            default = password
        else:
            by_station[station] = password
    return PasswordBook(by_station, default)


def load_passwords(path: Path) -> PasswordBook:
    return parse_passwords(path.read_text())
