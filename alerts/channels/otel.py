"""OpenTelemetry: an error span with an ``alert`` event, a log record and a counter increment."""

from __future__ import annotations

import secrets
from typing import ClassVar

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AnyValue

from alerts.channels.base import AlertMessage, Channel, ChannelError, ChannelResult
from alerts.telemetry import alerts_telemetry, take_receipt

_SEVERITY = {"info": SeverityNumber.INFO, "warning": SeverityNumber.WARN,
             "critical": SeverityNumber.ERROR}


def _parent(trace_id: str) -> Context | None:
    if not trace_id:
        return None
    ctx = SpanContext(trace_id=int(trace_id, 16), span_id=int.from_bytes(secrets.token_bytes(8)),
                      is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(ctx))


class OtelChannel(Channel):
    """Always configured. Honest receipts:

    - with an OTLP endpoint: confirmed when the collector accepted both span and log (2xx);
    - without one: the SDK accepted it in-process only -> ``emitted``, never a confirmation,
      because nobody outside this process can see it.
    """

    name: ClassVar[str] = "otel"
    label: ClassVar[str] = "OpenTelemetry (span, log, metric)"

    def configured(self) -> bool:
        return True

    def send(self, message: AlertMessage) -> ChannelResult:
        telemetry = alerts_telemetry()
        attributes: dict[str, AnyValue] = {
            "cio.alert.id": message.alert_id,
            "cio.alert.purpose": message.purpose,
            "cio.alert.severity": message.severity,
            "cio.alert.category": message.category,
            "cio.alert.source": message.source,
            "cio.alert.dedup_key": message.dedup_key,
            "cio.alert.count": message.count,
        }
        take_receipt("span")
        take_receipt("log")
        span = telemetry.tracer.start_span("cio.alert", context=_parent(message.trace_id),
                                           attributes=attributes)
        span.add_event("alert", {**attributes, "message": message.message})
        if message.purpose != "resolved":
            span.set_status(Status(StatusCode.ERROR, message.title))
        span_context = trace.set_span_in_context(span)
        span.end()
        span_ok = take_receipt("span")
        telemetry.logger.emit(
            context=span_context,
            severity_number=_SEVERITY[message.severity],
            severity_text=message.severity.upper(),
            body=message.text,
            attributes=attributes,
            event_name="cio.alert",
        )
        log_ok = take_receipt("log")
        telemetry.counter.add(1, {"severity": message.severity, "category": message.category,
                                  "purpose": message.purpose})
        if not telemetry.remote:
            return ChannelResult(confirmed=False,
                                 detail="emitted in-process; no OTLP endpoint configured")
        if not (span_ok and log_ok):
            raise ChannelError(f"OTLP export failed (span {'ok' if span_ok else 'failed'}, "
                               f"log {'ok' if log_ok else 'failed'})")
        return ChannelResult(confirmed=True, detail="span and log accepted by the OTLP collector")
