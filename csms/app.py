"""Composition root: database, durable writer, block services, gateway and REST API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from aiohttp import web

from csms.analytics.service import SafetyAnalytics
from csms.api.server import bound_port, start_api, stop_api
from csms.blocks.authorization import Authorization
from csms.blocks.availability import Availability
from csms.blocks.base import BlockContext, Clock, utc_now
from csms.blocks.certificates import Certificates
from csms.blocks.charging_limits import ChargingLimits
from csms.blocks.customer import Customers
from csms.blocks.data_transfer import DataTransferRouter
from csms.blocks.device_model import DeviceModel
from csms.blocks.diagnostics import Diagnostics
from csms.blocks.local_list import LocalLists
from csms.blocks.ports import CommandSender, Handler, StationLinks
from csms.blocks.provisioning import Provisioning
from csms.blocks.reconciliation import Reconciliation
from csms.blocks.registration import Registration
from csms.blocks.remote_control import RemoteControl
from csms.blocks.reports import KINDS as REPORT_KINDS
from csms.blocks.reports import Reports
from csms.blocks.reservation import Reservations
from csms.blocks.security import Security
from csms.blocks.smart_charging import SmartCharging
from csms.blocks.tariffs import Tariffs
from csms.blocks.transaction_ids import TransactionIds
from csms.blocks.transactions import Transactions
from csms.cluster.leader import LeaderLease
from csms.cluster.node import ClusterNode
from csms.config import Settings
from csms.db.database import close_database, open_database
from csms.db.models import Station
from csms.db.writer import DurableWriter
from csms.gateway.router import Router
from csms.gateway.server import ConnectionRegistry, Gateway
from csms.gateway.v16.adapter import V16Adapter
from csms.grid.live_state import StoredPlanState
from csms.grid.planner import LivePlanner
from csms.grid.station_max import StationMax
from csms.grid.warm import kernel_ready
from swap_orchestrator.live import VENDOR_ID, SwapService

log = logging.getLogger(__name__)


class Csms:
    """The whole central system in one process. `await start()`, then `await stop()`."""

    def __init__(self, settings: Settings, clock: Clock = utc_now):
        self.settings = settings
        self.clock = clock
        self.writer = DurableWriter(settings.commit_window, settings.commit_batch)
        context = BlockContext(self.writer, settings, clock)
        self.registry = ConnectionRegistry()
        self.authorization = Authorization(context)
        self.provisioning = Provisioning(context)
        self.availability = Availability(context)
        self.transactions = Transactions(context, self.authorization)
        self.device_model = DeviceModel(context)
        self.diagnostics = Diagnostics(context)
        self.smart_charging = SmartCharging(context)
        self.data_transfer = DataTransferRouter()
        # The transport is this process's registry, or in cluster mode the cluster's (a
        # command reaches the process holding the socket); RemoteControl journals each.
        self.cluster: ClusterNode | None = None
        self.planner_lease: LeaderLease | None = None
        transport: CommandSender = self.registry
        self.links: StationLinks = self.registry
        planner_transport: CommandSender = self.registry
        if settings.redis_url is not None:
            self.cluster = ClusterNode(
                settings, self.registry, self._close_link, self.writer, clock
            )
            transport = self.cluster.sender
            self.links = self.cluster.ownership
            # The planner's commands carry its leadership: a stale leader's are refused.
            self.planner_lease = self.cluster.lease("planner")
            planner_transport = self.cluster.sender.fenced(self.planner_lease)
        self.remote_control = RemoteControl(context, transport, self.authorization)
        self.charging_limits = ChargingLimits(context)
        self.reports = Reports(context)
        self.reservations = Reservations(context, self.remote_control, self.authorization)
        self.local_lists = LocalLists(context, self.remote_control, self.authorization)
        self.registration = Registration(self.remote_control, self.links)
        self.tariffs = Tariffs(context)
        self.customers = Customers(context, self.remote_control)
        self.security = Security(context, self.remote_control)
        self.certificates = Certificates(context, self.remote_control, self.security.record_event)
        self.swap = SwapService(clock, self.links, self.remote_control, self.writer)
        self.data_transfer.register(VENDOR_ID, self.swap.data_transfer)
        self.plan_state = StoredPlanState(self.writer)
        planner_commands = RemoteControl(context, planner_transport, self.authorization)
        self.planner = LivePlanner(settings, clock, self.links, planner_commands, self.plan_state)
        if self.cluster is not None:
            # A transaction starting on any process replans at once, in the leader's.
            self.planner.forward_trigger = self._forward_replan
            self.cluster.on_replan = self._replan_requested
        # Transactions a reboot lost are ended once the station has had its say.
        self.reconciliation = Reconciliation(
            self.remote_control,
            self.transactions.end_unresumed,
            clock,
            settings.reconcile_grace,
            on_ended=self.planner.trigger,
            version_of=self.registry.version,
        )
        self.station_max = StationMax(self.plan_state, self.remote_control)
        self.router = self._routes()
        # OCPP 1.6 stations: translated onto the 2.0.1 routes above (observers included).
        self.v16 = V16Adapter(
            self.router.handler_for("v201"),
            TransactionIds(context),
            self.authorization.type_of,
            self.diagnostics.record,
            clock,
            self.remote_control,
        )
        for action, handler in self.v16.routes().items():
            self.router.add(action, handler, versions=("v16",))
        # Judging a meter jump needs the EVSE's rated power, which the grid topology holds:
        # read from the plan state's cache, loaded at start, so never from the planner's
        # (which waits for the kernel) and the same from the first event on.
        self.transactions.evse_power = self.plan_state.evse_max_power_w
        self.safety = SafetyAnalytics(
            self.writer,
            clock,
            self.remote_control.send,
            self.planner.installed_limit_w,
            self.planner.trigger,
            rating_of=self.plan_state.evse_max_power_w,
        )
        self.safety.observe(self.router)
        self.gateway = Gateway(
            settings,
            self.router,
            self.registry,
            self._on_connect,
            self._on_disconnect,
            outbound={"v16": self.v16},
            security_event=self.security.record_event,
        )
        self._api_runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _routes(self) -> Router:
        router = Router()
        router.add("BootNotification", self.provisioning.boot_notification)
        router.add("Heartbeat", self.provisioning.heartbeat)
        router.add("StatusNotification", self.availability.status_notification)
        # Reservations check who may start; the tariff adds the running cost to the answer.
        router.add(
            "TransactionEvent",
            self.reservations.guard(self.tariffs.costing(self.transactions.transaction_event)),
        )
        # Plug & Charge: contract certificates are checked around the token lookup (C07).
        router.add("Authorize", self.certificates.authorize_with(self.authorization.authorize))
        router.add("SignCertificate", self.certificates.sign_certificate)
        router.add("GetCertificateStatus", self.certificates.get_certificate_status)
        router.add("Get15118EVCertificate", self.certificates.get_15118_ev_certificate)
        router.add("MeterValues", self.transactions.meter_values)
        router.add("NotifyReport", self.device_model.notify_report)
        router.add("NotifyEVChargingNeeds", self.smart_charging.notify_ev_charging_needs)
        router.add("DataTransfer", self.data_transfer.data_transfer)
        for kind in (
            "NotifyEvent",
            "SecurityEventNotification",
            "FirmwareStatusNotification",
            "LogStatusNotification",
            "PublishFirmwareStatusNotification",
        ):
            router.add(kind, _recorder(self.diagnostics, kind))
        self._block_routes(router)
        router.add("BatterySwap", self.swap.on_battery_swap, versions=("v21",))
        for action, hook in self.planner.observers().items():
            router.after(action, hook)
        router.after("NotifyEvent", self.swap.on_notify_event)
        # GetTransactionStatus and TransactionEvent are 2.0.1/2.1's (1.6 has neither).
        router.after("BootNotification", self.reconciliation.booted, versions=("v201", "v21"))
        return router

    def _block_routes(self, router: Router) -> None:
        """The station-initiated actions of the blocks beyond the core (K, H, N, O)."""
        limits = self.charging_limits
        router.add("NotifyChargingLimit", limits.notify_charging_limit)
        router.add("ClearedChargingLimit", limits.cleared_charging_limit)
        router.add("ReportChargingProfiles", limits.report_charging_profiles)
        router.add("NotifyEVChargingSchedule", limits.notify_ev_charging_schedule)
        router.add("ReservationStatusUpdate", self.reservations.status_update)
        for kind in REPORT_KINDS:
            router.add(kind, self.reports.handler(kind))
        if self.settings.station_max_profile:
            router.after("BootNotification", self.station_max.booted)
        # A limit set or lifted at a station changes what may be planned there: replan now.
        for action in ("NotifyChargingLimit", "ClearedChargingLimit"):
            router.after(action, lambda *_: self.planner.trigger("station charging limit"))

    async def _on_connect(self, station_id: str, subprotocol: str) -> None:
        self.transactions.forget_station(station_id)
        self.v16.forget_station(station_id)
        if self.cluster is not None:
            await self.cluster.connected(station_id, self.registry.version(station_id) or "")
        await self.provisioning.mark_connected(station_id, subprotocol)

    async def _on_disconnect(self, station_id: str) -> None:
        # In a cluster the station may be linked to another process already: then that
        # link's "connected" stands.
        if self.cluster is None or await self.cluster.disconnected(station_id):
            await self.provisioning.mark_disconnected(station_id)
        self.safety.disconnected(station_id)

    async def _close_link(self, station_id: str, reason: str) -> None:
        if self.registry.is_connected(station_id):
            await self.registry.get(station_id).close(reason)

    async def readiness(self) -> dict[str, str | None]:
        """Dependency -> None when it answers now, else the error."""
        checks: dict[str, str | None] = {}
        try:
            await Station.first()
            checks["database"] = None
        except Exception as error:
            checks["database"] = f"{type(error).__name__}: {error}"
        if self.cluster is not None:
            checks["redis"] = await self.cluster.problem()
        return checks

    def node_status(self) -> dict[str, str | int | bool]:
        return {
            "node_id": self.settings.node_id,
            "connected_stations": len(self.registry.station_ids()),
            "planner_leader": self.planner_lease is None or self.planner_lease.token is not None,
            "relayed_commands": 0 if self.cluster is None else self.cluster.sender.relayed,
        }

    async def owner_nodes(self) -> dict[str, str]:
        """Station id -> the node (process) holding its socket, for linked stations."""
        if self.cluster is None:
            return dict.fromkeys(self.registry.station_ids(), self.settings.node_id)
        claims = await self.cluster.ownership.live_claims()
        return {station_id: record.node for station_id, record in claims.items()}

    @property
    def ocpp_port(self) -> int:
        return self.gateway.port

    @property
    def api_port(self) -> int:
        assert self._api_runner is not None
        return bound_port(self._api_runner)

    async def start(self, *, api: bool = True) -> None:
        await open_database(self.settings.db_url)
        if self.cluster is None:
            await self.provisioning.disconnect_all()
        self.writer.start()
        if self.cluster is not None:
            # Before the gateway: a station linked here is claimed from its first message.
            await self.cluster.start()
        await self.swap.restore()
        await self.plan_state.topology()
        await self.gateway.start()
        if api:
            self._api_runner = await start_api(self)
        self._tasks.append(asyncio.create_task(self._liveness(), name="liveness"))
        self._tasks.append(
            asyncio.create_task(
                self.plan_state.follow(self.settings.ping_interval), name="topology"
            )
        )
        planning = self.planner.run if self.planner_lease is None else self._lead_planner
        self._tasks.append(asyncio.create_task(planning(), name="planner"))
        if self.planner_lease is not None:
            # Followers load the kernel too, so that a takeover replans at once.
            self._tasks.append(asyncio.create_task(_keep_kernel_loaded(), name="kernel"))
        self._tasks.append(asyncio.create_task(self.safety.run(), name="safety analytics"))
        self._tasks.append(await self.swap.start())
        self._tasks.append(asyncio.create_task(self._renewals(), name="certificate renewal"))

    async def stop(self) -> None:
        """Stop accepting and close the links (1001) first, so that nothing new is
        written; then the background work; the writer drains last."""
        linked = self.registry.station_ids()
        await self.gateway.stop()
        await self.v16.close()
        if self.cluster is not None:
            # Stations that reconnected to another process already are that one's.
            elsewhere = await self.cluster.hand_over()
            linked = [station_id for station_id in linked if station_id not in elsewhere]
        await self.provisioning.mark_all_disconnected(linked)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.reconciliation.stop()
        await self.station_max.stop()
        await self.swap.stop()
        await self.certificates.stop()
        if self._api_runner is not None:
            await stop_api(self._api_runner)
            self._api_runner = None
        if self.cluster is not None:
            await self.cluster.stop()
        await self.writer.stop()
        await close_database()

    def _forward_replan(self, reason: str) -> None:
        assert self.cluster is not None and self.planner_lease is not None
        if self.planner_lease.token is None:
            self.cluster.forward_replan(reason)

    def _replan_requested(self, reason: str) -> None:
        assert self.planner_lease is not None
        if self.planner_lease.token is not None:
            self.planner.trigger(reason)

    async def _lead_planner(self) -> None:
        """Cluster mode: plan only while this process holds the planner's lease."""
        assert self.planner_lease is not None
        await self.planner_lease.lead(self.planner.run)

    async def _liveness(self) -> None:
        """Keep last-seen true to within the ping interval for every open link.

        A dead link fails its websocket ping within one more interval and is then marked
        disconnected by the gateway.
        """
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            try:
                await self.provisioning.touch(self.registry.station_ids())
            except Exception:
                log.exception("could not record last-seen times")

    async def _renewals(self) -> None:
        """Ask stations for a new certificate before theirs expires (A02), hourly."""
        while True:
            try:
                await self.certificates.renew_expiring(self.clock())
            except Exception:
                log.exception("could not check certificates for renewal")
            await asyncio.sleep(RENEWAL_CHECK_S)


#: Period of the certificate-renewal check (s).
RENEWAL_CHECK_S = 3600


async def _keep_kernel_loaded() -> None:
    """Load the kernel even when the planner that shared the load lost its leadership
    (cancelling it stops the shared load): a follower is ready to take over."""
    while True:
        try:
            await kernel_ready()
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise


def _recorder(diagnostics: Diagnostics, kind: str) -> Handler:
    async def record(station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await diagnostics.record(station_id, kind, payload)

    return record


async def serve_forever(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then shut down cleanly (acknowledged writes are committed)."""
    csms = Csms(settings)
    await csms.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info(
        "CSMS running: OCPP on port %d, REST API on http://%s:%d/api/v1",
        csms.ocpp_port,
        settings.api_host,
        csms.api_port,
    )
    try:
        await stop.wait()
        log.info("stopping: no new connections, closing links with 1001, draining writes")
    finally:
        began = loop.time()
        await csms.stop()
        log.info("stopped in %.2f s", loop.time() - began)
