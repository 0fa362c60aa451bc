"""OpenTelemetry for every process, configured by the standard ``OTEL_*`` variables.

Off by default, at zero cost: with none of the variables below set, no provider, exporter,
instrumentation or thread exists, ``intent_tracer()`` returns None and the Nurse creates no
span at all (its hot path checks one attribute per intent).

A signal is on when its exporter is chosen, explicitly (``OTEL_TRACES_EXPORTER``,
``OTEL_METRICS_EXPORTER``, ``OTEL_LOGS_EXPORTER`` = ``otlp`` or ``console``) or implicitly by
an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or the per-signal
``OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT``); ``none`` turns one off and
``OTEL_SDK_DISABLED=true`` all of them. Everything else is read by the SDK itself:
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` (default
``parentbased_always_on``) and ``_ARG``, ``OTEL_EXPORTER_OTLP_HEADERS`` / ``_TIMEOUT`` /
``_COMPRESSION`` / ``_CERTIFICATE``, ``OTEL_BSP_*``, ``OTEL_METRIC_EXPORT_INTERVAL``. Only
the OTLP/HTTP (protobuf) exporter is installed: ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` fails
loudly instead of exporting nothing.

``setup()`` runs once per process from ``cio_site.logging.configure`` (Django's
``LOGGING_CONFIG`` hook: it runs in every process, web, Nurse, Celery and commands alike,
before the middleware chain is built). When tracing is on it instruments Django (with the
ASGI instrumentation installed, without which Django emits no span under ASGI) and Celery.

The Nurse's spans (``IntentTracer``): one span per intent, whose trace id and span id are
exactly those of the ``traceparent`` the gate computed and publishes (in the NATS header and
in ``_otel_trace_context``), so the engine's spans and the decision record join this trace.
Rule child spans are recorded only for sampled intents.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from django.core.exceptions import ImproperlyConfigured
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    Tracer,
)

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from nurse.gate import Pending, Verdict
    from nurse.rules import GateContext, Rule

logger = logging.getLogger(__name__)

_EXPORTERS: Final = frozenset({"otlp", "console", "none"})
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
SPAN_DECIDE: Final = "cio.gate.decide"


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OtelConfig:
    """Which signals are exported, and how (``otlp``, ``console`` or ``none``)."""

    traces: str = "none"
    metrics: str = "none"
    logs: str = "none"
    rule_spans: bool = True

    @property
    def enabled(self) -> bool:
        return any(x != "none" for x in (self.traces, self.metrics, self.logs))


def _exporter(environ: Mapping[str, str], signal: str) -> str:
    raw = environ.get(f"OTEL_{signal}_EXPORTER")
    if raw is None or not raw.strip():
        endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
            f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        return "otlp" if endpoint else "none"
    choices = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = [c for c in choices if c not in _EXPORTERS]
    if unknown:
        raise ImproperlyConfigured(f"OTEL_{signal}_EXPORTER={raw!r}: only otlp, console and "
                                   "none are installed")
    chosen = [c for c in choices if c != "none"]
    return chosen[0] if chosen else "none"


def otel_config(environ: Mapping[str, str] | None = None) -> OtelConfig:
    """Read the standard variables (and ``CIO_OTEL_RULE_SPANS``); fail loudly on bad ones."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return OtelConfig()
    config = OtelConfig(
        traces=_exporter(env, "TRACES"), metrics=_exporter(env, "METRICS"),
        logs=_exporter(env, "LOGS"),
        rule_spans=env.get("CIO_OTEL_RULE_SPANS", "true").strip().lower() in _TRUE,
    )
    if config.enabled:
        for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                     "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"):
            protocol = env.get(name, "http/protobuf").strip().lower()
            if protocol not in ("http/protobuf", ""):
                raise ImproperlyConfigured(f"{name}={protocol!r}: only the OTLP/HTTP protobuf "
                                           "exporter is installed (use http/protobuf)")
    return config


# --- span ids chosen by the caller ------------------------------------------------------------


