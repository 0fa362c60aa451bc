"""Price sources: HTTP klines from a real loopback server, the Redis cache fed by the Binance
payload parser, candle files; and marking through them."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import redis

from nurse.shadow.feed import KlineUpdate, PriceSample, parse_market_payload, price_cache_store
from nurse.shadow.marking import Costs, ShadowSpec, simulate
from nurse.shadow.prices import (
    HttpKlineSource,
    RedisKlineSource,
    RedisLastPriceSource,
    bars_from_samples,
    price_sources,
)
from nurse.shadow.services import shadow_positions_mark, shadow_positions_scan
from tests.shadow.conftest import BTC, CANDLES, RecordFn, ms, utc

WS = CANDLES / "ws"


class KlineServer:
    """``GET /fapi/v1/klines`` answered from a candle CSV, Binance's shape and paging."""

    def __init__(self, path: Path, interval: str = "5m") -> None:
        with path.open() as handle:
            self.rows = list(csv.DictReader(handle))
        self.interval = interval
        self.requests: list[dict[str, list[str]]] = []
        self.fail = False
        box = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                box.requests.append(query)
                if box.fail or url.path != "/fapi/v1/klines":
                    self.send_response(503 if box.fail else 404)
                    self.end_headers()
                    return
                start = int(query["startTime"][0])
                end = int(query["endTime"][0])
                limit = min(int(query.get("limit", ["500"])[0]), 1500)
                body = [[int(r["open_time_ms"]), r["open"], r["high"], r["low"], r["close"],
                         r["volume"], int(r["open_time_ms"]) + 299_999, "0", 1, "0", "0", "0"]
                        for r in box.rows if start <= int(r["open_time_ms"]) <= end][:limit]
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"


@pytest.fixture
def klines() -> Iterator[KlineServer]:
    server = KlineServer(BTC)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_http_klines_pages_through_a_loopback_server(klines: KlineServer) -> None:
    source = HttpKlineSource(base_url=klines.url, interval="5m", timeout_s=3)
    series = source.fetch("BTCUSDT", ms(utc(2021, 5, 16)), ms(utc(2021, 5, 22)))
    assert series is not None
    # 6 days of 5-minute bars (endTime is inclusive: one more) in pages of 1500.
    assert len(series.candles) == 6 * 288 + 1
    assert len(klines.requests) == 2
    assert klines.requests[0]["symbol"] == ["BTCUSDT"]
    assert klines.requests[0]["interval"] == ["5m"]
    assert series.candles[0].open == Decimal("46762.99")
    # The same hand-computed result as from the file (tests/shadow/test_marking.py).
    spec = ShadowSpec(side=1, quantity=Decimal("0.01"), opened_ms=ms(utc(2021, 5, 16)),
                      stop_loss=Decimal("40000"), take_profit=Decimal("50000"))
    out = simulate(spec, series, [1, 4], Costs(Decimal("0.001"), Decimal(0)))
    assert out.marks[4].pnl == Decimal("15.2532355")


def test_http_source_failure_is_no_answer(klines: KlineServer) -> None:
    klines.fail = True
    source = HttpKlineSource(base_url=klines.url, interval="5m", timeout_s=3)
    assert source.fetch("BTCUSDT", ms(utc(2021, 5, 16)), ms(utc(2021, 5, 17))) is None
    assert HttpKlineSource(base_url="", interval="5m").fetch("BTCUSDT", 0, 1) is None


@pytest.mark.django_db
def test_marking_through_http_klines(klines: KlineServer, settings: Any,
                                     record: RecordFn) -> None:
    settings.SHADOW_HTTP_KLINES_URL = klines.url
    settings.SHADOW_KLINE_INTERVAL = "5m"
    settings.SHADOW_PRICE_SOURCES = ["http_klines"]
    record(received=utc(2021, 5, 19, 12, 10, 30),
           payload={"stop_loss": 38000.0, "take_profit": 40000.0}, quantity=0.02)
    shadow_positions_scan()
    stats = shadow_positions_mark(now=utc(2021, 5, 25))
    assert stats.by_source == {"http_klines": 4}
    from nurse.models import ShadowMark

    assert {m.pnl for m in ShadowMark.objects.all()} == {Decimal("-16.2347")}


def test_binance_payloads_parse_into_klines_and_samples() -> None:
    closed = json.loads((WS / "kline_stream_closed.json").read_text())
    still_open = json.loads((WS / "kline_stream_open.json").read_text())
    mark = json.loads((WS / "mark_price_stream.json").read_text())
    trade = json.loads((WS / "agg_trade_stream.json").read_text())
    updates = parse_market_payload(closed)
    assert updates == [
        KlineUpdate("BTCUSDT", "1m", 1638747660000, "0.0010", "0.0025", "0.0010", "0.0020"),
        PriceSample("BTCUSDT", 1638747660000, "0.0020")]
    # A kline still forming is only a price sample; its high/low are not final.
    assert [type(u) for u in parse_market_payload(still_open)] == [PriceSample]
    assert parse_market_payload(mark) == [PriceSample("BTCUSDT", 1562305380000,
                                                      "11794.15000000")]
    assert parse_market_payload(trade) == [PriceSample("BTCUSDT", 123456785, "0.001")]
    # The combined-stream wrapper and lists are unwrapped; junk is skipped.
    assert parse_market_payload({"stream": "btcusdt@markPrice", "data": mark}) == \
        parse_market_payload(mark)
    assert parse_market_payload([mark, {"e": "kline", "k": "junk"}, 7]) == \
        parse_market_payload(mark)


