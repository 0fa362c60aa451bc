"""Three deliberately simple strategies; what matters is a realistic mix of intents.

Each looks at one symbol's recent candles and its current position (from the stand-in
engine's book, as a real bot would from its exchange account) and says what to do now:
an entry (``buy``/``sell``) with a size in USD and a confidence, a ``close``, or nothing.
Some intents are meant to be blocked: an oversized breakout entry (``CONFIG_SIZE_ABOVE_MAX``
with the demo configuration), a mean-reversion entry below the confidence threshold.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from governance.dashboard.demo.market import Candle


@dataclass(frozen=True, slots=True)
class Idea:
    """What a strategy wants to do now."""

    action: str  # buy | sell | close
    confidence: float
    notional_usd: float = 0.0


class Strategy(Protocol):
    strategy_id: str
    name: str

    def decide(self, candles: Sequence[Candle], side: str | None) -> Idea | None: ...


def _sma(values: Sequence[float], n: int) -> float:
    return sum(values[-n:]) / n


@dataclass(slots=True)
class Momentum:
    """Fast/slow moving-average crossover."""

    strategy_id: str = "demo-momentum"
    name: str = "momentum"
    fast: int = 6
    slow: int = 18
    notional_usd: float = 600.0

    def decide(self, candles: Sequence[Candle], side: str | None) -> Idea | None:
        if len(candles) < self.slow:
            return None
        closes = [c.close for c in candles]
        fast, slow = _sma(closes, self.fast), _sma(closes, self.slow)
        if (side == "LONG" and fast < slow) or (side == "SHORT" and fast > slow):
            return Idea("close", 0.7)
        if side is None and fast > slow * 1.0005:
            return Idea("buy", 0.72, self.notional_usd)
        if side is None and fast < slow * 0.9995:
            return Idea("sell", 0.72, self.notional_usd)
        return None


@dataclass(slots=True)
class MeanReversion:
    """Fades stretched moves (z-score of the close); confidence grows with the stretch."""

    strategy_id: str = "demo-meanrev"
    name: str = "mean_reversion"
    window: int = 20
    entry_z: float = 1.5
    exit_z: float = 0.3
    notional_usd: float = 900.0

    def decide(self, candles: Sequence[Candle], side: str | None) -> Idea | None:
        if len(candles) < self.window:
            return None
        closes = [c.close for c in candles[-self.window:]]
        std = statistics.pstdev(closes)
        if std <= 0:
            return None
        z = (closes[-1] - statistics.fmean(closes)) / std
        if side is not None and abs(z) < self.exit_z:
            return Idea("close", 0.6)
        confidence = round(min(0.95, 0.35 + abs(z) / 8), 3)  # below 0.55 until |z| > 1.6
        if side is None and z < -self.entry_z:
            return Idea("buy", confidence, self.notional_usd)
        if side is None and z > self.entry_z:
            return Idea("sell", confidence, self.notional_usd)
        return None


@dataclass(slots=True)
class Breakout:
    """Channel breakout; every fourth entry is oversized (the gate should block it)."""

    strategy_id: str = "demo-breakout"
    name: str = "breakout"
    window: int = 12
    notional_usd: float = 1500.0
    oversized_usd: float = 2600.0
    entries: int = 0

    def decide(self, candles: Sequence[Candle], side: str | None) -> Idea | None:
        if len(candles) <= self.window:
            return None
        prior = candles[-self.window - 1:-1]
        close = candles[-1].close
        mid = _sma([c.close for c in prior], self.window)
        if (side == "LONG" and close < mid) or (side == "SHORT" and close > mid):
            return Idea("close", 0.75)
        if side is not None:
            return None
        action = ("buy" if close > max(c.high for c in prior)
                  else "sell" if close < min(c.low for c in prior) else None)
        if action is None:
            return None
        self.entries += 1
        size = self.oversized_usd if self.entries % 4 == 0 else self.notional_usd
        return Idea(action, 0.8, size)


def default_fleet() -> list[Strategy]:
    return [Momentum(), MeanReversion(), Breakout()]
