"""Where shadow marking gets prices: an explicit registry of sources, tried in order.

- ``redis_klines``: closed klines cached in Redis by the NATS listener (``nurse.shadow.feed``)
  from the Binance payloads on ``binance.websocket.data``; real high/low.
- ``http_klines``: a Binance ``/fapi/v1/klines``-compatible HTTP endpoint
  (``SHADOW_HTTP_KLINES_URL``); real high/low.
- ``redis_last_price``: mark-price / trade samples cached by the same listener, folded into
  one-interval bars. High/low are only those of the samples, so a touch between samples can
  be missed: marks from it say ``quality=last_prices``.
- ``candle_files``: CSV files in the layout of ``shared/data/ohlcv`` (replays, offline use;
  ``SHADOW_CANDLE_FILES``).

A source answers ``fetch(symbol, start_ms, end_ms)`` with a ``CandleSeries`` (possibly
empty) or None when it is not configured or cannot answer now.
"""

from __future__ import annotations

import csv
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import httpx
import redis
from django.conf import settings

from nurse.shadow.marking import Candle, CandleSeries

logger = logging.getLogger(__name__)

INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
               "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000}
_KLINE_LIMIT = 1500


class PriceSource(Protocol):
    name: str

    def fetch(self, symbol: str, start_ms: int, end_ms: int) -> CandleSeries | None: ...


_REGISTRY: dict[str, Callable[[], PriceSource]] = {}


def register_price_source(name: str, factory: Callable[[], PriceSource]) -> None:
    _REGISTRY[name] = factory


def price_source_names() -> list[str]:
    return list(_REGISTRY)


def price_sources(names: Iterable[str] | None = None) -> list[PriceSource]:
    """The configured sources, in ``SHADOW_PRICE_SOURCES`` order (unknown names refused)."""
    wanted = list(names if names is not None else settings.SHADOW_PRICE_SOURCES)
    unknown = [n for n in wanted if n not in _REGISTRY]
    if unknown:
        raise ValueError(f"unknown price sources {unknown}; known: {sorted(_REGISTRY)}")
    return [_REGISTRY[n]() for n in wanted]


def _dec(value: object) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not result.is_finite() or result <= 0:
        raise ValueError(f"not a positive price: {value!r}")
    return result


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


# -- Redis keys (shared with the feed) --------------------------------------------------------


def kline_key(symbol: str, interval: str) -> str:
    return f"{settings.CIO_NAMESPACE}:px:k:{symbol}:{interval}"


def samples_key(symbol: str) -> str:
    return f"{settings.CIO_NAMESPACE}:px:p:{symbol}"


def last_key() -> str:
    return f"{settings.CIO_NAMESPACE}:px:last"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


class RedisKlineSource:
    """Closed klines the listener stored (member ``open_ms|o|h|l|c``, score ``open_ms``)."""

    name = "redis_klines"

    def __init__(self, interval: str | None = None) -> None:
        self.interval = interval or settings.SHADOW_KLINE_INTERVAL

    def fetch(self, symbol: str, start_ms: int, end_ms: int) -> CandleSeries | None:
        interval_ms = INTERVAL_MS[self.interval]
        try:
            rows = _redis().zrangebyscore(kline_key(symbol, self.interval),
                                          start_ms - interval_ms, end_ms)
        except (redis.RedisError, OSError) as exc:
            logger.warning("redis price cache unavailable: %s", type(exc).__name__)
            return None
        candles: dict[int, Candle] = {}
        for raw in rows:
            try:
                ms, o, h, low, c = _text(raw).split("|")
                candles[int(ms)] = Candle(int(ms), _dec(o), _dec(h), _dec(low), _dec(c))
            except ValueError:
                continue
        return CandleSeries(interval_ms, tuple(candles[k] for k in sorted(candles)),
                            self.name, "candles")


class RedisLastPriceSource:
    """Point samples (``ms|price``) folded into bars of ``SHADOW_KLINE_INTERVAL``."""

    name = "redis_last_price"

    def __init__(self, interval: str | None = None) -> None:
        self.interval = interval or settings.SHADOW_KLINE_INTERVAL

    def fetch(self, symbol: str, start_ms: int, end_ms: int) -> CandleSeries | None:
        interval_ms = INTERVAL_MS[self.interval]
        try:
            rows = _redis().zrangebyscore(samples_key(symbol), start_ms, end_ms)
        except (redis.RedisError, OSError) as exc:
            logger.warning("redis price cache unavailable: %s", type(exc).__name__)
            return None
        samples: list[tuple[int, Decimal]] = []
        for raw in rows:
            try:
                ms, price = _text(raw).split("|")
                samples.append((int(ms), _dec(price)))
            except ValueError:
                continue
        return CandleSeries(interval_ms, bars_from_samples(samples, interval_ms), self.name,
                            "last_prices")


