"""Avoided / foregone per rule, strategy, symbol and period; the fatigue ratio."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from nurse.models import ExecutionFill, ShadowMark, ShadowPosition
from nurse.shadow.selectors import shadow_summary
from tests.shadow.conftest import RecordFn, utc

pytestmark = pytest.mark.django_db

DAY = utc(2021, 5, 19)


def shadow(record: RecordFn, *, codes: tuple[str, ...], pnl: str | None, strategy: str,
           symbol: str = "BTCUSDT", at: dt.datetime = DAY) -> None:
    rec = record(received=at, codes=codes, strategy_id=strategy, symbol=symbol)
    pos = ShadowPosition.objects.create(
        decision=rec, strategy_id=strategy, symbol=symbol, side="LONG",
        quantity=Decimal("0.01"), intent_price=Decimal(38700), notional=Decimal(387),
        reason_codes=list(codes), primary_reason=codes[0], blocked_at=at, next_due_at=at)
    if pnl is not None:
        ShadowMark.objects.create(
            position=pos, horizon_h=24, exit_reason="horizon", exit_price=Decimal(1),
            exit_at=at, entry_fill=Decimal(1), exit_fill=Decimal(1), fees=Decimal(0),
            pnl=Decimal(pnl), ret=Decimal(0), source="t", quality="candles")


def test_summary_splits_avoided_and_foregone(record: RecordFn) -> None:
    shadow(record, codes=("CONFIG_SIZE_ABOVE_MAX",), pnl="-30", strategy="a")
    shadow(record, codes=("CONFIG_SIZE_ABOVE_MAX", "STATE_REDUCING"), pnl="50", strategy="a")
    shadow(record, codes=("STATE_REDUCING",), pnl="-10", strategy="b", symbol="ETHUSDT",
           at=DAY + dt.timedelta(days=1))
    shadow(record, codes=("RATE_DAILY_TRADES",), pnl=None, strategy="b")  # not marked yet
    ExecutionFill.objects.create(event_key="x1", strategy_id="a", symbol="BTCUSDT",
                                 position_side="LONG", action="close", quantity=1, price=1,
                                 realized_pnl=Decimal(100), filled_at=DAY)
    ExecutionFill.objects.create(event_key="x2", strategy_id="b", symbol="ETHUSDT",
                                 position_side="LONG", action="close", quantity=1, price=1,
                                 realized_pnl=Decimal(-20), filled_at=DAY)
    s = shadow_summary(start=DAY, end=DAY + dt.timedelta(days=7), horizon_h=24)
    total = s["total"]
    assert (total["positions"], total["marked"]) == (4, 3)
    assert (total["avoided"], total["foregone"], total["net"]) == (
        Decimal(40), Decimal(50), Decimal(10))
    assert total["actual"] == Decimal(80)
    assert total["fatigue_ratio"] == pytest.approx(50 / 80)
    rules = {row["key"]: row for row in s["by_rule"]}
    # A position blocked by two rules counts under both.
    assert (rules["config"]["avoided"], rules["config"]["foregone"]) == (Decimal(30),
                                                                       Decimal(50))
    assert (rules["trading_state"]["avoided"], rules["trading_state"]["foregone"]) == (
        Decimal(10), Decimal(50))
    assert rules["ledger"]["marked"] == 0
    primary = {row["key"]: row["positions"] for row in s["by_primary"]}
    assert sum(primary.values()) == 4
    strategies = {row["key"]: row for row in s["by_strategy"]}
    assert strategies["a"]["fatigue_ratio"] == pytest.approx(0.5)
    assert strategies["b"]["fatigue_ratio"] is None  # its actual PnL is negative
    assert [row["key"] for row in s["by_period"]] == ["2021-05-19", "2021-05-20"]
    assert {row["key"] for row in s["by_symbol"]} == {"BTCUSDT", "ETHUSDT"}
