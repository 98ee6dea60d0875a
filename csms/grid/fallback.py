"""Offline-safe default limits, pure: per EVSE, so that every node's sum stays within it.

Each EVSE gets its hardware maximum scaled by the tightest ratio (node import limit /
sum of the hardware maxima below the node) over its ancestors. Under any node A the
sum is then at most sum(max_i) * ratio_A = limit_A, whatever the CSMS does afterwards.
"""

from __future__ import annotations

from csms.grid.topology import Topology


def fallback_limits(topology: Topology) -> dict[tuple[str, int], float]:
    """(station id, EVSE id) -> the EVSE's fallback import limit (W)."""
    below: dict[str, float] = {}
    for station in topology.stations:
        hardware = sum(e.max_import_w for e in station.evses)
        for node in topology.ancestors(station.node):
            below[node.id] = below.get(node.id, 0.0) + hardware
    limits: dict[tuple[str, int], float] = {}
    for station in topology.stations:
        ratio = 1.0
        for node in topology.ancestors(station.node):
            if below[node.id] > 0:
                ratio = min(ratio, node.import_limit_w / below[node.id])
        for evse in station.evses:
            limits[(station.id, evse.id)] = evse.max_import_w * ratio
    return limits
