"""Regime status in the policy snapshot, shifts as events, and the portfolio health."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import nats
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from governance.policy import policy_snapshot_build
from governance.selectors import policy_version_current
from nurse.policy import CompiledPolicy
from strategist.models import PortfolioState, RegimeShift
from strategist.portfolio import PortfolioTracker
from strategist.regime import RegimeMetrics
from strategist.services import portfolio_observe, regime_status_update


def _metrics(symbol: str, phase: str, dd_phase: str = "none") -> RegimeMetrics:
    return RegimeMetrics(symbol=symbol, candle_at=dt.datetime(2021, 5, 19, 13, tzinfo=dt.UTC),
                         close=30000.0, realized_vol={"1h": 2.0}, vol_ratio=4.0, move_1h=-0.2,
                         drawdown=0.3, trend_strength=-0.5, volatility_phase=phase,
                         drawdown_phase=dd_phase, candles=2000, warm=True)


@pytest.mark.django_db(transaction=True)
async def test_a_shift_bumps_the_policy_and_is_announced(redis_client: Any) -> None:
    nc = await nats.connect(settings.NATS_URL)
    events: asyncio.Queue[Any] = asyncio.Queue()
    await nc.subscribe("cio.regime.changed.ZZTESTUSDT", cb=events.put)
    await nc.flush()
    try:
        before = await sync_to_async(policy_version_current)()
        shift = await sync_to_async(regime_status_update)(
            metrics=_metrics("ZZTESTUSDT", "extreme", "severe"),
            fleet={"volatility_phase": "extreme", "drawdown_phase": "severe", "symbols": 1})
        assert shift is not None and shift.to_volatility == "extreme"
        assert shift.policy_version == before + 1
        msg = await asyncio.wait_for(events.get(), timeout=5)
        event = json.loads(msg.data)
        assert event["volatility_phase"] == "extreme"
        assert event["previous_volatility_phase"] == "normal"
        assert event["policy_version"] == before + 1
        # The snapshot in Redis (what every Nurse reads) carries the regime section.
        raw = redis_client.get(f"{settings.CIO_NAMESPACE}:policy:snapshot")
        compiled = CompiledPolicy.from_json(raw)
        assert compiled.version == before + 1
        assert compiled.regime_for("ZZTESTUSDT")["volatility_phase"] == "extreme"  # type: ignore[index]
        assert compiled.regime["fleet"]["volatility_phase"] == "extreme"
        # No change, no bump.
        again = await sync_to_async(regime_status_update)(
            metrics=_metrics("ZZTESTUSDT", "extreme", "severe"),
            fleet={"volatility_phase": "extreme", "drawdown_phase": "severe", "symbols": 1})
        assert again is None
        assert await sync_to_async(policy_version_current)() == before + 1
        assert await sync_to_async(RegimeShift.objects.count)() == 1
    finally:
        await nc.close()
        await sync_to_async(connections.close_all)()


@pytest.mark.django_db
def test_snapshot_section_is_registered() -> None:
    snap = policy_snapshot_build()
    assert snap["regime"] == {"symbols": {}, "fleet": {"volatility_phase": "normal",
                                                       "drawdown_phase": "none"}}


@pytest.mark.django_db
def test_portfolio_peak_drawdown_and_daily_pnl() -> None:
    t0 = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    portfolio_observe(equity=Decimal(100), at=t0, source="test")
    view = portfolio_observe(equity=Decimal(80), at=t0 + dt.timedelta(hours=1), source="test",
                             exposure=Decimal(50))
    assert view.drawdown == pytest.approx(0.2) and view.peak_equity == 100
    assert view.daily_pnl == -20
    next_day = portfolio_observe(equity=Decimal(90), at=t0 + dt.timedelta(days=1),
                                 source="test")
    assert next_day.daily_pnl == 0 and next_day.drawdown == pytest.approx(0.1)
    assert PortfolioState.objects.get().exposure == 50


def test_tracker_marks_positions_to_market_between_engine_reports() -> None:
    tracker = PortfolioTracker()
    tracker.on_price("BTCUSDT", 40000.0)
    obs = tracker.on_execution({"event_type": "account_update", "equity": 100000,
                                "positions": [{"symbol": "BTCUSDT", "quantity": 2.5,
                                               "notional": 100000}]})
    assert obs is not None and obs.equity == 100000 and obs.exposure == 100000
    estimate = tracker.on_price("BTCUSDT", 36000.0)  # -10% on a 1x book
    assert estimate is not None and estimate.estimated
    assert tracker.drawdown == pytest.approx(0.10)
    assert tracker.on_execution({"status": "nothing"}) is None
    tracker.on_execution({"account": {"totalMarginBalance": "85000.5"}})
    assert tracker.equity == 85000.5 and tracker.drawdown == pytest.approx(0.149995)
    # Fills adjust the marked quantity.
    tracker.on_execution({"status": "FILLED", "symbol": "BTCUSDT", "action": "close",
                          "filled_quantity": 1.0, "avg_price": 36000})
    assert tracker.positions["BTCUSDT"].quantity == pytest.approx(1.5)
