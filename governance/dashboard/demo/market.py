"""Replayed market data: candle slices, exchange rounding, and live klines on wall-clock time.

The demo replays 2021 candles at many times real speed, but everything it publishes is
stamped with the present: each replayed candle becomes one live update of the current
wall-clock 5-minute kline (closed, ``x: true``, when the wall-clock bar ends), as a Binance
websocket would send it. Regime and shadow ROI consumers therefore see plausible timestamps.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from nurse.policy import ExchangeFilter

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BAR_MS = 300_000  # the live kline interval the demo publishes (5m)


@dataclass(frozen=True, slots=True)
class Candle:
    """One historical candle (prices in quote currency)."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def load_candles(directory: Path = DATA_DIR) -> dict[str, list[Candle]]:
    """``SYMBOL_<interval>_<date>.csv`` files of ``open_time_ms,open,high,low,close,volume``."""
    out: dict[str, list[Candle]] = {}
    for path in sorted(directory.glob("*.csv")):
        symbol = path.name.split("_", 1)[0].upper()
        with path.open(newline="") as handle:
            rows = [Candle(int(r["open_time_ms"]), float(r["open"]), float(r["high"]),
                           float(r["low"]), float(r["close"]), float(r["volume"] or 0))
                    for r in csv.DictReader(handle)]
        if rows:
            out[symbol] = rows
    return out


def _quantize(value: float, step: float, rounding: str) -> float:
    if step <= 0:
        return value
    q = Decimal(repr(step)).normalize()
    units = (Decimal(repr(value)) / q).quantize(Decimal(1), rounding=rounding)
    return float(units * q)


def round_price(price: float, f: ExchangeFilter | None) -> float:
    return _quantize(price, f.tick_size if f else 0.0, ROUND_HALF_UP)


def round_qty(qty: float, f: ExchangeFilter | None) -> float:
    return _quantize(qty, f.step_size if f else 0.0, ROUND_DOWN)


class LiveBar:
    """Folds replayed candles into the current wall-clock kline of one symbol."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.open_ms: int | None = None
        self.o = self.h = self.low = self.c = self.v = 0.0

    def update(self, candle: Candle, now_ms: int) -> list[dict[str, Any]]:
        """The kline events to publish: the finished bar (if the wall clock moved on) and
        the current bar's update."""
        events = []
        bar = now_ms - now_ms % BAR_MS
        if self.open_ms is not None and bar != self.open_ms:
            events.append(self._event(now_ms, closed=True))
            self.open_ms = None
        if self.open_ms is None:
            self.open_ms = bar
            self.o, self.h, self.low, self.v = candle.open, candle.high, candle.low, 0.0
        self.h = max(self.h, candle.high)
        self.low = min(self.low, candle.low)
        self.c = candle.close
        self.v += candle.volume
        events.append(self._event(now_ms, closed=False))
        return events

    def _event(self, now_ms: int, *, closed: bool) -> dict[str, Any]:
        start = self.open_ms or 0
        return {"e": "kline", "E": now_ms, "s": self.symbol,
                "k": {"t": start, "T": start + BAR_MS - 1, "s": self.symbol, "i": "5m",
                      "o": repr(self.o), "c": repr(self.c), "h": repr(self.h),
                      "l": repr(self.low), "v": repr(round(self.v, 6)), "x": closed}}


def finite(value: float) -> bool:
    return math.isfinite(value) and value > 0
