"""A synthetic fleet of simple strategies turning real candles into intents.

``crash_week_intents`` is the shipped scenario: six small rule-based bots on the Binance spot
BTCUSDT / ETHUSDT 5-minute candles of 16-23 May 2021 (the 19 May crash). They act on closed
bars, size in USD notional on the exchange's 0.001 lot step, always send stop-loss and
(mostly) take-profit prices, and send ``close`` when their own holding rule says so (they do
not know whether the gate approved the entry, like real bots). Their flaws are deliberate,
so every kind of rule has work to do: a breakout bot that sometimes sizes above the per-order
maximum, a mean-reversion bot whose confidence is often below the floor, a dip buyer that
forgets its take-profit, a scalper that re-sends a signal (a duplicate) and trades often.

Everything is a pure function of the candles: same candles, same intents.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from nurse.replay.candles import SymbolCandles

CRASH_WEEK = ("2021-05-16T00:00:00Z", "2021-05-23T00:00:00Z")
STEP = 0.001  # lot step of BTCUSDT and ETHUSDT (nurse/data/exchange_info_usdm.json)


def _ema(x: npt.NDArray[np.float64], span: int) -> npt.NDArray[np.float64]:
    alpha = 2.0 / (span + 1.0)
    out = np.empty_like(x)
    acc = float(x[0])
    for i, v in enumerate(x.tolist()):
        acc = alpha * v + (1.0 - alpha) * acc
        out[i] = acc
    return out


def _rolling(x: npt.NDArray[np.float64], n: int, fn: Callable[..., Any]
             ) -> npt.NDArray[np.float64]:
    out = np.full_like(x, np.nan)
    if len(x) >= n:
        windows = np.lib.stride_tricks.sliding_window_view(x, n)
        out[n - 1:] = fn(windows, axis=1)
    return out


def _qty(notional: float, price: float) -> float:
    return round(math.floor(notional / price / STEP) * STEP, 3)


@dataclass(slots=True)
class _Bot:
    strategy_id: str
    symbol: str
    counter: int = 0
    side: int = 0
    held: int = 0
    out: list[dict[str, Any]] = field(default_factory=list)

    def send(self, ts_ms: int, action: str, price: float, *, notional: float = 0.0,
             confidence: float = 0.8, sl: float | None = None, tp: float | None = None,
             signal_id: str | None = None) -> str:
        self.counter += 1
        sid = signal_id or f"{self.strategy_id}-{self.counter}"
        intent: dict[str, Any] = {
            "ts": ts_ms, "timestamp": ts_ms, "strategy_id": self.strategy_id,
            "strategy": self.strategy_id.split("-")[0], "signal_id": sid,
            "symbol": self.symbol, "action": action, "confidence": round(confidence, 4),
            "price": round(price, 2), "current_price": round(price, 2),
            "quantity": _qty(notional, price) if action != "close" else 0.001,
            "timeframe": "5m", "source": self.strategy_id,
        }
        if sl is not None:
            intent["stop_loss"] = round(sl, 2)
        if tp is not None:
            intent["take_profit"] = round(tp, 2)
        self.out.append(intent)
        if action in ("buy", "sell"):
            self.side, self.held = (1 if action == "buy" else -1), 0
        elif action == "close":
            self.side, self.held = 0, 0
        return sid

    def enter(self, ts_ms: int, side: int, price: float, notional: float, confidence: float,
              sl_pct: float, tp_pct: float | None) -> str:
        sl = price * (1 - side * sl_pct)
        tp = price * (1 + side * tp_pct) if tp_pct is not None else None
        return self.send(ts_ms, "buy" if side > 0 else "sell", price, notional=notional,
                         confidence=confidence, sl=sl, tp=tp)


def _bars(c: SymbolCandles, start_ms: int, end_ms: int) -> Iterator[int]:
    for i in range(len(c)):
        close_ms = int(c.open_ms[i]) + c.interval_ms
        if start_ms <= close_ms < end_ms:
            yield i


def _trend(c: SymbolCandles, sid: str, start: int, end: int) -> list[dict[str, Any]]:
    bot = _Bot(sid, c.symbol)
    fast, slow = _ema(c.close, 12), _ema(c.close, 48)
    for i in _bars(c, start, end):
        if i == 0:
            continue
        t, px = int(c.open_ms[i]) + c.interval_ms, float(c.close[i])
        cross = np.sign(fast[i] - slow[i]) - np.sign(fast[i - 1] - slow[i - 1])
        if cross == 0:
            continue
        side = 1 if cross > 0 else -1
        if bot.side:
            bot.send(t, "close", px)
        strength = abs(fast[i] - slow[i]) / px * 400
        bot.enter(t, side, px, 900.0, 0.55 + 0.4 * math.tanh(strength), 0.02, 0.04)
    return bot.out


def _meanrev(c: SymbolCandles, sid: str, start: int, end: int) -> list[dict[str, Any]]:
    bot = _Bot(sid, c.symbol)
    mean, std = _rolling(c.close, 24, np.mean), _rolling(c.close, 24, np.std)
    for i in _bars(c, start, end):
        t, px = int(c.open_ms[i]) + c.interval_ms, float(c.close[i])
        if bot.side:
            bot.held += 1
            if bot.held >= 12:
                bot.send(t, "close", px)
            continue
        if not std[i] > 0:
            continue
        z = (px - mean[i]) / std[i]
        if abs(z) >= 2.2:
            bot.enter(t, -1 if z > 0 else 1, px, 700.0, 0.3 + 0.08 * abs(z), 0.015, 0.015)
    return bot.out


def _breakout(c: SymbolCandles, sid: str, start: int, end: int) -> list[dict[str, Any]]:
    bot = _Bot(sid, c.symbol)
    hi, lo = _rolling(c.high, 48, np.max), _rolling(c.low, 48, np.min)
    entries = 0
    for i in _bars(c, start, end):
        t, px = int(c.open_ms[i]) + c.interval_ms, float(c.close[i])
        if bot.side:
            bot.held += 1
            if bot.held >= 24:
                bot.send(t, "close", px)
            continue
        if i == 0 or math.isnan(hi[i - 1]):
            continue
        side = 1 if px > hi[i - 1] else -1 if px < lo[i - 1] else 0
        if side:
            entries += 1
            size = 1200.0 if entries % 3 == 0 else 850.0  # every third one too big
            bot.enter(t, side, px, size, 0.7, 0.015, 0.03)
    return bot.out


def _dipbuyer(c: SymbolCandles, sid: str, start: int, end: int) -> list[dict[str, Any]]:
    bot = _Bot(sid, c.symbol)
    cooldown = 0
    entries = 0
    for i in _bars(c, start, end):
        t, px = int(c.open_ms[i]) + c.interval_ms, float(c.close[i])
        if bot.side:
            bot.held += 1
            if bot.held >= 48:
                bot.send(t, "close", px)
            continue
        cooldown -= 1
        if i < 12 or cooldown > 0:
            continue
        if px / float(c.close[i - 12]) - 1.0 <= -0.03:
            entries += 1
            bot.enter(t, 1, px, 800.0, 0.75, 0.06, None if entries % 2 else 0.04)
            cooldown = 12
    return bot.out


def _scalper(c: SymbolCandles, sid: str, start: int, end: int) -> list[dict[str, Any]]:
    bot = _Bot(sid, c.symbol)
    cooldown = 0
    for i in _bars(c, start, end):
        t, px = int(c.open_ms[i]) + c.interval_ms, float(c.close[i])
        if bot.side:
            bot.held += 1
            if bot.held >= 6:
                bot.send(t, "close", px)
            continue
        cooldown -= 1
        ret = px / float(c.open[i]) - 1.0
        if cooldown <= 0 and abs(ret) >= 0.005:
            side = 1 if ret > 0 else -1
            sid_sent = bot.enter(t, side, px, 400.0, 0.65, 0.006, 0.009)
            if bot.counter % 7 == 0:  # a network retry: the same signal again, 2 s later
                again = dict(bot.out[-1])
                again["ts"] = again["timestamp"] = t + 2000
                again["signal_id"] = sid_sent
                bot.out.append(again)
            cooldown = 2
    return bot.out


def _ms(text: str) -> int:
    import datetime as dt

    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def crash_week_intents(candles: dict[str, SymbolCandles], *, start: str = CRASH_WEEK[0],
                       end: str = CRASH_WEEK[1]) -> list[dict[str, Any]]:
    """The scenario's intents (JSONL-ready dicts with ``ts``), sorted by time."""
    a, b = _ms(start), _ms(end)
    btc, eth = candles["BTCUSDT"], candles["ETHUSDT"]
    intents = [
        *_trend(btc, "trend-btc", a, b),
        *_trend(eth, "trend-eth", a, b),
        *_meanrev(eth, "meanrev-eth", a, b),
        *_breakout(btc, "breakout-btc", a, b),
        *_dipbuyer(eth, "dipbuyer-eth", a, b),
        *_scalper(btc, "scalper-btc", a, b),
    ]
    intents.sort(key=lambda d: (d["ts"], d["strategy_id"], d["signal_id"]))
    return intents
