"""``GET /metrics`` for Prometheus, closed unless ``ANJU_METRICS_TOKEN`` is set.

What it shows: requests per route (Litestar's Prometheus plugin: rate, latency, errors, in
progress), our instruments (instruments.py: door openings, audit appends), and figures other
processes leave in the database (bridge workers' message counters, devices online per
community), read at scrape time at most once per ``FIGURES_SECONDS``.

Only a bearer of the token gets it: Prometheus sends one with ``authorization: {credentials: …}``.
Without the setting neither the route nor the request middleware exists.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, get
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController, PrometheusMiddleware
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from piccolo.query.functions.aggregate import Count, Min
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from backend.access.tables import AccessRecord
from backend.devices.tables import BridgeCounter, Device, Liveness
from backend.ebikes.service import tag_counts
from backend.errors import Unauthorized
from backend.instruments import MULTIPROCESS
from backend.settings import Settings
from backend.uplink.tables import UplinkRecord

log = logging.getLogger("anju.metrics")
# A scrape storm costs the database at most one read per app process per this many seconds.
FIGURES_SECONDS = 5.0
FIGURES_TIMEOUT = 2.0
# Bridge workers are named per process (host-pid) and their rows stay: only recent ones are shown,
# so the series of restarted workers end instead of piling up.
BRIDGE_WORKERS_SHOWN_FOR = timedelta(hours=1)
CREDENTIAL_PASSES_OVER = timedelta(days=1)
# Status of a request that ended without a response: the client went away (nginx's 499).
CLIENT_CLOSED_REQUEST = 499


def request_metrics() -> PrometheusConfig:
    """Requests by method, route TEMPLATE (``/d/{token}``) and status. The plugin labels by the raw
    path unless ``group_path``: that would put plate tokens and record ids in labels, one series each.
    Requests no route matched (404s) never reach the middleware, so they are not counted."""
    return PrometheusConfig(app_name="anju", prefix="anju", group_path=True, middleware_class=RouteMetrics)


class RouteMetrics(PrometheusMiddleware):
    """The plugin's metrics, names and labels, with each route's label children looked up once.

    The plugin builds a Request and looks up four children (each under a lock) per request, which
    cost more than a trivial request itself; here a request costs two dictionary lookups.
    Labels are the plugin's with ``group_path``: method, path template, status, app name (the
    config's method exclusions and exemplars are not used by Anju, nor implemented here).
    """

    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        self._routes: dict[tuple[str, str], Any] = {}  # (method, template) → in-progress gauge child
        self._outcomes: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"] if scope["type"] == ScopeType.HTTP else scope["type"]
        route = (method, scope.get("path_template", "(unrouted)"))  # never the raw path
        in_progress = self._routes.get(route) or self._route(route)
        status = [CLIENT_CLOSED_REQUEST]  # unless a response starts: errors become 500 responses before

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        started = time.perf_counter()
        in_progress.inc()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            in_progress.dec()
            count, duration, errors = self._outcomes.get((*route, status[0])) or self._outcome(
                route, status[0]
            )
            count.inc()
            duration.observe(time.perf_counter() - started)
            if errors is not None:
                errors.inc()

    def _labels(self, route: tuple[str, str], status: int) -> dict[str, str | int | float]:
        return {
            "method": route[0],
            "path": route[1],
            "status_code": status,
            "app_name": self._config.app_name,
        }

    def _route(self, route: tuple[str, str]) -> Any:
        labels = self._labels(route, 200)
        child = self._routes[route] = self.requests_in_progress(labels).labels(*labels.values())
        return child

    def _outcome(self, route: tuple[str, str], status: int) -> tuple[Any, Any, Any]:
        labels = self._labels(route, status)
        values = [*labels.values()]
        errors = self.requests_error_count(labels).labels(*values) if 500 <= status < 600 else None
        children = self._outcomes[(*route, status)] = (
            self.request_count(labels).labels(*values),
            self.request_time(labels).labels(*values),
            errors,
        )
        return children


def scraper_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Admit only ``Authorization: Bearer <ANJU_METRICS_TOKEN>``, compared in constant time."""
    expected = connection.app.state["ctx"].settings.metrics_token.encode()
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(given.strip().encode(), expected)
    ):
        raise Unauthorized("metrics_token_required", "Metrics need the scrape token as a bearer token")


