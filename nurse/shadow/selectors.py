"""Shadow reads: avoided / foregone PnL per rule, strategy, symbol and period, and actual PnL.

Sign conventions (quote currency, positive numbers):
- ``avoided``: the losses the gate prevented, i.e. minus the sum of negative shadow PnLs;
- ``foregone``: the profits it prevented, the sum of positive shadow PnLs;
- ``net`` = foregone - avoided: positive means the gate cost money over the window.
- ``fatigue_ratio`` = foregone / actual PnL of the approved trades of the same group; it is
  ``None`` when the actual PnL is not positive (the ratio then says nothing useful).

A position blocked by several rules counts in full under each of them, so per-rule totals can
add up to more than the total; ``primary`` attribution (the first reason) does not overlap.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from nurse.models import ExecutionFill, ShadowMark, ShadowPosition
from nurse.shadow.codes import rule_of

ZERO = Decimal(0)


def _bucket() -> dict[str, Any]:
    return {"positions": 0, "marked": 0, "avoided": ZERO, "foregone": ZERO, "net": ZERO}


def _add(bucket: dict[str, Any], pnl: Decimal | None) -> None:
    bucket["positions"] += 1
    if pnl is None:
        return
    bucket["marked"] += 1
    if pnl < 0:
        bucket["avoided"] -= pnl
    else:
        bucket["foregone"] += pnl
    bucket["net"] += pnl


def _ratio(foregone: Decimal, actual: Decimal) -> float | None:
    return float(foregone / actual) if actual > 0 else None


def actual_pnl(*, start: dt.datetime, end: dt.datetime, strategy_id: str | None = None
               ) -> dict[str, Any]:
    """Realised PnL (net of fees) of the engine's fills in ``[start, end)``."""
    fills = ExecutionFill.objects.filter(filled_at__gte=start, filled_at__lt=end)
    if strategy_id:
        fills = fills.filter(strategy_id=strategy_id)
    by_strategy: dict[str, Decimal] = defaultdict(lambda: ZERO)
    by_symbol: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for strategy, symbol, pnl in fills.values_list("strategy_id", "symbol", "realized_pnl"):
        by_strategy[strategy] += pnl
        by_symbol[symbol] += pnl
    total = fills.aggregate(total=Sum("realized_pnl"))["total"] or ZERO
    return {"total": total, "fills": fills.count(), "by_strategy": dict(by_strategy),
            "by_symbol": dict(by_symbol)}


def _period_key(when: dt.datetime, period: str) -> str:
    if period == "hour":
        return when.strftime("%Y-%m-%dT%H:00Z")
    if period == "week":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    return when.strftime("%Y-%m-%d")


def shadow_summary(*, start: dt.datetime, end: dt.datetime, horizon_h: int,
                   period: str = "day", strategy_id: str | None = None) -> dict[str, Any]:
    """Avoided / foregone at ``horizon_h`` for positions blocked in ``[start, end)``."""
    positions = ShadowPosition.objects.filter(blocked_at__gte=start, blocked_at__lt=end)
    if strategy_id:
        positions = positions.filter(strategy_id=strategy_id)
    pnl_of = dict(ShadowMark.objects.filter(position__in=positions, horizon_h=horizon_h)
                  .values_list("position_id", "pnl"))
    total = _bucket()
    groups: dict[str, dict[str, dict[str, Any]]] = {
        "rule": defaultdict(_bucket), "reason": defaultdict(_bucket),
        "primary": defaultdict(_bucket), "strategy": defaultdict(_bucket),
        "symbol": defaultdict(_bucket), "period": defaultdict(_bucket)}
    rows = positions.values_list("pk", "strategy_id", "symbol", "reason_codes",
                                 "primary_reason", "blocked_at")
    for pk, strategy, symbol, codes, primary, blocked_at in rows:
        pnl = pnl_of.get(pk)
        _add(total, pnl)
        _add(groups["strategy"][strategy], pnl)
        _add(groups["symbol"][symbol], pnl)
        _add(groups["primary"][primary], pnl)
        _add(groups["period"][_period_key(blocked_at, period)], pnl)
        for code in dict.fromkeys(codes or []):
            _add(groups["reason"][code], pnl)
        for rule in dict.fromkeys(rule_of(c) for c in codes or []):
            _add(groups["rule"][rule], pnl)
    actual = actual_pnl(start=start, end=end, strategy_id=strategy_id)
    total["actual"] = actual["total"]
    total["fatigue_ratio"] = _ratio(total["foregone"], actual["total"])
    for name, table in groups.items():
        for key, bucket in table.items():
            if name == "strategy":
                bucket["actual"] = actual["by_strategy"].get(key, ZERO)
            elif name == "symbol":
                bucket["actual"] = actual["by_symbol"].get(key, ZERO)
            else:
                # Rules, reasons and periods have no trades of their own: the fleet's PnL.
                bucket["actual"] = actual["total"]
            bucket["fatigue_ratio"] = _ratio(bucket["foregone"], bucket["actual"])
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "horizon_h": horizon_h,
        "total": total,
        **{f"by_{name}": _sorted(table.items()) for name, table in groups.items()
           if name != "period"},
        "by_period": [{"key": k, **v} for k, v in sorted(groups["period"].items())],
    }


def _sorted(items: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"key": key, **bucket} for key, bucket in
            sorted(items, key=lambda kv: (-kv[1]["positions"], kv[0]))]


def shadow_pending_count() -> int:
    return ShadowPosition.objects.filter(status=ShadowPosition.Status.OPEN).count()
