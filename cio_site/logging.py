"""Structured JSON logs with trace ids, and a redaction filter that keeps secrets out.

``configure`` is Django's ``LOGGING_CONFIG``: it applies ``settings.LOGGING`` and then sets
up OpenTelemetry (``cio_site.telemetry.setup``), because it is the one hook Django runs in
every process (web, Nurse, Celery, commands) before the middleware chain is built.

Every handler carries ``RedactingFilter`` (settings.LOGGING does it): the message, its
arguments, the traceback and string extras pass ``cio_site.redaction.redact`` before any
formatter or exporter sees them. ``JsonFormatter`` writes one JSON object per line with the
current span's ``trace_id``/``span_id`` (or the ones a caller passed as ``extra``).
"""

from __future__ import annotations

import json
import logging
import logging.config
import traceback
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace

from cio_site.redaction import redact, redact_data

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "trace_id", "span_id", "cio_redacted"}


def configure(logging_settings: dict[str, Any] | None) -> None:
    """``LOGGING_CONFIG``: apply the dict config, then OpenTelemetry from ``OTEL_*``."""
    if logging_settings:
        logging.config.dictConfig(logging_settings)
    from cio_site import telemetry

    telemetry.setup()


def _current_ids() -> tuple[str, str]:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"
    return "", ""


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` (empty outside a span) for text formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "trace_id", ""):
            record.trace_id, record.span_id = _current_ids()
        return True


class RedactingFilter(logging.Filter):
    """Masks secrets in the message, its arguments, the traceback and string extras.

    The record is rewritten in place (once: later handlers see the masked record), the
    traceback is rendered to ``exc_text`` and ``exc_info`` dropped, so no handler or
    exporter can format the raw exception again."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "cio_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what we have rather than nothing
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str | dict | list | tuple):
                setattr(record, key, redact_data(value))
        record.cio_redacted = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace ids, extras."""

    def __init__(self, *args: Any, service: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        trace_id = getattr(record, "trace_id", "") or ""
        span_id = getattr(record, "span_id", "") or ""
        if not trace_id:
            trace_id, span_id = _current_ids()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": trace_id,
            "span_id": span_id,
            "process": record.process,
        }
        if self.service:
            entry["service"] = self.service
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        return json.dumps(entry, default=str, ensure_ascii=False)


_LEVELS: Final = ((logging.CRITICAL, 21, "FATAL"), (logging.ERROR, 17, "ERROR"),
                  (logging.WARNING, 13, "WARN"), (logging.INFO, 9, "INFO"),
                  (logging.DEBUG, 5, "DEBUG"))


class OtlpLogHandler(logging.Handler):
    """Sends records to an OpenTelemetry ``LoggerProvider`` (then OTLP), with trace context
    taken from the current span. (The SDK's own ``LoggingHandler`` is deprecated.)"""

    def __init__(self, provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._logger = provider.get_logger("petrosa.cio")

    def emit(self, record: logging.LogRecord) -> None:
        from opentelemetry._logs import SeverityNumber

        try:
            number, text = 1, "TRACE"
            for floor, otel_number, otel_text in _LEVELS:
                if record.levelno >= floor:
                    number, text = otel_number, otel_text
                    break
            attributes: dict[str, Any] = {"logger.name": record.name,
                                          "code.function.name": record.funcName,
                                          "code.line.number": record.lineno}
            if record.exc_text:
                attributes["exception.stacktrace"] = record.exc_text
            self._logger.emit(
                timestamp=int(record.created * 1e9), severity_number=SeverityNumber(number),
                severity_text=text, body=record.getMessage(), attributes=attributes)
        except Exception:
            self.handleError(record)
