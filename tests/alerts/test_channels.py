"""Each channel against a real loopback server speaking its protocol."""

from __future__ import annotations

import email
import json
from email.message import Message
from typing import Any

import pytest

from alerts.contracts import AlertEvent
from alerts.delivery import alert_deliver
from alerts.models import Alert, AlertDelivery, DeliveryStatus
from alerts.services import alert_raise
from tests.alerts.conftest import Otel
from tests.alerts.servers import HttpSink, NatsListener, SmtpSink

pytestmark = pytest.mark.django_db

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _raise(**overrides: Any) -> Alert:
    fields: dict[str, Any] = {
        "severity": "critical", "category": "nurse_heartbeat", "source": "nurse:n1",
        "message": "Nurse n1 silent for 42 s <b>&</b>", "dedup_key": "k1",
        "context": {"instance": "n1"}, "trace_id": TRACE,
    }
    fields.update(overrides)
    return alert_raise(**fields)


def _status(alert: Alert, channel: str) -> AlertDelivery:
    return AlertDelivery.objects.get(alert=alert, channel=channel, purpose="raise")


def test_email_reaches_the_smtp_server_as_plain_text_and_html(smtp: SmtpSink) -> None:
    alert = _raise()
    alert_deliver(alert_id=alert.pk)
    assert _status(alert, "email").status == DeliveryStatus.CONFIRMED
    [envelope] = smtp.handler.envelopes
    assert sorted(envelope.rcpt_tos) == ["cio@example.test", "ops@example.test"]
    msg: Message = email.message_from_bytes(envelope.original_content)
    assert msg["Subject"].startswith("[petrosa-cio] [CRITICAL] nurse_heartbeat: Nurse n1 silent")
    assert msg["X-Petrosa-Alert"] == f"{alert.public_id}:raise"
    parts = {part.get_content_type(): part.get_payload(decode=True).decode()
             for part in msg.walk() if not part.is_multipart()}
    assert "Nurse n1 silent for 42 s <b>&</b>" in parts["text/plain"]
    assert "Nurse n1 silent for 42 s &lt;b&gt;&amp;&lt;/b&gt;" in parts["text/html"]
    assert TRACE in parts["text/plain"]


def test_grafana_annotation_has_the_body_and_the_bearer_token(grafana: HttpSink) -> None:
    alert = _raise(severity="warning", category="llm", source="strategist")
    alert_deliver(alert_id=alert.pk)
    row = _status(alert, "grafana")
    assert row.status == DeliveryStatus.CONFIRMED
    assert row.detail == "annotation 1"
    [request] = grafana.to("/api/annotations")
    assert request.headers["Authorization"] == "Bearer glsa_secret_token_123"
    body = request.json()
    assert body["tags"] == ["petrosa-cio", "warning", "llm"]
    assert body["time"] == int(alert.first_seen_at.timestamp() * 1000)
    assert body["text"].startswith("[WARNING] llm: Nurse n1 silent")
    assert set(body) == {"time", "tags", "text"}


def test_grafana_contact_point_webhook(settings: Any) -> None:
    from tests.alerts.servers import http_sink

    with http_sink() as sink:
        settings.GRAFANA_WEBHOOK_URL = sink.url + "/integrations/v1/webhook/SECRET123/"
        alert = _raise()
        alert_deliver(alert_id=alert.pk)
        assert _status(alert, "grafana_webhook").status == DeliveryStatus.CONFIRMED
        body = sink.requests[0].json()
        assert body["status"] == "firing"
        assert body["alerts"][0]["labels"] == {"alertname": "nurse_heartbeat",
                                               "severity": "critical", "source": "nurse:n1",
                                               "service": "petrosa-cio"}


def test_slack_webhook_escapes_control_characters(webhook: HttpSink) -> None:
    alert = _raise()
    alert_deliver(alert_id=alert.pk)
    assert _status(alert, "webhook").detail == "slack HTTP 200"
    text = webhook.requests[0].json()["text"]
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in text
    assert "<b>" not in text


