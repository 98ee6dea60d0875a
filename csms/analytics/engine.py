"""The detectors of a whole fleet in one object, pure: samples and events in, findings out.

Memory is bounded: one `EvseTrack` per EVSE (at most `max_evses`, least recently seen
dropped), one `StationLink` per station (at most `max_stations`) and the fleet
baselines (`FleetBaselines`, a fixed ring buffer per model and quantity).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from csms.analytics.baselines import FleetBaselines
from csms.analytics.detectors import Thresholds, observe
from csms.analytics.findings import AlertKind, Finding
from csms.analytics.link import StationLink
from csms.analytics.sample import Sample
from csms.analytics.state import EvseTrack

K = TypeVar("K")
V = TypeVar("V")


def _lru(table: OrderedDict[K, V], key: K, make: Callable[[], V], bound: int) -> V:
    value = table.get(key)
    if value is None:
        value = table[key] = make()
        if len(table) > bound:
            table.popitem(last=False)
    else:
        table.move_to_end(key)
    return value


class SafetyEngine:
    """Feed it `observe(sample)`, `booted`, `disconnected`, `call_error`; it returns findings.

    :param max_evses: EVSE tracks kept (each a few hundred bytes).
    :param max_stations: station link trackers kept (each ~20 timestamps).
    """

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        *,
        max_evses: int = 200_000,
        max_stations: int = 100_000,
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.fleet = FleetBaselines()
        self._tracks: OrderedDict[tuple[str, int], EvseTrack] = OrderedDict()
        self._links: OrderedDict[str, StationLink] = OrderedDict()
        self._max_evses = max_evses
        self._max_stations = max_stations

    def observe(self, sample: Sample) -> list[Finding]:
        track = _lru(self._tracks, (sample.station_id, sample.evse_id), EvseTrack, self._max_evses)
        return observe(sample, track, self.fleet, self.thresholds)

    def _link(self, station_id: str) -> StationLink:
        return _lru(self._links, station_id, StationLink, self._max_stations)

    def booted(self, station_id: str, at: datetime) -> Finding | None:
        return self._link(station_id).boots.event(station_id, at)

    def disconnected(self, station_id: str, at: datetime) -> Finding | None:
        return self._link(station_id).drops.event(station_id, at)

    def call_error(self, station_id: str, at: datetime) -> Finding | None:
        return self._link(station_id).errors.event(station_id, at)

    def closed(self, station_id: str, evse_id: int, kind: AlertKind) -> None:
        """The operator closed an alert: the detector may raise it again."""
        track = self._tracks.get((station_id, evse_id))
        if track is not None:
            track.raised.discard(kind)
