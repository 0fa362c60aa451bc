"""Strategist reads (no writes here): regime, portfolio health, recent decisions, cycles."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from nurse.models import DecisionRecord
from strategist.models import (
    FLEET,
    LadderStep,
    PortfolioState,
    RegimeShift,
    RegimeStatus,
    StrategistCycle,
)


def _regime_row(row: RegimeStatus) -> dict[str, Any]:
    return {
        "volatility_phase": row.volatility_phase,
        "drawdown_phase": row.drawdown_phase,
        "realized_vol": row.realized_vol,
        "vol_ratio": row.vol_ratio,
        "move_1h": row.move_1h,
        "drawdown": row.drawdown,
        "trend_strength": row.trend_strength,
        "last_close": row.last_close,
        "candle_at": row.candle_at.isoformat() if row.candle_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def regime_snapshot_section() -> dict[str, Any]:
    """The policy snapshot's ``regime`` section (one small query; the Nurse reads
    ``symbols[SYMBOL]["volatility_phase"]``)."""
    symbols: dict[str, Any] = {}
    fleet: dict[str, Any] = {"volatility_phase": "normal", "drawdown_phase": "none"}
    for row in RegimeStatus.objects.all():
        if row.symbol == FLEET:
            fleet = _regime_row(row)
        else:
            symbols[row.symbol] = _regime_row(row)
    return {"symbols": symbols, "fleet": fleet}


def regime_get(*, symbol: str | None = None) -> dict[str, Any]:
    """The regime of one symbol (or all) with the latest shifts, for the MCP tool."""
    section = regime_snapshot_section()
    shifts = RegimeShift.objects.all()
    if symbol:
        shifts = shifts.filter(symbol=symbol)
        section["symbols"] = {k: v for k, v in section["symbols"].items() if k == symbol}
    section["recent_shifts"] = [
        {"symbol": s.symbol, "volatility": f"{s.from_volatility} -> {s.to_volatility}",
         "drawdown": f"{s.from_drawdown} -> {s.to_drawdown}",
         "at": s.created_at.isoformat(), "policy_version": s.policy_version}
        for s in shifts[:10]
    ]
    return section


def portfolio_get() -> dict[str, Any]:
    row = PortfolioState.objects.filter(pk=1).first()
    if row is None:
        return {"known": False}
    return {
        "known": True,
        "equity": float(row.equity),
        "peak_equity": float(row.peak_equity),
        "drawdown": round(row.drawdown, 6),
        "exposure": float(row.exposure),
        "daily_pnl": float(row.daily_pnl),
        "updated_at": row.updated_at.isoformat(),
        "source": row.source,
    }


def ladder_recent(*, limit: int = 5) -> list[dict[str, Any]]:
    return [
        {"step": s.step, "drawdown": round(s.drawdown, 6), "state_after": s.state_after,
         "reaction_ms": s.reaction_ms, "at": s.created_at.isoformat()}
        for s in LadderStep.objects.all()[:limit]
    ]


def decisions_summary(*, hours: float = 24.0, now: dt.datetime | None = None,
                      top: int = 10) -> dict[str, Any]:
    """Counts of recent decisions, the block rate and the commonest block reasons."""
    now = now or timezone.now()
    since = now - dt.timedelta(hours=hours)
    qs = DecisionRecord.objects.filter(decided_at__gte=since)
    total = qs.count()
    blocked = qs.filter(outcome=DecisionRecord.Outcome.BLOCKED)
    reasons: Counter[str] = Counter()
    for codes in blocked.values_list("reason_codes", flat=True)[:5000]:
        reasons.update(str(c) for c in (codes or []))
    n_blocked = blocked.count()
    return {
        "hours": hours,
        "total": total,
        "blocked": n_blocked,
        "block_rate": round(n_blocked / total, 4) if total else 0.0,
        "top_block_reasons": [{"code": c, "count": n} for c, n in reasons.most_common(top)],
    }


def llm_usage_today(*, now: dt.datetime | None = None) -> dict[str, float]:
    """Tokens and spend of the strategist's cycles since 00:00 UTC."""
    now = now or timezone.now()
    start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    agg = StrategistCycle.objects.filter(started_at__gte=start).aggregate(
        p=Sum("prompt_tokens"), c=Sum("completion_tokens"), usd=Sum("cost_usd"))
    tokens = int(agg["p"] or 0) + int(agg["c"] or 0)
    return {"tokens": tokens, "cost_usd": float(agg["usd"] or 0)}


def cycle_playback(*, cycle_id: int) -> dict[str, Any]:
    """One cycle as the dashboard's "reasoning playback" shows it."""
    c = StrategistCycle.objects.get(pk=cycle_id)
    return {
        "id": c.pk, "trigger": c.trigger, "status": c.status, "provider": c.provider,
        "model": c.model, "trace_id": c.trace_id, "prompt_hash": c.prompt_hash,
        "inputs": c.inputs, "output": c.output, "proposal": c.proposal, "verdict": c.verdict,
        "replay": c.replay, "applied": c.applied,
        "applied_policy_version": c.applied_policy_version, "alerts": c.alerts,
        "error": {"code": c.error_code, "message": c.error} if c.error_code else None,
        "started_at": c.started_at.isoformat(),
        "finished_at": c.finished_at.isoformat() if c.finished_at else None,
    }


def heartbeat_get() -> dict[str, Any] | None:
    from governance import policy
    from strategist.services import heartbeat_key

    raw = policy._redis().get(heartbeat_key())
    if raw is None:
        return None
    data: dict[str, Any] = json.loads(raw)
    return data
