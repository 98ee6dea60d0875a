"""Security block (OCPP A): password rotation (A01), security-profile upgrades (A05) and the
CSMS's own security events, kept beside the stations' SecurityEventNotifications."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from csms.blocks.base import BlockContext
from csms.blocks.ports import CommandSender
from csms.blocks.stations import NotFound, check_profile
from csms.db.models import Station, StationEvent
from csms.db.writer import Batch
from csms.passwords import generate_password, hash_password

log = logging.getLogger(__name__)

#: StationEvent kind of the events the CSMS itself records (the stations' own are
#: "SecurityEventNotification").
CSMS_SECURITY_EVENT = "CsmsSecurityEvent"
SECURITY_KINDS = (CSMS_SECURITY_EVENT, "SecurityEventNotification")


class StationRefused(Exception):
    """The station answered a security change with something other than Accepted."""


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of a password rotation; the password itself is never returned."""

    station_id: str
    accepted: bool
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"station_id": self.station_id, "accepted": self.accepted, "status": self.status}


def _set_variable(component: str, variable: str, value: str) -> dict[str, Any]:
    return {
        "setVariableData": [
            {
                "component": {"name": component},
                "variable": {"name": variable},
                "attributeValue": value,
            }
        ]
    }


def _attribute_status(answer: dict[str, Any]) -> str:
    results = answer.get("setVariableResult") or [{}]
    return str(results[0].get("attributeStatus", "Rejected"))


class Security:
    def __init__(self, context: BlockContext, sender: CommandSender):
        self.context = context
        #: The journaling command sender (RemoteControl): rotations are commands like others.
        self.sender = sender

    async def record_event(self, station_id: str, kind: str, tech_info: str) -> None:
        """Store a CSMS-side security event (OCPP SecurityEventEnumType-style `type`)."""
        at = self.context.clock()

        async def write(batch: Batch) -> None:
            await StationEvent.create(
                station_id=station_id,
                kind=CSMS_SECURITY_EVENT,
                timestamp=at,
                payload={"type": kind, "techInfo": tech_info[:255]},
                using_db=batch.conn,
            )

        await self.context.writer.submit(write)

    async def rotate_password(self, station_id: str) -> Rotation:
        """A01: send a new random password with SetVariables SecurityCtrlr.BasicAuthPassword;
        on Accepted store its hash and keep the old one valid until the station has
        connected with the new one (the gateway then retires it).

        Raises NotFound, or the command errors of the sender (not connected, timeout...).
        """
        station = await Station.filter(id=station_id).first()
        if station is None:
            raise NotFound(f"no station {station_id}")
        if station.security_profile >= 3:
            raise ValueError(f"station {station_id} uses a client certificate (profile 3)")
        password = generate_password()
        # ~0.2 ms at the cost of a random password: no thread needed.
        new_hash = hash_password(password)
        answer = await self.sender.send(
            station_id,
            "SetVariables",
            _set_variable("SecurityCtrlr", "BasicAuthPassword", password),
        )
        status = _attribute_status(answer)
        if status != "Accepted":
            await self.record_event(station_id, "BasicAuthPasswordRefused", f"station: {status}")
            return Rotation(station_id, False, status)
        old_hash = station.old_password_hash or station.password_hash

        async def write(batch: Batch) -> None:
            # The oldest password not yet replaced stays valid: if a second rotation comes
            # before the station reconnected, it may still hold that one.
            await (
                Station.filter(id=station_id)
                .using_db(batch.conn)
                .update(password_hash=new_hash, old_password_hash=old_hash)
            )

        await self.context.writer.submit(write)
        log.info("[%s] new basic-auth password accepted by the station", station_id)
        await self.record_event(
            station_id, "BasicAuthPasswordRotated", "new password accepted; old one until used"
        )
        return Rotation(station_id, True, status)

    async def raise_profile(self, station_id: str, profile: int) -> str:
        """A05: tell the station to use security `profile` (SetVariables
        SecurityCtrlr.SecurityProfile, then a Reset OnIdle so it reconnects). The profile
        takes over when the station first connects with it; lower ones are refused then.

        Raises ValueError (no upgrade), NotFound, StationRefused or the sender's errors.
        """
        check_profile(profile)
        station = await Station.filter(id=station_id).first()
        if station is None:
            raise NotFound(f"no station {station_id}")
        if profile <= station.security_profile:
            raise ValueError(
                f"station {station_id} is at profile {station.security_profile}: "
                "a profile can only be raised"
            )
        answer = await self.sender.send(
            station_id,
            "SetVariables",
            _set_variable("SecurityCtrlr", "SecurityProfile", str(profile)),
        )
        status = _attribute_status(answer)
        if status not in ("Accepted", "RebootRequired"):
            raise StationRefused(f"station refused security profile {profile}: {status}")

        async def write(batch: Batch) -> None:
            await Station.filter(id=station_id).using_db(batch.conn).update(pending_profile=profile)

        await self.context.writer.submit(write)
        await self.record_event(
            station_id, "SecurityProfileRequested", f"profile {profile} set; takes over on use"
        )
        # The new profile is used from the next connection on (A05.FR.04): ask for one.
        try:
            await self.sender.send(station_id, "Reset", {"type": "OnIdle"})
        except Exception as error:  # the upgrade stands; the station reconnects when it can
            log.warning("[%s] reset after the profile change failed: %s", station_id, error)
        return status

    async def events(self, station_id: str | None = None, limit: int = 200) -> list[StationEvent]:
        """Newest first: the stations' SecurityEventNotifications and the CSMS's own."""
        query = StationEvent.filter(kind__in=SECURITY_KINDS)
        if station_id is not None:
            query = query.filter(station_id=station_id)
        return await query.order_by("-id").limit(limit)


def event_json(event: StationEvent) -> dict[str, Any]:
    payload = event.payload if isinstance(event.payload, dict) else {}
    return {
        "station_id": event.station_id,
        "source": "csms" if event.kind == CSMS_SECURITY_EVENT else "station",
        "type": payload.get("type"),
        "tech_info": payload.get("techInfo"),
        "timestamp": event.timestamp.isoformat(),
    }
