"""Smart charging block: the EV charging needs a car announces, kept for the planner."""

from __future__ import annotations

from typing import Any

from csms.blocks.base import BlockContext
from csms.blocks.meter import parse_timestamp
from csms.db.models import ChargingNeeds
from csms.db.writer import Batch


def requested_energy_wh(needs: dict[str, Any]) -> float | None:
    """Energy the car asks for, from AC or DC parameters (V2X parameters in 2.1)."""
    for key in ("acChargingParameters", "dcChargingParameters"):
        parameters = needs.get(key)
        if parameters and "energyAmount" in parameters:
            return float(parameters["energyAmount"])
    v2x = needs.get("v2xChargingParameters") or {}
    if "evTargetEnergyRequest" in v2x:
        return float(v2x["evTargetEnergyRequest"])
    return None


class SmartCharging:
    def __init__(self, context: BlockContext):
        self.context = context

    async def notify_ev_charging_needs(
        self, station_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        needs = payload["chargingNeeds"]
        departure = needs.get("departureTime")
        fields = {
            "departure_time": parse_timestamp(departure) if departure else None,
            "requested_energy_wh": requested_energy_wh(needs),
            "payload": payload,
            "received_at": self.context.clock(),
        }

        async def write(batch: Batch) -> None:
            updated = (
                await ChargingNeeds.filter(station_id=station_id, evse_id=payload["evseId"])
                .using_db(batch.conn)
                .update(**fields)
            )
            if not updated:
                await ChargingNeeds.create(
                    station_id=station_id, evse_id=payload["evseId"], using_db=batch.conn, **fields
                )

        await self.context.writer.submit(write)
        return {"status": "Accepted"}
