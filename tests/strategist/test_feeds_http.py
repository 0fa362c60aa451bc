"""The optional HTTP sources of the feed: a Binance-compatible klines URL and the engine's
/state, served by a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from strategist.feeds import StrategistFeeds
from strategist.models import PortfolioState, RegimeStatus


@pytest.fixture
def engine_http() -> Iterator[str]:
    now_ms = int(time.time() // 300 * 300 * 1000)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/fapi/v1/klines":
                query = parse_qs(url.query)
                assert query["interval"] == ["5m"]
                rows = []
                for i in range(30, 0, -1):  # 30 closed 5m candles, then the open one
                    t = now_ms - i * 300_000
                    rows.append([t, "100", "101", "99", str(100 + i % 3), "5", t + 299_999])
                rows.append([now_ms, "100", "100", "100", "100", "1", now_ms + 299_999])
                body = json.dumps(rows).encode()
            elif url.path == "/state":
                body = json.dumps({"equity": 12345.5, "exposure": 4000,
                                   "daily_pnl": -12.5}).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
async def test_http_klines_and_engine_state(engine_http: str, settings: Any,
                                            redis_client: Any) -> None:
    settings.STRATEGIST_KLINE_HTTP_URL = engine_http + "/fapi/v1/klines"
    settings.STRATEGIST_ENGINE_STATE_URL = engine_http + "/state"
    settings.STRATEGIST_ENGINE_STATE_POLL_S = 0.5
    ns = settings.CIO_NAMESPACE
    feeds = StrategistFeeds(kline_subject=f"{ns}.klines.none",
                            execution_subject=f"{ns}.exec.none", symbols=["BTCUSDT"],
                            on_trigger=None)
    await feeds.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = await sync_to_async(RegimeStatus.objects.filter(symbol="BTCUSDT").first)()
            state = await sync_to_async(PortfolioState.objects.filter(pk=1).first)()
            if row is not None and row.candles == 30 and state is not None:
                break
            await asyncio.sleep(0.05)
        assert row is not None and row.candles == 30  # the open candle was left out
        assert state is not None and float(state.equity) == 12345.5
        assert float(state.exposure) == 4000 and float(state.daily_pnl) == -12.5
    finally:
        await feeds.stop()
        await sync_to_async(connections.close_all)()
