"""DataTransfer: vendor-specific messages routed by vendorId to registered handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

VendorHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class DataTransferRouter:
    def __init__(self) -> None:
        self._handlers: dict[str, VendorHandler] = {}

    def register(self, vendor_id: str, handler: VendorHandler) -> None:
        """`handler(station_id, payload)` answers a DataTransferResponse payload."""
        self._handlers[vendor_id] = handler

    async def data_transfer(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        handler = self._handlers.get(payload["vendorId"])
        if handler is None:
            return {"status": "UnknownVendorId"}
        return await handler(station_id, payload)
