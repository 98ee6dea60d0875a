"""Registration (B02, B03): the operator moves a station between Accepted, Pending and
Rejected; a connected station moved from Pending to Accepted is asked to boot again at once
(TriggerMessage BootNotification) instead of waiting out its retry interval."""

from __future__ import annotations

import logging
from typing import Any

from csms.blocks import stations
from csms.blocks.ports import CommandSender, StationLinks
from csms.ocpp_errors import CommandError, OcppError

log = logging.getLogger(__name__)


class Registration:
    def __init__(self, sender: CommandSender, links: StationLinks):
        self.sender = sender
        self.links = links

    async def set_status(self, station_id: str, status: str) -> dict[str, Any]:
        """Store the status; the station's view with `trigger`: the TriggerMessage answer,
        the error that kept it from the station, or None when none was due.

        Raises ValueError (bad status) or stations.NotFound."""
        before = await stations.set_registration_status(station_id, status)
        trigger: dict[str, Any] | None = None
        if before == "Pending" and status == "Accepted" and self.links.is_connected(station_id):
            try:
                trigger = await self.sender.send(
                    station_id, "TriggerMessage", {"requestedMessage": "BootNotification"}
                )
            except (CommandError, OcppError) as error:
                # Stored all the same: the station's next boot attempt is accepted.
                log.warning("[%s] accepted, but the boot trigger failed: %s", station_id, error)
                trigger = {"error": str(error) or type(error).__name__}
        view = await stations.get_station(station_id)
        return view.to_json() | {"trigger": trigger}
