"""The live planner: replans from live state, runs the kernel off the loop, pushes profiles.

It replans on transaction start and end, on NotifyEVChargingNeeds, on a grid event, when
an EVSE turns out not to follow its profile, and every plan interval (requests arriving
during a replan are merged into the next one); it sends SetChargingProfile only where a
session's series moved by more than the dead-band, backs off from stations that refuse
(`control.py`), plans EVSEs it does not control as fixed loads, and gives every booting
station its offline-safe default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np

from csms.blocks.base import Clock
from csms.blocks.meter import MeterValueError, readings
from csms.blocks.ports import AfterHook, CommandSender, StationLinks
from csms.config import Settings
from csms.grid.control import Answer, Change, ControlBook, ControlPolicy, ControlStatus
from csms.grid.events import POWER_EXPORT, POWER_IMPORT
from csms.grid.fallback import fallback_limits
from csms.grid.instance import Instance, Schedule
from csms.grid.live_instance import (
    GridEventValue,
    LiveSession,
    Overload,
    PlacedSession,
    build_instance,
    overloads,
)
from csms.grid.profiles import (
    Key,
    RateUnit,
    SentSchedule,
    differs,
    fallback_profile,
    forced_resends,
    split_change,
    tx_profile,
)
from csms.grid.topology import Topology
from csms.ocpp_errors import (
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    OcppError,
    StationNotConnected,
)

log = logging.getLogger(__name__)

#: CALLERROR codes by which a station says it has no smart charging at all.
NOT_SUPPORTED_CODES = frozenset({"NotImplemented", "NotSupported"})

Sleep = Callable[[float], Awaitable[None]]


def plan_interval(settings: Settings, topology: Topology | None) -> float:
    """CSMS_PLAN_INTERVAL when set to other than its default, else the topology's."""
    default = type(settings)().plan_interval
    if topology is None or settings.plan_interval != default:
        return float(settings.plan_interval)
    return topology.planning.interval_seconds


def plan_document(
    topology: Topology,
    instance: Instance,
    schedule: Schedule,
    placed: Sequence[PlacedSession],
    reason: str,
    created_at: datetime,
) -> dict[str, Any]:
    """The plan as the API shows it: sessions' power series and, per node, the planned
    peak, energy and share of that energy drawn in valley slots (the cheapest quarter)."""
    prices = np.asarray(instance.import_price)
    valley = prices <= np.quantile(prices, 0.25)
    hours = instance.slot_hours
    load: dict[str, np.ndarray] = {n.id: np.zeros(instance.slots) for n in topology.nodes}
    sessions = []
    by_id = {s.id: s for s in instance.sessions}
    for place in placed:
        power = np.asarray(schedule.power_w[place.session_id])
        station = topology.station(place.station_id)
        assert station is not None  # placed sessions are on known stations
        for node in topology.ancestors(station.node):
            load[node.id] += power
        session = by_id[place.session_id]
        final = session.initial_wh + float(
            np.sum(np.where(power > 0, power * session.efficiency, power / session.efficiency))
            * hours
        )
        sessions.append(
            {
                "transaction_id": place.transaction_id,
                "station_id": place.station_id,
                "evse_id": place.evse_id,
                "departure_slot": session.departure_slot,
                "initial_wh": round(session.initial_wh, 1),
                "target_wh": round(session.target_wh, 1),
                "planned_final_wh": round(final, 1),
                "power_w": [round(p, 1) for p in power.tolist()],
            }
        )
    nodes = []
    for node in topology.nodes:
        series = load[node.id]
        charged = np.clip(series, 0, None)
        energy = float(charged.sum() * hours)
        nodes.append(
            {
                "id": node.id,
                "import_limit_w": node.import_limit_w,
                "peak_w": round(float(series.max()), 1) if series.size else 0.0,
                "energy_kwh": round(energy / 1000, 3),
                "valley_share": round(float(charged[valley].sum() * hours) / energy, 4)
                if energy > 0
                else None,
            }
        )
    return {
        "created_at": created_at.isoformat(),
        "reason": reason,
        "start": instance.start,
        "slot_seconds": instance.slot_seconds,
        "slots": instance.slots,
        "solve_seconds": round(schedule.solve_seconds, 6),
        "objective": round(schedule.objective, 4),
        "violations": schedule.violations,
        "nodes": nodes,
        "sessions": sessions,
    }


