"""Distillation: identical alerts fold into one with a count; a summary ends each storm."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from alerts.delivery import alert_deliver_pending
from alerts.models import Alert, AlertDelivery
from alerts.services import alert_deliver_due, alert_distill_due, alert_raise
from governance.errors import ValidationFailed
from tests.alerts.servers import HttpSink

pytestmark = pytest.mark.django_db


def _raise(now: dt.datetime, severity: str = "warning", **kw: Any) -> Alert:
    fields: dict[str, Any] = {"category": "llm", "source": "strategist",
                              "message": "LLM provider timed out", "dedup_key": "llm:timeout"}
    fields.update(kw)
    return alert_raise(severity=severity, now=now, **fields)


def test_identical_alerts_within_the_window_fold_into_one(webhook: HttpSink) -> None:
    t0 = timezone.now()
    first = _raise(t0)
    alert_deliver_pending(now=t0)
    for i in range(1, 50):
        again = _raise(t0 + dt.timedelta(seconds=i * 5), message=f"LLM timeout #{i}")
        assert again.pk == first.pk
        alert_deliver_pending(now=t0 + dt.timedelta(seconds=i * 5))
    first.refresh_from_db()
    assert first.count == 50
    assert first.last_message == "LLM timeout #49"
    assert Alert.objects.count() == 1
    assert len(webhook.requests) == 1  # the storm reached the channel once

    # Still inside the window (sliding): no summary yet.
    assert alert_distill_due(now=t0 + dt.timedelta(seconds=245 + 299)) == 0
    # Quiet for the whole window: one summary with the count, to the same channels.
    end = t0 + dt.timedelta(seconds=245 + 300)
    alert_deliver_due(now=end)
    summary = webhook.requests[1].json()["text"]
    assert "storm over: llm: LLM provider timed out (x50)" in summary
    assert "storm: 50 identical alerts over 245 s, now quiet" in summary
    assert "last message: LLM timeout #49" in summary
    assert AlertDelivery.objects.filter(alert=first, purpose="summary",
                                        status="confirmed").count() == 2  # webhook and nats
    assert alert_distill_due(now=end + dt.timedelta(hours=1)) == 0  # only once


def test_after_the_window_a_new_alert_starts(settings: Any) -> None:
    t0 = timezone.now()
    first = _raise(t0)
    later = _raise(t0 + dt.timedelta(seconds=settings.ALERT_DEDUP_WINDOW_S + 1))
    assert later.pk != first.pk
    # A lone alert needs no summary.
    assert alert_distill_due(now=t0 + dt.timedelta(hours=1)) == 0


def test_a_never_ending_storm_is_cut_at_the_maximum_fold_time(settings: Any) -> None:
    settings.ALERT_DEDUP_WINDOW_S, settings.ALERT_DEDUP_MAX_S = 60, 600
    t0 = timezone.now()
    ids = {_raise(t0 + dt.timedelta(seconds=30 * i)).pk for i in range(40)}  # 19.5 minutes
    assert len(ids) == 2
    assert alert_distill_due(now=t0 + dt.timedelta(seconds=601)) == 1


def test_an_escalation_is_news_not_a_fold() -> None:
    t0 = timezone.now()
    warning = _raise(t0)
    critical = _raise(t0 + dt.timedelta(seconds=1), severity="critical")
    assert critical.pk != warning.pk
    # Lower severities fold into the newest, more severe alert.
    assert _raise(t0 + dt.timedelta(seconds=2)).pk == critical.pk


def test_different_dedup_keys_do_not_fold() -> None:
    t0 = timezone.now()
    assert _raise(t0).pk != _raise(t0, dedup_key="llm:other").pk


def test_default_dedup_key_is_category_source_and_message() -> None:
    t0 = timezone.now()
    a = _raise(t0, dedup_key="")
    assert a.dedup_key.startswith("llm:strategist:")
    assert _raise(t0, dedup_key="").pk == a.pk
    assert _raise(t0, dedup_key="", message="other").pk != a.pk


@pytest.mark.parametrize(("field", "value"), [
    ("severity", "fatal"), ("category", "Has Spaces"), ("category", "a.b"), ("source", ""),
    ("trace_id", "xyz"),
])
def test_invalid_raises_have_a_stable_code(field: str, value: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        _raise(timezone.now(), **{field: value})
    assert info.value.code == "ALERT_INVALID"


def test_long_messages_are_trimmed_not_refused() -> None:
    alert = _raise(timezone.now(), message="x" * 10_000)
    assert len(alert.message) == 4000
