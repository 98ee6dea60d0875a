"""Operations endpoints of one process, for load balancers and monitoring: /health (the
process answers), /ready (its database and Redis answer) and /metrics (Prometheus).

They sit outside /api/v1 and outside the API's guard: a load balancer's health check
carries no token, and they reveal no station data.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from csms.api.responses import json_response
from csms.api.server import csms_of


async def get_health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "node_id": csms_of(request).settings.node_id})


async def get_ready(request: web.Request) -> web.Response:
    """200 when the database (and in cluster mode Redis) answer; 503 naming what does not."""
    checks = await csms_of(request).readiness()
    ready = all(problem is None for problem in checks.values())
    return json_response(
        {
            "status": "ready" if ready else "not ready",
            "node_id": csms_of(request).settings.node_id,
            "checks": {name: problem or "ok" for name, problem in checks.items()},
        },
        status=200 if ready else 503,
    )


async def get_metrics(request: web.Request) -> web.Response:
    """The process-wide registry (analytics, ...) and this node's link and cluster state."""
    status = csms_of(request).node_status()
    node = CollectorRegistry()
    labels = {"node": str(status["node_id"])}
    Gauge(
        "csms_connected_stations",
        "Stations whose socket this process holds",
        ["node"],
        registry=node,
    ).labels(**labels).set(float(status["connected_stations"]))
    Gauge(
        "csms_planner_leader", "1 while this process leads the planner", ["node"], registry=node
    ).labels(**labels).set(float(status["planner_leader"]))
    Counter(
        "csms_cluster_commands_relayed",
        "Commands this process relayed to the process holding the station",
        ["node"],
        registry=node,
    ).labels(**labels).inc(float(status["relayed_commands"]))
    body = generate_latest(REGISTRY) + generate_latest(node)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", get_health)
    app.router.add_get("/ready", get_ready)
    app.router.add_get("/metrics", get_metrics)