def _net_power(values: Sequence[dict[str, Any]]) -> list[tuple[datetime, float]]:
    """(time, import - export W) of each meterValue that reports whole-outlet power."""
    try:
        samples = readings(values)
    except (MeterValueError, KeyError, TypeError, ValueError):
        return []  # the transactions block judged and flagged it; nothing to plan on
    by_time: dict[datetime, float] = {}
    for r in samples:
        if r.phase is not None or r.location not in (None, "Outlet"):
            continue
        sign = {POWER_IMPORT: 1.0, POWER_EXPORT: -1.0}.get(r.measurand)
        if sign is not None and math.isfinite(r.value):
            by_time[r.timestamp] = by_time.get(r.timestamp, 0.0) + sign * r.value
    return sorted(by_time.items())


class PlanState(Protocol):
    """What the planner reads and keeps (the database in production: `StoredPlanState`)."""

    async def topology(self) -> Topology | None:
        """The topology in force, or None before one is loaded."""
        ...

    async def sessions(self, now: datetime) -> list[LiveSession]: ...

    async def events(self, now: datetime) -> list[GridEventValue]:
        """Grid events active at `now`."""
        ...

    async def rate_units(self, station_ids: set[str]) -> dict[str, RateUnit]: ...

    async def reserved(self, now: datetime) -> set[tuple[str, int]]:
        """(station, EVSE) held by a reservation at `now` (its car may come any time)."""
        ...

    async def store(self, plan: dict[str, Any], now: datetime) -> None: ...


