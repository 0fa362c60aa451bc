"""The alerts app's own OpenTelemetry pipeline (tracer, logger, counter) with honest receipts.

The SDK's stock processors swallow export results. The processors here export synchronously
and remember, per thread, whether the exporter accepted the item, so the OTel channel can
tell "an OTLP collector acknowledged it" apart from "it only existed in this process".
Own providers (not the global ones) keep this independent of how other components set up
tracing; spans still join the caller's trace through the alert's trace id.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from opentelemetry.context import Context
from opentelemetry.metrics import Counter
from opentelemetry.sdk._logs import (
    Logger,
    LoggerProvider,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer

_receipts = threading.local()


def _note(kind: str, ok: bool) -> None:
    setattr(_receipts, kind, ok)


def take_receipt(kind: str) -> bool | None:
    """The last export result of ``kind`` ("span"/"log") in this thread, then forget it."""
    value: bool | None = getattr(_receipts, kind, None)
    setattr(_receipts, kind, None)
    return value


class ReceiptSpanProcessor(SpanProcessor):
    """Exports each ended span at once and records whether every exporter accepted it."""

    def __init__(self, exporters: Sequence[SpanExporter]) -> None:
        self._exporters = list(exporters)

    def on_start(self, span: object, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        ok = bool(self._exporters)
        for exporter in self._exporters:
            try:
                ok = exporter.export((span,)) is SpanExportResult.SUCCESS and ok
            except Exception:  # an exporter bug must not break alert delivery
                ok = False
        _note("span", ok)

    def shutdown(self) -> None:
        for exporter in self._exporters:
            exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class ReceiptLogProcessor(LogRecordProcessor):
    """The same for log records."""

    def __init__(self, exporters: Sequence[LogRecordExporter]) -> None:
        self._exporters = list(exporters)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        readable = ReadableLogRecord(
            log_record=log_record.log_record,
            resource=log_record.resource or Resource.create({}),
            instrumentation_scope=log_record.instrumentation_scope,
            limits=log_record.limits,
        )
        ok = bool(self._exporters)
        for exporter in self._exporters:
            try:
                ok = exporter.export((readable,)) is LogRecordExportResult.SUCCESS and ok
            except Exception:  # an exporter bug must not break alert delivery
                ok = False
        _note("log", ok)

    def shutdown(self) -> None:
        for exporter in self._exporters:
            exporter.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class AlertTelemetry:
    """The providers and instruments the OTel channel uses; ``remote`` = exported over OTLP."""

    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider
    remote: bool
    tracer: Tracer = field(init=False)
    logger: Logger = field(init=False)
    counter: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.tracer = self.tracer_provider.get_tracer("petrosa.cio.alerts")
        self.logger = self.logger_provider.get_logger("petrosa.cio.alerts")  # type: ignore[assignment]
        self.counter = self.meter_provider.get_meter("petrosa.cio.alerts").create_counter(
            "cio.alerts", unit="{alert}", description="alert notices handed to the OTel channel"
        )

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


_lock = threading.Lock()
_state: AlertTelemetry | None = None


def telemetry_configure(
    *,
    span_exporters: Sequence[SpanExporter] = (),
    log_exporters: Sequence[LogRecordExporter] = (),
    metric_readers: Sequence[MetricReader] = (),
    remote: bool = False,
) -> AlertTelemetry:
    """Install a pipeline (replacing the current one). ``remote`` must be True only when the
    exporters hand data to something outside this process (an OTLP collector)."""
    global _state
    resource = Resource.create({"service.name": settings.CIO_SERVICE_NAME,
                                "service.version": settings.CIO_VERSION})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(ReceiptSpanProcessor(span_exporters))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(ReceiptLogProcessor(log_exporters))
    meter_provider = MeterProvider(resource=resource, metric_readers=list(metric_readers))
    telemetry = AlertTelemetry(tracer_provider, logger_provider, meter_provider, remote)
    with _lock:
        previous, _state = _state, telemetry
    if previous is not None:
        previous.shutdown()
    return telemetry


def telemetry_from_settings() -> AlertTelemetry:
    """OTLP/HTTP exporters when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; else in-process only."""
    endpoint = settings.ALERT_OTLP_ENDPOINT
    if not endpoint:
        return telemetry_configure()
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    base = str(endpoint).rstrip("/")
    timeout = settings.ALERT_HTTP_TIMEOUT_S
    return telemetry_configure(
        span_exporters=[OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=timeout)],
        log_exporters=[OTLPLogExporter(endpoint=f"{base}/v1/logs", timeout=timeout)],
        metric_readers=[PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=timeout),
            export_interval_millis=60_000,
        )],
        remote=True,
    )


def alerts_telemetry() -> AlertTelemetry:
    with _lock:
        current = _state
    return current if current is not None else telemetry_from_settings()
