"""A real OTLP/HTTP receiver on loopback: decodes the protobuf requests the SDK's exporters
send to /v1/traces, /v1/metrics and /v1/logs and keeps what arrived (no fake exporter)."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_KINDS = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


class Collector:
    """Spans, metric names and log records received, as plain dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                kinds = _KINDS.get(self.path)
                if kinds is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                request = kinds[0]()
                request.ParseFromString(body)
                collector._store(self.path, request, dict(self.headers))
                payload = kinds[1]().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Collector:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()
            self.metrics.clear()
            self.logs.clear()
            self.requests.clear()

    def _store(self, path: str, request: Any, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, headers))
            if path == "/v1/traces":
                for rs in request.resource_spans:
                    resource = attributes(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            self.spans.append({
                                "name": span.name, "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "kind": span.kind, "scope": ss.scope.name,
                                "attributes": attributes(span.attributes),
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano, "resource": resource,
                            })
            elif path == "/v1/metrics":
                for rm in request.resource_metrics:
                    for sm in rm.scope_metrics:
                        for metric in sm.metrics:
                            self.metrics.append({"name": metric.name,
                                                 "data": metric.WhichOneof("data"),
                                                 "raw": metric})
            else:
                for rl in request.resource_logs:
                    for sl in rl.scope_logs:
                        for record in sl.log_records:
                            self.logs.append({
                                "body": _value(record.body),
                                "trace_id": record.trace_id.hex(),
                                "severity": record.severity_text,
                                "attributes": attributes(record.attributes),
                            })

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> Any:
        """Poll until ``predicate(self)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                value = predicate(self)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"collector did not receive the expected data in {timeout}s: "
                             f"{len(self.spans)} spans, {len(self.metrics)} metrics, "
                             f"{len(self.logs)} logs")
