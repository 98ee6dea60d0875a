"""Prometheus metrics of the safety analytics, in prometheus-client's default registry
(the /metrics endpoint exposes whatever that registry holds)."""

from __future__ import annotations

from prometheus_client import Counter

ALERTS = Counter(
    "csms_safety_alerts",
    "Safety alerts raised by the analytics, by kind, severity and action",
    ["kind", "severity", "action"],
)
