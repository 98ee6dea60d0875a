"""Authorization block: id tokens answer Authorize and TransactionEvent; local auth lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from csms.blocks.base import BlockContext
from csms.db.models import IdToken

TOKEN_TYPES = (
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
)
STORED_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
#: Highest planning priority a token may carry.
MAX_PRIORITY = 9


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id_token: str
    type: str
    status: str
    expires_at: datetime | None
    group_id: str | None


def id_token_info(record: TokenRecord | None, now: datetime, unknown_status: str) -> dict[str, Any]:
    """The idTokenInfo the CSMS answers for a token (pure)."""
    if record is None:
        return {"status": unknown_status}
    status = record.status
    if status == "Accepted" and record.expires_at is not None and record.expires_at <= now:
        status = "Expired"
    info: dict[str, Any] = {"status": status}
    if record.expires_at is not None:
        info["cacheExpiryDateTime"] = record.expires_at.isoformat().replace("+00:00", "Z")
    if record.group_id:
        info["groupIdToken"] = {"idToken": record.group_id, "type": "Central"}
    return info


class Authorization:
    def __init__(self, context: BlockContext):
        self.context = context

    async def lookup(self, id_token: str, token_type: str) -> TokenRecord | None:
        row = await IdToken.filter(id_token=id_token, type=token_type).first()
        if row is None:
            return None
        return TokenRecord(row.id_token, row.type, row.status, row.expires_at, row.group_id)

    async def type_of(self, id_token: str) -> str:
        """The stored type of a token known by its value alone (an OCPP 1.6 idTag has no
        type): ISO14443 (an RFID card) if stored as that or not at all, else the first."""
        types = (
            await IdToken.filter(id_token=id_token).order_by("id").values_list("type", flat=True)
        )
        return "ISO14443" if not types or "ISO14443" in types else str(types[0])

    async def info(self, id_token: str, token_type: str) -> dict[str, Any]:
        if token_type == "NoAuthorization":
            return {"status": "Accepted"}
        record = await self.lookup(id_token, token_type)
        return id_token_info(
            record, self.context.clock(), self.context.settings.unknown_token_status
        )

    async def authorize(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        token = payload["idToken"]
        return {"idTokenInfo": await self.info(token["idToken"], token["type"])}

    async def local_list(self) -> list[dict[str, Any]]:
        """Every known token as SendLocalList authorizationData."""
        now = self.context.clock()
        unknown = self.context.settings.unknown_token_status
        rows = await IdToken.all().order_by("id")
        return [
            {
                "idToken": {"idToken": row.id_token, "type": row.type},
                "idTokenInfo": id_token_info(
                    TokenRecord(row.id_token, row.type, row.status, row.expires_at, row.group_id),
                    now,
                    unknown,
                ),
            }
            for row in rows
        ]


class TokenExists(Exception):
    pass


class TokenNotFound(Exception):
    pass


def token_json(row: IdToken) -> dict[str, Any]:
    return {
        "id_token": row.id_token,
        "type": row.type,
        "status": row.status,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "group_id": row.group_id,
        "priority": row.priority,
    }


async def add_token(
    id_token: str,
    token_type: str = "ISO14443",
    status: str = "Accepted",
    expires_at: datetime | None = None,
    group_id: str | None = None,
    priority: int = 0,
) -> dict[str, Any]:
    """Raises ValueError (bad type, status, length, priority or naive expiry) or TokenExists."""
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be 0 to {MAX_PRIORITY}")
    if not 1 <= len(id_token) <= 36:
        raise ValueError("id_token must be 1 to 36 characters")
    if token_type not in TOKEN_TYPES:
        raise ValueError(f"type must be one of {', '.join(TOKEN_TYPES)}")
    if status not in STORED_STATUSES:
        raise ValueError(f"status must be one of {', '.join(STORED_STATUSES)}")
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValueError("expires_at needs a UTC offset")
    if await IdToken.exists(id_token=id_token, type=token_type):
        raise TokenExists(f"token {id_token} ({token_type}) already exists")
    row = await IdToken.create(
        id_token=id_token,
        type=token_type,
        status=status,
        expires_at=expires_at,
        group_id=group_id,
        priority=priority,
    )
    return token_json(row)


async def list_tokens() -> list[dict[str, Any]]:
    return [token_json(row) for row in await IdToken.all().order_by("id")]


async def set_token_status(id_token: str, status: str, token_type: str | None = None) -> int:
    """Set the status of a token (of every type, unless one is named); returns how many."""
    if status not in STORED_STATUSES:
        raise ValueError(f"status must be one of {', '.join(STORED_STATUSES)}")
    query = IdToken.filter(id_token=id_token)
    if token_type is not None:
        query = query.filter(type=token_type)
    changed = await query.update(status=status)
    if not changed:
        raise TokenNotFound(f"no token {id_token}")
    return int(changed)
