"""Prometheus metrics (and their OTLP twins), the ``/metrics`` view and the Nurse's ops port.

What is measured, and where:

- Nurse, per published decision: ``cio_gate_decisions_total{outcome,reason}`` (reason =
  first code, ``none`` when approved), ``cio_gate_reasons_total{reason}`` (every code of
  every blocked decision), ``cio_gate_latency_seconds`` (histogram, receipt -> decision).
- Nurse, read at scrape time: ``cio_gate_policy_version``, ``cio_gate_queue_depth``,
  ``cio_gate_nats_connected``, ``cio_gate_dependency_up{dependency}``.
- Web, read at scrape time: ``cio_nurse_heartbeat_age_seconds{instance}`` and
  ``cio_nurse_policy_version{instance}`` (the heartbeats in Redis),
  ``cio_policy_version_current`` (database), ``cio_alert_deliveries{channel,status}`` (the
  alert delivery ledger), ``cio_metrics_source_up{source}``.

Doors (see docs/security.md): the web app's ``/metrics`` needs ``Authorization: Bearer``
with either the scrape secret ``CIO_METRICS_TOKEN`` (``_FILE``; it opens nothing else) or an
API token with the ``read`` scope. The Nurse serves ``/metrics``, ``/livez`` and ``/readyz``
on its own port ``CIO_NURSE_OPS_PORT`` (off unless set), reachable in-cluster only
(NetworkPolicy); its ``/metrics`` needs the same scrape secret when one is configured.

Zero cost when unused: the Nurse records nothing unless its ops port or OTLP metrics are on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from cio_site import telemetry

if TYPE_CHECKING:
    from nurse.gate import Pending, Verdict
    from nurse.runner import NurseRunner, _Item

logger = logging.getLogger(__name__)

LATENCY_BUCKETS: Final = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                          0.05, 0.1, 0.25, 1.0)

# The Nurse's own registry: decisions are counted where they are made.
GATE_REGISTRY = CollectorRegistry()
GATE_DECISIONS = Counter("cio_gate_decisions", "Gate decisions by outcome and first reason code",
                         ["outcome", "reason"], registry=GATE_REGISTRY)
GATE_REASONS = Counter("cio_gate_reasons", "Every reason code of every blocked decision",
                       ["reason"], registry=GATE_REGISTRY)
GATE_LATENCY = Histogram("cio_gate_latency_seconds",
                         "Gate latency per intent, from receipt to the decision built",
                         buckets=LATENCY_BUCKETS, registry=GATE_REGISTRY)


# --- OTLP twins (only when OTel metrics are on) -----------------------------------------------


class _OtelGate:
    """The same gate measurements as OTel instruments, bound to the current MeterProvider."""

    def __init__(self) -> None:
        self.decisions: Any = None
        self.latency: Any = None
        self._sources: list[NurseRunner] = []
        telemetry.on_change(self.rebind)
        self.rebind()

    def rebind(self) -> None:
        provider = telemetry.meter_provider()
        if provider is None:
            self.decisions = self.latency = None
            return
        from opentelemetry.metrics import CallbackOptions, Observation

        meter = provider.get_meter("petrosa.cio.nurse")
        self.decisions = meter.create_counter(
            "cio.gate.decisions", unit="{decision}",
            description="Gate decisions by outcome and first reason code")
        self.latency = meter.create_histogram(
            "cio.gate.latency", unit="s", description="Gate latency per intent",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS))

        def policy(options: CallbackOptions) -> Iterable[Observation]:
            for runner in list(self._sources):
                policy = runner.gate.policy
                yield Observation(policy.version if policy else 0,
                                  {"instance": runner.cfg.instance})

        meter.create_observable_gauge("cio.gate.policy_version", callbacks=[policy],
                                      description="Policy snapshot version the gate uses")

    def watch(self, runner: NurseRunner) -> None:
        self._sources.append(runner)

    def unwatch(self, runner: NurseRunner) -> None:
        with contextlib.suppress(ValueError):
            self._sources.remove(runner)


_otel_gate: _OtelGate | None = None


def _otel() -> _OtelGate:
    global _otel_gate
    if _otel_gate is None:
        _otel_gate = _OtelGate()
    return _otel_gate


# --- the Nurse's hook ---------------------------------------------------------------------------


class NurseObserver:
    """What the runner calls: spans end and metrics are recorded once per published batch.

    Built by ``nurse_observer``; the runner holds None when neither tracing, OTLP metrics
    nor the ops port is on, and then calls nothing."""

    def __init__(self, runner: NurseRunner, *, tracer: telemetry.IntentTracer | None,
                 prometheus: bool, ops_port: int | None, ops_host: str) -> None:
        self.runner = runner
        self.tracer = tracer
        self.prometheus = prometheus
        self.ops_port = ops_port
        self.ops_host = ops_host
        self.bound_port: int | None = None
        self._server: asyncio.Server | None = None
        self._children: dict[tuple[str, str], Any] = {}
        self._reason_children: dict[str, Any] = {}
        self._registry = CollectorRegistry()
        self._registry.register(_RunnerCollector(runner))

    # -- per batch --------------------------------------------------------------------------
    def after_emit(self, verdicts: Iterable[tuple[_Item, Pending, Verdict]]) -> None:
        tracer = self.tracer
        otel = _otel_gate if _otel_gate is not None and _otel_gate.decisions is not None \
            else None
        for _, pending, verdict in verdicts:
            if tracer is not None and pending.span is not None:
                tracer.end(pending, verdict)
            reasons = verdict.reasons
            first = reasons[0][0] if reasons else "none"
            seconds = verdict.latency_us / 1e6
            if self.prometheus:
                key = (verdict.outcome, first)
                child = self._children.get(key)
                if child is None:
                    child = self._children[key] = GATE_DECISIONS.labels(*key)
                child.inc()
                GATE_LATENCY.observe(seconds)
                for code, _ in reasons:
                    counter = self._reason_children.get(code)
                    if counter is None:
                        counter = self._reason_children[code] = GATE_REASONS.labels(code)
                    counter.inc()
            if otel is not None:
                otel.decisions.add(1, {"outcome": verdict.outcome, "reason": first})
                otel.latency.record(seconds)

    # -- ops port ---------------------------------------------------------------------------
    async def start(self) -> None:
        if _otel_gate is not None:
            _otel_gate.watch(self.runner)
        if self.ops_port is None:
            return
        self._server = await asyncio.start_server(self._serve, self.ops_host, self.ops_port)
        self.bound_port = int(self._server.sockets[0].getsockname()[1])
        logger.info("nurse ops port %s:%s (/livez /readyz /metrics)", self.ops_host,
                    self.bound_port)

    async def stop(self) -> None:
        if _otel_gate is not None:
            _otel_gate.unwatch(self.runner)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready = NATS connected and a policy loaded (Redis down is DEGRADED, still ready:
        the gate keeps deciding on its last snapshot and lets closes through)."""
        runner = self.runner
        connected = bool(runner.nc is not None and runner.nc.is_connected)
        policy = runner.gate.policy
        body = {"nats": "ok" if connected else "down",
                "policy_version": policy.version if policy else 0,
                "dependencies": dict(runner.deps), "queue_depth": len(runner.queue)}
        return connected and policy is not None, body

    def metrics_text(self) -> bytes:
        return generate_latest(GATE_REGISTRY) + generate_latest(self._registry)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A deliberately tiny HTTP/1.0 server: GET only, one request per connection. It runs
        on the gate's own event loop, so a stuck loop fails the liveness probe."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            request_line, _, rest = head.decode("latin-1").partition("\r\n")
            method, path = [*request_line.split(" "), "", ""][:2]
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in rest.split("\r\n") if ":" in line)}
            path = path.split("?", 1)[0]
            if method != "GET":
                status, ctype, body = 405, "text/plain", b"method not allowed\n"
            elif path == "/livez":
                status, ctype, body = 200, "application/json", b'{"status":"ok"}'
            elif path == "/readyz":
                ok, info = self.ready()
                status, ctype = (200 if ok else 503), "application/json"
                body = json.dumps({"ready": ok, **info}).encode()
            elif path == "/metrics":
                if scrape_token_ok(headers.get("authorization", ""), allow_anonymous=True):
                    status, ctype, body = 200, CONTENT_TYPE_LATEST, self.metrics_text()
                else:
                    status, ctype, body = 401, "text/plain", b"scrape token required\n"
            else:
                status, ctype, body = 404, "text/plain", b"not found\n"
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            writer.close()
            return
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                  503: "Service Unavailable"}[status]
        writer.write(f"HTTP/1.0 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


class _RunnerCollector(Collector):
    """Gauges read from the runner at scrape time (nothing to do per intent)."""

    def __init__(self, runner: NurseRunner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        runner = self.runner
        policy = runner.gate.policy
        yield GaugeMetricFamily("cio_gate_policy_version",
                                "Policy snapshot version this gate decides with",
                                value=policy.version if policy else 0)
        yield GaugeMetricFamily("cio_gate_queue_depth", "Intents waiting in the batch queue",
                                value=len(runner.queue))
        yield GaugeMetricFamily("cio_gate_nats_connected", "1 while connected to NATS",
                                value=1 if runner.nc is not None and runner.nc.is_connected
                                else 0)
        deps = GaugeMetricFamily("cio_gate_dependency_up", "1 when the dependency answers",
                                 labels=["dependency"])
        for name, state in sorted(runner.deps.items()):
            deps.add_metric([name], 1 if state == "ok" else 0)
        yield deps


def nurse_observer(runner: NurseRunner) -> NurseObserver | None:
    """The runner's hook, or None when nothing would be observed (the default)."""
    tracer = telemetry.intent_tracer()
    port = getattr(settings, "CIO_NURSE_OPS_PORT", None)
    otel_metrics = telemetry.meter_provider() is not None
    if otel_metrics:
        _otel()
    if tracer is None and port is None and not otel_metrics:
        return None
    return NurseObserver(runner, tracer=tracer, prometheus=port is not None, ops_port=port,
                         ops_host=getattr(settings, "CIO_NURSE_OPS_HOST", "0.0.0.0"))  # noqa: S104  (pod IP; NetworkPolicy limits who reaches it)


# --- the web app's /metrics -----------------------------------------------------------------


class FleetCollector(Collector):
    """Fleet-wide gauges read at scrape time: Nurse heartbeats (Redis), the policy version
    and alert deliveries (database). A failing source is skipped, never a failed scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from self._heartbeats()
        yield from self._database()

    def _heartbeats(self) -> Iterator[Metric]:
        import redis

        age = GaugeMetricFamily("cio_nurse_heartbeat_age_seconds",
                                "Seconds since each Nurse instance last wrote its heartbeat",
                                labels=["instance"])
        version = GaugeMetricFamily("cio_nurse_policy_version",
                                    "Policy version each Nurse instance reported",
                                    labels=["instance"])
        up = GaugeMetricFamily("cio_metrics_source_up", "1 when a metrics source answered",
                               labels=["source"])
        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1,
                                          socket_connect_timeout=1)
            try:
                raw = client.hgetall(f"{settings.CIO_NAMESPACE}:nurse:instances")
            finally:
                client.close()
        except Exception:  # Redis down: report the source down, keep the rest of the scrape
            up.add_metric(["redis"], 0)
            yield up
            return
        now = time.time()
        for key, value in raw.items():
            instance = key.decode() if isinstance(key, bytes) else str(key)
            try:
                beat = json.loads(value)
                stamp = float(beat.get("timestamp") or beat.get("last_seen") or 0)
            except (ValueError, TypeError, AttributeError):
                continue
            age.add_metric([instance], max(0.0, now - stamp))
            version.add_metric([instance], float(beat.get("policy_version") or 0))
        up.add_metric(["redis"], 1)
        yield age
        yield version
        yield up

    def _database(self) -> Iterator[Metric]:
        from django.db import close_old_connections
        from django.db.models import Count

        up = GaugeMetricFamily("cio_metrics_source_up", "1 when a metrics source answered",
                               labels=["source"])
        try:
            from alerts.models import AlertDelivery
            from governance.selectors import policy_version_current

            current = policy_version_current()
            rows = list(AlertDelivery.objects.values("channel", "status")
                        .annotate(n=Count("id")).order_by())
        except Exception:  # database down: same as above
            close_old_connections()
            up.add_metric(["database"], 0)
            yield up
            return
        yield GaugeMetricFamily("cio_policy_version_current",
                                "Fleet policy version in the database", value=current)
        deliveries = GaugeMetricFamily("cio_alert_deliveries",
                                       "Alert deliveries in the ledger by channel and status",
                                       labels=["channel", "status"])
        for row in rows:
            deliveries.add_metric([row["channel"], row["status"]], row["n"])
        yield deliveries
        up.add_metric(["database"], 1)
        yield up


WEB_REGISTRY = CollectorRegistry()
WEB_REGISTRY.register(FleetCollector())


def scrape_token_ok(header: str, *, allow_anonymous: bool = False) -> bool:
    """Whether ``Authorization`` carries the scrape secret. With ``allow_anonymous`` (the
    Nurse's in-cluster port), no configured secret means open."""
    expected = getattr(settings, "CIO_METRICS_TOKEN", None)
    if not expected:
        return allow_anonymous
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                             str(expected).encode())


def _web_principal_may_read(request: HttpRequest) -> bool | None:
    """True/False for a known caller with/without ``read``; None when anonymous."""
    from governance.api.security import principal_of
    from governance.auth import SCOPE_READ

    principal = principal_of(request)
    if principal is None:
        return None
    return principal.has(SCOPE_READ)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: Prometheus text format for the scrape secret or a ``read`` token."""
    if not scrape_token_ok(request.headers.get("Authorization", "")):
        allowed = _web_principal_may_read(request)
        if allowed is None:
            response = HttpResponse("authentication required\n", status=401,
                                    content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="petrosa-cio-metrics"'
            return response
        if not allowed:
            return HttpResponse("the read scope is required\n", status=403,
                                content_type="text/plain")
    return HttpResponse(generate_latest(WEB_REGISTRY), content_type=CONTENT_TYPE_LATEST)
