"""The `ocpp` library's ChargePoint for one emulated station: routes the CSMS's CALLs to
the station (each in its own task, so a handler may send CALLs itself) and injects the
faults that concern answers: never, late, or a lost response."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import OccurrenceConstraintViolationError, OCPPError
from ocpp.messages import MessageType, unpack
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call_result
from websockets.asyncio.client import ClientConnection

from charge_point_emulator.device_model import VariableKey
from charge_point_emulator.faults import FaultKind

if TYPE_CHECKING:
    from charge_point_emulator.station import EmulatedStation

logger = logging.getLogger(__name__)

#: What a station without smart charging answers with NotImplemented (as a widely used
#: third-party simulator does).
SMART_CHARGING_ACTIONS = frozenset(
    {"SetChargingProfile", "GetCompositeSchedule", "ClearChargingProfile", "GetChargingProfiles"}
)
#: Requests whose size the station bounds: action -> (its device model component and
#: instance of ItemsPerMessage/BytesPerMessage, the payload's list).
BOUNDED = {
    "GetVariables": ("DeviceDataCtrlr", "GetVariables", "getVariableData"),
    "SetVariables": ("DeviceDataCtrlr", "SetVariables", "setVariableData"),
    "SendLocalList": ("LocalAuthListCtrlr", None, "localAuthorizationList"),
}


class FaultInjection:
    """Routing for the `ocpp` library's ChargePoint of any version (mixed in before it):
    each CSMS CALL answered in a task of the station, faults injected on the way.

    The class mixing it in sets `station` and `lost_ids`."""

    station: EmulatedStation
    lost_ids: set[str]

    async def route_message(self, raw_msg: str) -> None:
        station = self.station
        try:
            msg = unpack(raw_msg)
        except OCPPError:
            await super().route_message(raw_msg)  # type: ignore[misc]
            return
        if msg.message_type_id == MessageType.Call:
            elapsed = station.clock.elapsed()
            if station.faults.take(FaultKind.NO_ANSWER, elapsed, msg.action):
                logger.info("%s: fault: never answering %s", station.station_id, msg.action)
                return
            if msg.action in SMART_CHARGING_ACTIONS and station.faults.holds(
                FaultKind.NO_SMART_CHARGING, elapsed
            ):
                refusal = msg.create_call_error(OcppNotImplemented(f"{msg.action} not supported"))
                station.spawn(self._send(refusal.to_json()))  # type: ignore[attr-defined]
                return
            too_big = self._too_big(msg.action, msg.payload, raw_msg)
            if too_big:
                refusal = msg.create_call_error(OccurrenceConstraintViolationError(too_big))
                station.spawn(self._send(refusal.to_json()))  # type: ignore[attr-defined]
                return
            late = station.faults.take(FaultKind.LATE_ANSWER, elapsed, msg.action)
            delay = station.clock.real_seconds(late.delay_s) if late else 0.0
            # Handled in a task so a handler may itself send CALLs without blocking reads.
            station.spawn(self._answer(raw_msg, delay))
            return
        if msg.unique_id in self.lost_ids:
            self.lost_ids.discard(msg.unique_id)
            logger.info("%s: fault: losing the response to %s", station.station_id, msg.unique_id)
            return
        await super().route_message(raw_msg)  # type: ignore[misc]

    def _too_big(self, action: str, payload: Any, raw_msg: str) -> str | None:
        """Why a request exceeds the station's ItemsPerMessage/BytesPerMessage, or None."""
        bound = BOUNDED.get(action)
        if bound is None or not isinstance(payload, dict):
            return None
        component, instance, items = bound
        model = self.station.device_model
        most = model.variables.get(
            VariableKey(component, "ItemsPerMessage", variable_instance=instance)
        )
        size = model.variables.get(
            VariableKey(component, "BytesPerMessage", variable_instance=instance)
        )
        count = len(payload.get(items) or ())
        if most is not None and count > int(most.value):
            return f"{count} items, at most {most.value} per {action}"
        if size is not None and len(raw_msg.encode()) > int(size.value):
            return f"{len(raw_msg.encode())} bytes, at most {size.value} per {action}"
        return None

    async def _answer(self, raw_msg: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        await super().route_message(raw_msg)  # type: ignore[misc]


class OcppClient(FaultInjection, ChargePoint):
    """The `ocpp` library's ChargePoint, routing CALLs to the station and injecting faults."""

    def __init__(self, station: EmulatedStation, connection: ClientConnection) -> None:
        super().__init__(
            station.station_id, connection, response_timeout=station.response_timeout_s
        )
        self.station = station
        self.lost_ids: set[str] = set()

    # --- provisioning and device model -------------------------------------------------

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return call_result.GetVariables(
            get_variable_result=[self.station.get_variable(d) for d in get_variable_data]
        )

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return call_result.SetVariables(
            set_variable_result=[self.station.set_variable(d) for d in set_variable_data]
        )

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        return call_result.GetBaseReport(status="Accepted")

    @after("GetBaseReport")
    def after_get_base_report(self, request_id: int, report_base: str, **_: Any) -> None:
        self.station.spawn(self.station.send_report(request_id, report_base))

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        return call_result.Reset(status=self.station.reset_status(type))

    @after("Reset")
    def after_reset(self, type: str, **_: Any) -> None:
        self.station.after_reset(type)

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        supported = {
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "TransactionEvent",
            "SignChargingStationCertificate",
        }
        status = "Accepted" if requested_message in supported else "NotImplemented"
        return call_result.TriggerMessage(status=status)

    @after("TriggerMessage")
    def after_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> None:
        evse_id = evse.get("id") if evse else None
        self.station.spawn(self.station.triggered(requested_message, evse_id))

    # --- security: certificates -----------------------------------------------------------

    @on("CertificateSigned")
    def on_certificate_signed(
        self, certificate_chain: str, certificate_type: str | None = None, **_: Any
    ) -> Any:
        return call_result.CertificateSigned(
            status=self.station.certificate_signed(certificate_chain)
        )

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        return call_result.InstallCertificate(
            status=self.station.certificates.install(certificate_type, certificate)
        )

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(
        self, certificate_type: list[str] | None = None, **_: Any
    ) -> Any:
        chain = self.station.certificates.installed_ids(certificate_type)
        return call_result.GetInstalledCertificateIds(
            status="Accepted" if chain else "NotFound",
            certificate_hash_data_chain=chain or None,
        )

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        return call_result.DeleteCertificate(
            status=self.station.certificates.delete(certificate_hash_data)
        )

    # --- transactions and availability -------------------------------------------------

    @on("RequestStartTransaction")
    def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        status, tx_id = self.station.remote_start(
            id_token["id_token"], remote_start_id, evse_id, charging_profile, id_token["type"]
        )
        return call_result.RequestStartTransaction(status=status, transaction_id=tx_id)

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        return call_result.RequestStopTransaction(status=self.station.remote_stop(transaction_id))

    @on("GetTransactionStatus")
    def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        ongoing, queued = self.station.transaction_status(transaction_id)
        return call_result.GetTransactionStatus(
            messages_in_queue=queued, ongoing_indicator=ongoing if transaction_id else None
        )

    @on("SendLocalList")
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        status = self.station.local_list.apply(
            version_number, update_type, local_authorization_list or []
        )
        return call_result.SendLocalList(status=status)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=self.station.local_list.version)

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        # The emulator keeps no authorization cache: clearing it always succeeds.
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        return call_result.UnlockConnector(status=self.station.unlock(evse_id, connector_id))

    @on("ChangeAvailability")
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        evse_id = evse.get("id") if evse else None
        return call_result.ChangeAvailability(
            status=self.station.change_availability(operational_status == "Operative", evse_id)
        )

    @on("SetNetworkProfile")
    def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> Any:
        status = self.station.set_network_profile(configuration_slot, connection_data)
        return call_result.SetNetworkProfile(status=status)

    # --- display messages, monitoring, customer information ----------------------------

    @on("SetDisplayMessage")
    def on_set_display_message(self, message: dict[str, Any], **_: Any) -> Any:
        return call_result.SetDisplayMessage(status=self.station.display_messages.set(message))

    @on("GetDisplayMessages")
    def on_get_display_messages(
        self,
        request_id: int,
        id: list[int] | None = None,
        priority: str | None = None,
        state: str | None = None,
        **_: Any,
    ) -> Any:
        found = self.station.display_messages.select(id, priority, state)
        return call_result.GetDisplayMessages(status="Accepted" if found else "Unknown")

    @after("GetDisplayMessages")
    def after_get_display_messages(
        self,
        request_id: int,
        id: list[int] | None = None,
        priority: str | None = None,
        state: str | None = None,
        **_: Any,
    ) -> None:
        found = self.station.display_messages.select(id, priority, state)
        if found:
            self.station.spawn(self.station.report_display_messages(request_id, found))

    @on("ClearDisplayMessage")
    def on_clear_display_message(self, id: int, **_: Any) -> Any:
        return call_result.ClearDisplayMessage(status=self.station.display_messages.clear(id))

    @on("SetVariableMonitoring")
    def on_set_variable_monitoring(
        self, set_monitoring_data: list[dict[str, Any]], **_: Any
    ) -> Any:
        results = []
        for data in set_monitoring_data:
            status, _value = self.station.device_model.get(_key_of(data))
            known = status.value not in ("UnknownComponent", "UnknownVariable")
            results.append(self.station.monitors.set(data, known))
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    @on("ClearVariableMonitoring")
    def on_clear_variable_monitoring(self, id: list[int], **_: Any) -> Any:
        return call_result.ClearVariableMonitoring(
            clear_monitoring_result=self.station.monitors.clear(id)
        )

    @on("SetMonitoringBase")
    def on_set_monitoring_base(self, monitoring_base: str, **_: Any) -> Any:
        self.station.monitors.base = monitoring_base
        return call_result.SetMonitoringBase(status="Accepted")

    @on("SetMonitoringLevel")
    def on_set_monitoring_level(self, severity: int, **_: Any) -> Any:
        self.station.monitors.level = severity
        return call_result.SetMonitoringLevel(status="Accepted")

    @on("GetMonitoringReport")
    def on_get_monitoring_report(self, request_id: int, **_: Any) -> Any:
        status = "Accepted" if self.station.monitors.by_id else "EmptyResultSet"
        return call_result.GetMonitoringReport(status=status)

    @after("GetMonitoringReport")
    def after_get_monitoring_report(self, request_id: int, **_: Any) -> None:
        if self.station.monitors.by_id:
            self.station.spawn(self.station.report_monitors(request_id))

    @on("CustomerInformation")
    def on_customer_information(self, request_id: int, report: bool, clear: bool, **_: Any) -> Any:
        return call_result.CustomerInformation(status="Accepted")

    @after("CustomerInformation")
    def after_customer_information(
        self,
        request_id: int,
        report: bool,
        clear: bool,
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        token = id_token["id_token"] if id_token else None
        self.station.spawn(self.station.report_customer(request_id, token, clear))

    # --- firmware ---------------------------------------------------------------------

    @on("UpdateFirmware")
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        return call_result.UpdateFirmware(status="Accepted")

    @after("UpdateFirmware")
    def after_update_firmware(
        self,
        request_id: int,
        firmware: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> None:
        self.station.spawn(
            self.station.update_firmware(
                request_id,
                firmware["location"],
                retries or 0,
                retry_interval or 10,
                "signature" in firmware,
            )
        )

    # --- reservations ----------------------------------------------------------------------

    @on("ReserveNow")
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        connector_type: str | None = None,
        group_id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        status = self.station.reserve_now(
            id,
            datetime.fromisoformat(expiry_date_time.replace("Z", "+00:00")),
            id_token["id_token"],
            evse_id,
            connector_type,
            group_id_token["id_token"] if group_id_token else None,
        )
        return call_result.ReserveNow(status=status)

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        return call_result.CancelReservation(status=self.station.cancel_reservation(reservation_id))

    # --- smart charging ----------------------------------------------------------------

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        status, reason = self.station.set_charging_profile(evse_id, charging_profile)
        info = {"reason_code": reason} if reason else None
        return call_result.SetChargingProfile(status=status, status_info=info)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        criteria = charging_profile_criteria or {}
        removed = self.station.clear_charging_profile(
            charging_profile_id,
            criteria.get("evse_id"),
            criteria.get("charging_profile_purpose"),
            criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on("GetChargingProfiles")
    def on_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> Any:
        found = self.station.find_profiles(charging_profile, evse_id)
        return call_result.GetChargingProfiles(status="Accepted" if found else "NoProfiles")

    @after("GetChargingProfiles")
    def after_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> None:
        found = self.station.find_profiles(charging_profile, evse_id)
        if found:
            self.station.spawn(self.station.report_profiles(request_id, found))

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        schedule = self.station.composite_schedule(evse_id, duration, charging_rate_unit)
        if schedule is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)


def _key_of(data: dict[str, Any]) -> VariableKey:
    component, variable = data["component"], data["variable"]
    evse = component.get("evse") or {}
    return VariableKey(
        component["name"],
        variable["name"],
        evse.get("id"),
        evse.get("connector_id"),
        component.get("instance"),
        variable.get("instance"),
    )
