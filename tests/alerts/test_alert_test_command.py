"""``manage.py alert_test``: one test alert through every channel, each channel's result."""

from __future__ import annotations

import email
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from alerts.contracts import AlertEvent
from tests.alerts.servers import HttpSink, NatsListener, SmtpSink, free_port

pytestmark = pytest.mark.django_db


def test_alert_test_reports_every_channel(smtp: SmtpSink, grafana: HttpSink,
                                          webhook: HttpSink, nats_listener: NatsListener,
                                          settings: Any) -> None:
    # Rate limits do not apply to the operator's test.
    settings.ALERT_RATE_LIMIT_PER_MIN, settings.ALERT_RATE_LIMIT_BURST = 0.01, 1
    out = StringIO()
    call_command("alert_test", stdout=out)
    text = out.getvalue()
    lines = {line.split()[0]: line.split()[1] for line in text.splitlines()[1:-1]}
    assert lines == {"email": "confirmed", "grafana": "confirmed", "grafana_webhook": "skipped",
                     "nats": "confirmed", "otel": "emitted", "webhook": "confirmed"}
    assert "confirmed by: email, grafana, webhook, nats" in text
    msg = email.message_from_bytes(smtp.handler.envelopes[0].original_content)
    assert "[CRITICAL] test:" in msg["Subject"]
    assert grafana.to("/api/annotations")[0].json()["tags"] == ["petrosa-cio", "critical",
                                                                 "test"]
    assert AlertEvent.model_validate_json(nats_listener.get()[1]).category == "test"


def test_alert_test_fails_loudly_when_nothing_confirms(settings: Any, grafana: HttpSink) -> None:
    settings.ALERT_NATS_URL = f"nats://127.0.0.1:{free_port()}"
    grafana.mode = "fail"
    out = StringIO()
    with pytest.raises(CommandError, match="no channel confirmed"):
        call_command("alert_test", "--severity", "warning", stdout=out)
    assert "grafana" in out.getvalue()
    assert "HTTP 503" in out.getvalue()
    assert "NoServersError" in out.getvalue()
