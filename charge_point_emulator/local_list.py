"""The station's local authorization list (OCPP 2.0.1 D01-D02), pure: versions and updates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class LocalList:
    version: int = 0
    #: (idToken, type) -> idTokenInfo status
    entries: dict[tuple[str, str], str] = field(default_factory=dict)

    def apply(self, version: int, update_type: str, items: list[dict[str, Any]]) -> str:
        """Apply a SendLocalList; returns its status (Accepted or VersionMismatch)."""
        if update_type == "Differential" and version <= self.version:
            return "VersionMismatch"
        if update_type == "Full":
            self.entries.clear()
        for item in items:
            key = (item["id_token"]["id_token"], item["id_token"]["type"])
            info = item.get("id_token_info")
            if info is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = info["status"]
        self.version = version
        return "Accepted"
