"""An emulated OCPP 1.6J station: the same EVs, physics, offline queue, profiles and
ground truth as the 2.0.1 station, speaking 1.6's messages.

1.6 differs where the CSMS numbers a transaction: the station queues StartTransaction,
MeterValues and StopTransaction in order under an id of its own, and once the CSMS
answers StartTransaction with the integer transactionId, the transaction (and its ground
truth) is known by that id, and queued messages are sent with it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from charge_point_emulator import config16, messages16
from charge_point_emulator.clock import ocpp_time
from charge_point_emulator.evse import ConnectorStatus, EvseState
from charge_point_emulator.faults import FaultKind
from charge_point_emulator.ocpp_client16 import OcppClient16
from charge_point_emulator.station import EmulatedStation

logger = logging.getLogger(__name__)

SUBPROTOCOL16 = Subprotocol("ocpp1.6")


class EmulatedStation16(EmulatedStation):
    """One emulated 1.6 station (its connectors are the 2.0.1 station's EVSEs)."""

    subprotocol = SUBPROTOCOL16

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("model", "EMU-1.6")
        super().__init__(*args, **kwargs)
        #: The station's own transaction id (and the CSMS's, as text) -> the CSMS's id.
        self.csms_ids: dict[str, int] = {}
        #: id() of a queued StartTransaction -> the station's own id of its transaction.
        self._starts: dict[int, str] = {}
        #: reservationId -> connector
        self.reserved_connectors: dict[int, int] = {}
        self.firmware_status = "Idle"

    def _client_for(self, ws: ClientConnection) -> Any:
        return OcppClient16(self, ws)

    def fixed_config(self) -> dict[str, str]:
        smart = not self.faults.holds(FaultKind.NO_SMART_CHARGING, self.clock.elapsed())
        return config16.constants(len(self.evses), smart)

    # --- what the station says ---------------------------------------------------------

    def _boot_request(self) -> Any:
        return call.BootNotification(
            charge_point_vendor=self.vendor,
            charge_point_model=self.model,
            charge_point_serial_number=self.station_id[:25],
            firmware_version="emulator-1",
        )

    def _heartbeat_request(self) -> Any:
        return call.Heartbeat()

    def _status_request(self, evse_id: int, status: ConnectorStatus) -> Any:
        evse = self.evses[evse_id]
        charging = evse.tx.charging_state if evse.tx is not None else None
        return call.StatusNotification(
            connector_id=evse_id,
            error_code="NoError",
            status=messages16.connector_status(status, charging, evse.ev is not None),
            timestamp=ocpp_time(self.clock.now()),
        )

    def _authorize_request(self, token: str) -> Any:
        return call.Authorize(id_tag=token)

    def _authorization_status(self, response: Any) -> str:
        return str(response.id_tag_info["status"])

    def _tx_event(
        self,
        evse: EvseState,
        event_type: str,
        trigger: str,
        now: datetime,
        context: str,
        id_token: bool = False,
        stopped_reason: str | None = None,
    ) -> Any:
        tx = evse.tx
        assert tx is not None  # callers hold a transaction
        if event_type == "Updated" and trigger == "ChargingStateChanged":
            return self._status_request(evse.evse_id, ConnectorStatus.OCCUPIED)
        metered = self._metered(evse, now, context)
        register = messages16.import_register(metered)
        if event_type == "Started":
            request = call.StartTransaction(
                connector_id=evse.evse_id,
                id_tag=tx.id_token[:20],
                meter_start=round(register if register is not None else evse.import_wh),
                timestamp=ocpp_time(now),
            )
            self._starts[id(request)] = tx.transaction_id
            return request
        if event_type == "Ended":
            reason = messages16.STOP_REASON.get(stopped_reason or "", "Other")
            return call.StopTransaction(
                meter_stop=round(register if register is not None else evse.import_wh),
                timestamp=ocpp_time(now),
                transaction_id=tx.transaction_id,  # the CSMS's id is put in when sent
                reason=reason,
                id_tag=tx.id_token[:20],
            )
        return call.MeterValues(
            connector_id=evse.evse_id,
            transaction_id=tx.transaction_id,
            meter_value=[messages16.meter_value(metered)],
        )

    def _outgoing(self, payload: Any) -> Any:
        if isinstance(payload, call.MeterValues | call.StopTransaction):
            if isinstance(payload.transaction_id, int):
                return payload
            csms_id = self.csms_ids.get(payload.transaction_id)
            if csms_id is None:
                return None  # its StartTransaction was never answered: no id to send
            return replace(payload, transaction_id=csms_id)
        return payload

    def _delivered(self, request: Any, response: Any) -> None:
        if isinstance(request, call.StartTransaction):
            own = self._starts.pop(id(request), None)
            csms_id = int(response.transaction_id)
            if own is not None:
                self._assigned(own, csms_id)
            self.truth.acknowledge(str(csms_id), float(request.meter_start), 0.0)
            status = response.id_tag_info["status"]
            if status != "Accepted":
                for evse in self.evses.values():
                    if evse.tx is not None and evse.tx.transaction_id == str(csms_id):
                        self._end_transaction(
                            evse, "Deauthorized", "DeAuthorized", self.clock.now()
                        )
        elif isinstance(request, call.MeterValues) and request.transaction_id is not None:
            register = None
            for value in request.meter_value:
                for sample in value["sampled_value"]:
                    if sample.get("measurand") == "Energy.Active.Import.Register":
                        register = float(sample["value"])
            if register is not None:
                self.truth.acknowledge(self._known_as(request.transaction_id), register, 0.0)
        elif isinstance(request, call.StopTransaction):
            self.truth.acknowledge(
                self._known_as(request.transaction_id), float(request.meter_stop), 0.0
            )

    def _known_as(self, transaction_id: int | str) -> str:
        """The id a queued message's transaction has now (the CSMS's, once assigned)."""
        return str(self.csms_ids.get(str(transaction_id), transaction_id))

    def _assigned(self, own: str, csms_id: int) -> None:
        """The CSMS numbered the transaction the station called `own`."""
        self.csms_ids[own] = csms_id
        self.csms_ids[str(csms_id)] = csms_id
        self.truth.rename(own, str(csms_id))
        for evse in self.evses.values():
            if evse.tx is not None and evse.tx.transaction_id == own:
                evse.tx.transaction_id = str(csms_id)
        self._changed()

    # --- answers to the CSMS's 1.6 CALLs -------------------------------------------------

    def reset16(self, kind: str) -> None:
        """Hard or Soft: transactions end (HardReset), the station reboots."""
        self.after_reset("Immediate")

    def reserve(self, reservation_id: int, connector_id: int) -> str:
        evse = self.evses.get(connector_id)
        if evse is None and connector_id != 0:
            return "Rejected"
        if evse is not None and not evse.operative:
            return "Unavailable"
        if evse is not None and (evse.tx is not None or evse.ev is not None):
            return "Occupied"
        self.reserved_connectors[reservation_id] = connector_id
        return "Accepted"

    async def upload_diagnostics(self) -> None:
        for status in ("Uploading", "Uploaded"):
            await self._call_quietly(call.DiagnosticsStatusNotification(status=status))

    async def update_firmware_16(self) -> None:
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            self.firmware_status = status
            await self._call_quietly(call.FirmwareStatusNotification(status=status))

    async def triggered(self, message: str, evse_id: int | None) -> None:
        now = self.clock.now()
        targets = [self.evses[evse_id]] if evse_id in self.evses else list(self.evses.values())
        if message == "BootNotification":
            await self._call_quietly(self._boot_request())
        elif message == "Heartbeat":
            await self._call_quietly(call.Heartbeat())
        elif message == "StatusNotification":
            for evse in targets:
                await self._send_status(evse.evse_id, evse.wanted_status())
        elif message == "MeterValues":
            self._tick(now)
            for evse in targets:
                if evse.tx is not None:
                    self._enqueue(self._tx_event(evse, "Updated", "Trigger", now, "Trigger"))
                else:
                    value = messages16.meter_value(evse.meter_value(now, "Trigger"))
                    await self._call_quietly(
                        call.MeterValues(connector_id=evse.evse_id, meter_value=[value])
                    )
        elif message == "DiagnosticsStatusNotification":
            await self._call_quietly(call.DiagnosticsStatusNotification(status="Idle"))
        elif message == "FirmwareStatusNotification":
            await self._call_quietly(call.FirmwareStatusNotification(status=self.firmware_status))