class PresetIdGenerator(IdGenerator):
    """Random ids, except where a caller preset the next ones (per thread).

    The gate decides an intent's traceparent before any tracing code runs (it is part of
    the decision it publishes); the span must carry the same ids, which the SDK only lets
    its id generator choose. Trace ids are not flagged random (W3C level 2) so the flags
    stay the ``00``/``01`` the engine's contract shows.
    """

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._local = threading.local()

    def preset(self, trace_id: int, span_id: int) -> None:
        self._local.trace_id = trace_id
        self._local.span_id = span_id

    def clear(self) -> None:
        self._local.trace_id = None
        self._local.span_id = None

    def generate_span_id(self) -> int:
        value: int | None = getattr(self._local, "span_id", None)
        if value:
            self._local.span_id = None
            return value
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        value: int | None = getattr(self._local, "trace_id", None)
        if value:
            self._local.trace_id = None
            return value
        return self._random.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        return False


def traceparent_of(context: SpanContext) -> str:
    """The W3C ``traceparent`` of a span context (version 00)."""
    return (f"00-{context.trace_id:032x}-{context.span_id:016x}-"
            f"{int(context.trace_flags) & 0x01:02x}")


def parent_context(traceparent: str | None) -> Context:
    """A context whose current span is the remote parent named by ``traceparent`` (or an
    empty context: a new trace), never the ambient one."""
    if traceparent and len(traceparent) == 55:
        try:
            remote = SpanContext(trace_id=int(traceparent[3:35], 16),
                                 span_id=int(traceparent[36:52], 16), is_remote=True,
                                 trace_flags=TraceFlags(int(traceparent[53:55], 16) & 0x01))
        except ValueError:
            return Context()
        if remote.is_valid:
            return trace.set_span_in_context(NonRecordingSpan(remote), Context())
    return Context()


# --- the Nurse's spans ------------------------------------------------------------------------


class IntentTracer:
    """Spans of the intent gate: ``begin`` in ``Gate.prepare``, rules, ``end`` after publish."""

    def __init__(self, tracer: Tracer, ids: PresetIdGenerator | None, *,
                 rule_spans: bool = True) -> None:
        self.tracer = tracer
        self.ids = ids
        self.rule_spans = rule_spans

    def begin(self, pending: Pending, parent: str | None) -> None:
        """Start the intent's span with the ids of ``pending.traceparent``.

        If the provider is not ours (ids cannot be preset) or the sampler decided otherwise
        than the parent's flags, ``pending.traceparent`` is rewritten from the span, so what
        is published always equals the span's context.
        """
        tp = pending.traceparent
        trace_id, span_id = int(tp[3:35], 16), int(tp[36:52], 16)
        if self.ids is not None:
            self.ids.preset(trace_id, span_id)
        try:
            # Attributes are few on purpose: the SDK validates each one (microseconds).
            span = self.tracer.start_span(
                SPAN_DECIDE, context=parent_context(parent), kind=SpanKind.CONSUMER,
                start_time=int(pending.received * 1e9))
        finally:
            if self.ids is not None:
                self.ids.clear()
        context = span.get_span_context()
        if (context.trace_id != trace_id or context.span_id != span_id
                or (int(context.trace_flags) & 1) != int(tp[53:55], 16) & 1):
            actual = traceparent_of(context)
            pending.traceparent = actual
            pending.trace_id = actual[3:35]
        pending.span = span

    def run_rules(self, span: Span, rules: Sequence[Rule], ctx: GateContext) -> None:
        """Run the rules; for a sampled intent, one child span per rule (timed around the
        rule alone: the spans are created after it ran, with its measured times)."""
        if not (self.rule_spans and span.is_recording()):
            for rule in rules:
                rule.fn(ctx)
            return
        timings: list[tuple[str, int, int, int]] = []
        reasons = ctx.reasons
        clock = time.time_ns
        for rule in rules:
            before = len(reasons)
            t0 = clock()
            rule.fn(ctx)
            timings.append((rule.name, t0, clock(), before))
        parent = trace.set_span_in_context(span, Context())
        for index, (name, t0, t1, before) in enumerate(timings):
            after = timings[index + 1][3] if index + 1 < len(timings) else len(reasons)
            child = self.tracer.start_span(f"cio.gate.rule {name}", context=parent,
                                           start_time=t0, attributes={"cio.rule": name})
            if after > before:
                child.set_attribute("cio.reason_codes", [c for c, _ in reasons[before:after]])
            child.end(end_time=t1)

    def end(self, pending: Pending, verdict: Verdict) -> None:
        """Close the intent's span with the final decision (after publishing)."""
        span = pending.span
        if span is None:
            return
        pending.span = None
        if span.is_recording():
            span.set_attributes({
                "cio.decision": verdict.outcome,
                "cio.reason_codes": [code for code, _ in verdict.reasons],
                "cio.policy_version": verdict.policy_version,
                "cio.decision_id": verdict.decision_id,
                "cio.strategy_id": verdict.strategy_id,
                "cio.symbol": verdict.symbol,
            })
        span.end()


