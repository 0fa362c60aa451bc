"""``earnings_summary``: everything the earnings report shows, JSON-ready.

Money is in quote currency (USDT), rounded to cents only here, at the edge; the sums are
``Decimal``. Sections:
1. ``net_profit``: realised PnL (net of fees) of the engine's fills in the window;
2. ``shadow``: avoided / foregone / net at ``SHADOW_REPORT_HORIZON_H`` for entries blocked in
   the window, per rule, strategy and symbol, the fatigue ratio, and every horizon's totals;
3. ``decisions`` and ``top_blocking_rules``: gate decisions in the window by reason and rule;
4. ``policy_changes``: config versions, trading-state and hard-gate changes with reasons;
5. ``incidents``: alerts first seen in the window (the report's own e-mail excluded);
6. ``series``: per day, actual and shadow PnL (and cumulative), for the charts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from alerts.models import Alert
from governance.models import AuditEvent, ConfigVersion
from governance.scopes import Scope, ScopeKind
from nurse.models import DecisionRecord, ExecutionFill, ShadowMark, ShadowPosition
from nurse.shadow.codes import rule_of
from nurse.shadow.selectors import shadow_summary

REPORT_CATEGORY = "earnings-report"
ZERO = Decimal(0)


def _m(value: Decimal | float | None) -> float:
    """Quote money rounded to cents for display and JSON."""
    if value is None:
        return 0.0
    rounded = round(float(value), 2)
    return 0.0 if rounded == 0 else rounded


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _bucket_out(row: dict[str, Any]) -> dict[str, Any]:
    return {"key": row["key"], "positions": row["positions"], "marked": row["marked"],
            "avoided": _m(row["avoided"]), "foregone": _m(row["foregone"]),
            "net": _m(row["net"]), "actual": _m(row.get("actual")),
            "fatigue_ratio": _r(row.get("fatigue_ratio"))}


def _days(start: dt.datetime, end: dt.datetime) -> list[str]:
    days = []
    day = start.date()
    while day <= (end - dt.timedelta(microseconds=1)).date():
        days.append(day.isoformat())
        day += dt.timedelta(days=1)
    return days


def earnings_summary(*, window_hours: int, end: dt.datetime | None = None,
                     strategy_id: str | None = None) -> dict[str, Any]:
    """The report's data for ``[end - window_hours, end)`` (``end`` defaults to now)."""
    if window_hours < 1 or window_hours > 24 * 366:
        raise ValueError("window_hours must be between 1 and 8784")
    end = end or timezone.now()
    start = end - dt.timedelta(hours=window_hours)
    horizon = settings.SHADOW_REPORT_HORIZON_H

    # 1. Net profit from the engine's fills.
    fills = ExecutionFill.objects.filter(filled_at__gte=start, filled_at__lt=end)
    if strategy_id:
        fills = fills.filter(strategy_id=strategy_id)
    realized = fees = ZERO
    by_strategy: dict[str, Decimal] = defaultdict(lambda: ZERO)
    by_symbol: dict[str, Decimal] = defaultdict(lambda: ZERO)
    actual_by_day: dict[str, Decimal] = defaultdict(lambda: ZERO)
    n_fills = 0
    for sid, sym, pnl, fee, at in fills.values_list("strategy_id", "symbol", "realized_pnl",
                                                    "fee", "filled_at"):
        n_fills += 1
        realized += pnl
        fees += fee
        by_strategy[sid] += pnl
        by_symbol[sym] += pnl
        actual_by_day[at.date().isoformat()] += pnl

    # 2. Shadow ROI.
    shadow = shadow_summary(start=start, end=end, horizon_h=horizon, period="day",
                            strategy_id=strategy_id)
    total = shadow["total"]
    horizons: dict[str, dict[str, Any]] = {}
    positions = ShadowPosition.objects.filter(blocked_at__gte=start, blocked_at__lt=end)
    if strategy_id:
        positions = positions.filter(strategy_id=strategy_id)
    for h in settings.SHADOW_HORIZONS_H:
        avoided = foregone = ZERO
        marked = 0
        for pnl in ShadowMark.objects.filter(position__in=positions, horizon_h=h
                                             ).values_list("pnl", flat=True):
            marked += 1
            if pnl < 0:
                avoided -= pnl
            else:
                foregone += pnl
        horizons[f"{h}h"] = {"marked": marked, "avoided": _m(avoided),
                             "foregone": _m(foregone), "net": _m(foregone - avoided)}
    pending = positions.filter(status=ShadowPosition.Status.OPEN).count()
    shadow_by_day = {row["key"]: row["net"] for row in shadow["by_period"]}

    # 3. Decisions and blocking rules.
    decisions = DecisionRecord.objects.filter(decided_at__gte=start, decided_at__lt=end)
    if strategy_id:
        decisions = decisions.filter(strategy_id=strategy_id)
    outcomes = Counter(decisions.values_list("outcome", flat=True))
    reasons: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    for codes in decisions.filter(outcome=DecisionRecord.Outcome.BLOCKED).values_list(
            "reason_codes", flat=True).iterator(chunk_size=5000):
        unique = list(dict.fromkeys(str(c) for c in codes or []))
        reasons.update(unique)
        rules.update(list(dict.fromkeys(rule_of(c) for c in unique)))
    rule_pnl = {row["key"]: row for row in shadow["by_rule"]}
    top_rules = [
        {"rule": rule, "blocks": n,
         "avoided": _m(rule_pnl.get(rule, {}).get("avoided")),
         "foregone": _m(rule_pnl.get(rule, {}).get("foregone")),
         "net": _m(rule_pnl.get(rule, {}).get("net"))}
        for rule, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))]

    # 4. Policy changes with their reasoning.
    changes: list[dict[str, Any]] = []
    for v in ConfigVersion.objects.filter(created_at__gte=start, created_at__lt=end
                                          ).order_by("created_at"):
        changes.append({
            "at": v.created_at.isoformat(), "kind": "config",
            "scope": str(Scope(ScopeKind(v.scope_kind), v.scope_key)), "version": v.version,
            "policy_version": v.policy_version, "operation": v.operation, "actor": v.actor,
            "actor_kind": v.actor_kind, "reason": v.reason,
            "thought_trace": v.thought_trace[:2000], "changes": v.changes})
    for event in AuditEvent.objects.filter(created_at__gte=start, created_at__lt=end,
                                           event_type__in=("state.set", "hard_gate.set")
                                           ).order_by("seq"):
        payload = event.payload if isinstance(event.payload, dict) else {}
        changes.append({
            "at": event.created_at.isoformat(),
            "kind": "state" if event.event_type == "state.set" else "hard_gate",
            "scope": event.scope, "summary": event.summary,
            "policy_version": payload.get("policy_version"), "actor": event.actor,
            "actor_kind": event.actor_kind, "reason": event.reason,
            "thought_trace": event.thought_trace[:2000],
            "changes": [{"parameter": payload.get("key", "state"),
                         "before": payload.get("before"), "after": payload.get("after")}]})
    changes.sort(key=lambda c: c["at"])

    # 5. Incidents and alerts.
    alerts = (Alert.objects.filter(first_seen_at__gte=start, first_seen_at__lt=end)
              .exclude(category=REPORT_CATEGORY).order_by("-rank", "-first_seen_at"))
    by_severity = Counter(alerts.values_list("severity", flat=True))
    alert_rows = [{"at": a.first_seen_at.isoformat(), "severity": a.severity,
                   "category": a.category, "source": a.source, "message": a.message[:300],
                   "count": a.count, "status": a.status} for a in alerts[:50]]

    # 6. Daily series for the charts.
    series = []
    cum_actual = cum_shadow = ZERO
    for day in _days(start, end):
        actual = actual_by_day.get(day, ZERO)
        shadow_net = shadow_by_day.get(day, ZERO)
        cum_actual += actual
        cum_shadow += shadow_net
        series.append({"day": day, "actual": _m(actual), "shadow_net": _m(shadow_net),
                       "cum_actual": _m(cum_actual), "cum_shadow": _m(cum_shadow)})

    fatigue = total.get("fatigue_ratio")
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat(),
                   "hours": window_hours},
        "strategy_id": strategy_id,
        "currency": "USDT",
        "net_profit": {
            "realized": _m(realized), "fees": _m(fees), "fills": n_fills,
            "by_strategy": [{"key": k, "realized": _m(v)} for k, v in
                            sorted(by_strategy.items(), key=lambda kv: kv[1])],
            "by_symbol": [{"key": k, "realized": _m(v)} for k, v in
                          sorted(by_symbol.items(), key=lambda kv: kv[1])]},
        "shadow": {
            "horizon_h": horizon, "positions": total["positions"], "marked": total["marked"],
            "pending": pending, "avoided": _m(total["avoided"]),
            "foregone": _m(total["foregone"]), "net": _m(total["net"]),
            "fatigue_ratio": _r(fatigue),
            "by_rule": [_bucket_out(r) for r in shadow["by_rule"]],
            "by_reason": [_bucket_out(r) for r in shadow["by_reason"]],
            "by_strategy": [_bucket_out(r) for r in shadow["by_strategy"]],
            "by_symbol": [_bucket_out(r) for r in shadow["by_symbol"]],
            "horizons": horizons},
        "decisions": {"approved": outcomes.get(DecisionRecord.Outcome.APPROVED, 0),
                      "blocked": outcomes.get(DecisionRecord.Outcome.BLOCKED, 0),
                      "by_reason": [{"code": c, "count": n} for c, n in
                                    sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]},
        "top_blocking_rules": top_rules,
        "policy_changes": changes,
        "incidents": {"alerts": alert_rows, "total": alerts.count(),
                      "by_severity": dict(sorted(by_severity.items()))},
        "series": {"daily": series},
    }