def bars_from_samples(samples: Iterable[tuple[int, Decimal]], interval_ms: int
                      ) -> tuple[Candle, ...]:
    """One bar per interval slot that has samples: first, max, min and last sample.

    Bars open on the slot boundary, so the entry rule (first bar opening at or after the
    block time) skips the slot of the block, whose samples may predate it."""
    bars: dict[int, list[Decimal]] = {}
    for ms, price in sorted(samples):
        slot = ms - ms % interval_ms
        bar = bars.get(slot)
        if bar is None:
            bars[slot] = [price, price, price, price]
        else:
            bar[1] = max(bar[1], price)
            bar[2] = min(bar[2], price)
            bar[3] = price
    return tuple(Candle(slot, *bars[slot]) for slot in sorted(bars))


class HttpKlineSource:
    """``GET {base}/fapi/v1/klines?symbol&interval&startTime&endTime&limit`` (Binance USD-M)."""

    name = "http_klines"

    def __init__(self, base_url: str | None = None, interval: str | None = None,
                 timeout_s: float | None = None) -> None:
        self.base_url = (base_url if base_url is not None
                         else settings.SHADOW_HTTP_KLINES_URL).rstrip("/")
        self.interval = interval or settings.SHADOW_KLINE_INTERVAL
        self.timeout_s = timeout_s or settings.SHADOW_HTTP_TIMEOUT_S

    def fetch(self, symbol: str, start_ms: int, end_ms: int) -> CandleSeries | None:
        if not self.base_url:
            return None
        interval_ms = INTERVAL_MS[self.interval]
        now_ms = int(time.time() * 1000)
        candles: dict[int, Candle] = {}
        cursor = start_ms - start_ms % interval_ms
        try:
            with httpx.Client(timeout=self.timeout_s) as client:
                while cursor <= end_ms:
                    resp = client.get(f"{self.base_url}/fapi/v1/klines", params={
                        "symbol": symbol, "interval": self.interval, "startTime": cursor,
                        "endTime": end_ms, "limit": _KLINE_LIMIT})
                    resp.raise_for_status()
                    rows = resp.json()
                    if not isinstance(rows, list) or not rows:
                        break
                    for row in rows:
                        open_ms = int(row[0])
                        if open_ms + interval_ms > now_ms:
                            continue  # still forming: its high/low are not final
                        candles[open_ms] = Candle(open_ms, _dec(row[1]), _dec(row[2]),
                                                  _dec(row[3]), _dec(row[4]))
                    last_open = int(rows[-1][0])
                    if len(rows) < _KLINE_LIMIT or last_open + interval_ms <= cursor:
                        break
                    cursor = last_open + interval_ms
        except (httpx.HTTPError, ValueError, TypeError, IndexError) as exc:
            logger.warning("http klines for %s failed: %s", symbol, type(exc).__name__)
            return None
        return CandleSeries(interval_ms, tuple(candles[k] for k in sorted(candles)), self.name,
                            "candles")


_SYMBOL_IN_NAME = re.compile(r"(?:^|_)([A-Z0-9]{5,20})_(\d+[mhd])(?:_|\.)")


def symbol_of_file(path: Path) -> tuple[str, str] | None:
    """``binance_spot_BTCUSDT_5m_2020...csv`` -> ("BTCUSDT", "5m")."""
    found = _SYMBOL_IN_NAME.search(path.name)
    return (found.group(1), found.group(2)) if found else None


@lru_cache(maxsize=16)
def _load_csv(path: str) -> tuple[int, tuple[Candle, ...]]:
    rows: list[Candle] = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append(Candle(int(row["open_time_ms"]), Decimal(row["open"]),
                               Decimal(row["high"]), Decimal(row["low"]), Decimal(row["close"])))
    rows.sort(key=lambda c: c.open_ms)
    diffs = sorted(b.open_ms - a.open_ms for a, b in itertools.pairwise(rows))
    interval = diffs[len(diffs) // 2] if diffs else 60_000
    return interval, tuple(rows)


class CandleFileSource:
    """CSV candles (``open_time_ms,open,high,low,close,volume``), one file per symbol."""

    name = "candle_files"

    def __init__(self, files: dict[str, str] | None = None) -> None:
        self.files = dict(files if files is not None else candle_files_setting())

    def fetch(self, symbol: str, start_ms: int, end_ms: int) -> CandleSeries | None:
        path = self.files.get(symbol)
        if path is None:
            return None
        interval, rows = _load_csv(path)
        picked = tuple(c for c in rows if start_ms - interval <= c.open_ms <= end_ms)
        return CandleSeries(interval, picked, self.name, "candles")


def candle_files_setting() -> dict[str, str]:
    """``SHADOW_CANDLE_FILES``: paths, or ``SYMBOL=path``; symbols read from file names."""
    result: dict[str, str] = {}
    for item in settings.SHADOW_CANDLE_FILES:
        symbol, sep, path = item.partition("=")
        if not sep:
            path = item
            named = symbol_of_file(Path(item))
            if named is None:
                continue
            symbol = named[0]
        result[symbol.strip().upper()] = path.strip()
    return result


register_price_source(RedisKlineSource.name, RedisKlineSource)
register_price_source(HttpKlineSource.name, HttpKlineSource)
register_price_source(RedisLastPriceSource.name, RedisLastPriceSource)
register_price_source(CandleFileSource.name, CandleFileSource)
