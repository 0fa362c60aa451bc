"""The demo fleet loop: replay candles, let strategies speak, publish intents, keep time.

1. Every ``1 / speed`` seconds each symbol advances one historical candle (looping at the
   end of the slice); the candle becomes a live kline update on the market-data subject.
2. Each strategy looks at each symbol and may produce an intent; intents go to the Nurse on
   ``<intent prefix>.<strategy token>`` at no more than ``rate`` per second.
3. The stand-in engine fills what the Nurse approves and publishes a positions snapshot
   (with equity) every ``snapshot_every_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nats

from cio_site.nats_url import nats_servers
from governance.dashboard.demo.engine import ENGINE_QUEUE, StandInEngine
from governance.dashboard.demo.market import (
    Candle,
    LiveBar,
    load_candles,
    round_price,
    round_qty,
)
from governance.dashboard.demo.strategies import Idea, Strategy, default_fleet
from nurse.gate import subject_token
from nurse.policy import ExchangeFilter

logger = logging.getLogger("governance.dashboard.demo")

HISTORY = 64  # candles each strategy may look back on


@dataclass(slots=True)
class FleetConfig:
    """Everything the demo needs (built from settings and options by the command)."""

    nats_url: str
    intent_prefix: str = "cio.intent.trading"
    signal_subject: str = "signals.trading.*"
    market_subject: str = "binance.websocket.data"
    engine_queue: str = ENGINE_QUEUE
    speed: float = 1.0  # candles per second
    rate: float = 20.0  # intents per second at most
    duration_s: float = 0.0  # 0 = until stopped
    engine: bool = True
    market_data: bool = True
    start_equity: float = 2_500.0
    snapshot_every_s: float = 5.0
    source: str = "demo-fleet"
    exchange: dict[str, ExchangeFilter] = field(default_factory=dict)


@dataclass(slots=True)
class FleetStats:
    """Counters for the status line and for tests."""

    candles: int = 0
    intents: int = 0
    dropped: int = 0
    klines: int = 0


class DemoFleet:
    """Strategies x symbols over replayed candles, plus the stand-in engine."""

    def __init__(self, config: FleetConfig, *, strategies: list[Strategy] | None = None,
                 candles: dict[str, list[Candle]] | None = None) -> None:
        self.cfg = config
        self.strategies = strategies if strategies is not None else default_fleet()
        self.candles = candles if candles is not None else load_candles()
        if not self.candles:
            raise ValueError("no candle slices to replay")
        self.cursor = dict.fromkeys(self.candles, 0)
        self.history: dict[str, deque[Candle]] = {s: deque(maxlen=HISTORY) for s in self.candles}
        self.bars = {s: LiveBar(s) for s in self.candles}
        self.marks: dict[str, float] = {}
        self.stats = FleetStats()
        self.outbox: deque[tuple[str, bytes]] = deque(maxlen=max(1, int(config.rate * 2)))
        self.tokens = config.rate
        self.nc: Any = None
        self.engine: StandInEngine | None = None
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    # -- 1. market -------------------------------------------------------------------------
    def advance(self) -> list[tuple[str, Candle]]:
        """Each symbol's next candle; a wrapped slice starts a fresh history."""
        out = []
        for symbol, rows in self.candles.items():
            i = self.cursor[symbol]
            if i >= len(rows):
                i = 0
                self.history[symbol].clear()
            candle = rows[i]
            self.cursor[symbol] = i + 1
            self.history[symbol].append(candle)
            self.marks[symbol] = candle.close
            out.append((symbol, candle))
        self.stats.candles += 1
        return out

    # -- 2. strategies -----------------------------------------------------------------------
    def intent_for(self, strategy: Strategy, symbol: str, idea: Idea) -> dict[str, Any] | None:
        """The intent a strategy would send (exchange-rounded), or None when too small."""
        f = self.cfg.exchange.get(symbol)
        price = round_price(self.marks[symbol], f)
        intent: dict[str, Any] = {
            "strategy_id": strategy.strategy_id, "symbol": symbol, "action": idea.action,
            "confidence": idea.confidence, "price": price, "current_price": price,
            "source": self.cfg.source, "strategy": strategy.name,
            "timestamp": datetime.now(UTC).isoformat(), "signal_id": uuid.uuid4().hex,
        }
        if idea.action == "close":
            if self.engine is None:
                return None
            qty = sum(p.quantity for (s, sym, _), p in self.engine.book.items()
                      if s == strategy.strategy_id and sym == symbol)
            intent["quantity"] = round_qty(qty, f)
        else:
            intent["quantity"] = round_qty(idea.notional_usd / price, f)
            long = idea.action == "buy"
            intent["stop_loss"] = round_price(price * (0.98 if long else 1.02), f)
            intent["take_profit"] = round_price(price * (1.04 if long else 0.96), f)
        return intent if intent["quantity"] > 0 else None

    def think(self) -> list[dict[str, Any]]:
        intents = []
        for strategy in self.strategies:
            for symbol in self.candles:
                side = self.engine.side_of(strategy.strategy_id, symbol) if self.engine else None
                idea = strategy.decide(list(self.history[symbol]), side)
                if idea is not None:
                    intent = self.intent_for(strategy, symbol, idea)
                    if intent is not None:
                        intents.append(intent)
        return intents

    # -- 3. the bus --------------------------------------------------------------------------
    def queue_intents(self, intents: list[dict[str, Any]]) -> None:
        for intent in intents:
            if len(self.outbox) == self.outbox.maxlen:
                self.stats.dropped += 1  # the oldest waiting intent is stale: drop it
            subject = f"{self.cfg.intent_prefix}.{subject_token(intent['strategy_id'])}"
            self.outbox.append((subject, json.dumps(intent).encode()))

    async def flush_intents(self, elapsed_s: float) -> None:
        self.tokens = min(self.cfg.rate, self.tokens + elapsed_s * self.cfg.rate)
        while self.outbox and self.tokens >= 1:
            subject, body = self.outbox.popleft()
            await self.nc.publish(subject, body)
            self.tokens -= 1
            self.stats.intents += 1

    async def publish_klines(self, moves: list[tuple[str, Candle]]) -> None:
        now_ms = int(time.time() * 1000)
        for symbol, candle in moves:
            for event in self.bars[symbol].update(candle, now_ms):
                await self.nc.publish(self.cfg.market_subject, json.dumps(event).encode())
                self.stats.klines += 1

    async def run(self) -> FleetStats:
        cfg = self.cfg
        self.nc = await nats.connect(nats_servers(cfg.nats_url), name="cio-demo-fleet",
                                     max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        try:
            if cfg.engine:
                self.engine = StandInEngine(self.nc, signal_subject=cfg.signal_subject,
                                            queue=cfg.engine_queue,
                                            start_equity=cfg.start_equity, marks=self.marks)
                await self.engine.start()
            started = last = time.monotonic()
            last_snapshot = started - cfg.snapshot_every_s  # a snapshot right away
            step = 1.0 / cfg.speed
            next_candle = started
            while not self._stop.is_set():
                now = time.monotonic()
                if cfg.duration_s and now - started >= cfg.duration_s:
                    break
                if now >= next_candle:
                    next_candle += step
                    if next_candle < now:  # fell behind (a slow bus): do not burst
                        next_candle = now + step
                    moves = self.advance()
                    if cfg.market_data:
                        await self.publish_klines(moves)
                    self.queue_intents(self.think())
                await self.flush_intents(now - last)
                last = now
                if self.engine is not None and now - last_snapshot >= cfg.snapshot_every_s:
                    last_snapshot = now
                    await self.engine.publish_snapshot()
                await self.nc.flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(),
                                           timeout=max(0.01, min(0.1, next_candle - now)))
        finally:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        return self.stats