class LivePlanner:
    """Plans from `state`, reaches stations through `links` and `sender`; `observers()` are
    the router's after hooks it needs, `run()` plans until cancelled.

    :param max_concurrent_sends: SetChargingProfile CALLs in flight at once (each holds a
        connection's one outstanding CALL and a database write).
    :param profile_attempts: tries of one profile within a replan when the station does
        not answer (a lost answer is the network's doing; a refusal is never retried at
        once: the station backs off, see `control.py`).
    :param control: back-off, circuit breaker and disobedience thresholds.
    :param reserve_fallback: plan around the fallback limit of every EVSE without a
        session, so that the plan's profiles plus the fallbacks of cars arriving after it
        stay within every node (costs that headroom while EVSEs are idle).
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        links: StationLinks,
        sender: CommandSender,
        state: PlanState,
        *,
        max_concurrent_sends: int = 1000,
        profile_attempts: int = 2,
        control: ControlPolicy | None = None,
        reserve_fallback: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.links = links
        self.sender = sender
        self.state = state
        self.reserve_fallback = reserve_fallback
        self.max_concurrent_sends = max_concurrent_sends
        self.profile_attempts = profile_attempts
        self.control = ControlBook(control or ControlPolicy(reprobe_s=settings.reprobe_interval))
        #: How the planner waits for its next interval (a simulated clock's sleep in a
        #: simulated day).
        self.sleep: Sleep = asyncio.sleep
        self.plan: dict[str, Any] | None = None
        self.replans = 0
        self._wake = asyncio.Event()
        self._reasons: list[str] = []
        self._sent: dict[tuple[str, int, str], SentSchedule] = {}
        #: When each TxProfile in `_sent` was accepted (readings before it are not judged).
        self._accepted_at: dict[tuple[str, int, str], datetime] = {}
        #: (station, EVSE) -> the offline-safe default limit it accepted (W).
        self._defaults: dict[tuple[str, int], float] = {}
        #: (station, EVSE) -> latest measured net power (W) of its running transaction.
        self._measured: dict[tuple[str, int], float] = {}
        self._topology: Topology | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._sends = asyncio.Semaphore(max_concurrent_sends)
        self._planning = False
        #: Passes a replan request on to where the planning runs (cluster mode: the
        #: leader's process, when this one's loop is not running).
        self.forward_trigger: Callable[[str], None] | None = None

    @property
    def idle(self) -> bool:
        """Neither planning, nor asked to, nor sending a station its default profile."""
        return not (self._planning or self._wake.is_set() or self._side_tasks)

    # --- hooks --------------------------------------------------------------------------

    def observers(self) -> dict[str, AfterHook]:
        """The router's after hooks: action -> what the planner does once it is handled."""
        return {
            "BootNotification": self._booted,
            "TransactionEvent": self._tx_event,
            "NotifyEVChargingNeeds": self._needs,
            "NotifyReport": self._reported,
            "FirmwareStatusNotification": self._firmware,
        }

    def _booted(self, station_id: str, _: dict[str, Any], response: dict[str, Any]) -> None:
        if response.get("status") == "Accepted":
            self._forget(station_id)
            self._measured = {k: w for k, w in self._measured.items() if k[0] != station_id}
            self.control.reprobe(station_id, self.clock())
            self._spawn(self.send_fallback(station_id))

    def _forget(self, station_id: str) -> None:
        """Drop what the station was sent: it lost it, or it no longer counts."""
        for key in [k for k in self._sent if k[0] == station_id]:
            del self._sent[key]
            self._accepted_at.pop(key, None)
        self._defaults = {k: w for k, w in self._defaults.items() if k[0] != station_id}

    def _firmware(self, station_id: str, payload: dict[str, Any], _: dict[str, Any]) -> None:
        # New firmware may bring (or drop) smart charging: ask again.
        if payload.get("status") == "Installed":
            self.control.reprobe(station_id, self.clock())
            self.trigger("firmware installed")

    def _reported(self, station_id: str, payload: dict[str, Any], _: dict[str, Any]) -> None:
        """SmartChargingCtrlr.Available or .Enabled reported false: no smart charging."""
        for item in payload.get("reportData") or ():
            if item["component"]["name"] != "SmartChargingCtrlr":
                continue
            variable = item["variable"]["name"]
            actual = [
                a.get("value")
                for a in item["variableAttribute"]
                if a.get("type", "Actual") == "Actual"
            ]
            if variable in ("Available", "Enabled") and "false" in (str(v).lower() for v in actual):
                reason = f"SmartChargingCtrlr.{variable} is false"
                self._note(station_id, self.control.not_capable(station_id, reason, self.clock()))

    def _tx_event(self, station_id: str, payload: dict[str, Any], _: dict[str, Any]) -> None:
        tx = payload["transactionInfo"]["transactionId"]
        evse = (payload.get("evse") or {}).get("id")
        if payload["eventType"] == "Ended":
            for key in [k for k in self._sent if k[0] == station_id and k[2] == tx]:
                del self._sent[key]
                self._accepted_at.pop(key, None)
            if evse is not None:
                self._measured.pop((station_id, evse), None)
        elif evse is not None:
            self._judge_power(station_id, evse, tx, payload.get("meterValue") or ())
        if payload["eventType"] in ("Started", "Ended"):
            self.trigger(f"transaction {payload['eventType'].lower()}")

    def _judge_power(
        self, station_id: str, evse_id: int, tx: str, values: Sequence[dict[str, Any]]
    ) -> None:
        """Keep the EVSE's measured power; a reading above the limit it accepted counts
        towards a verdict of disobedience (which replans at once)."""
        key = (station_id, evse_id, tx)
        for at, power in _net_power(values):
            self._measured[key[:2]] = power
            sent = self._sent.get(key)
            if sent is not None and at >= self._accepted_at.get(key, at):
                limit = sent.at(at)
            elif sent is None and key[:2] in self._defaults:
                limit = self._defaults[key[:2]]
            else:
                continue
            self._note(station_id, self.control.measured(station_id, evse_id, power, limit, at))

    def _note(self, station_id: str, change: Change | None) -> None:
        """One log line per change of a station's control state, none per attempt; an
        EVSE becoming managed or unmanaged is planned for (and shown) at once."""
        if change is None:
            return
        log.warning("%s: %s", station_id, change.text)
        if change.managed_changed:
            self.trigger("control changed")

    def status(self, station_id: str, evse_ids: Sequence[int]) -> ControlStatus:
        """Whether the CSMS controls the station's power (its own verdict, else that of
        its first EVSE that does not follow its profile)."""
        return self.control.station_status(station_id, evse_ids)

    def _needs(self, station_id: str, _: dict[str, Any], __: dict[str, Any]) -> None:
        self.trigger("charging needs")

    def installed_limit_w(
        self, station_id: str, evse_id: int, transaction_id: str | None, at: datetime
    ) -> float | None:
        """The limit of the profile this planner last sent the session, at `at` (W); when
        it sent none, the EVSE's default (the offline-safe TxDefaultProfile it accepted)."""
        sent = self._sent.get((station_id, evse_id, transaction_id or ""))
        if sent is None:
            return self._defaults.get((station_id, evse_id))
        return sent.at(at)

    def trigger(self, reason: str) -> None:
        """Ask for a replan as soon as the current one (if any) is done."""
        if reason not in self._reasons:
            self._reasons.append(reason)
        self._wake.set()
        if self.forward_trigger is not None:
            self.forward_trigger(reason)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # --- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Replan until cancelled; a failed replan is logged and the loop goes on."""
        from csms.grid.warm import kernel_ready

        await kernel_ready()
        try:
            while True:
                reasons, self._reasons = self._reasons or ["interval"], []
                self._planning = True
                self._wake.clear()
                try:
                    await self.replan(", ".join(reasons))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("replan failed")
                finally:
                    self._planning = False
                await self._wait(plan_interval(self.settings, self._topology))
        finally:
            for task in list(self._side_tasks):
                task.cancel()
            await asyncio.gather(*self._side_tasks, return_exceptions=True)

    async def _wait(self, seconds: float) -> None:
        if self._wake.is_set():
            return
        waits = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.sleep(seconds)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting

    async def topology(self) -> Topology | None:
        """The topology in force."""
        self._topology = await self.state.topology()
        return self._topology

    async def replan(self, reason: str) -> dict[str, Any] | None:
        """Plan from live state now and push the changed profiles; return the plan."""
        from csms.grid.kernel import solve

        topology = await self.topology()
        if topology is None:
            return None
        began = time.perf_counter()
        now = self.clock()
        sessions = await self.state.sessions(now)
        events = await self.state.events(now)
        fixed = self._fixed_loads(topology, sessions)
        reserve = fallback_limits(topology) if self.reserve_fallback else {}
        # A reserved EVSE keeps its whole rating free: the reserving car may come any time.
        for station_id, evse_id in await self.state.reserved(now):
            place = topology.station(station_id)
            evse = place.evse(evse_id) if place else None
            if evse is not None:
                reserve[(station_id, evse_id)] = evse.max_import_w
        instance, placed = build_instance(topology, sessions, events, now, reserve or None, fixed)
        log.info("solving %d sessions (%s)", len(placed), reason)
        schedule = await asyncio.to_thread(solve, instance)
        solved = time.perf_counter()
        plan = plan_document(topology, instance, schedule, placed, reason, now)
        uncontrolled = {s.transaction_id for s in sessions if (s.station_id, s.evse_id) in fixed}
        plan["unplaced"] = sorted(
            {s.transaction_id for s in sessions} - {p.transaction_id for p in placed} - uncontrolled
        )
        plan["unmanaged"] = [
            {
                "station_id": station_id,
                "evse_id": evse_id,
                "status": self.control.status(station_id, evse_id).text(),
                "fixed_w": round(watts, 1),
            }
            for (station_id, evse_id), watts in sorted(fixed.items())
        ]
        plan["alerts"] = self._alerts(overloads(topology, events, fixed, now))
        plan["profiles"] = await self._dispatch(topology, instance, schedule, placed, now)
        plan["profiles"]["probes"] = await self._probe(topology, instance, sessions, fixed)
        self.plan = plan
        self.replans += 1
        log.info(
            "replanned (%s) in %.3f s (solved after %.3f s): %d sessions, %d violations, "
            "%d profiles sent, %d failed, %d offline",
            reason,
            time.perf_counter() - began,
            solved - began,
            len(placed),
            schedule.violations,
            plan["profiles"]["sent"],
            len(plan["profiles"]["failed"]),
            plan["profiles"]["offline"],
        )
        await self.state.store(plan, now)
        return plan

    def _fixed_loads(
        self, topology: Topology, sessions: Sequence[LiveSession]
    ) -> dict[tuple[str, int], float]:
        """(station, EVSE) -> W of every EVSE the CSMS does not control: a session's
        measured power (its rating while none was measured), an idle EVSE's rating (a car
        may plug in and draw it)."""
        running = {(s.station_id, s.evse_id) for s in sessions}
        fixed: dict[tuple[str, int], float] = {}
        for station in topology.stations:
            for evse in station.evses:
                key = (station.id, evse.id)
                if self.control.status(*key).managed:
                    continue
                measured = self._measured.get(key) if key in running else None
                fixed[key] = evse.max_import_w if measured is None else max(measured, 0.0)
        return fixed

    async def _probe(
        self,
        topology: Topology,
        instance: Instance,
        sessions: Sequence[LiveSession],
        fixed: dict[tuple[str, int], float],
    ) -> int:
        """Try each station whose open breaker is due for a probe with a TxProfile at the
        load it is planned at anyway (harmless if ignored); return how many were sent."""
        now = self.clock()
        start = datetime.fromisoformat(instance.start)
        probes = []
        for live in sessions:
            key = (live.station_id, live.evse_id)
            version = self.links.version(live.station_id)
            station = topology.station(live.station_id)
            evse = station.evse(live.evse_id) if station else None
            if key not in fixed or version is None or evse is None:
                continue
            if not self.control.probe_due(live.station_id, now):
                continue
            flat = SentSchedule(start, instance.slot_seconds, (fixed[key],) * instance.slots)
            unit = (await self.state.rate_units({live.station_id})).get(live.station_id, RateUnit.W)
            payload = tx_profile(evse, live.transaction_id, flat, unit, version)
            probes.append(self._send_tx((*key, live.transaction_id), payload, flat))
        await asyncio.gather(*probes)
        return len(probes)

    def _alerts(self, found: Sequence[Overload]) -> list[dict[str, Any]]:
        """The plan's alerts: nodes whose limit cannot be guaranteed; logged when they change."""
        alerts = [
            {
                "node": o.node,
                "fixed_w": round(o.fixed_w, 1),
                "limit_w": round(o.limit_w, 1),
                "event_ids": list(o.event_ids),
                "reason": (
                    f"uncontrollable load {o.fixed_w:.0f} W alone exceeds the limit "
                    f"{o.limit_w:.0f} W; managed sessions cut to their minimum"
                ),
            }
            for o in found
        ]
        previous = (self.plan or {}).get("alerts", [])
        if [a["node"] for a in alerts] != [a["node"] for a in previous]:
            for alert in alerts:
                log.error("node %s: limit not guaranteed: %s", alert["node"], alert["reason"])
        return alerts

    # --- profiles -----------------------------------------------------------------------

    async def _dispatch(
        self,
        topology: Topology,
        instance: Instance,
        schedule: Schedule,
        placed: Sequence[PlacedSession],
        now: datetime,
    ) -> dict[str, Any]:
        units = await self.state.rate_units({p.station_id for p in placed})
        start = datetime.fromisoformat(instance.start)
        slot = timedelta(seconds=instance.slot_seconds)
        kept: dict[Key, tuple[SentSchedule, SentSchedule]] = {}
        changed: dict[Key, SentSchedule] = {}
        nodes_of: dict[Key, list[str]] = {}
        targets: dict[Key, tuple[PlacedSession, str]] = {}
        offline = 0
        for place in placed:
            version = self.links.version(place.station_id)
            if version is None:
                offline += 1
                continue
            new = SentSchedule(
                start, instance.slot_seconds, tuple(schedule.power_w[place.session_id])
            )
            key = (place.station_id, place.evse_id, place.transaction_id)
            station = topology.station(place.station_id)
            assert station is not None  # placed sessions are on known stations
            nodes_of[key] = [n.id for n in topology.ancestors(station.node)]
            targets[key] = (place, version)
            old = self._sent.get(key)
            if old is not None and not differs(old, new, now, topology.planning.dead_band_w):
                kept[key] = (old, new)
            else:
                changed[key] = new
        limits = {
            n.id: n.import_limit_w_by_slot or (n.import_limit_w,) * instance.slots
            for n in instance.nodes
        }
        moments = [max(now, start + i * slot) for i in range(instance.slots)]
        for key in forced_resends(kept, changed, nodes_of, limits, moments):
            changed[key] = kept.pop(key)[1]
        fallback = fallback_limits(topology)
        cuts: list[tuple[Key, dict[str, Any], SentSchedule]] = []
        raises: list[tuple[Key, dict[str, Any], SentSchedule]] = []
        for key, new in changed.items():
            place, protocol = targets[key]
            unit = units.get(place.station_id, RateUnit.W)
            # A session without a profile of ours runs on its fallback limit.
            limit = fallback.get(key[:2], place.evse.max_import_w)
            before = self._sent.get(key) or SentSchedule(start, instance.slot_seconds, (limit,))
            cut, raised = split_change(before, new)
            for part, group in ((cut, cuts), (raised, raises)):
                if part is not None:
                    payload = tx_profile(place.evse, place.transaction_id, part, unit, protocol)
                    group.append((key, payload, part))
        # Break before make: every cut is in place before any raise, whatever the order
        # the stations answer in, so no node goes over its limit on the way. A cut that
        # was refused or not answered is not made: no raise under the same nodes goes out
        # (it would rely on that cut); the next replan tries again.
        outcomes: list[dict[str, Any] | None] = list(
            await asyncio.gather(*(self._send_tx(*send) for send in cuts))
        )
        unmade = {
            node
            for o in outcomes
            if o is not None
            for node in nodes_of[(o["station_id"], o["evse_id"], o["transaction_id"])]
        }
        held = [send for send in raises if unmade & set(nodes_of[send[0]])]
        go = [send for send in raises if not unmade & set(nodes_of[send[0]])]
        outcomes += await asyncio.gather(*(self._send_tx(*send) for send in go))
        failed = [o for o in outcomes if o is not None]
        return {
            "sent": len(outcomes),
            "accepted": len(outcomes) - len(failed),
            "unchanged": len(kept),
            "offline": offline,
            "failed": failed,
            "held": [
                {"station_id": k[0], "evse_id": k[1], "transaction_id": k[2]} for k, _, _ in held
            ],
        }

    async def _send_tx(
        self, key: tuple[str, int, str], payload: dict[str, Any], sent: SentSchedule
    ) -> dict[str, Any] | None:
        outcome = await self.send_profile(key[0], payload)
        if outcome == "Accepted":
            self._sent[key] = sent
            self._accepted_at[key] = self.clock()
            return None
        return {
            "station_id": key[0],
            "evse_id": key[1],
            "transaction_id": key[2],
            "outcome": outcome,
        }

    async def send_profile(self, station_id: str, payload: dict[str, Any]) -> str:
        """SetChargingProfile unless the station backs off; "Accepted" or what went wrong.

        An unanswered CALL is tried again at once, up to `profile_attempts` times; a
        refusal is not (the station backs off and the next replan may try). Never waits
        on a station beyond its answer or the call timeout.
        """
        if not self.control.may_send(station_id, self.clock()):
            status = self.control.station_status(station_id, ())
            return "backing off" if status.managed else status.text()
        outcome = "not sent"
        answer = Answer.NO_ANSWER
        for _ in range(self.profile_attempts):
            try:
                async with self._sends:
                    response = await self.sender.send(station_id, "SetChargingProfile", payload)
            except StationNotConnected:
                return "offline"
            except OcppError as error:
                return f"invalid: {error.code}"
            except CommandRejected as error:
                outcome = f"{type(error).__name__}: {error}"
                answer = (
                    Answer.NOT_SUPPORTED if error.code in NOT_SUPPORTED_CODES else (Answer.REJECTED)
                )
                break
            except (CommandTimeout, CommandQueueFull) as error:
                outcome = f"{type(error).__name__}: {error}"
                continue
            outcome = str(response.get("status"))
            answer = Answer.ACCEPTED if outcome == "Accepted" else Answer.REJECTED
            break
        self._note(station_id, self.control.answered(station_id, answer, self.clock()))
        return outcome

    async def send_fallback(self, station_id: str) -> None:
        """Install the station's offline-safe TxDefaultProfile on each of its EVSEs."""
        topology = await self.topology()
        place = topology.station(station_id) if topology else None
        if topology is None or place is None:
            return
        limits = fallback_limits(topology)
        unit = (await self.state.rate_units({station_id})).get(station_id, RateUnit.W)
        for evse in place.evses:
            limit = limits[(station_id, evse.id)]
            payload = fallback_profile(evse, limit, unit)
            if await self.send_profile(station_id, payload) == "Accepted":
                self._defaults[(station_id, evse.id)] = limit
