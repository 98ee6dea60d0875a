"""What cluster nodes tell each other through Redis, free of I/O: owner records, and
commands relayed to the node holding a station's socket with their outcome.

An outcome carries a command error across processes as its kind, so that the requester
raises the same exception the owner's connection raised (and journals it the same way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from csms.ocpp_errors import (
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    OcppError,
    StationNotConnected,
)


class Fenced(StationNotConnected):
    """Not sent: the sender acted for a leadership that another node has taken since.

    A StationNotConnected, so that every caller treats it as "not delivered, nothing
    happened at the station" (the planner counts the station offline for this round).
    """


class NotHere(Exception):
    """The node asked no longer holds the station (it moved); nothing was sent."""


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """Who holds a station's socket: node, OCPP version, and the link (unique per link,
    so that releasing an old link never removes a newer one on the same node)."""

    node: str
    version: str
    link: str

    def encode(self) -> str:
        return f"{self.node} {self.version} {self.link}"

    @staticmethod
    def decode(raw: str) -> OwnerRecord | None:
        parts = raw.split(" ")
        return OwnerRecord(*parts) if len(parts) == 3 else None


@dataclass(frozen=True, slots=True)
class Fence:
    """The leadership a command is sent under: `role` held with fencing `token`."""

    role: str
    token: int


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    origin: str
    station_id: str
    action: str
    payload: dict[str, Any]
    fence: Fence | None = None

    def encode(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "origin": self.origin,
                "station": self.station_id,
                "action": self.action,
                "payload": self.payload,
                "fence": None if self.fence is None else [self.fence.role, self.fence.token],
            }
        )

    @staticmethod
    def decode(raw: str | bytes) -> Request:
        """Raises ValueError (or KeyError / TypeError) on a malformed message."""
        doc = json.loads(raw)
        fence = doc.get("fence")
        return Request(
            id=str(doc["id"]),
            origin=str(doc["origin"]),
            station_id=str(doc["station"]),
            action=str(doc["action"]),
            payload=dict(doc["payload"]),
            fence=None if fence is None else Fence(str(fence[0]), int(fence[1])),
        )


def reply_ok(request_id: str, payload: dict[str, Any]) -> str:
    return json.dumps({"id": request_id, "ok": payload})


def reply_error(request_id: str, error: BaseException) -> str:
    """The outcome of a command that failed at the owner, as its kind and details."""
    doc: dict[str, Any] = {"id": request_id, "message": str(error)}
    if isinstance(error, NotHere):
        doc["error"] = "not_here"
    elif isinstance(error, Fenced):
        doc["error"] = "fenced"
    elif isinstance(error, StationNotConnected):
        doc["error"] = "not_connected"
    elif isinstance(error, CommandTimeout):
        doc["error"] = "timeout"
    elif isinstance(error, CommandQueueFull):
        doc["error"] = "queue_full"
    elif isinstance(error, CommandRejected | OcppError):
        doc["error"] = "rejected" if isinstance(error, CommandRejected) else "invalid"
        doc["code"], doc["description"] = error.code, error.description
        doc["details"] = error.details
    else:
        doc["error"] = "internal"
    return json.dumps(doc)


def reply_id(raw: str | bytes) -> str | None:
    try:
        return str(json.loads(raw)["id"])
    except (ValueError, KeyError, TypeError):
        return None


def outcome(raw: str | bytes) -> dict[str, Any]:
    """The payload of a reply, or raises the error it carries (NotHere included)."""
    doc = json.loads(raw)
    if "ok" in doc:
        return dict(doc["ok"])
    kind, message = doc.get("error"), str(doc.get("message", ""))
    if kind == "not_here":
        raise NotHere(message)
    if kind == "fenced":
        raise Fenced(message)
    if kind == "not_connected":
        raise StationNotConnected(message)
    if kind == "timeout":
        raise CommandTimeout(message)
    if kind == "queue_full":
        raise CommandQueueFull(message)
    if kind == "rejected":
        raise CommandRejected(doc["code"], doc["description"], doc.get("details") or {})
    if kind == "invalid":
        raise OcppError(doc["code"], doc["description"], doc.get("details") or {})
    raise CommandRejected("InternalError", f"the owning node failed: {message}", {})
