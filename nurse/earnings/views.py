"""The report pages: a live window (``?window_hours=&end=``) or a stored report; staff with a
verified second factor only (the admin's rule). ``?print=1`` is the printable layout."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from nurse.earnings.charts import bar_chart, line_chart
from nurse.earnings.selectors import earnings_summary
from nurse.models import EarningsReport


def _allowed(request: HttpRequest) -> bool:
    user = request.user
    verified = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and user.is_active and user.is_staff
                and callable(verified) and verified())


def _charts(data: dict[str, Any]) -> dict[str, Any]:
    daily = data["series"]["daily"]
    labels = [row["day"][5:] for row in daily]
    pnl = line_chart(labels, [
        ("actual PnL (cumulative)", [row["cum_actual"] for row in daily], "#1f77b4"),
        ("shadow PnL of blocked entries (cumulative)", [row["cum_shadow"] for row in daily],
         "#d62728")], title="PnL vs shadow PnL over time (USDT)", chart_id="chart-pnl")
    rules = bar_chart([(r["rule"], float(r["blocks"])) for r in data["top_blocking_rules"]],
                      title="Blocks by rule", chart_id="chart-rules")
    return {"chart_pnl": pnl, "chart_rules": rules}


def _render(request: HttpRequest, data: dict[str, Any], report: EarningsReport | None
            ) -> HttpResponse:
    context = {"r": data, "report": report, "print": request.GET.get("print") == "1",
               **_charts(data)}
    return render(request, "earnings/report.html", context)


def report_latest(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return redirect_to_login(request.get_full_path())
    try:
        hours = int(request.GET.get("window_hours", "168"))
        end_text = request.GET.get("end")
        end = dt.datetime.fromisoformat(end_text.replace("Z", "+00:00")) if end_text else None
        if end is not None and end.tzinfo is None:
            end = end.replace(tzinfo=dt.UTC)
        data = earnings_summary(window_hours=hours, end=end or timezone.now())
    except ValueError as exc:
        return HttpResponseBadRequest(f"INVALID_WINDOW: {exc}", content_type="text/plain")
    return _render(request, data, None)


def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if not _allowed(request):
        return redirect_to_login(request.get_full_path())
    report = get_object_or_404(EarningsReport, pk=pk)
    return _render(request, report.data, report)
