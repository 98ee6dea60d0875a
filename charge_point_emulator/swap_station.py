"""Emulated battery-swap station: bays, a rack of battery slots (EVSEs) and an OCPP 2.1 or
2.0.1 connection speaking the swap contract of `swap_orchestrator/live.py`.

It does what the CSMS asks (underbody scan, swap, rack charging power), reports what
happens (BatterySwap, ScanDone, RackStatus, BayStatus) and injects the scenario's bay faults.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from charge_point_emulator.clock import SimClock, ocpp_time
from charge_point_emulator.roadside import underbody_report
from charge_point_emulator.swap_world import SWAP_VENDOR_ID, SwapStation
from charge_point_emulator.swap_yard import Yard

log = logging.getLogger(__name__)

CallHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(slots=True)
class RackSlot:
    """One battery slot (an EVSE) and the battery in it."""

    evse_id: int
    serial: str
    type: str
    capacity_wh: float
    energy_wh: float
    soh: float

    def data(self) -> dict[str, Any]:
        """OCPP 2.1 BatteryDataType (SoC and SoH in percent)."""
        return {
            "evseId": self.evse_id,
            "serialNumber": self.serial,
            "soC": round(100.0 * self.energy_wh / self.capacity_wh, 3),
            "soH": round(100.0 * self.soh, 3),
        }


@dataclass(frozen=True, slots=True)
class SwapStationTiming:
    """Simulated seconds: underbody scan, rack report period, fault report lead (the
    station's detector trips `fault_lead_s` before the mechanism stops)."""

    scan_s: float = 1.0
    rack_report_s: float = 30.0
    fault_lead_s: float = 0.5
    efficiency: float = 0.95


class SwapStationEmulator:
    """Runs until cancelled: connect, boot, report the rack, serve the CSMS's requests."""

    def __init__(
        self,
        spec: SwapStation,
        yard: Yard,
        clock: SimClock,
        url: str,
        password: str,
        subprotocol: str = "ocpp2.1",
        timing: SwapStationTiming | None = None,
    ) -> None:
        if subprotocol not in ("ocpp2.1", "ocpp2.0.1"):
            raise ValueError("subprotocol must be ocpp2.1 or ocpp2.0.1")
        self.spec = spec
        self.yard = yard
        self.clock = clock
        self.url = url
        self.password = password
        self.subprotocol = subprotocol
        self.timing = timing or SwapStationTiming()
        self.rack = {
            b.serial: RackSlot(n, b.serial, b.type, b.capacity_wh, b.soc * b.capacity_wh, b.soh)
            for n, b in enumerate(spec.batteries, start=1)
        }
        self.power_w: dict[str, float] = {}
        self.updated_at = 0.0
        self.faulted: dict[int, int] = {}  # bay -> fault generation (a swap in it aborts)
        self.generation = itertools.count(1)
        self.swaps_done = 0
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, CallHandler] = {
            "DataTransfer": self._on_data_transfer,
            "RequestBatterySwap": self._on_request_swap,
        }

    # ---- OCPP-J ---------------------------------------------------------------------------

    async def run(self) -> None:
        token = base64.b64encode(f"{self.spec.id}:{self.password}".encode()).decode()
        async with connect(
            f"{self.url}/{self.spec.id}",
            subprotocols=[self.subprotocol],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        ) as ws:
            self._ws = ws
            reader = asyncio.create_task(self._read(ws))
            try:
                boot = await self.call(
                    "BootNotification",
                    {
                        "chargingStation": {"vendorName": "Emulator", "model": "SwapStation"},
                        "reason": "PowerUp",
                    },
                )
                if boot.get("status") != "Accepted":
                    raise ConnectionError(f"boot {boot.get('status')}")
                self._spawn(self._bay_faults())
                await self._rack_loop()
            finally:
                reader.cancel()
                for task in list(self._tasks):
                    task.cancel()

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        assert self._ws is not None
        unique_id = f"s{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        await self._ws.send(json.dumps([2, unique_id, action, payload]))
        async with asyncio.timeout(10):  # not wait_for, which can swallow a cancellation
            return await future

    async def _read(self, ws: ClientConnection) -> None:
        async for text in ws:
            frame = json.loads(text)
            if frame[0] == 2:
                self._spawn(self._answer(ws, frame[1], frame[2], frame[3]))
            elif frame[1] in self._pending:
                future = self._pending.pop(frame[1])
                if frame[0] == 3:
                    future.set_result(frame[2])
                else:
                    future.set_exception(ConnectionError(f"CALLERROR {frame[2]}: {frame[3]}"))

    async def _answer(
        self, ws: ClientConnection, unique_id: str, action: str, payload: dict[str, Any]
    ) -> None:
        handler = self._handlers.get(action)
        if handler is None:
            await ws.send(json.dumps([4, unique_id, "NotImplemented", action, {}]))
            return
        await ws.send(json.dumps([3, unique_id, await handler(payload)]))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task failed", self.spec.id, exc_info=task.exception())

    async def vendor(self, message: str, data: dict[str, Any]) -> None:
        """A DataTransfer of the swap contract."""
        answer = await self.call(
            "DataTransfer", {"vendorId": SWAP_VENDOR_ID, "messageId": message, "data": data}
        )
        if answer.get("status") != "Accepted":
            log.warning("%s: %s answered %s", self.spec.id, message, answer)

    # ---- CSMS requests --------------------------------------------------------------------

    async def _on_data_transfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        data = payload.get("data") or {}
        message = payload.get("messageId")
        if payload.get("vendorId") != SWAP_VENDOR_ID:
            return {"status": "UnknownVendorId"}
        if message == "RackPower":
            self.advance(self.clock.elapsed())
            self.power_w = {s: float(w) for s, w in data["powerW"].items() if s in self.rack}
        elif message == "Scan":
            self._spawn(self._scan(str(data["vehicle"]), int(data["bay"])))
        elif message == "RequestBatterySwap":
            return await self._on_request_swap(data)
        else:
            return {"status": "UnknownMessageId"}
        return {"status": "Accepted"}

    async def _on_request_swap(self, payload: dict[str, Any]) -> dict[str, Any]:
        extra = payload.get("customData", {})
        if extra.get("batteryIn") not in self.rack:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownBattery"}}
        self._spawn(self._swap(payload))
        return {"status": "Accepted"}

    async def _scan(self, vehicle: str, bay: int) -> None:
        await self.clock.sleep(self.timing.scan_s)
        observed = ocpp_time(self.clock.now())
        report = underbody_report(self.yard, vehicle, observed, f"{self.spec.id}-scan-{vehicle}")
        await self.vendor("ScanDone", {"vehicle": vehicle, "bay": bay, "report": report})

    async def _swap(self, payload: dict[str, Any]) -> None:
        extra = payload["customData"]
        bay = int(extra["bay"])
        generation = self.faulted.get(bay, 0)
        await self.clock.sleep(self.spec.swap_s)
        if self.faulted.get(bay, 0) != generation:
            return  # the mechanism stopped; the CSMS asks again once the bay recovers
        self.advance(self.clock.elapsed())
        handed = self.rack.pop(extra["batteryIn"])
        self.power_w.pop(handed.serial, None)
        returned = next(
            v.battery
            for v in self.yard.scenario.vehicles
            if v.battery.serial == extra["batteryOut"]
        )
        slot = RackSlot(
            handed.evse_id,
            returned.serial,
            returned.type,
            returned.capacity_wh,
            returned.soc * returned.capacity_wh,
            returned.soh,
        )
        self.rack[slot.serial] = slot
        self.swaps_done += 1
        for event, battery in (("BatteryIn", slot), ("BatteryOut", handed)):
            swap = {
                "eventType": event,
                "requestId": payload["requestId"],
                "idToken": payload["idToken"],
                "batteryData": [battery.data()],
            }
            if self.subprotocol == "ocpp2.1":
                await self.call("BatterySwap", swap)
            else:
                await self.vendor("BatterySwap", swap)

    # ---- physics and reports --------------------------------------------------------------

    def advance(self, t: float) -> None:
        """Charge (or discharge) the rack at the commanded power until `t`."""
        dt_h = max(0.0, t - self.updated_at) / 3600.0
        self.updated_at = max(t, self.updated_at)
        eff = self.timing.efficiency
        for serial, p in self.power_w.items():
            slot = self.rack[serial]
            stored = p * eff * dt_h if p >= 0 else p / eff * dt_h
            slot.energy_wh = min(slot.capacity_wh, max(0.0, slot.energy_wh + stored))

    async def _rack_loop(self) -> None:
        while True:
            self.advance(self.clock.elapsed())
            await self.vendor("RackStatus", {"batteryData": [s.data() for s in self.rack.values()]})
            await self.clock.sleep(self.timing.rack_report_s)

    async def _bay_faults(self) -> None:
        changes: list[tuple[float, int, bool]] = []
        for fault in self.yard.scenario.faults:
            if fault.kind == "bay_fault" and fault.station == self.spec.id and fault.bay:
                changes.append((fault.at_s - self.timing.fault_lead_s, fault.bay, True))
                changes.append((fault.end_s, fault.bay, False))
        for at, bay, faulted in sorted(changes):
            await self.clock.sleep_until(self.clock.start + timedelta(seconds=at))
            if faulted:
                self.faulted[bay] = next(self.generation)
            status = "Faulted" if faulted else "Operative"
            await self.vendor("BayStatus", {"bay": bay, "status": status})
