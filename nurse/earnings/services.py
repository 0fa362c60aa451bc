"""Earnings report writes: build and store a report, e-mail it through the alerts service.

``earnings_report_weekly`` (Celery beat, ``EARNINGS_REPORT_CRON``, Fridays 16:00 UTC):
1. the period ends at the run's hour (so a retried or repeated run in that hour finds the
   same report) and spans ``EARNINGS_REPORT_WINDOW_H``;
2. the summary (``selectors.earnings_summary``) is stored once per period;
3. it is sent once: ``alert_raise`` (info, category ``earnings-report``) to
   ``EARNINGS_REPORT_CHANNELS`` (e-mail by default) with the plain-text report and a link to
   the HTML page; the alerts outbox retries the delivery, the report keeps the alert's id.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from alerts.services import alert_raise
from nurse.earnings.selectors import REPORT_CATEGORY, earnings_summary
from nurse.models import EarningsReport


def earnings_report_generate(*, end: dt.datetime | None = None,
                             window_hours: int | None = None, kind: str = "weekly"
                             ) -> EarningsReport:
    """Build (or rebuild, while unsent) the report of ``[end - window, end)``."""
    end = end or timezone.now()
    window_hours = window_hours or settings.EARNINGS_REPORT_WINDOW_H
    data = earnings_summary(window_hours=window_hours, end=end)
    with transaction.atomic():
        report, created = EarningsReport.objects.select_for_update().get_or_create(
            kind=kind, period_end=end, window_hours=window_hours,
            defaults={"period_start": end - dt.timedelta(hours=window_hours), "data": data})
        if not created and report.sent_at is None:
            report.data = data
            report.save(update_fields=["data"])
    return report


def report_url(report: EarningsReport) -> str:
    path = reverse("earnings:report-detail", args=[report.pk])
    base = settings.EARNINGS_REPORT_BASE_URL.rstrip("/")
    return f"{base}{path}" if base else path


def report_text(report: EarningsReport) -> str:
    return render_to_string("earnings/report.txt", {"r": report.data, "report": report,
                                                    "url": report_url(report)})


def earnings_report_send(*, report: EarningsReport) -> EarningsReport:
    """Hand the report to the alerts service once (step 3 of the module docstring)."""
    with transaction.atomic():
        report = EarningsReport.objects.select_for_update().get(pk=report.pk)
        if report.sent_at is not None:
            return report
        data = report.data
        alert = alert_raise(
            severity="info", category=REPORT_CATEGORY, source="nurse.earnings",
            message=report_text(report),
            dedup_key=f"earnings:{report.kind}:{report.period_end.isoformat()}",
            context={"period_start": report.period_start.isoformat(),
                     "period_end": report.period_end.isoformat(),
                     "net_profit": data["net_profit"]["realized"],
                     "shadow_avoided": data["shadow"]["avoided"],
                     "shadow_foregone": data["shadow"]["foregone"],
                     "report": report_url(report)},
            channels=list(settings.EARNINGS_REPORT_CHANNELS))
        report.alert_public_id = str(alert.public_id)
        report.sent_at = timezone.now()
        report.save(update_fields=["alert_public_id", "sent_at"])
    return report


def earnings_report_weekly(*, now: dt.datetime | None = None) -> EarningsReport:
    """Steps 1-3 of the module docstring."""
    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0)
    report = earnings_report_generate(end=end, kind="weekly")
    return earnings_report_send(report=report)
