"""The emulated station's display messages (O01-O04) and variable monitors (N04-N07), pure:
what is set, what a Get* request selects, and the reports that answer it (in snake_case,
as the ocpp library hands payloads over)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class DisplayMessages:
    """MessageInfo by id, as set by the CSMS."""

    by_id: dict[int, dict[str, Any]] = field(default_factory=dict)

    def set(self, message: dict[str, Any]) -> str:
        self.by_id[int(message["id"])] = message
        return "Accepted"

    def select(
        self, ids: list[int] | None, priority: str | None, state: str | None
    ) -> list[dict[str, Any]]:
        return [
            m
            for i, m in sorted(self.by_id.items())
            if (not ids or i in ids)
            and (priority is None or m.get("priority") == priority)
            and (state is None or m.get("state") == state)
        ]

    def clear(self, message_id: int) -> str:
        return "Accepted" if self.by_id.pop(message_id, None) is not None else "Unknown"


@dataclass(slots=True)
class Monitors:
    """Variable monitors set by the CSMS (hard-wired ones are not emulated)."""

    by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    base: str = "All"
    level: int = 9
    _next: int = 1

    def set(self, data: dict[str, Any], known: bool) -> dict[str, Any]:
        """One SetMonitoringResult for one SetMonitoringData (`known`: the variable exists)."""
        result = {
            "type": data["type"],
            "severity": data["severity"],
            "component": data["component"],
            "variable": data["variable"],
        }
        if not known:
            return result | {"status": "UnknownVariable"}
        monitor_id = int(data.get("id") or self._next)
        self._next = max(self._next, monitor_id + 1)
        self.by_id[monitor_id] = {
            "id": monitor_id,
            "transaction": bool(data.get("transaction", False)),
            "value": data["value"],
            "type": data["type"],
            "severity": data["severity"],
            "component": data["component"],
            "variable": data["variable"],
        }
        return result | {"status": "Accepted", "id": monitor_id}

    def clear(self, ids: list[int]) -> list[dict[str, Any]]:
        return [
            {"id": i, "status": "Accepted" if self.by_id.pop(i, None) else "NotFound"} for i in ids
        ]

    def report(self) -> list[dict[str, Any]]:
        """MonitoringDataType entries: monitors grouped by component and variable."""
        grouped: dict[str, dict[str, Any]] = {}
        for monitor in self.by_id.values():
            key = repr((monitor["component"], monitor["variable"]))
            entry = grouped.setdefault(
                key,
                {
                    "component": monitor["component"],
                    "variable": monitor["variable"],
                    "variable_monitoring": [],
                },
            )
            entry["variable_monitoring"].append(
                {k: monitor[k] for k in ("id", "transaction", "value", "type", "severity")}
            )
        return list(grouped.values())
