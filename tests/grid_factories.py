"""Small hand-made charging instances shared by the grid tests."""

from __future__ import annotations

from typing import Any


def session(sid: str = "s-1", node: str = "evse-1", **overrides: Any) -> dict[str, Any]:
    """A 4-slot-friendly session document; override any field."""
    doc: dict[str, Any] = {
        "id": sid,
        "node": node,
        "arrival_slot": 0,
        "departure_slot": 4,
        "battery_wh": 60_000,
        "initial_wh": 10_000,
        "target_wh": 20_000,
        "min_wh": 5_000,
        "max_charge_w": 11_000,
        "max_discharge_w": 0,
        "efficiency": 1.0,
        "priority": 0,
    }
    doc.update(overrides)
    return doc


def instance_doc(**overrides: Any) -> dict[str, Any]:
    """A feeder > transformer > two EVSEs instance over 4 one-hour slots."""
    doc: dict[str, Any] = {
        "version": 1,
        "start": "2026-11-24T00:00:00Z",
        "slot_seconds": 3600,
        "slots": 4,
        "import_price": [0.3, 0.1, 0.2, 0.4],
        "nodes": [
            {"id": "feeder", "parent": None, "import_limit_w": 50_000, "export_limit_w": 20_000},
            {"id": "tx", "parent": "feeder", "import_limit_w": 15_000, "export_limit_w": 10_000},
            {"id": "evse-1", "parent": "tx", "import_limit_w": 11_000, "export_limit_w": 11_000},
            {"id": "evse-2", "parent": "tx", "import_limit_w": 11_000, "export_limit_w": 11_000},
        ],
        "sessions": [session()],
    }
    doc.update(overrides)
    return doc