class MetricsController(PrometheusController):
    """The plugin's endpoint, guarded, with the database figures beside the process's own metrics."""

    path = "/metrics"
    guards = [scraper_only]
    include_in_schema = False

    @get()
    async def get(self, request: Request) -> Response:
        figures = await request.app.state["metrics"].families()
        return Response(
            generate_latest(_registry(figures)),
            headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
        )


class _Families:
    """A collector of metric families already gathered (prometheus_client collects synchronously)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _registry(figures: list[Metric]) -> CollectorRegistry:
    """This process's metrics, or every worker's under multiprocess mode, plus the database figures."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Families(REGISTRY.collect()))
    registry.register(_Families(figures))
    return registry


class DatabaseFigures:
    """Bridge counters and devices online, read once per ``FIGURES_SECONDS`` however often scraped.

    A failed read leaves them out of the scrape (logged once per outage); the rest still answers.
    """

    def __init__(self, seconds: float = FIGURES_SECONDS) -> None:
        self._seconds = seconds
        self._families: list[Metric] = []
        self._read_at = -math.inf
        self._lock = asyncio.Lock()
        self._failing = False

    async def families(self) -> list[Metric]:
        async with self._lock:  # concurrent scrapes share one read
            if time.monotonic() - self._read_at >= self._seconds:
                self._families = await self._read()
                self._read_at = time.monotonic()
        return self._families

    async def _read(self) -> list[Metric]:
        try:
            async with asyncio.timeout(FIGURES_TIMEOUT):
                families = [
                    *await _bridge_figures(),
                    await _devices(),
                    await _credential_passes(),
                    *await _ebike_tags(),
                    *await _uplink(),
                ]
        except Exception as exc:  # any database trouble: the scrape answers without these figures
            if not self._failing:
                log.warning(
                    "metrics: bridge and device figures unavailable (%s: %s)", type(exc).__name__, exc
                )
            self._failing = True
            return []
        if self._failing:
            log.info("metrics: bridge and device figures available again")
        self._failing = False
        return families


async def _bridge_figures() -> list[Metric]:
    """Each worker's messages by outcome, and its liveness rows (devices/ingest.py save_counters)."""
    since = datetime.now(UTC) - BRIDGE_WORKERS_SHOWN_FOR
    rows = await BridgeCounter.select(
        BridgeCounter.worker, BridgeCounter.reason, BridgeCounter.count, BridgeCounter.updated_at
    ).where(BridgeCounter.updated_at >= since)
    messages = CounterMetricFamily(
        "anju_bridge_messages",
        "Device messages per bridge worker since it started: accepted, or refused by reason",
        labels=["worker", "reason"],
    )
    stored = CounterMetricFamily(
        "anju_bridge_events_stored", "Events committed by the worker", labels=["worker"]
    )
    reconnects = CounterMetricFamily("anju_bridge_reconnects", "Broker reconnections", labels=["worker"])
    connected = GaugeMetricFamily(
        "anju_bridge_connected", "1 while connected to the broker", labels=["worker"]
    )
    lag = GaugeMetricFamily(
        "anju_bridge_batch_lag_seconds",
        "From the first message of the last batch to its commit",
        labels=["worker"],
    )
    heartbeat = GaugeMetricFamily(
        "anju_bridge_last_report_timestamp_seconds",
        "When the worker last wrote its figures (every 5 s while alive)",
        labels=["worker"],
    )
    beats: dict[str, datetime] = {}
    for row in rows:
        worker, reason, count = row["worker"], row["reason"], row["count"]
        beats[worker] = max(row["updated_at"], beats.get(worker, row["updated_at"]))
        match reason:
            case Liveness.STORED:
                stored.add_metric([worker], count)
            case Liveness.RECONNECTS:
                reconnects.add_metric([worker], count)
            case Liveness.CONNECTED:
                connected.add_metric([worker], count)
            case Liveness.BATCH_LAG_MS:
                lag.add_metric([worker], count / 1000)
            case _:
                messages.add_metric([worker, reason], count)
    for worker, beat in sorted(beats.items()):
        heartbeat.add_metric([worker], beat.timestamp())
    return [messages, stored, reconnects, connected, lag, heartbeat]


