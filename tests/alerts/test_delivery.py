"""Zero silent failures: independent per-channel retries, pending when all fail, DEGRADED."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import redis
from django.utils import timezone

from alerts.delivery import alert_deliver, alert_deliver_pending, backoff_seconds
from alerts.models import Alert, AlertDelivery, DeliveryStatus
from alerts.selectors import alerts_degraded, alerts_health
from alerts.services import alert_deliver_due, alert_raise
from tests.alerts.servers import HttpSink, SmtpSink, free_port, smtp_sink

pytestmark = pytest.mark.django_db


def _raise(now: dt.datetime, key: str = "k") -> Alert:
    return alert_raise(severity="critical", category="infra", source="redis",
                       message="redis is unreachable", dedup_key=key, now=now)


def _rows(alert: Alert) -> dict[str, AlertDelivery]:
    return {d.channel: d for d in alert.deliveries.filter(purpose="raise")}


def test_one_channel_down_others_deliver_and_it_retries_to_success(
    smtp: SmtpSink, grafana: HttpSink, webhook: HttpSink
) -> None:
    t0 = timezone.now()
    grafana.mode = "fail"
    alert = _raise(t0)
    alert_deliver_pending(now=t0)
    rows = _rows(alert)
    assert rows["email"].status == rows["webhook"].status == rows["nats"].status == "confirmed"
    assert rows["grafana"].status == DeliveryStatus.RETRYING
    assert rows["grafana"].attempts == 1
    assert rows["grafana"].last_error == "HTTP 503: service unavailable"
    assert "glsa_secret_token_123" not in rows["grafana"].last_error
    alert.refresh_from_db()
    assert alert.delivered_at == t0
    assert len(smtp.handler.envelopes) == 1

    # Still failing at the next due time: a second attempt, a longer wait.
    t1 = rows["grafana"].next_attempt_at
    assert 2.5 <= (t1 - t0).total_seconds() <= 5.0  # base 5 s, jitter 50-100 %
    alert_deliver_pending(now=t1)
    grafana_row = AlertDelivery.objects.get(pk=rows["grafana"].pk)
    assert grafana_row.attempts == 2
    assert grafana_row.status == "retrying"
    assert 5.0 <= (grafana_row.next_attempt_at - t1).total_seconds() <= 10.0

    # Grafana comes back: the retry succeeds and nothing else is sent twice.
    grafana.mode = "ok"
    alert_deliver_pending(now=grafana_row.next_attempt_at)
    grafana_row.refresh_from_db()
    assert grafana_row.status == DeliveryStatus.CONFIRMED
    assert grafana_row.attempts == 3
    assert len(grafana.to("/api/annotations")) == 3
    assert len(smtp.handler.envelopes) == 1
    assert len(webhook.requests) == 1


def test_all_channels_down_stays_pending_degraded_and_recovers(
    settings: Any, grafana: HttpSink, redis_client: redis.Redis
) -> None:
    closed = free_port()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed
    settings.ALERT_EMAIL_TO = ["ops@example.test"]
    settings.ALERT_NATS_URL = f"nats://127.0.0.1:{free_port()}"
    grafana.mode = "fail"
    t0 = timezone.now()
    alert = _raise(t0)
    assert alerts_health(now=t0)["degraded"] is False  # raised, not tried yet: pending
    alert_deliver_due(now=t0)
    rows = _rows(alert)
    assert {c: r.status for c, r in rows.items()} == {
        "email": "retrying", "grafana": "retrying", "grafana_webhook": "skipped",
        "webhook": "skipped", "nats": "retrying", "otel": "emitted"}
    assert "ConnectionRefusedError" in rows["email"].last_error
    alert.refresh_from_db()
    assert alert.delivered_at is None
    health = alerts_health(now=t0)
    assert health["degraded"] is True
    assert health["pending_undelivered"] == 1
    assert health["failing_channels"] == {"email": 1, "grafana": 1, "nats": 1}
    assert redis_client.get(f"{settings.CIO_NAMESPACE}:alerts:degraded") == b"1"
    assert alerts_degraded() is True

    # Keeps retrying, never gives up; the e-mail server comes back on its port.
    later = t0
    for _ in range(4):
        later = max(r.next_attempt_at for r in AlertDelivery.objects.filter(alert=alert))
        alert_deliver_due(now=later)
    assert AlertDelivery.objects.get(alert=alert, channel="email").attempts == 5
    with smtp_sink(port=closed) as smtp:
        later = AlertDelivery.objects.get(alert=alert, channel="email").next_attempt_at
        alert_deliver_due(now=later)
        assert len(smtp.handler.envelopes) == 1
    alert.refresh_from_db()
    assert alert.delivered_at == later
    assert redis_client.get(f"{settings.CIO_NAMESPACE}:alerts:degraded") == b"0"
    assert alerts_degraded() is False
    # Grafana and NATS are still down: they keep retrying, visible in the health.
    assert alerts_health(now=later)["failing_channels"] == {"grafana": 1, "nats": 1}


def test_undelivered_turns_degraded_after_the_grace_even_if_untried(settings: Any) -> None:
    t0 = timezone.now()
    _raise(t0)
    assert alerts_health(now=t0)["degraded"] is False
    late = t0 + dt.timedelta(seconds=settings.ALERT_DEGRADED_GRACE_S + 1)
    assert alerts_health(now=late)["degraded"] is True


def test_backoff_is_exponential_jittered_and_capped(settings: Any) -> None:
    settings.ALERT_BACKOFF_BASE_S, settings.ALERT_BACKOFF_MAX_S = 2.0, 60.0
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)]:
        values = [backoff_seconds(attempts) for _ in range(50)]
        assert all(ceiling * 0.5 <= v <= ceiling for v in values)
        assert len(set(values)) > 1  # jittered


def test_receiver_retry_after_is_honoured(webhook: HttpSink) -> None:
    webhook.mode, webhook.retry_after = "ratelimit", "42"
    t0 = timezone.now()
    alert = _raise(t0)
    alert_deliver(alert_id=alert.pk, now=t0)
    row = _rows(alert)["webhook"]
    assert row.status == "retrying"
    assert row.last_error == "HTTP 429 rate limited by the receiver"
    assert row.next_attempt_at == t0 + dt.timedelta(seconds=42)


def test_a_claimed_delivery_is_not_sent_twice_until_its_lease_expires(
    settings: Any, webhook: HttpSink
) -> None:
    from alerts.delivery import _claim

    t0 = timezone.now()
    alert = _raise(t0)
    claimed = _claim(AlertDelivery.objects.filter(alert=alert), t0, limit=100)
    assert len(claimed) == 6
    # Another worker sweeping now finds nothing due: the rows are leased.
    assert alert_deliver_pending(now=t0) == []
    # The claiming worker "died": after the lease the sweep sends them.
    after = t0 + dt.timedelta(seconds=settings.ALERT_CLAIM_LEASE_S)
    outcomes = alert_deliver_pending(now=after)
    assert {o.channel for o in outcomes} == set(_rows(alert))
    assert len(webhook.requests) == 1


def test_secrets_never_reach_the_ledger(settings: Any) -> None:
    from tests.alerts.servers import http_sink

    settings.EMAIL_HOST_PASSWORD = "hunter2-mail-password"
    with http_sink() as sink:
        settings.ALERT_WEBHOOK_URL = f"{sink.url}/bot999:AAsecretTELEGRAMtoken/sendMessage"
        settings.ALERT_WEBHOOK_FORMAT = "slack"
        sink.server.shutdown()
        sink.server.server_close()  # connection refused, the URL is in httpx's message path
        alert = _raise(timezone.now())
        alert_deliver(alert_id=alert.pk)
    row = _rows(alert)["webhook"]
    assert row.status == "retrying"
    assert "AAsecretTELEGRAMtoken" not in row.last_error
    assert "hunter2" not in row.last_error


def test_degraded_flag_falls_back_to_the_database(settings: Any,
                                                  redis_client: redis.Redis) -> None:
    settings.ALERT_NATS_URL = f"nats://127.0.0.1:{free_port()}"
    t0 = timezone.now()
    _raise(t0)
    alert_deliver_pending(now=t0)  # all fail; nothing published to Redis on this path
    redis_client.delete(f"{settings.CIO_NAMESPACE}:alerts:degraded")
    assert alerts_degraded() is True  # key missing: computed from the database
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    assert alerts_degraded() is True  # Redis down: computed from the database
