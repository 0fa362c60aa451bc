"""Replaying recorded candles through the regime and the ladder (``manage.py regime_replay``).

A ``ReplayBook`` is a simulated leveraged book opened at ``book_start`` (weights per symbol);
its equity is what the engine would report. ``replay_steps`` merges the symbols' candles
in time order and yields, per candle time, the klines and the book's execution event, in
the exact wire shapes the live feeds consume (Binance kline events, engine execution events
with equity and positions). They can be fed in-process (``--via local``) or published on
NATS for a running ``run_strategist_feeds`` (``--via nats``).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from strategist.regime import Candle, kline_event, load_csv

SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv"
# The crash week ships with the package (strategist/data); the full history is read from
# ../shared when it is beside the project.
PACKAGED_DATA_DIR = Path(__file__).resolve().parent / "data"
DATA_DIR = SHARED_DATA_DIR if SHARED_DATA_DIR.is_dir() else PACKAGED_DATA_DIR


def candle_file(data_dir: Path, symbol: str, interval: str) -> Path:
    """The spot CSV of ``symbol`` and ``interval`` in the shared candle directory."""
    matches = sorted(data_dir.glob(f"binance_*_{symbol.upper()}_{interval}_*.csv"))
    if not matches:
        raise FileNotFoundError(f"no {interval} candles for {symbol} in {data_dir}")
    return matches[0]


@dataclass(slots=True)
class ReplayBook:
    """A book of long (weight > 0) or short (< 0) positions opened at the first prices."""

    equity0: float
    weights: Mapping[str, float]
    leverage: float = 1.0
    start: datetime | None = None
    quantities: dict[str, float] = field(default_factory=dict)
    entries: dict[str, float] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, candle: Candle) -> None:
        if self.start is not None and candle.at <= self.start:
            return
        self.marks[candle.symbol] = candle.close
        if candle.symbol in self.weights and candle.symbol not in self.quantities:
            notional = self.equity0 * self.leverage * self.weights[candle.symbol]
            self.quantities[candle.symbol] = notional / candle.close
            self.entries[candle.symbol] = candle.close

    @property
    def open(self) -> bool:
        return bool(self.quantities)

    def equity(self) -> float:
        return self.equity0 + sum(q * (self.marks[s] - self.entries[s])
                                  for s, q in self.quantities.items())

    def event(self, now_ms: int) -> dict[str, Any]:
        """The execution event the engine would publish (epoch-ms timestamp = publish time)."""
        return {
            "event_type": "account_update", "timestamp": now_ms,
            "equity": round(self.equity(), 8),
            "positions": [{"symbol": s, "quantity": q, "entry_price": self.entries[s],
                           "mark_price": self.marks[s],
                           "notional": round(abs(q) * self.marks[s], 8)}
                          for s, q in sorted(self.quantities.items())],
        }


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One candle time: the klines of every symbol, then the book's execution event."""

    at: datetime
    candles: tuple[Candle, ...]


def replay_steps(series: Iterable[Iterable[Candle]]) -> Iterator[ReplayStep]:
    """Merge per-symbol candle streams by open time into steps."""
    merged = heapq.merge(*series, key=lambda c: (c.open_time, c.symbol))
    batch: list[Candle] = []
    for candle in merged:
        if batch and candle.open_time != batch[0].open_time:
            yield ReplayStep(at=batch[0].at, candles=tuple(batch))
            batch = []
        batch.append(candle)
    if batch:
        yield ReplayStep(at=batch[0].at, candles=tuple(batch))


def load_series(data_dir: Path, symbols: Iterable[str], interval: str, *,
                start: datetime | None, end: datetime | None) -> list[list[Candle]]:
    return [list(load_csv(candle_file(data_dir, s, interval), s, interval, start=start,
                          end=end)) for s in symbols]


def step_messages(step: ReplayStep, book: ReplayBook | None
                  ) -> list[tuple[str, dict[str, Any]]]:
    """``(kind, payload)`` of one step: ``kline`` events, then one ``execution`` event."""
    now_ms = int(time.time() * 1000)
    out: list[tuple[str, dict[str, Any]]] = []
    for candle in step.candles:
        if book is not None:
            book.mark(candle)
        out.append(("kline", kline_event(candle, event_ms=now_ms)))
    if book is not None and book.open:
        out.append(("execution", book.event(now_ms)))
    return out
