"""Device model block: NotifyReport parts stored as component/variable/attribute values."""

from __future__ import annotations

from typing import Any

from csms.blocks.base import BlockContext
from csms.db.models import DeviceVariable
from csms.db.writer import Batch


def variable_rows(report_data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict of DeviceVariable fields per reported attribute (pure)."""
    rows = []
    for item in report_data:
        component = item["component"]
        variable = item["variable"]
        evse = component.get("evse") or {}
        for attribute in item["variableAttribute"]:
            rows.append(
                {
                    "component": component["name"],
                    "component_instance": component.get("instance", ""),
                    "evse_id": evse.get("id", 0),
                    "connector_id": evse.get("connectorId", 0),
                    "variable": variable["name"],
                    "variable_instance": variable.get("instance", ""),
                    "attribute_type": attribute.get("type", "Actual"),
                    "value": attribute.get("value"),
                    "mutability": attribute.get("mutability"),
                    "characteristics": item.get("variableCharacteristics"),
                }
            )
    return rows


class DeviceModel:
    def __init__(self, context: BlockContext):
        self.context = context

    async def notify_report(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        rows = variable_rows(payload.get("reportData", []))
        now = self.context.clock()

        async def write(batch: Batch) -> None:
            # One read of the station's existing keys, then bulk inserts and one executemany
            # update: a FullInventory of thousands of attributes must not hold the shared
            # group commit (and every other station's acknowledgement) for long.
            existing = {
                tuple(key[:-1]): key[-1]
                for key in await DeviceVariable.filter(station_id=station_id)
                .using_db(batch.conn)
                .values_list(*_KEY, "id")
            }
            latest = {tuple(fields[name] for name in _KEY): fields for fields in rows}
            for key, fields in latest.items():
                row_id = existing.get(key)
                if row_id is None:
                    batch.insert(DeviceVariable(station_id=station_id, updated_at=now, **fields))
                else:
                    batch.update(
                        DeviceVariable(id=row_id, station_id=station_id, updated_at=now, **fields),
                        _UPDATED,
                    )

        await self.context.writer.submit(write)
        return {}

    async def variables(
        self, station_id: str, component: str | None = None, variable: str | None = None
    ) -> list[dict[str, Any]]:
        return await list_variables(station_id, component, variable)


async def list_variables(
    station_id: str, component: str | None = None, variable: str | None = None
) -> list[dict[str, Any]]:
    """A station's stored device model (a 1.6 station's configuration included)."""
    query = DeviceVariable.filter(station_id=station_id)
    if component:
        query = query.filter(component=component)
    if variable:
        query = query.filter(variable=variable)
    rows = await query.order_by("component", "evse_id", "connector_id", "variable")
    return [{name: getattr(row, name) for name in (*_KEY, "value", "mutability")} for row in rows]


_UPDATED = ("value", "mutability", "characteristics", "updated_at")
_KEY = (
    "component",
    "component_instance",
    "evse_id",
    "connector_id",
    "variable",
    "variable_instance",
    "attribute_type",
)
