"""Shadow ROI test setup: real candles from tests/fixtures/candles, real PostgreSQL/Redis."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from nurse.models import DecisionRecord
from nurse.shadow.marking import Candle, CandleSeries
from nurse.shadow.prices import CandleFileSource

CANDLES = Path(__file__).resolve().parents[1] / "fixtures" / "candles"
BTC = CANDLES / "binance_spot_BTCUSDT_5m_20210515_20210525.csv"
ETH = CANDLES / "binance_spot_ETHUSDT_5m_20210515_20210525.csv"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


def ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def btc_series(start: dt.datetime | None = None, end: dt.datetime | None = None
               ) -> CandleSeries:
    """The BTC 5m fixture as a Decimal series, optionally cut to [start, end) opens."""
    full = CandleFileSource({"BTCUSDT": str(BTC)}).fetch("BTCUSDT", 0, 2**62)
    assert full is not None
    candles = tuple(c for c in full.candles
                    if (start is None or c.open_ms >= ms(start))
                    and (end is None or c.open_ms < ms(end)))
    return CandleSeries(full.interval_ms, candles, "candle_files", "candles")


def candle(open_ms: int, o: str, h: str, low: str, c: str) -> Candle:
    return Candle(open_ms, Decimal(o), Decimal(h), Decimal(low), Decimal(c))


@pytest.fixture(autouse=True)
def _shadow_settings(settings: Any) -> None:
    settings.SHADOW_HORIZONS_H = [1, 4, 24, 48]
    settings.SHADOW_FEE_RATE = 0.001
    settings.SHADOW_SLIPPAGE_BPS = 0.0
    settings.SHADOW_SCAN_LAG_S = 0.0
    settings.SHADOW_HTTP_KLINES_URL = ""
    settings.SHADOW_CANDLE_FILES = [str(BTC), str(ETH)]
    settings.SHADOW_PRICE_SOURCES = ["candle_files"]
    settings.SHADOW_REPORT_HORIZON_H = 24


@pytest.fixture
def clean_redis(settings: Any) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    for key in client.scan_iter(match=f"{settings.CIO_NAMESPACE}:px:*", count=1000):
        client.delete(key)
    client.close()


RecordFn = Callable[..., DecisionRecord]


@pytest.fixture
def record() -> RecordFn:
    """Store a decision record the way the audit sink does (blocked BTC long by default)."""

    def make(*, received: dt.datetime, outcome: str = "blocked", action: str = "buy",
             codes: tuple[str, ...] = ("CONFIG_SIZE_ABOVE_MAX",), quantity: float = 0.01,
             price: float = 38700.0, symbol: str = "BTCUSDT", strategy_id: str = "s-shadow",
             payload: dict[str, Any] | None = None, stored_at: dt.datetime | None = None
             ) -> DecisionRecord:
        row = DecisionRecord.objects.create(
            decision_id=uuid.uuid4().hex, strategy_id=strategy_id, symbol=symbol,
            action=action, quantity=quantity, price=price, notional=quantity * price,
            outcome=outcome, reasons=[{"code": c, "detail": ""} for c in codes],
            reason_codes=list(codes), policy_version=7, received_at=received,
            decided_at=received, payload=payload if payload is not None else
            {"stop_loss": price * 0.9, "take_profit": price * 1.1, "quantity": quantity,
             "current_price": price})
        if stored_at is not None:
            DecisionRecord.objects.filter(pk=row.pk).update(stored_at=stored_at)
            row.refresh_from_db()
        return row

    return make