def test_telegram_webhook_uses_html_parse_mode_and_chat_id(settings: Any) -> None:
    from tests.alerts.servers import http_sink

    with http_sink() as sink:
        settings.ALERT_WEBHOOK_URL = sink.url + "/bot123456:AAH-secret_token/sendMessage"
        settings.ALERT_WEBHOOK_FORMAT = "telegram"
        settings.ALERT_WEBHOOK_CHAT_ID = "-1001234"
        alert = _raise()
        alert_deliver(alert_id=alert.pk)
        assert _status(alert, "webhook").status == DeliveryStatus.CONFIRMED
        body = sink.requests[0].json()
        assert body["chat_id"] == "-1001234"
        assert body["parse_mode"] == "HTML"
        assert body["text"].startswith("<b>[CRITICAL] nurse_heartbeat:")
        assert "&lt;b&gt;&amp;&lt;/b&gt;" in body["text"]
        sink.ok_body = {"ok": False}
        second = _raise(dedup_key="k2")
        alert_deliver(alert_id=second.pk)
        assert _status(second, "webhook").status == DeliveryStatus.RETRYING
        assert "without ok=true" in _status(second, "webhook").last_error


def test_nats_subscribers_see_the_alert(nats_listener: NatsListener, settings: Any) -> None:
    alert = _raise(severity="warning", category="fleet_sync", source="fleet")
    alert_deliver(alert_id=alert.pk)
    assert _status(alert, "nats").status == DeliveryStatus.CONFIRMED
    subject, data, headers = nats_listener.get()
    assert subject == f"{settings.ALERT_NATS_SUBJECT_PREFIX}.warning.fleet_sync"
    event = AlertEvent.model_validate_json(data)
    assert event.alert_id == str(alert.public_id)
    assert event.severity == "warning"
    assert event.category == "fleet_sync"
    assert event.trace_id == TRACE
    assert event.context == {"instance": "n1"}
    assert headers["Nats-Msg-Id"] == f"{alert.public_id}:raise"


def test_otel_in_process_only_is_emitted_not_confirmed(otel: Otel, settings: Any) -> None:
    settings.ALERT_NATS_URL = ""  # leave OTel as the only channel
    alert = _raise()
    alert_deliver(alert_id=alert.pk)
    row = _status(alert, "otel")
    assert row.status == DeliveryStatus.EMITTED
    alert.refresh_from_db()
    assert alert.delivered_at is None  # nothing left the process: not a delivery
    [span] = otel.spans.get_finished_spans()
    assert span.name == "cio.alert"
    assert span.status.status_code.name == "ERROR"
    assert format(span.context.trace_id, "032x") == TRACE  # joins the caller's trace
    assert span.events[0].name == "alert"
    assert span.events[0].attributes["cio.alert.category"] == "nurse_heartbeat"
    [log] = otel.logs.get_finished_logs()
    assert log.log_record.severity_text == "CRITICAL"
    assert "Nurse n1 silent" in str(log.log_record.body)
    assert format(log.log_record.trace_id, "032x") == TRACE
    assert otel.counter_total() == 1


def test_otel_over_otlp_is_confirmed_by_the_collector(settings: Any) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from alerts.telemetry import telemetry_from_settings
    from tests.alerts.servers import http_sink

    with http_sink() as collector:
        settings.ALERT_OTLP_ENDPOINT = collector.url
        telemetry_from_settings()
        alert = _raise()
        alert_deliver(alert_id=alert.pk)
        assert _status(alert, "otel").status == DeliveryStatus.CONFIRMED
        traces = ExportTraceServiceRequest.FromString(collector.to("/v1/traces")[0].body)
        span = traces.resource_spans[0].scope_spans[0].spans[0]
        assert span.name == "cio.alert"
        assert span.trace_id.hex() == TRACE
        logs = ExportLogsServiceRequest.FromString(collector.to("/v1/logs")[0].body)
        assert "Nurse n1 silent" in logs.resource_logs[0].scope_logs[0].log_records[0].body \
            .string_value
        collector.mode = "reject"
        second = _raise(dedup_key="k2")
        alert_deliver(alert_id=second.pk)
        row = _status(second, "otel")
        assert row.status == DeliveryStatus.RETRYING
        assert "OTLP export failed" in row.last_error


def test_unconfigured_channels_are_skipped_and_recorded(settings: Any) -> None:
    alert = _raise()
    alert_deliver(alert_id=alert.pk)
    statuses = {d.channel: d.status for d in alert.deliveries.all()}
    assert statuses == {"email": "skipped", "grafana": "skipped", "grafana_webhook": "skipped",
                        "webhook": "skipped", "nats": "confirmed", "otel": "emitted"}
    assert json.loads(json.dumps(statuses))  # plain strings, storable anywhere
