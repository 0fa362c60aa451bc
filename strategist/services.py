"""Strategist writes: regime status and shifts, portfolio health, strategist heartbeat.

A regime shift reaches every Nurse the way any governance change does: in one transaction
the shift is recorded and the fleet policy version bumped (``governance.services.
policy_bump``); after commit the snapshot (whose ``regime`` section this app contributes) is
published and ``cio.regime.changed.<symbol>`` announced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance import policy
from governance.services import policy_bump
from strategist.contracts import RegimeChanged
from strategist.models import FLEET, EquityPoint, PortfolioState, RegimeShift, RegimeStatus
from strategist.regime import RegimeMetrics

logger = logging.getLogger(__name__)

REGIME_CHANGED_PREFIX = "cio.regime.changed"
_POINT_EVERY = dt.timedelta(seconds=60)


def _phases(row: RegimeStatus | None) -> tuple[str, str]:
    return (row.volatility_phase, row.drawdown_phase) if row else ("normal", "none")


def _publish_regime_event(event: RegimeChanged) -> None:
    try:
        policy.nats_publish_sync(f"{REGIME_CHANGED_PREFIX}.{event.symbol}",
                                 event.model_dump_json().encode())
    except Exception as exc:  # the shift is committed and the policy carries it
        logger.warning("could not announce the regime shift of %s: %s", event.symbol,
                       type(exc).__name__)


def _upsert(symbol: str, values: dict[str, Any]) -> tuple[RegimeStatus, tuple[str, str]]:
    row = RegimeStatus.objects.select_for_update().filter(symbol=symbol).first()
    before = _phases(row)
    if row is None:
        row = RegimeStatus(symbol=symbol)
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    return row, before


def regime_status_update(
    *, metrics: RegimeMetrics, fleet: dict[str, Any], source: str = "nats"
) -> RegimeShift | None:
    """Store one symbol's regime and the fleet view; record and announce a phase change.

    1. upsert the symbol's and the fleet's ``RegimeStatus`` rows (locked);
    2. if the symbol's volatility or drawdown phase changed: record a ``RegimeShift``, bump
       the policy version and, after commit, publish the snapshot and the event;
    3. return the shift (None when nothing changed).
    """
    with transaction.atomic():
        row, before = _upsert(metrics.symbol, {
            "volatility_phase": metrics.volatility_phase,
            "drawdown_phase": metrics.drawdown_phase,
            "realized_vol": metrics.realized_vol, "vol_ratio": metrics.vol_ratio,
            "move_1h": metrics.move_1h, "drawdown": metrics.drawdown,
            "trend_strength": metrics.trend_strength, "last_close": metrics.close,
            "candle_at": metrics.candle_at, "candles": metrics.candles, "source": source,
        })
        _upsert(FLEET, {
            "volatility_phase": fleet.get("volatility_phase", "normal"),
            "drawdown_phase": fleet.get("drawdown_phase", "none"),
            "vol_ratio": fleet.get("vol_ratio", 1.0), "move_1h": fleet.get("move_1h", 0.0),
            "drawdown": fleet.get("drawdown", 0.0),
            "trend_strength": fleet.get("trend_strength", 0.0),
            "candle_at": metrics.candle_at, "candles": int(fleet.get("symbols", 0)),
            "source": source,
        })
        after = (row.volatility_phase, row.drawdown_phase)
        if after == before:
            return None
        version = policy_bump()
        shift = RegimeShift.objects.create(
            symbol=metrics.symbol, from_volatility=before[0], to_volatility=after[0],
            from_drawdown=before[1], to_drawdown=after[1], metrics=metrics.as_dict(),
            candle_at=metrics.candle_at, policy_version=version,
        )
        trace_id = uuid.uuid4().hex
        policy.announce_on_commit(policy_version=version, scopes=[f"regime:{metrics.symbol}"],
                                  trace_id=trace_id)
        event = RegimeChanged(
            symbol=metrics.symbol, volatility_phase=after[0], drawdown_phase=after[1],
            previous_volatility_phase=before[0], previous_drawdown_phase=before[1],
            metrics={k: v for k, v in metrics.as_dict().items() if k != "extra"},
            policy_version=version, candle_at=metrics.candle_at.isoformat(),
            at=timezone.now().isoformat(),
        )
        transaction.on_commit(lambda: _publish_regime_event(event))
    return shift


# --- portfolio health -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """Equity, peak and drawdown as the ladder sees them."""

    equity: Decimal
    peak_equity: Decimal
    drawdown: float
    exposure: Decimal
    daily_pnl: Decimal
    at: dt.datetime


def portfolio_observe(
    *,
    equity: Decimal,
    at: dt.datetime,
    source: str,
    exposure: Decimal | None = None,
    daily_pnl: Decimal | None = None,
) -> PortfolioView:
    """Fold one equity observation into the single ``PortfolioState`` row.

    The peak only rises; the day's PnL restarts at the first observation of each UTC day
    unless the engine reports its own figure.
    """
    with transaction.atomic():
        row, _ = PortfolioState.objects.select_for_update().get_or_create(pk=1)
        if equity > row.peak_equity:
            row.peak_equity = equity
            row.peak_at = at
        row.equity = equity
        row.drawdown = float(1 - equity / row.peak_equity) if row.peak_equity > 0 else 0.0
        if exposure is not None:
            row.exposure = exposure
        day = at.astimezone(dt.UTC).date()
        if row.day != day:
            row.day = day
            row.day_start_equity = equity
        row.daily_pnl = daily_pnl if daily_pnl is not None else equity - row.day_start_equity
        row.source = source
        row.event_at = at
        row.save()
        last = EquityPoint.objects.order_by("-at").values_list("at", flat=True).first()
        if last is None or at - last >= _POINT_EVERY or row.peak_at == at:
            EquityPoint.objects.create(at=at, equity=equity, peak_equity=row.peak_equity,
                                       drawdown=row.drawdown, source=source)
    return PortfolioView(equity=row.equity, peak_equity=row.peak_equity, drawdown=row.drawdown,
                         exposure=row.exposure, daily_pnl=row.daily_pnl, at=at)


def portfolio_peak_reset(*, actor: str, reason: str) -> PortfolioState:
    """Staff re-arm helper: the current equity becomes the peak (drawdown 0)."""
    from governance.audit import audit_record
    from governance.models import ActorKind

    with transaction.atomic():
        row, _ = PortfolioState.objects.select_for_update().get_or_create(pk=1)
        before = row.peak_equity
        row.peak_equity = row.equity
        row.peak_at = timezone.now()
        row.drawdown = 0.0
        row.save()
        audit_record(event_type="strategist.peak_reset", actor=actor, actor_kind=ActorKind.USER,
                     scope="portfolio", summary=f"peak equity {before} -> {row.equity}",
                     payload={"before": str(before), "after": str(row.equity)}, reason=reason)
        body = json.dumps({"peak_equity": float(row.equity)}).encode()
        transaction.on_commit(lambda: _announce_peak(body))
    return row


def _announce_peak(body: bytes) -> None:
    try:
        policy.nats_publish_sync("cio.strategist.peak_reset", body)
    except Exception as exc:  # the feed reloads the peak from the database on restart
        logger.warning("could not announce the peak reset: %s", type(exc).__name__)


# --- heartbeat ---------------------------------------------------------------------------------


def heartbeat_key() -> str:
    return f"{settings.CIO_NAMESPACE}:strategist:heartbeat"


def strategist_heartbeat_set(*, status: str, reason: str = "", cycle_id: int | None = None
                             ) -> dict[str, Any]:
    """Record the brain's health (OK or DEGRADED) in Redis and announce it on NATS.

    The Nurse never waits for it: it enforces the last good policy whatever this says.
    """
    beat = {"service": "petrosa-cio-strategist", "status": status, "reason": reason[:500],
            "cycle_id": cycle_id, "timestamp": timezone.now().timestamp(),
            "provider": settings.STRATEGIST_LLM_PROVIDER}
    body = json.dumps(beat)
    try:
        policy._redis().set(heartbeat_key(), body)
    except Exception as exc:
        logger.warning("could not store the strategist heartbeat: %s", type(exc).__name__)
    try:
        policy.nats_publish_sync("cio.strategist.heartbeat", body.encode())
    except Exception as exc:
        logger.warning("could not publish the strategist heartbeat: %s", type(exc).__name__)
    return beat
