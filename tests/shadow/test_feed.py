"""The shadow feed on a real NATS server: Binance payloads into Redis, fills into the DB."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from django.db import connections

from nurse.models import ExecutionFill
from nurse.shadow.feed import ShadowFeed
from nurse.shadow.prices import RedisKlineSource
from tests.shadow.conftest import CANDLES

pytestmark = pytest.mark.django_db(transaction=True)


async def test_feed_caches_prices_and_records_fills(nats_client: Any, settings: Any,
                                                    clean_redis: redis.Redis) -> None:
    settings.SHADOW_KLINE_INTERVAL = "1m"
    token = uuid.uuid4().hex[:8]
    prices, executions = f"t{token}.binance.websocket.data", f"t{token}.execution.events"
    feed = ShadowFeed(price_subject=prices, execution_subject=f"{executions}.>",
                      queue=f"shadow-{token}", flush_s=0.05)
    ready = asyncio.Event()
    task = asyncio.create_task(feed.run(ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    kline = json.loads((CANDLES / "ws" / "kline_stream_closed.json").read_text())
    import time

    now_ms = int(time.time() * 1000) // 60_000 * 60_000
    kline["k"].update({"t": now_ms - 60_000, "T": now_ms - 1, "o": "38700.0",
                       "h": "39295.51", "l": "38300.0", "c": "39036.75"})
    kline["E"] = now_ms
    await nats_client.publish(prices, json.dumps({"stream": "btcusdt@kline_1m",
                                                  "data": kline}).encode())
    await nats_client.publish(prices, b"not json")
    for n, (action, price) in enumerate((("buy", 38700), ("close", 39200))):
        await nats_client.publish(f"{executions}.s1", json.dumps({
            "status": "filled", "event_id": f"{token}-{n}", "strategy_id": "s1",
            "symbol": "BTCUSDT", "action": action, "filled_quantity": 0.01,
            "avg_price": price, "commission": 0.1}).encode())
    await nats_client.flush()
    for _ in range(100):
        if feed.counters["fills"] >= 2 and feed.counters["prices"] >= 2:
            break
        await asyncio.sleep(0.05)
    feed.request_stop()
    await asyncio.wait_for(task, 5)
    assert feed.counters == {"prices": 2, "fills": 2, "bad": 1}
    bars = await sync_to_async(RedisKlineSource().fetch)("BTCUSDT", now_ms - 120_000, now_ms)
    assert bars is not None and [c.high for c in bars.candles] == [Decimal("39295.51")]
    pnl = await sync_to_async(lambda: sorted(
        ExecutionFill.objects.values_list("realized_pnl", flat=True)))()
    assert pnl == [Decimal("-0.1"), Decimal("4.9")]
    await sync_to_async(connections.close_all)()
