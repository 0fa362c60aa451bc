"""The report page (with and without data, printable), the Friday task and its e-mail to a
real SMTP server on loopback, the beat entry, and the API/MCP operation."""

from __future__ import annotations

import datetime as dt
import email
from email.message import Message
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from alerts.models import Alert, AlertDelivery, DeliveryStatus
from alerts.services import alert_deliver
from nurse.earnings.services import earnings_report_generate, earnings_report_weekly
from nurse.models import EarningsReport
from nurse.tasks import earnings_weekly_task
from tests.alerts.servers import SmtpSink
from tests.earnings.conftest import staff_client

pytestmark = pytest.mark.django_db


def test_page_needs_a_verified_staff_session(client: Client) -> None:
    response = client.get("/reports/earnings/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_page_renders_with_data(week: dt.datetime) -> None:
    page = staff_client().get("/reports/earnings/?window_hours=168")
    assert page.status_code == 200
    html = page.content.decode()
    assert "4.39 USDT" in html  # net profit
    assert 'id="chart-pnl"' in html and 'id="chart-rules"' in html
    assert html.count('class="series"') == 2
    assert html.count('class="bar"') == 3  # config, trading_state, gate
    assert "Crash week: smaller orders" in html
    assert "Nurse n1 silent for 42 s" in html
    printable = staff_client().get("/reports/earnings/?window_hours=168&print=1")
    assert 'id="print-link"' not in printable.content.decode()
    assert "window.print" in printable.content.decode()


def test_page_renders_without_data() -> None:
    page = staff_client().get("/reports/earnings/?window_hours=24")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("no data in this window") == 1  # no blocks; the PnL lines sit at 0
    assert "No policy changes in this window." in html
    assert "No incidents or alerts in this window." in html
    assert staff_client().get("/reports/earnings/?window_hours=nope").status_code == 400


def test_friday_report_is_emailed_once_through_the_alerts_service(week: dt.datetime,
                                                                  smtp: SmtpSink) -> None:
    friday = dt.datetime(2021, 5, 21, 16, 0, 7, tzinfo=dt.UTC)
    report = earnings_report_weekly(now=friday)
    assert report.period_end == friday.replace(second=0)
    assert report.period_start == report.period_end - dt.timedelta(hours=168)
    assert report.sent_at is not None
    alert = Alert.objects.get(public_id=report.alert_public_id)
    assert (alert.severity, alert.category) == ("info", "earnings-report")
    assert list(AlertDelivery.objects.filter(alert=alert).values_list("channel", flat=True)) \
        == ["email"]
    alert_deliver(alert_id=alert.pk)
    assert AlertDelivery.objects.get(alert=alert).status == DeliveryStatus.CONFIRMED
    [envelope] = smtp.handler.envelopes
    msg: Message = email.message_from_bytes(envelope.original_content)
    assert "earnings-report" in msg["Subject"]
    parts = {p.get_content_type(): p.get_payload(decode=True).decode()
             for p in msg.walk() if not p.is_multipart()}
    assert "Net profit:" in parts["text/plain"]
    assert f"https://cio.example.test/reports/earnings/{report.pk}/" in parts["text/plain"]
    # The task runs again in the same hour (a retry): same report, no second alert.
    again = earnings_report_weekly(now=friday + dt.timedelta(minutes=20))
    assert again.pk == report.pk
    assert Alert.objects.filter(category="earnings-report").count() == 1


def test_weekly_report_with_data_is_in_the_email(week: dt.datetime, smtp: SmtpSink) -> None:
    result = earnings_weekly_task()
    report = EarningsReport.objects.get(pk=result["report_id"])
    assert result["sent"] is True
    assert report.data["net_profit"]["realized"] == 4.39
    alert_deliver(alert_id=Alert.objects.get(public_id=report.alert_public_id).pk)
    [envelope] = smtp.handler.envelopes
    text = email.message_from_bytes(envelope.original_content)
    body = next(p.get_payload(decode=True).decode() for p in text.walk()
                if p.get_content_type() == "text/plain")
    assert "Net profit:        4.39 USDT" in body
    assert "Losses avoided:    12.50" in body
    assert "config: 2 blocks" in body
    assert "Policy changes:" in body  # (the fixture's change came after the hour's end)
    # The stored report has its own page.
    page = staff_client().get(f"/reports/earnings/{report.pk}/")
    assert page.status_code == 200
    assert f"report #{report.pk}" in page.content.decode()


def test_beat_runs_the_report_fridays_at_16_utc() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["nurse.earnings_weekly"]
    schedule = entry["schedule"]
    assert entry["task"] == "nurse.earnings_weekly"
    assert (schedule.hour, schedule.minute, schedule.day_of_week) == ({16}, {0}, {5})
    tick = settings.CELERY_BEAT_SCHEDULE["nurse.shadow_tick"]
    assert (tick["task"], tick["schedule"]) == ("nurse.shadow_tick", 60.0)


def test_generate_rebuilds_until_sent() -> None:
    end = timezone.now().replace(microsecond=0)
    first = earnings_report_generate(end=end, window_hours=24, kind="adhoc")
    second = earnings_report_generate(end=end, window_hours=24, kind="adhoc")
    assert first.pk == second.pk


def test_api_and_mcp_operation_answers_with_the_summary(week: dt.datetime) -> None:
    from governance.api.registry import OPERATIONS, Call, execute
    from governance.api.schemas import EarningsIn
    from governance.auth import SCOPE_READ, Principal
    from nurse.earnings.ops import install

    original = OPERATIONS["get_earnings_summary"]
    try:
        install()
        call = Call(principal=Principal(name="agent-1", kind="agent",
                                        scopes=frozenset({SCOPE_READ})), trace_id="t")
        result = execute("get_earnings_summary", call, EarningsIn(period="week"))
        data: dict[str, Any] = result.data
        assert data["window"]["hours"] == 168
        assert data["net_profit"]["realized"] == 4.39
    finally:
        OPERATIONS["get_earnings_summary"] = original
