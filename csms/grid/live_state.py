"""The live state the planner reads and writes, kept in the database: the topology in force,
active sessions with their SoC and announced needs, grid events, stations' rate units and
the latest plan. `StoredPlanState` is the planner's `PlanState` port over these."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from csms.analytics.alerts import derate_limits
from csms.analytics.derate import derated
from csms.blocks.charging_limits import caps_at, limits_in_force
from csms.blocks.ports import Writer
from csms.blocks.reservation import HOLDING
from csms.db.block_models import Reservation
from csms.db.models import (
    ChargingNeeds,
    DeviceVariable,
    GridPlan,
    GridTopology,
    IdToken,
    MeterValue,
    Station,
    Transaction,
)
from csms.db.writer import Batch
from csms.grid.events import LIVE_WINDOW, list_events
from csms.grid.live_instance import GridEventValue, LiveSession, needs_from_payload
from csms.grid.profiles import RateUnit, rate_unit_of
from csms.grid.topology import Topology, parse_topology

log = logging.getLogger(__name__)


class StoredPlanState:
    """The planner's view of the database; re-reads the topology only when a newer one was
    loaded. Its topology cache also serves lookups that must not wait for the planner (or
    its kernel): the EVSE ratings that meter data is judged against."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._topology: tuple[int, Topology] | None = None

    def evse_max_power_w(self, station_id: str, evse_id: int) -> float | None:
        """The EVSE's rated power in the topology last read, or None if it has none."""
        if self._topology is None:
            return None
        station = self._topology[1].station(station_id)
        evse = None if station is None else station.evse(evse_id)
        return None if evse is None else max(evse.max_import_w, evse.max_export_w)

    async def follow(self, interval_s: float) -> None:
        """Re-read the topology every `interval_s` until cancelled: `cli.py grid load`
        saves a new one from another process. One indexed query when nothing changed."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.topology()
            except Exception:
                log.exception("could not re-read the grid topology")

    async def topology(self) -> Topology | None:
        newest = await GridTopology.all().order_by("-id").first().values_list("id", flat=True)
        if newest is None:
            return None
        if self._topology is None or self._topology[0] != newest:
            loaded = await load_topology()
            assert loaded is not None
            self._topology = loaded
        return self._topology[1]

    async def sessions(self, now: datetime) -> list[LiveSession]:
        # Sessions a safety alert derated are planned within its cap until it is closed,
        # and sessions under a limit an EMS or the DSO set at the station within that.
        sessions = await live_sessions(now)
        caps = await derate_limits()
        places = [(s.station_id, s.evse_id) for s in sessions]
        for key, watts in caps_at(await limits_in_force(), places, now).items():
            caps[key] = min(caps.get(key, watts), watts)
        return derated(sessions, caps)

    async def events(self, now: datetime) -> list[GridEventValue]:
        return await list_events(active_at=now)

    async def rate_units(self, station_ids: set[str]) -> dict[str, RateUnit]:
        return await rate_units(station_ids)

    async def reserved(self, now: datetime) -> set[tuple[str, int]]:
        rows = await Reservation.filter(
            status__in=HOLDING, evse_id__isnull=False, expires_at__gt=now
        ).values_list("station_id", "evse_id")
        return {(str(station_id), int(evse_id)) for station_id, evse_id in rows}

    async def store(self, plan: dict[str, Any], now: datetime) -> None:
        async def write(batch: Batch) -> None:
            updated = (
                await GridPlan.filter(id=1)
                .using_db(batch.conn)
                .update(created_at=now, document=plan)
            )
            if not updated:
                await GridPlan.create(id=1, created_at=now, document=plan, using_db=batch.conn)

        await self.writer.submit(write)


async def load_topology() -> tuple[int, Topology] | None:
    """The topology in force (newest loaded) and its record id, or None."""
    row = await GridTopology.all().order_by("-id").first()
    return None if row is None else (row.id, parse_topology(row.document))


async def save_topology(document: dict[str, Any], now: datetime) -> Topology:
    """Validate and store a topology document, in force from now on (all or nothing).

    Provisioned stations named in it get their `node` set in the same transaction.
    """
    from tortoise.transactions import in_transaction

    topology = parse_topology(document)
    async with in_transaction() as conn:
        await GridTopology.create(document=document, loaded_at=now, using_db=conn)
        for place in topology.stations:
            await Station.filter(id=place.id).using_db(conn).update(node=place.node)
    return topology


async def rate_units(station_ids: set[str]) -> dict[str, RateUnit]:
    """The rate unit each station takes, from its reported SmartChargingCtrlr.RateUnit."""
    if not station_ids:
        return {}
    rows = await DeviceVariable.filter(
        station_id__in=list(station_ids), component="SmartChargingCtrlr", variable="RateUnit"
    ).values_list("station_id", "value")
    return {station_id: rate_unit_of(value) for station_id, value in rows}


async def live_sessions(now: datetime) -> list[LiveSession]:
    """Active transactions with their latest SoC and the needs their car announced."""
    active = await Transaction.filter(state="active").values_list(
        "station_id",
        "evse_id",
        "transaction_id",
        "started_at",
        "energy_wh",
        "discharged_wh",
        "id_token",
        "id_token_type",
    )
    if not active:
        return []
    priorities = {
        (token, kind): priority
        for token, kind, priority in await IdToken.filter(
            id_token__in=list({row[6] for row in active if row[6]}), priority__gt=0
        ).values_list("id_token", "type", "priority")
    }
    # Keyed by station too: transaction ids are unique per station only ("1" is common).
    soc: dict[tuple[str, str], float] = {}
    for station_id, tx, value in (
        await MeterValue.filter(
            transaction_id__in=list({row[2] for row in active}),
            measurand="SoC",
            timestamp__gte=now - LIVE_WINDOW,
        )
        .order_by("timestamp")
        .values_list("station_id", "transaction_id", "value")
    ):
        soc[(station_id, tx)] = value / 100
    needs: dict[tuple[str, int], tuple[datetime, dict[str, Any]]] = {}
    for station_id, evse_id, received_at, payload in await ChargingNeeds.filter(
        station_id__in=list({row[0] for row in active})
    ).values_list("station_id", "evse_id", "received_at", "payload"):
        needs[(station_id, evse_id)] = (received_at, payload)
    out = []
    for station_id, evse_id, tx, started_at, energy_wh, discharged_wh, token, kind in active:
        if evse_id is None or started_at is None:
            continue
        announced = needs.get((station_id, evse_id))
        # Needs belong to this session when announced around or after its start (a car
        # sends them on plug-in, just before the transaction starts).
        fresh = announced is not None and (announced[0] - started_at).total_seconds() > -300
        out.append(
            LiveSession(
                station_id,
                evse_id,
                tx,
                started_at,
                energy_wh,
                discharged_wh,
                soc.get((station_id, tx)),
                needs_from_payload(announced[1]) if fresh and announced else None,
                priorities.get((token, kind), 0),
            )
        )
    return out


async def control_statuses() -> dict[tuple[str, int], str]:
    """(station, EVSE) -> `unmanaged: <reason> since <t>` of every EVSE the current plan
    treats as a fixed load; any other EVSE is managed."""
    row = await GridPlan.filter(id=1).first()
    listed = (row.document or {}).get("unmanaged", []) if row else []
    return {(u["station_id"], int(u["evse_id"])): str(u["status"]) for u in listed}
