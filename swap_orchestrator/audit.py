"""Independent audit of a swap report: reads only the scenario and the report (plain JSON
dicts) and lists every safety or fairness rule the event log breaks.

It shares no code with the orchestrator on purpose; its limits are the documented
defaults of the orchestrator (override them when the run used others).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

RANKS = {"normal": 0, "fleet": 1, "emergency": 2}
BATTERY_WAIT_REASONS = {"no_battery", "battery_reserved"}
LEAVES_QUEUE = {"called", "refused", "no_show", "cancelled"}
RESTART = "(forgotten at a restart)"  # the occupant of a bay a restart took out of service


@dataclass(frozen=True, slots=True)
class AuditLimits:
    freshness_s: float = 1.0
    max_casing_damage: float = 0.5
    ageing_s: float = 900.0
    tolerance_w: float = 1.0


def _windows(scenario: dict[str, Any], kind: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for fault in scenario.get("faults", []):
        if fault["kind"] == kind:
            found.setdefault(fault["station"], []).append(fault)
    return found


def _inside(windows: list[dict[str, Any]] | None, t: float) -> bool:
    return any(w["at_s"] <= t < w["at_s"] + w["duration_s"] for w in windows or ())


class _Auditor:
    def __init__(self, scenario: dict[str, Any], report: dict[str, Any], limits: AuditLimits):
        self.limits = limits
        self.report = report
        self.scenario = scenario
        self.vehicles = {v["id"]: v for v in scenario["vehicles"]}
        self.stations = {s["id"]: s for s in scenario["stations"]}
        self.truth: dict[tuple[str, str], dict[str, Any]] = {
            (p["vehicle"], p["stage"]): p for p in scenario.get("perception", [])
        }
        self.rsu_offline = _windows(scenario, "rsu_offline")
        self.bay_faults: dict[tuple[str, Any], list[dict[str, Any]]] = {}
        for fault in scenario.get("faults", []):
            if fault["kind"] == "bay_fault":
                self.bay_faults.setdefault((fault["station"], fault["bay"]), []).append(fault)
        self.problems: list[str] = []
        # Batteries handed out: their rack entry and SoC then (a restart puts them back).
        self.taken: dict[str, tuple[str, float, float, float]] = {}
        self.handed_soc: dict[str, float] = {}

    def fail(self, event: dict[str, Any] | None, text: str) -> None:
        where = f"t={event['t']:.3f} {event.get('vehicle')}: " if event else ""
        self.problems.append(where + text)

    def fresh(self, gate: dict[str, Any] | None) -> bool:
        if gate is None or not gate["passed"] or gate.get("report_id") is None:
            return False
        age = gate.get("report_age_s")
        return age is not None and 0.0 <= age <= self.limits.freshness_s

    def run(self) -> list[str]:
        events = self.report["events"]
        last_t = -math.inf
        # Per vehicle: the event log since its latest call, and its queue history.
        gates: dict[str, dict[str, dict[str, Any]]] = {}
        first_approach_check: dict[str, float] = {}
        realigns: dict[str, int] = {}
        approached: dict[str, bool] = {}
        first_queued: dict[str, float] = {}
        waiting: dict[str, float] = {}  # vehicle -> first queued time, while in the queue
        # (station, battery type) -> highest class rank the log says cannot get a battery.
        blocked: dict[tuple[str, str], int] = {}
        # Rack inventory per station: serial -> (type, capacity, soc on entry, entry time).
        rack: dict[str, dict[str, tuple[str, float, float, float]]] = {
            sid: {b["serial"]: (b["type"], b["capacity_wh"], b["soc"], 0.0) for b in s["batteries"]}
            for sid, s in self.stations.items()
        }
        in_swap: dict[str, str] = {}  # vehicle -> battery it is being given
        occupant: dict[tuple[str, int], str] = {}  # (station, bay) -> vehicle called there
        bay_of: dict[str, tuple[str, int]] = {}
        for e in events:
            if e["t"] < last_t:
                self.fail(e, "event log out of time order")
            last_t = e["t"]
            vid = e.get("vehicle")
            if vid is None:
                if e["kind"] == "restarted":
                    forget = (waiting, first_queued, bay_of, in_swap)
                    self.restarted(e, rack[e["station"]], occupant, forget)
                elif e["kind"] == "bay_recovered":
                    recovered = (str(e["station"]), int(e["bay"]))
                    if occupant.get(recovered) == RESTART:
                        del occupant[recovered]
                continue
            vehicle = self.vehicles.get(vid)
            if vehicle is None:
                self.fail(e, "vehicle not in the scenario")
                continue
            sid, kind = vehicle["station"], e["kind"]
            if kind in ("released", "no_show", "cancelled") or e.get("requeued"):
                place = bay_of.pop(vid, None)
                if place is not None and occupant.get(place) == vid:
                    del occupant[place]
            if kind == "queued":
                first_queued.setdefault(vid, e["t"])
                waiting[vid] = first_queued[vid]
            elif kind == "held" and vid in waiting and e.get("reason") in BATTERY_WAIT_REASONS:
                key = (sid, vehicle["battery"]["type"])
                rank = 2 if e["reason"] == "no_battery" else self.rank(vid)
                blocked[key] = max(blocked.get(key, -1), rank)
            elif kind in LEAVES_QUEUE:
                if kind == "called":
                    self.check_order(e, vid, waiting, blocked)
                    key = (sid, vehicle["battery"]["type"])
                    blocked[key] = -1  # a battery of this type was ready
                    gates[vid], approached[vid] = {}, False
                    self.check_bay_free(e, vid, (sid, int(e["bay"])), occupant, bay_of)
                waiting.pop(vid, None)
            if kind == "gate":
                gates.setdefault(vid, {})[e["stage"]] = e
                if e["stage"] == "approach":
                    first_approach_check.setdefault(vid, e["t"])
                if not self.fresh(e) and e["passed"]:
                    self.fail(e, f"{e['stage']} gate passed on a missing or stale report")
            elif kind == "realign":
                realigns[vid] = realigns.get(vid, 0) + 1
            elif kind == "approach_started":
                approached[vid] = True
                self.check_approach(e, vid, sid, gates.get(vid, {}), first_approach_check)
            elif kind == "released":
                if _inside(self.rsu_offline.get(sid, []), e["t"]):
                    self.fail(e, "vehicle released while the roadside unit was offline")
                age = e.get("report_age_s")
                if age is None or not 0.0 <= age <= self.limits.freshness_s:
                    self.fail(e, "vehicle released without a fresh report")
            elif kind == "swap_started":
                if bay_of.get(vid) != (sid, e.get("bay")):
                    self.fail(e, "swap started in a bay the vehicle was not called to")
                if _inside(self.bay_faults.get((sid, e.get("bay"))), e["t"]):
                    self.fail(e, "swap started in a faulty bay")
                self.check_swap(e, vid, vehicle, gates.get(vid, {}), approached, realigns)
                self.check_battery(e, vid, vehicle, rack[sid], in_swap)
            elif kind == "swap_completed":
                given = in_swap.pop(vid, None)
                if given is None:
                    self.fail(e, "swap completed that never started")
                battery = vehicle["battery"]
                rack[sid][battery["serial"]] = (
                    battery["type"],
                    battery["capacity_wh"],
                    battery["soc"],
                    e["t"],
                )
        self.check_grid()
        return self.problems

    def restarted(
        self,
        e: dict[str, Any],
        rack: dict[str, tuple[str, float, float, float]],
        occupant: dict[tuple[str, int], str],
        forget: tuple[dict[str, Any], ...],
    ) -> None:
        """The orchestrator restarted and forgot its station's vehicles: queued ones queue
        afresh, a battery being handed out is back in the rack (as it was handed out), and
        every bay a vehicle had stays blocked until the station reports it recovered,
        whatever the restarted orchestrator thinks."""
        station = e["station"]
        waiting, first_queued, bay_of, in_swap = forget
        mine = [v for v, spec in self.vehicles.items() if spec["station"] == station]
        for vid in mine:
            waiting.pop(vid, None)
            first_queued.pop(vid, None)
            place = bay_of.pop(vid, None)
            if place is not None and occupant.get(place) == vid:
                occupant[place] = RESTART
            serial = in_swap.pop(vid, None)
            if serial is not None:
                btype, capacity, _, _ = self.taken[serial]
                rack[serial] = (btype, capacity, self.handed_soc[serial], e["t"])
        blocked = {place[1] for place, v in occupant.items() if place[0] == station and v}
        if not blocked <= set(e.get("bays", ())):
            self.fail(
                e, f"restart left bays {sorted(blocked)} in use but took out only {e.get('bays')}"
            )

    def check_order(
        self,
        e: dict[str, Any],
        vid: str,
        waiting: dict[str, float],
        blocked: dict[tuple[str, str], int],
    ) -> None:
        """Nobody better placed (class with ageing, then arrival) was passed over, unless
        the log says no battery of its type was ready for its class."""
        ageing = self.limits.ageing_s

        def key(v: str) -> tuple[int, int, float]:
            rank = self.rank(v)
            return (rank + int(max(0.0, e["t"] - waiting[v]) // ageing), rank, -waiting[v])

        if vid not in waiting:
            return  # a call without queueing is reported by the swap checks
        station = self.vehicles[vid]["station"]
        mine = key(vid)
        for other in waiting:
            if other == vid or self.vehicles[other]["station"] != station:
                continue
            other_type = (station, self.vehicles[other]["battery"]["type"])
            if key(other) > mine and self.rank(other) > blocked.get(other_type, -1):
                self.fail(e, f"called ahead of {other}, who was better placed")

    def check_bay_free(
        self,
        e: dict[str, Any],
        vid: str,
        place: tuple[str, int],
        occupant: dict[tuple[str, int], str],
        bay_of: dict[str, tuple[str, int]],
    ) -> None:
        """One vehicle per bay: the previous one was released, a no-show or sent back."""
        there = occupant.get(place)
        if there is not None and there != vid:
            self.fail(e, f"called to bay {place[1]} while {there} still had it")
        if _inside(self.bay_faults.get(place), e["t"]):
            self.fail(e, f"called to bay {place[1]} during its fault")
        occupant[place], bay_of[vid] = vid, place

    def rank(self, vehicle: str) -> int:
        return RANKS[self.vehicles[vehicle].get("priority", "normal")]

    def check_approach(
        self,
        e: dict[str, Any],
        vid: str,
        sid: str,
        gates: dict[str, dict[str, Any]],
        first_check: dict[str, float],
    ) -> None:
        if _inside(self.rsu_offline.get(sid, []), e["t"]):
            self.fail(e, "vehicle moved while the roadside unit was offline")
        gate = gates.get("approach")
        if not self.fresh(gate):
            self.fail(e, "vehicle moved without a passed approach gate on a fresh report")
            return
        assert gate is not None
        if e["t"] - gate["t"] > self.limits.freshness_s:
            self.fail(e, "vehicle moved on an approach decision that had gone stale")
        truth = self.truth.get((vid, "approach"))
        if truth and truth.get("pedestrian_in_zone"):
            clear_at = first_check[vid] + float(truth.get("clears_after_s", 0.0))
            if gate["t"] - gate["report_age_s"] < clear_at - 1e-9:
                self.fail(e, "vehicle moved while its path was not clear")

    def check_swap(
        self,
        e: dict[str, Any],
        vid: str,
        vehicle: dict[str, Any],
        gates: dict[str, dict[str, Any]],
        approached: dict[str, bool],
        realigns: dict[str, int],
    ) -> None:
        stages = [gates.get(s) for s in ("approach", "bay", "underbody")]
        if not all(self.fresh(g) for g in stages):
            self.fail(e, "swap started without three passed gates on fresh reports")
            return
        times = [g["t"] for g in stages if g is not None]
        if not times[0] <= times[1] <= times[2] <= e["t"] or not approached.get(vid):
            self.fail(e, "gates passed out of order")
        bay_truth = self.truth.get((vid, "bay"))
        if bay_truth and realigns.get(vid, 0) < int(bay_truth.get("settles_after_tries", 0)):
            self.fail(e, "swap started before the car could have been aligned")
        if e.get("battery_out") != vehicle["battery"]["serial"]:
            self.fail(e, "battery_out is not the vehicle's battery")
        under = self.truth.get((vid, "underbody"))
        if under and (
            under.get("thermal_anomaly")
            or float(under.get("casing_damage", 0.0)) >= self.limits.max_casing_damage
        ):
            self.fail(e, "damaged battery taken into the rack")

    def check_battery(
        self,
        e: dict[str, Any],
        vid: str,
        vehicle: dict[str, Any],
        rack: dict[str, tuple[str, float, float, float]],
        in_swap: dict[str, str],
    ) -> None:
        station = self.stations[vehicle["station"]]
        serial, soc = e.get("battery_in"), float(e.get("battery_in_soc", -1.0))
        if soc < station["min_handout_soc"]:
            self.fail(e, f"battery {serial} left at SoC {soc:.4f}, under the hand-out SoC")
        if in_swap.get(vid) == serial:
            return  # the same swap started again after a bay fault
        entry = rack.pop(str(serial), None)
        if entry is None:
            self.fail(e, f"battery {serial} handed out but not in the rack")
            return
        in_swap[vid] = str(serial)
        self.taken[str(serial)], self.handed_soc[str(serial)] = entry, soc
        btype, capacity, soc0, since = entry
        if btype != vehicle["battery"]["type"]:
            self.fail(e, f"battery {serial} of type {btype} does not fit the vehicle")
        reachable = soc0 + station["rack_charge_w"] * (e["t"] - since) / 3600.0 / capacity
        if soc > min(1.0, reachable) + 1e-6:
            self.fail(e, f"battery {serial} SoC {soc:.4f} is more than the rack could charge")

    def check_grid(self) -> None:
        caps = _windows(self.scenario, "grid_limit")
        series_by_station = self.report.get("grid_w", {})
        end = float(self.scenario["duration_s"])
        peak = energy_wh = 0.0
        for sid, station in self.stations.items():
            series = series_by_station.get(sid)
            if not series:
                self.fail(None, f"{sid}: no power log")
                continue
            windows = caps.get(sid, [])
            for i, (t, w) in enumerate(series):
                until = series[i + 1][0] if i + 1 < len(series) else end
                limit = float(station["grid_limit_w"])
                for cap in windows:
                    if cap["at_s"] < until and t < cap["at_s"] + cap["duration_s"]:
                        limit = min(limit, float(cap["limit_w"]))
                if w > limit + self.limits.tolerance_w:
                    self.fail(
                        None, f"{sid}: {w:.0f} W from t={t:.1f} exceeds the {limit:.0f} W limit"
                    )
                peak = max(peak, w)
                energy_wh += w * (until - t) / 3600.0
        if abs(peak - float(self.report.get("grid_peak_w", -1))) > self.limits.tolerance_w:
            self.fail(None, f"grid_peak_w {self.report.get('grid_peak_w')} != power log {peak:.0f}")
        reported_kwh = float(self.report.get("energy_kwh", -1))
        if abs(reported_kwh - energy_wh / 1000.0) > 1e-3 * max(1.0, reported_kwh):
            self.fail(None, f"energy_kwh {reported_kwh} != power log {energy_wh / 1000.0:.3f}")


def audit(
    scenario: dict[str, Any], report: dict[str, Any], limits: AuditLimits | None = None
) -> list[str]:
    """Every rule the report's event log breaks (empty: the run was safe and fair)."""
    return _Auditor(scenario, report, limits or AuditLimits()).run()