def test_redis_cache_holds_klines_and_samples(clean_redis: redis.Redis, settings: Any) -> None:
    settings.SHADOW_KLINE_INTERVAL = "1m"
    t0 = ms(utc(2021, 5, 19, 12, 0))
    updates: list[KlineUpdate | PriceSample] = [
        KlineUpdate("BTCUSDT", "1m", t0, "100", "110", "95", "105"),
        KlineUpdate("BTCUSDT", "1m", t0 + 60_000, "105", "106", "90", "91"),
        KlineUpdate("BTCUSDT", "1m", t0 + 60_000, "105", "107", "89", "92"),  # re-sent
        PriceSample("BTCUSDT", t0 + 1_000, "101"), PriceSample("BTCUSDT", t0 + 30_000, "99"),
        PriceSample("BTCUSDT", t0 + 70_000, "93")]
    assert price_cache_store(updates, client=clean_redis, now_ms=t0 + 120_000) == 6
    bars = RedisKlineSource().fetch("BTCUSDT", t0, t0 + 120_000)
    assert bars is not None
    assert [(c.open_ms, c.high, c.low, c.close) for c in bars.candles] == [
        (t0, Decimal(110), Decimal(95), Decimal(105)),
        (t0 + 60_000, Decimal(107), Decimal(89), Decimal(92))]
    samples = RedisLastPriceSource().fetch("BTCUSDT", t0, t0 + 120_000)
    assert samples is not None
    assert samples.quality == "last_prices"
    assert [(c.open_ms, c.open, c.high, c.low, c.close) for c in samples.candles] == [
        (t0, Decimal(101), Decimal(101), Decimal(99), Decimal(99)),
        (t0 + 60_000, Decimal(93), Decimal(93), Decimal(93), Decimal(93))]
    last = clean_redis.hget(f"{settings.CIO_NAMESPACE}:px:last", "BTCUSDT")
    assert last == f"{t0 + 70_000}|93".encode()
    # Retention trims what is older than SHADOW_PRICE_RETENTION_H.
    later = t0 + int(settings.SHADOW_PRICE_RETENTION_H * 3_600_000) + 71_000
    price_cache_store([PriceSample("BTCUSDT", later, "94")], client=clean_redis, now_ms=later)
    trimmed = RedisLastPriceSource().fetch("BTCUSDT", 0, later)
    assert trimmed is not None and [c.close for c in trimmed.candles] == [Decimal(94)]


def test_bars_from_samples_open_on_the_slot_boundary() -> None:
    bars = bars_from_samples([(125_000, Decimal(3)), (61_000, Decimal(2)),
                              (62_000, Decimal(5)), (119_000, Decimal(1))], 60_000)
    assert [(b.open_ms, b.open, b.high, b.low, b.close) for b in bars] == [
        (60_000, Decimal(2), Decimal(5), Decimal(1), Decimal(1)),
        (120_000, Decimal(3), Decimal(3), Decimal(3), Decimal(3))]


def test_price_source_registry_refuses_unknown_names() -> None:
    assert [s.name for s in price_sources(["redis_klines", "http_klines"])] == [
        "redis_klines", "http_klines"]
    with pytest.raises(ValueError, match="unknown price sources"):
        price_sources(["nope"])


@pytest.mark.django_db
def test_last_price_marks_say_so(clean_redis: redis.Redis, settings: Any,
                                 record: RecordFn) -> None:
    settings.SHADOW_PRICE_SOURCES = ["redis_klines", "redis_last_price"]
    settings.SHADOW_KLINE_INTERVAL = "1m"
    settings.SHADOW_HORIZONS_H = [1]
    settings.SHADOW_REPORT_HORIZON_H = 1
    import time as _time

    t0 = (int(_time.time() * 1000) // 60_000 - 70) * 60_000  # 70 minutes ago, on a minute
    samples: list[KlineUpdate | PriceSample] = [
        PriceSample("BTCUSDT", t0 + i * 60_000 + 500, str(100 + i)) for i in range(66)]
    price_cache_store(samples, client=clean_redis)
    from datetime import UTC, datetime

    record(received=datetime.fromtimestamp(t0 / 1000, UTC), price=100.0, quantity=1.0,
           payload={"stop_loss": 50.0, "take_profit": 1000.0})
    shadow_positions_scan()
    stats = shadow_positions_mark()
    assert stats.by_source == {"redis_last_price": 1}
    from nurse.models import ShadowMark

    mark = ShadowMark.objects.get()
    assert mark.quality == "last_prices"
    assert "last-price samples" in mark.note
    # Entry: the first sample of the bar opening at the block time (100, seen 0.5 s after
    # it); exit: the last sample of the bar ending at the horizon, t0 + 59 min (159).
    assert (mark.entry_fill, mark.exit_price) == (Decimal(100), Decimal(159))
