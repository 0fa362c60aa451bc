"""The shadow feed: NATS market data into the Redis price cache, execution events into fills.

1. ``binance.websocket.data`` carries the Binance USD-M stream payloads (raw events or the
   combined-stream wrapper ``{"stream", "data"}``): closed klines are stored as bars, kline
   closes, mark prices and trades as point samples, and the newest price per symbol as the
   last price. Everything is trimmed to ``SHADOW_PRICE_RETENTION_H``.
2. ``execution.events.>`` carries the engine's execution events: fills are recorded (once
   per event) with the PnL they realise (``nurse.shadow.services.execution_fill_record``).

Writes are batched and flushed every ``flush_s`` off the event loop. Core NATS is not
durable: events published while no listener runs are not seen (see docs/shadow_roi.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections

from cio_site.nats_url import nats_servers
from nurse.shadow.prices import kline_key, last_key, samples_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KlineUpdate:
    """A closed kline."""

    symbol: str
    interval: str
    open_ms: int
    open: str
    high: str
    low: str
    close: str


@dataclass(frozen=True, slots=True)
class PriceSample:
    """A price seen at a time (mark price, trade, kline close)."""

    symbol: str
    ms: int
    price: str


def _price(value: Any) -> str | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return str(number) if number.is_finite() and number > 0 else None


def parse_market_payload(data: Any) -> list[KlineUpdate | PriceSample]:
    """Binance stream payload(s) -> updates; anything unknown or malformed is skipped."""
    if isinstance(data, list):
        return [u for item in data for u in parse_market_payload(item)]
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("data"), dict | list) and "e" not in data:
        return parse_market_payload(data["data"])
    kind = data.get("e")
    out: list[KlineUpdate | PriceSample] = []
    try:
        if kind == "kline" and isinstance(data.get("k"), dict):
            k = data["k"]
            symbol = str(k.get("s") or data.get("s") or "").upper()
            close = _price(k.get("c"))
            if not symbol or close is None:
                return []
            if k.get("x") is True:
                o, h, low = _price(k.get("o")), _price(k.get("h")), _price(k.get("l"))
                if o and h and low:
                    out.append(KlineUpdate(symbol, str(k["i"]), int(k["t"]), o, h, low, close))
            out.append(PriceSample(symbol, int(data.get("E") or k["T"]), close))
        elif kind == "markPriceUpdate":
            price = _price(data.get("p"))
            if price is not None and data.get("s"):
                out.append(PriceSample(str(data["s"]).upper(), int(data["E"]), price))
        elif kind in ("aggTrade", "trade"):
            price = _price(data.get("p"))
            if price is not None and data.get("s"):
                out.append(PriceSample(str(data["s"]).upper(), int(data.get("T") or data["E"]),
                                       price))
    except (KeyError, TypeError, ValueError):
        return []
    return out


def price_cache_store(updates: list[KlineUpdate | PriceSample], *,
                      client: redis.Redis | None = None, now_ms: int | None = None) -> int:
    """Write updates into the Redis cache in one pipeline; returns how many were written."""
    if not updates:
        return 0
    client = client or redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    horizon = now_ms - int(settings.SHADOW_PRICE_RETENTION_H * 3_600_000)
    pipe = client.pipeline(transaction=False)
    touched: set[str] = set()
    newest: dict[str, tuple[int, str]] = {}
    for u in updates:
        if isinstance(u, KlineUpdate):
            key = kline_key(u.symbol, u.interval)
            pipe.zremrangebyscore(key, u.open_ms, u.open_ms)  # a re-sent kline replaces
            pipe.zadd(key, {f"{u.open_ms}|{u.open}|{u.high}|{u.low}|{u.close}": u.open_ms})
            touched.add(key)
        else:
            key = samples_key(u.symbol)
            pipe.zadd(key, {f"{u.ms}|{u.price}": u.ms})
            touched.add(key)
            if u.symbol not in newest or newest[u.symbol][0] <= u.ms:
                newest[u.symbol] = (u.ms, u.price)
    for key in touched:
        pipe.zremrangebyscore(key, "-inf", horizon)
    if newest:
        pipe.hset(last_key(), mapping={s: f"{ms}|{p}" for s, (ms, p) in newest.items()})
    pipe.execute()
    return len(updates)


class ShadowFeed:
    """One asyncio loop: subscribe, buffer, flush to Redis and the database."""

    def __init__(self, *, nats_url: str | None = None, price_subject: str | None = None,
                 execution_subject: str | None = None, queue: str | None = None,
                 flush_s: float = 1.0) -> None:
        self.nats_url = nats_url or settings.NATS_URL
        self.price_subject = price_subject or settings.SHADOW_PRICE_SUBJECT
        self.execution_subject = execution_subject or settings.SHADOW_EXECUTION_SUBJECT
        self.queue = queue or settings.SHADOW_FEED_QUEUE
        self.flush_s = flush_s
        self.prices: list[KlineUpdate | PriceSample] = []
        self.events: list[dict[str, Any]] = []
        self.counters = {"prices": 0, "fills": 0, "bad": 0}
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def _on_price(self, msg: Any) -> None:
        try:
            updates = parse_market_payload(json.loads(msg.data))
        except ValueError:
            self.counters["bad"] += 1
            return
        self.prices.extend(updates)

    async def _on_execution(self, msg: Any) -> None:
        try:
            event = json.loads(msg.data)
        except ValueError:
            self.counters["bad"] += 1
            return
        if isinstance(event, dict):
            self.events.append(event)

    async def flush(self) -> None:
        prices, self.prices = self.prices, []
        events, self.events = self.events, []
        if prices:
            try:
                self.counters["prices"] += await asyncio.to_thread(price_cache_store, prices)
            except (redis.RedisError, OSError) as exc:
                logger.warning("price cache write failed (%s); %d updates dropped",
                               type(exc).__name__, len(prices))
        if events:
            self.counters["fills"] += await asyncio.to_thread(_record_events, events)

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        import nats

        nc = await nats.connect(nats_servers(self.nats_url), name="cio-shadow-feed",
                                max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        try:
            await nc.subscribe(self.price_subject, queue=f"{self.queue}-prices",
                               cb=self._on_price)
            await nc.subscribe(self.execution_subject, queue=f"{self.queue}-fills",
                               cb=self._on_execution)
            await nc.flush()
            if ready is not None:
                ready.set()
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.flush_s)
                await self.flush()
        finally:
            with contextlib.suppress(Exception):
                await nc.drain()
            await self.flush()


def _record_events(events: list[dict[str, Any]]) -> int:
    from nurse.shadow.services import execution_fill_record

    close_old_connections()
    stored = 0
    for event in events:
        try:
            stored += execution_fill_record(event=event) is not None
        except Exception:
            # One bad event must not stop the feed; the event itself is logged for follow-up.
            logger.exception("execution event not recorded: %r", str(event)[:300])
    return stored