# --- process-wide state -----------------------------------------------------------------------


@dataclass
class _State:
    config: OtelConfig = field(default_factory=OtelConfig)
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    logger_provider: LoggerProvider | None = None
    ids: PresetIdGenerator | None = None
    log_handler: logging.Handler | None = None
    instrumented: list[Any] = field(default_factory=list)
    listeners: list[Callable[[], None]] = field(default_factory=list)


_lock = threading.RLock()
_state = _State()


def enabled() -> bool:
    return _state.config.enabled


def tracing_enabled() -> bool:
    return _state.tracer_provider is not None


def meter_provider() -> MeterProvider | None:
    return _state.meter_provider


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` after every ``setup``/``shutdown`` (metrics re-bind instruments)."""
    with _lock:
        _state.listeners.append(listener)


def intent_tracer() -> IntentTracer | None:
    """The Nurse's tracer, or None when tracing is off (then the gate creates no span)."""
    provider = _state.tracer_provider
    if provider is None:
        return None
    return IntentTracer(provider.get_tracer("petrosa.cio.nurse"), _state.ids,
                        rule_spans=_state.config.rule_spans)


def setup(config: OtelConfig | None = None, *,
          span_exporters: Iterable[SpanExporter] | None = None,
          metric_readers: Iterable[MetricReader] | None = None,
          log_exporters: Iterable[LogRecordExporter] | None = None,
          instrument: bool = True) -> bool:
    """Install providers, exporters and instrumentations for the enabled signals.

    Idempotent for the same configuration. Tests pass exporters explicitly; otherwise the
    OTLP/HTTP or console exporters are built from the environment. Returns whether any
    signal is on."""
    config = config if config is not None else otel_config()
    with _lock:
        explicit = any(x is not None for x in (span_exporters, metric_readers, log_exporters))
        if not explicit and config == _state.config and (
                _state.tracer_provider or _state.meter_provider or not config.enabled):
            return config.enabled
        _shutdown_locked()
        _state.config = config
        if not config.enabled:
            _notify()
            return False
        from opentelemetry.sdk.resources import Resource

        resource = Resource.create({"service.name": _service_name(),
                                    "service.version": _service_version()})
        if config.traces != "none" or span_exporters is not None:
            _setup_traces(config, resource, span_exporters)
        if config.metrics != "none" or metric_readers is not None:
            _setup_metrics(config, resource, metric_readers)
        if config.logs != "none" or log_exporters is not None:
            _setup_logs(config, resource, log_exporters)
        if instrument and _state.tracer_provider is not None:
            _instrument()
        _notify()
        return True


def shutdown() -> None:
    """Flush and remove everything ``setup`` installed (tests; process exit flushes too)."""
    with _lock:
        _shutdown_locked()
        _state.config = OtelConfig()
        _notify()


def force_flush(timeout_ms: int = 5000) -> None:
    for provider in (_state.tracer_provider, _state.meter_provider, _state.logger_provider):
        if provider is not None:
            provider.force_flush(timeout_ms)


def _notify() -> None:
    for listener in list(_state.listeners):
        try:
            listener()
        except Exception:  # a broken listener must not break setup
            logger.exception("telemetry listener failed")


def _service_name() -> str:
    try:
        from django.conf import settings

        return os.environ.get("OTEL_SERVICE_NAME") or str(settings.CIO_SERVICE_NAME)
    except Exception:  # settings not configured (a bare script)
        return os.environ.get("OTEL_SERVICE_NAME", "petrosa-cio")


def _service_version() -> str:
    try:
        from django.conf import settings

        return str(settings.CIO_VERSION)
    except Exception:  # settings not configured
        return "unknown"


def _setup_traces(config: OtelConfig, resource: Any,
                  exporters: Iterable[SpanExporter] | None) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    ids = PresetIdGenerator()
    provider = TracerProvider(resource=resource, id_generator=ids)
    if exporters is not None:
        for exporter in exporters:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif config.traces == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _state.tracer_provider, _state.ids = provider, ids
    _set_global(trace.set_tracer_provider, provider, trace.get_tracer_provider)


def _setup_metrics(config: OtelConfig, resource: Any,
                   readers: Iterable[MetricReader] | None) -> None:
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    chosen: list[MetricReader]
    if readers is not None:
        chosen = list(readers)
    elif config.metrics == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        chosen = [PeriodicExportingMetricReader(ConsoleMetricExporter())]
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        chosen = [PeriodicExportingMetricReader(OTLPMetricExporter())]
    provider = MeterProvider(resource=resource, metric_readers=chosen)
    _state.meter_provider = provider
    _set_global(metrics.set_meter_provider, provider, metrics.get_meter_provider)


def _setup_logs(config: OtelConfig, resource: Any,
                exporters: Iterable[LogRecordExporter] | None) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor

    from cio_site.logging import OtlpLogHandler, RedactingFilter

    provider = LoggerProvider(resource=resource)
    if exporters is not None:
        for exporter in exporters:
            provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    elif config.logs == "console":
        from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

        provider.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogRecordExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    handler = OtlpLogHandler(provider)
    # Records leave the process: they pass the same redaction as the console.
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)
    _state.logger_provider, _state.log_handler = provider, handler


def _set_global(setter: Callable[[Any], None], provider: Any, getter: Callable[[], Any]) -> None:
    # The API allows one global provider per process; later setups (tests) keep using their
    # own providers explicitly, so a refused override only affects third-party code.
    if type(getter()).__name__.startswith("Proxy"):
        setter(provider)


def _request_hook(span: Span, request: Any) -> None:
    """Make the API envelope's and the audit trail's trace id the server span's trace id."""
    context = span.get_span_context()
    if context.is_valid:
        request.cio_trace_id = f"{context.trace_id:032x}"


def _instrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    provider = _state.tracer_provider
    meters = _state.meter_provider
    django = DjangoInstrumentor()
    if not django.is_instrumented_by_opentelemetry:
        # Probes and scrapes would be most of the spans and say nothing.
        django.instrument(tracer_provider=provider, meter_provider=meters,
                          request_hook=_request_hook,
                          excluded_urls=os.environ.get(
                              "OTEL_PYTHON_DJANGO_EXCLUDED_URLS",
                              "api/v1/health/live,api/v1/health/ready,metrics"))
        _state.instrumented.append(django)
    celery = CeleryInstrumentor()  # type: ignore[no-untyped-call]  # untyped __init__
    if not celery.is_instrumented_by_opentelemetry:
        celery.instrument(tracer_provider=provider, meter_provider=meters)
        _state.instrumented.append(celery)


def _shutdown_locked() -> None:
    for instrumentor in reversed(_state.instrumented):
        try:
            instrumentor.uninstrument()
        except Exception:  # uninstrumenting is best effort (tests)
            logger.exception("could not uninstrument %s", type(instrumentor).__name__)
    _state.instrumented.clear()
    if _state.log_handler is not None:
        logging.getLogger().removeHandler(_state.log_handler)
        _state.log_handler = None
    for provider in (_state.tracer_provider, _state.meter_provider, _state.logger_provider):
        if provider is not None:
            try:
                provider.shutdown()
            except Exception:  # an exporter failing at shutdown must not stop the process
                logger.exception("telemetry provider shutdown failed")
    _state.tracer_provider = _state.meter_provider = _state.logger_provider = None
    _state.ids = None


class TracedAsgi:
    """An ASGI app under OpenTelemetry's ASGI middleware while tracing is on, for the routes
    Django does not serve (``/mcp``); the app itself when it is off. Checked per request,
    so tracing set up after the ASGI module was imported takes effect."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._provider: Any = None
        self._traced: Any = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        provider = _state.tracer_provider
        if provider is None:
            await self.app(scope, receive, send)
            return
        if provider is not self._provider:
            from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

            self._traced = OpenTelemetryMiddleware(self.app, tracer_provider=provider,
                                                   meter_provider=_state.meter_provider)
            self._provider = provider
        await self._traced(scope, receive, send)
