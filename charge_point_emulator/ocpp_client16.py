"""The `ocpp` library's 1.6 ChargePoint for one emulated 1.6 station: the CSMS's 1.6 CALLs
routed to the same station methods the 2.0.1 client uses, with the same fault injection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from websockets.asyncio.client import ClientConnection

from charge_point_emulator import config16, messages16
from charge_point_emulator.ocpp_client import FaultInjection

if TYPE_CHECKING:
    from charge_point_emulator.station16 import EmulatedStation16


class OcppClient16(FaultInjection, ChargePoint):
    """Answers 1.6 CALLs; faults are injected as in the 2.0.1 client."""

    station: EmulatedStation16

    def __init__(self, station: EmulatedStation16, connection: ClientConnection) -> None:
        super().__init__(
            station.station_id, connection, response_timeout=station.response_timeout_s
        )
        self.station = station
        self.lost_ids: set[str] = set()

    # --- core ------------------------------------------------------------------------

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        station = self.station
        found = config16.get_configuration(station.device_model, station.fixed_config(), key)
        return call_result.GetConfiguration(**found)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        station = self.station
        status = config16.change_configuration(
            station.device_model, station.fixed_config(), key, value
        )
        return call_result.ChangeConfiguration(status=status)

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        return call_result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, type: str, **_: Any) -> None:
        self.station.reset16(type)

    @on("RemoteStartTransaction")
    def on_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        profile = None if charging_profile is None else messages16.profile_to_201(charging_profile)
        status, _tx = self.station.remote_start(id_tag, 0, connector_id, profile)
        return call_result.RemoteStartTransaction(status=status)

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        status = self.station.remote_stop(str(transaction_id))
        return call_result.RemoteStopTransaction(status=status)

    @on("UnlockConnector")
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        unlocked = self.station.unlock(connector_id, 1) == "Unlocked"
        return call_result.UnlockConnector(status="Unlocked" if unlocked else "UnlockFailed")

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        status = self.station.change_availability(type == "Operative", connector_id or None)
        return call_result.ChangeAvailability(status=status)

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        # The emulator keeps no authorization cache: clearing it always succeeds.
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    # --- remote trigger ----------------------------------------------------------------

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        if connector_id is not None and connector_id not in self.station.evses:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> None:
        if connector_id is None or connector_id in self.station.evses:
            self.station.spawn(self.station.triggered(requested_message, connector_id))

    # --- local auth list ---------------------------------------------------------------

    @on("SendLocalList")
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        items = [
            {
                "id_token": {"id_token": item["id_tag"], "type": "ISO14443"},
                "id_token_info": item.get("id_tag_info"),
            }
            for item in local_authorization_list or []
        ]
        status = self.station.local_list.apply(list_version, update_type, items)
        return call_result.SendLocalList(status=status)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self.station.local_list.version)

    # --- reservation -------------------------------------------------------------------

    @on("ReserveNow")
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> Any:
        return call_result.ReserveNow(status=self.station.reserve(reservation_id, connector_id))

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        cancelled = self.station.reserved_connectors.pop(reservation_id, None) is not None
        return call_result.CancelReservation(status="Accepted" if cancelled else "Rejected")

    # --- firmware management -----------------------------------------------------------

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, **_: Any) -> Any:
        return call_result.GetDiagnostics(file_name=f"{self.station.station_id}-diagnostics.log")

    @after("GetDiagnostics")
    def after_get_diagnostics(self, location: str, **_: Any) -> None:
        self.station.spawn(self.station.upload_diagnostics())

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> Any:
        return call_result.UpdateFirmware()

    @after("UpdateFirmware")
    def after_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> None:
        self.station.spawn(self.station.update_firmware_16())

    # --- smart charging ----------------------------------------------------------------

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        profile = messages16.profile_to_201(cs_charging_profiles)
        status, _reason = self.station.set_charging_profile(connector_id, profile)
        return call_result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> Any:
        purpose = None
        if charging_profile_purpose is not None:
            purpose = messages16.PURPOSE_FROM_16.get(
                charging_profile_purpose, charging_profile_purpose
            )
        removed = self.station.clear_charging_profile(id, connector_id, purpose, stack_level)
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        schedule = self.station.composite_schedule(connector_id, duration, charging_rate_unit)
        if schedule is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(**messages16.composite_to_16(schedule))