async def _devices() -> Metric:
    rows = await Device.select(Device.community, Device.online, Count(alias="devices")).group_by(
        Device.community, Device.online
    )
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"online": 0, "offline": 0})
    for row in rows:
        counts[row["community"]]["online" if row["online"] else "offline"] += row["devices"]
    family = GaugeMetricFamily(
        "anju_devices",
        "Registered devices per community (id), online or offline",
        labels=["community", "state"],
    )
    for community, states in sorted(counts.items()):
        for state, count in states.items():
            family.add_metric([str(community), state], count)
    return family


async def _credential_passes() -> Metric:
    """Card, ID-card, PIN and tag passes of the last day by whether their holder was known: a rise
    of unknown ones is cloned or unregistered cards (backend/access/ingest.py)."""
    rows = (
        await AccessRecord.select(AccessRecord.community, AccessRecord.resolution, Count(alias="passes"))
        .where(
            (AccessRecord.at >= datetime.now(UTC) - CREDENTIAL_PASSES_OVER) & (AccessRecord.resolution != "")
        )
        .group_by(AccessRecord.community, AccessRecord.resolution)
    )
    family = GaugeMetricFamily(
        "anju_access_credential_passes_24h",
        "Credential passes in the last 24 h per community (id): holder 'person' (known) or 'unknown'",
        labels=["community", "holder"],
    )
    for row in sorted(rows, key=lambda r: (r["community"], r["resolution"])):
        family.add_metric([str(row["community"]), row["resolution"]], row["passes"])
    return family


async def _ebike_tags() -> list[Metric]:
    """E-bikes registered and carrying an active tag, and their ratio (the seed's ≥ 90 % target)."""
    registered = GaugeMetricFamily(
        "anju_ebikes",
        "Registered e-bikes per community (id), with or without an active tag",
        labels=["community", "tag"],
    )
    coverage = GaugeMetricFamily(
        "anju_ebike_tag_coverage",
        "E-bikes with an active anti-theft tag / e-bikes registered",
        labels=["community"],
    )
    for community, (ebikes, tagged) in sorted((await tag_counts()).items()):
        registered.add_metric([str(community), "active"], tagged)
        registered.add_metric([str(community), "none"], ebikes - tagged)
        coverage.add_metric([str(community)], tagged / ebikes)
    return [registered, coverage]


async def _uplink() -> list[Metric]:
    """The uplink outbox by standard table: records per state, and the lag (the oldest pending
    record's age; 0 when none is pending). Its sent/rejected/failed counters are instruments.py's."""
    counts = await UplinkRecord.select(UplinkRecord.table_key, UplinkRecord.state, Count(alias="n")).group_by(
        UplinkRecord.table_key, UplinkRecord.state
    )
    oldest = (
        await UplinkRecord.select(UplinkRecord.table_key, Min(UplinkRecord.created_at, alias="oldest"))
        .where(UplinkRecord.state == "pending")
        .group_by(UplinkRecord.table_key)
    )
    records = GaugeMetricFamily(
        "anju_uplink_outbox_records",
        "Uplink outbox rows per standard table and state (pending, sent, rejected)",
        labels=["table", "state"],
    )
    for row in sorted(counts, key=lambda r: (r["table_key"], r["state"])):
        records.add_metric([row["table_key"], row["state"]], row["n"])
    lag = GaugeMetricFamily(
        "anju_uplink_lag_seconds",
        "Age of the oldest record not yet accepted by the police platform, per standard table",
        labels=["table"],
    )
    now = datetime.now(UTC)
    pending = {row["table_key"]: row["oldest"] for row in oldest}
    for table in sorted({row["table_key"] for row in counts}):
        when = pending.get(table)
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        lag.add_metric([table], max(0.0, (now - when).total_seconds()) if when else 0.0)
    return [records, lag]


def wiring(settings: Settings) -> tuple[list[type[MetricsController]], list[DefineMiddleware]]:
    """The route and the request middleware, both only when a scrape token is configured."""
    if not settings.metrics_token:
        return [], []
    if settings.metrics_dir and not MULTIPROCESS:
        log.warning(
            "ANJU_METRICS_DIR is set but this process counts alone: start it with `anju serve`, "
            "or set PROMETHEUS_MULTIPROC_DIR before it starts"
        )
    return [MetricsController], [request_metrics().middleware]


def forget_process() -> None:
    """On shutdown: drop this worker's live gauges (requests in progress) from the shared folder."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())
