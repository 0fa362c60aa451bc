"""No storm of distinct alerts can flood a channel: per-channel token buckets in Redis."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from alerts.delivery import alert_deliver_pending
from alerts.models import AlertDelivery
from alerts.ratelimit import rate_limit_take
from alerts.services import alert_raise
from tests.alerts.servers import HttpSink

pytestmark = pytest.mark.django_db


def test_token_bucket_allows_the_burst_then_refills(settings: Any) -> None:
    settings.ALERT_RATE_LIMIT_PER_MIN, settings.ALERT_RATE_LIMIT_BURST = 60.0, 3
    now = 1_000_000.0
    assert [rate_limit_take("webhook", critical=False, now=now) for _ in range(3)] == [0, 0, 0]
    assert rate_limit_take("webhook", critical=False, now=now) == pytest.approx(1.0)
    # Other channels and the critical lane have their own buckets.
    assert rate_limit_take("email", critical=False, now=now) == 0
    assert rate_limit_take("webhook", critical=True, now=now) == 0
    assert rate_limit_take("webhook", critical=False, now=now + 1.0) == 0


def test_a_storm_of_distinct_alerts_is_paced_not_dropped(settings: Any,
                                                         webhook: HttpSink) -> None:
    settings.ALERT_RATE_LIMIT_PER_MIN, settings.ALERT_RATE_LIMIT_BURST = 6.0, 5
    t0 = timezone.now()
    for i in range(30):
        alert_raise(severity="warning", category="canary", source=f"bot{i}",
                    message=f"canary run {i} failed", dedup_key=f"canary:{i}", now=t0)
    alert_deliver_pending(now=t0)
    assert len(webhook.requests) == 5  # the burst, not the storm
    deferred = AlertDelivery.objects.filter(channel="webhook", status="pending", deferrals=1)
    assert deferred.count() == 25
    assert all(d.last_error.startswith("rate limited") for d in deferred)
    # Nothing is dropped: over time every alert goes out, at the configured pace.
    now = t0
    for _ in range(60):
        now += dt.timedelta(seconds=10)
        alert_deliver_pending(now=now)
        sent_by_now = len(webhook.requests)
        allowed = 5 + (now - t0).total_seconds() * 6 / 60
        assert sent_by_now <= allowed + 1e-6
    assert len(webhook.requests) == 30
    assert not AlertDelivery.objects.filter(channel="webhook").exclude(status="confirmed")


def test_a_warning_storm_cannot_hold_back_a_critical_alert(settings: Any,
                                                           webhook: HttpSink) -> None:
    settings.ALERT_RATE_LIMIT_PER_MIN, settings.ALERT_RATE_LIMIT_BURST = 6.0, 2
    t0 = timezone.now()
    for i in range(10):
        alert_raise(severity="warning", category="llm", source=f"s{i}", message="slow",
                    dedup_key=f"w{i}", now=t0)
    alert_deliver_pending(now=t0)
    critical = alert_raise(severity="critical", category="drawdown_ladder", source="fleet",
                           message="ladder step 2", now=t0)
    alert_deliver_pending(now=t0)
    assert AlertDelivery.objects.get(alert=critical, channel="webhook").status == "confirmed"
