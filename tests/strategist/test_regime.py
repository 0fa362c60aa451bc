"""Regime arithmetic on real candles (no database)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategist.regime import (
    Candle,
    RegimeBook,
    RegimeConfig,
    SymbolRegime,
    drawdown_phase,
    fleet_view,
    kline_event,
    load_csv,
    parse_kline,
    parse_rest_kline,
)
from strategist.replay import PACKAGED_DATA_DIR as DATA_DIR
from strategist.replay import SHARED_DATA_DIR, candle_file

# Copies of ../shared/data/binance_futures_api/nautilus_crate_docs_examples/market_data_json
# (provenance in tests/fixtures/candles/PROVENANCE.md).
KLINE = Path(__file__).resolve().parents[1] / "fixtures" / "candles" / "ws"


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_parse_binance_kline_event_from_the_docs_example() -> None:
    payload = json.loads((KLINE / "kline_stream_closed.json").read_text())
    candle = parse_kline(payload)
    assert candle is not None
    assert candle.symbol == "BTCUSDT"
    assert candle.interval == "1m"
    assert candle.closed is True
    assert candle.close == 0.002
    assert candle.close_time - candle.open_time == pytest.approx(60.0)
    wrapped = parse_kline({"stream": "btcusdt@kline_1m", "data": payload})
    assert wrapped == candle
    open_one = parse_kline(json.loads((KLINE / "kline_stream_open.json").read_text()))
    assert open_one is not None and open_one.closed is False
    assert parse_kline({"e": "aggTrade"}) is None
    assert parse_kline({"e": "kline", "k": {"t": "x"}}) is None


def test_rest_kline_rows_and_round_trip() -> None:
    row = [1621425600000, "40000", "41000", "39000", "40500", "12.5", 1621425899999]
    candle = parse_rest_kline("btcusdt", "5m", row, now=1621425900.0)
    assert candle is not None and candle.closed and candle.symbol == "BTCUSDT"
    assert parse_rest_kline("BTCUSDT", "5m", row, now=1621425800.0).closed is False  # type: ignore[union-attr]
    assert parse_kline(kline_event(candle)) == candle


def _crash(symbol: str) -> list:
    path = candle_file(DATA_DIR, symbol, "5m")
    return list(load_csv(path, symbol, "5m", start=_day("2021-05-11T00:00:00"),
                         end=_day("2021-05-19T16:00:00")))


def test_2021_05_19_crash_is_extreme_and_severe() -> None:
    """The regime on the day: BTC fell ~23% and ETH ~30% within the hour after 12:05 UTC."""
    for symbol in ("BTCUSDT", "ETHUSDT"):
        state = SymbolRegime(symbol, RegimeConfig())
        phases = {}
        for candle in _crash(symbol):
            metrics = state.update(candle)
            assert metrics is not None
            phases[candle.at.strftime("%m-%d %H:%M")] = metrics
        assert phases["05-18 12:00"].volatility_phase in ("calm", "normal")
        crash = phases["05-19 13:10"]
        assert crash.volatility_phase == "extreme"
        assert crash.move_1h < -0.15
        assert crash.drawdown_phase == "severe"
        assert crash.trend_strength < 0
        assert crash.warm
        assert set(crash.realized_vol) == {"1h", "4h", "1d"}
        assert crash.realized_vol["1h"] > crash.realized_vol["1d"]


@pytest.mark.skipif(not SHARED_DATA_DIR.is_dir(),
                    reason="needs the seven months of candles in ../shared/data/ohlcv")
def test_phases_over_seven_months_are_mostly_normal() -> None:
    state = SymbolRegime("BTCUSDT", RegimeConfig())
    counts: dict[str, int] = {}
    for candle in load_csv(candle_file(SHARED_DATA_DIR, "BTCUSDT", "5m"), "BTCUSDT", "5m"):
        metrics = state.update(candle)
        if metrics is not None and metrics.warm:
            counts[metrics.volatility_phase] = counts.get(metrics.volatility_phase, 0) + 1
    total = sum(counts.values())
    assert counts["normal"] / total > 0.8
    assert 0.001 < counts["extreme"] / total < 0.03
    assert counts["calm"] > 0 and counts["high"] > 0


def test_hysteresis_and_out_of_order_candles() -> None:
    config = RegimeConfig(min_history_s=0)
    state = SymbolRegime("X", config)
    t = 0.0
    price = 100.0
    for i in range(2100):
        price *= 1.001 if i % 2 else 0.999
        assert state.update(Candle("X", t, t + 300, price, price, price, price, 1, "5m"))
        t += 300
    # A late candle and an open candle are ignored; another interval too.
    assert state.update(Candle("X", 0, 300, 1, 1, 1, 1, 1, "5m")) is None
    assert state.update(Candle("X", t, t + 300, 1, 1, 1, 1, 1, "5m", closed=False)) is None
    assert state.update(Candle("X", t, t + 60, 1, 1, 1, 1, 1, "1m")) is None
    # A 10% drop in an hour is a shock: extreme at once.
    shocked = state.update(Candle("X", t, t + 300, price, price, price * 0.9, price * 0.9, 1,
                                  "5m"))
    assert shocked is not None and shocked.volatility_phase == "extreme"
    # A corrected close for the same candle replaces it.
    fixed = state.update(Candle("X", t, t + 300, price, price, price, price, 1, "5m"))
    assert fixed is not None and fixed.move_1h > -0.01


def test_book_and_fleet_view() -> None:
    book = RegimeBook(RegimeConfig(min_history_s=0), symbols=["AAA", "BBB"])
    assert book.update(Candle("CCC", 0, 300, 1, 1, 1, 1, 1, "5m")) is None
    a = book.update(Candle("AAA", 0, 300, 1, 1, 1, 1, 1, "5m"))
    b = book.update(Candle("BBB", 0, 300, 1, 1, 1, 1, 1, "5m"))
    assert a is not None and b is not None
    fleet = book.fleet()
    assert fleet["symbols"] == 2
    assert fleet_view([])["volatility_phase"] == "normal"


@given(st.lists(st.floats(min_value=0.5, max_value=1.5), min_size=2, max_size=400))
@settings(max_examples=60, deadline=None)
def test_metrics_are_finite_and_bounded(moves: list[float]) -> None:
    state = SymbolRegime("P", RegimeConfig(min_history_s=3600))
    price, t = 100.0, 0.0
    for move in moves:
        price = max(1e-6, price * move)
        metrics = state.update(Candle("P", t, t + 300, price, price, price, price, 1, "5m"))
        t += 300
        assert metrics is not None
        assert 0.0 <= metrics.drawdown < 1.0
        assert -1.0 <= metrics.trend_strength <= 1.0
        assert metrics.vol_ratio >= 0 and math.isfinite(metrics.vol_ratio)
        assert all(math.isfinite(v) and v >= 0 for v in metrics.realized_vol.values())
        assert metrics.volatility_phase in ("calm", "normal", "high", "extreme")


@given(st.floats(min_value=0, max_value=1))
def test_drawdown_phase_is_monotonic(dd: float) -> None:
    levels = (0.05, 0.10, 0.20)
    order = ("none", "moderate", "deep", "severe")
    assert order.index(drawdown_phase(dd, levels)) <= order.index(
        drawdown_phase(min(1.0, dd + 0.05), levels))
