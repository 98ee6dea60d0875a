"""Tariff and cost (I): price lists per token group (energy per kWh with time-of-day prices,
time per hour, a session fee, V2G discharge credited per kWh), the running cost returned in
TransactionEventResponse.totalCost, and the final cost stored when the transaction ends.

`cost` is pure: the readings of a transaction and a tariff in, the cost's parts out.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from tortoise.exceptions import IntegrityError

from csms.blocks.base import BlockContext
from csms.blocks.meter import IMPORT_REGISTER
from csms.blocks.ports import Handler
from csms.db.block_models import Tariff, TransactionCost
from csms.db.models import IdToken, MeterValue, Transaction
from csms.db.writer import Batch

log = logging.getLogger(__name__)

#: How long (s) a process trusts its cached tariff list: another process (the CLI, a peer
#: CSMS) may change it; this process's own changes are seen at once.
CACHE_S = 10.0
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class TariffError(ValueError):
    """A tariff the CSMS refuses (HTTP 422)."""


class TariffNotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Window:
    """An energy price from `start_min` to `end_min` (minutes of the UTC day; a window
    whose end is before its start runs over midnight)."""

    start_min: int
    end_min: int
    energy_price: float

    def holds(self, moment: datetime) -> bool:
        minute = moment.hour * 60 + moment.minute
        if self.start_min <= self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


@dataclass(frozen=True, slots=True)
class TariffValue:
    id: int
    name: str
    group_id: str | None
    currency: str
    energy_price: float
    time_price: float
    session_fee: float
    export_credit: float
    windows: tuple[Window, ...] = ()

    def energy_price_at(self, moment: datetime) -> float:
        """The first window holding `moment` sets the price; else the base energy price."""
        for window in self.windows:
            if window.holds(moment):
                return window.energy_price
        return self.energy_price


def cost(
    tariff: TariffValue,
    started_at: datetime,
    until: datetime,
    registers: Sequence[tuple[datetime, float]],
    energy_wh: float,
    discharged_wh: float,
) -> dict[str, float]:
    """The cost of a transaction so far (pure), by part and in total.

    Energy is priced where it was drawn: each rise of the import register at the price in
    force when it was read, scaled so that the rises sum to `energy_wh` (the energy the
    transaction counts after its data-quality checks). Discharge is credited.
    """
    rises = [
        (moment, after - before)
        for (_, before), (moment, after) in pairwise(registers)
        if after > before
    ]
    drawn = sum(rise for _, rise in rises)
    if drawn > 0:
        scale = energy_wh / drawn
        energy = sum(rise * scale / 1000 * tariff.energy_price_at(at) for at, rise in rises)
    else:
        energy = energy_wh / 1000 * tariff.energy_price_at(until)
    hours = max((until - started_at).total_seconds(), 0.0) / 3600
    parts = {
        "energy": energy,
        "time": hours * tariff.time_price,
        "fee": tariff.session_fee,
        "export_credit": discharged_wh / 1000 * tariff.export_credit,
    }
    parts = {name: round(value, 4) for name, value in parts.items()}
    total = parts["energy"] + parts["time"] + parts["fee"] - parts["export_credit"]
    return parts | {"total": round(total, 4)}


def parse_windows(items: Any) -> tuple[Window, ...]:
    """Windows from [{"from": "HH:MM", "to": "HH:MM", "energy_price": x}]; TariffError."""
    if not isinstance(items, list):
        raise TariffError("windows must be a list")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise TariffError("a window is {from, to, energy_price}")
        bounds = []
        for name in ("from", "to"):
            match = _CLOCK.match(str(item.get(name, "")))
            if match is None:
                raise TariffError(f"window {name!r} must be HH:MM (UTC)")
            bounds.append(int(match[1]) * 60 + int(match[2]))
        price = item.get("energy_price")
        if not isinstance(price, int | float) or isinstance(price, bool) or price < 0:
            raise TariffError("window energy_price must be a number >= 0")
        if bounds[0] == bounds[1]:
            raise TariffError("a window must not be empty")
        out.append(Window(bounds[0], bounds[1], float(price)))
    return tuple(out)


def _value(row: Tariff) -> TariffValue:
    return TariffValue(
        row.id,
        row.name,
        row.group_id,
        row.currency,
        row.energy_price,
        row.time_price,
        row.session_fee,
        row.export_credit,
        parse_windows(row.windows),
    )


def tariff_json(row: Tariff) -> dict[str, Any]:
    return {
        "name": row.name,
        "group_id": row.group_id,
        "currency": row.currency,
        "energy_price": row.energy_price,
        "time_price": row.time_price,
        "session_fee": row.session_fee,
        "export_credit": row.export_credit,
        "windows": row.windows,
    }


_PRICES = ("energy_price", "time_price", "session_fee", "export_credit")


class Tariffs:
    def __init__(self, context: BlockContext):
        self.context = context
        self._cache: tuple[float, list[TariffValue]] | None = None

    async def add(self, data: dict[str, Any]) -> dict[str, Any]:
        """Store a tariff (snake_case fields as in `tariff_json`). Raises TariffError."""
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise TariffError("name must be 1 to 64 characters")
        group = data.get("group_id")
        if group is not None and not isinstance(group, str):
            raise TariffError("group_id must be a string")
        currency = data.get("currency", "EUR")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise TariffError("currency must be an ISO 4217 code such as EUR")
        prices: dict[str, Any] = {}
        for field in _PRICES:
            value = data.get(field, 0.0)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise TariffError(f"{field} must be a number >= 0")
            prices[field] = float(value)
        windows = data.get("windows", [])
        parse_windows(windows)
        try:
            row = await Tariff.create(
                name=name,
                group_id=group,
                currency=currency,
                windows=windows,
                created_at=self.context.clock(),
                **prices,
            )
        except IntegrityError as error:
            raise TariffError(f"a tariff named {name} or for group {group} exists") from error
        self._cache = None
        return tariff_json(row)

    async def remove(self, name: str) -> None:
        if not await Tariff.filter(name=name).delete():
            raise TariffNotFound(f"no tariff {name}")
        self._cache = None

    async def _tariffs(self) -> list[TariffValue]:
        now = asyncio.get_running_loop().time()
        if self._cache is None or now - self._cache[0] > CACHE_S:
            self._cache = (now, [_value(row) for row in await Tariff.all()])
        return self._cache[1]

    def costing(self, handler: Handler) -> Handler:
        """Wrap the TransactionEvent handler: the answer carries the running cost
        (`totalCost`) when a tariff applies; the cost is stored, final at the end."""

        async def handle(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            response = await handler(station_id, payload)
            if not await self._tariffs():
                return response
            transaction_id = payload["transactionInfo"]["transactionId"]
            total = await self.update_cost(station_id, transaction_id)
            if total is not None:
                response = response | {"totalCost": round(total, 2)}
            return response

        return handle

    async def update_cost(self, station_id: str, transaction_id: str) -> float | None:
        """Compute and store the transaction's cost; its total, or None without a tariff."""
        row = await Transaction.filter(station_id=station_id, transaction_id=transaction_id).first()
        if row is None or row.started_at is None:
            return None
        stored = await TransactionCost.filter(
            station_id=station_id, transaction_id=transaction_id
        ).first()
        tariffs = await self._tariffs()
        if stored is not None:
            tariff = next((t for t in tariffs if t.id == stored.tariff_id), None)
            if tariff is None or stored.final:
                return stored.total  # the tariff was removed (or it is settled): as it was
        else:
            found = await self._tariff_for(tariffs, row.id_token, row.id_token_type)
            if found is None:
                return None
            tariff = found
        until = row.ended_at or self.context.clock()
        registers = list(
            await MeterValue.filter(
                station_id=station_id,
                transaction_id=transaction_id,
                measurand=IMPORT_REGISTER,
                phase=None,
            )
            .order_by("timestamp")
            .values_list("timestamp", "value")
        )
        parts = cost(tariff, row.started_at, until, registers, row.energy_wh, row.discharged_wh)
        fields = {
            "tariff_id": tariff.id,
            "currency": tariff.currency,
            "total": parts["total"],
            "parts": parts,
            "final": row.state == "ended",
            "updated_at": self.context.clock(),
        }

        async def write(batch: Batch) -> None:
            updated = (
                await TransactionCost.filter(station_id=station_id, transaction_id=transaction_id)
                .using_db(batch.conn)
                .update(**fields)
            )
            if not updated:
                await TransactionCost.create(
                    station_id=station_id,
                    transaction_id=transaction_id,
                    using_db=batch.conn,
                    **fields,
                )

        await self.context.writer.submit(write)
        return float(parts["total"])

    async def _tariff_for(
        self, tariffs: list[TariffValue], id_token: str | None, token_type: str | None
    ) -> TariffValue | None:
        """The tariff of the token's group, else the default one (no group)."""
        group = None
        if id_token is not None:
            query = IdToken.filter(id_token=id_token)
            if token_type is not None:
                query = query.filter(type=token_type)
            group = await query.first().values_list("group_id", flat=True)
        by_group = {t.group_id: t for t in tariffs}
        return by_group.get(group) if group in by_group else by_group.get(None)


async def list_tariffs() -> list[dict[str, Any]]:
    return [tariff_json(row) for row in await Tariff.all().order_by("name")]


async def transaction_cost(station_id: str, transaction_id: str) -> dict[str, Any] | None:
    row = await TransactionCost.filter(station_id=station_id, transaction_id=transaction_id).first()
    if row is None:
        return None
    return {
        "currency": row.currency,
        "total": row.total,
        "parts": row.parts,
        "final": row.final,
        "updated_at": row.updated_at.isoformat(),
    }
