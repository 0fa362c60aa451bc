"""Market regime from candles: deterministic arithmetic, no database, no network, no LLM.

Per symbol, on every *closed* candle:

1. realized volatility over several windows (annualised root mean square of log returns);
2. ``vol_ratio``: the short window's volatility over the baseline window's (a symbol's own
   yardstick, so BTC and an alt coin are judged against their own normal);
3. ``move_1h``: the close-to-close return over the last hour (a crash shows here first);
4. drawdown from the highest close in the baseline window, and trend strength (Kaufman's
   efficiency ratio, signed: +1 a straight rally, -1 a straight sell-off, 0 chop);
5. the volatility phase (calm / normal / high / extreme) with hysteresis on the way down,
   and the drawdown phase (none / moderate / deep / severe).

Sources: Binance kline payloads (``parse_kline``: the websocket ``kline`` event, bare or
inside a combined-stream ``{"stream", "data"}`` wrapper), REST ``/fapi/v1/klines`` rows
(``parse_rest_kline``) and the offline CSVs (``load_csv``).
"""

from __future__ import annotations

import csv
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VOL_PHASES: tuple[str, ...] = ("calm", "normal", "high", "extreme")
DD_PHASES: tuple[str, ...] = ("none", "moderate", "deep", "severe")
_YEAR_S = 365.0 * 86400.0
_INTERVALS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def interval_seconds(interval: str) -> int:
    """``"5m"`` -> 300; raises ValueError for anything Binance does not name."""
    unit = interval[-1:]
    if unit not in _INTERVALS or not interval[:-1].isdigit():
        raise ValueError(f"unknown kline interval {interval!r}")
    return int(interval[:-1]) * _INTERVALS[unit]


@dataclass(frozen=True, slots=True)
class Candle:
    """One kline: open time and close time in epoch seconds, prices in quote currency."""

    symbol: str
    open_time: float
    close_time: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    interval: str
    closed: bool = True

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.close_time, UTC)


@dataclass(frozen=True, slots=True)
class RegimeConfig:
    """Windows and thresholds; the defaults were calibrated on BTC/ETH 5m, Dec 2020-Jul 2021
    (see docs/strategist.md)."""

    interval: str = "5m"
    windows_s: tuple[int, ...] = (3600, 14400, 86400)
    ratio_window_s: int = 14400
    baseline_s: int = 7 * 86400
    trend_window_s: int = 86400
    drawdown_window_s: int = 7 * 86400
    # vol_ratio thresholds: below calm_below is calm; at or above high_at high; extreme_at.
    calm_below: float = 0.6
    high_at: float = 1.8
    extreme_at: float = 3.0
    # |move_1h| at or above this is extreme whatever the ratio says (crashes, squeezes).
    shock_move: float = 0.08
    # A phase steps down only once vol_ratio is below its threshold times this factor.
    hysteresis: float = 0.8
    drawdown_levels: tuple[float, float, float] = (0.05, 0.10, 0.20)
    # Before this much history the ratio is not trusted and the phase rests on shocks only.
    min_history_s: int = 86400

    @property
    def interval_s(self) -> int:
        return interval_seconds(self.interval)


@dataclass(frozen=True, slots=True)
class RegimeMetrics:
    """What the regime of one symbol is after one candle."""

    symbol: str
    candle_at: datetime
    close: float
    realized_vol: dict[str, float]
    vol_ratio: float
    move_1h: float
    drawdown: float
    trend_strength: float
    volatility_phase: str
    drawdown_phase: str
    candles: int
    warm: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["candle_at"] = self.candle_at.isoformat()
        return data


def _window_label(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def volatility_level(ratio: float, config: RegimeConfig) -> int:
    if ratio >= config.extreme_at:
        return 3
    if ratio >= config.high_at:
        return 2
    if ratio >= config.calm_below:
        return 1
    return 0


def drawdown_phase(drawdown: float, levels: Sequence[float]) -> str:
    level = sum(1 for threshold in levels if drawdown >= threshold)
    return DD_PHASES[level]


class _Rolling:
    """Sum of the last ``n`` values, O(1) per update."""

    __slots__ = ("n", "total", "values")

    def __init__(self, n: int) -> None:
        self.n = max(1, n)
        self.values: deque[float] = deque()
        self.total = 0.0

    def push(self, value: float) -> None:
        self.values.append(value)
        self.total += value
        if len(self.values) > self.n:
            self.total -= self.values.popleft()

    def mean(self) -> float:
        return max(self.total, 0.0) / len(self.values) if self.values else 0.0


class SymbolRegime:
    """Rolling regime state of one symbol (feed it closed candles in time order).

    Every window keeps a running sum, so one update costs O(windows), not O(history): a
    week of 5-minute candles replays in well under a second.
    """

    def __init__(self, symbol: str, config: RegimeConfig) -> None:
        self.symbol = symbol
        self.config = config
        self.step = config.interval_s
        keep = max(config.baseline_s, config.drawdown_window_s, config.trend_window_s,
                   *config.windows_s, 3600) // self.step + 2
        self.closes: deque[tuple[float, float]] = deque(maxlen=keep)  # (open_time, close)
        self.level = 1
        self.last: RegimeMetrics | None = None
        self._reset()

    def _n(self, seconds: int) -> int:
        return max(1, seconds // self.step)

    def _reset(self) -> None:
        cfg = self.config
        spans = {*cfg.windows_s, cfg.ratio_window_s, cfg.baseline_s}
        self._sq = {w: _Rolling(self._n(w)) for w in spans}
        self._path = _Rolling(self._n(cfg.trend_window_s))
        self._peaks: deque[tuple[int, float]] = deque()  # monotonic: sliding maximum
        self._count = 0

    def _fold(self, close: float) -> None:
        if self.closes:
            prev = self.closes[-1][1]
            r = math.log(close / prev)
            for rolling in self._sq.values():
                rolling.push(r * r)
            self._path.push(abs(close - prev))
        self._count += 1
        while self._peaks and self._peaks[-1][1] <= close:
            self._peaks.pop()
        self._peaks.append((self._count, close))
        horizon = self._n(self.config.drawdown_window_s)
        while self._peaks[0][0] <= self._count - horizon - 1:
            self._peaks.popleft()

    def update(self, candle: Candle) -> RegimeMetrics | None:
        """Fold one candle in; None when it is ignored (open, other interval, out of order)."""
        if not candle.closed or candle.interval != self.config.interval or candle.close <= 0:
            return None
        if self.closes:
            last_open = self.closes[-1][0]
            if candle.open_time < last_open:
                return None  # late or replayed candle: the state has moved on
            if candle.open_time == last_open or \
                    candle.open_time - last_open > self.config.baseline_s:
                # A corrected close (rebuild the sums) or a gap longer than the baseline.
                kept = list(self.closes)[:-1] if candle.open_time == last_open else []
                self.closes.clear()
                self._reset()
                for t, c in kept:
                    self._fold(c)
                    self.closes.append((t, c))
        self._fold(candle.close)
        self.closes.append((candle.open_time, candle.close))
        self.last = self._metrics(candle)
        return self.last

    def _rv(self, seconds: int) -> float:
        return math.sqrt(self._sq[seconds].mean()) * math.sqrt(_YEAR_S / self.step)

    def _close_ago(self, seconds: int) -> float:
        n = min(len(self.closes) - 1, seconds // self.step)
        return self.closes[-1 - n][1]

    def _metrics(self, candle: Candle) -> RegimeMetrics:
        cfg = self.config
        closes = self.closes
        history_s = (closes[-1][0] - closes[0][0]) if len(closes) > 1 else 0.0
        warm = history_s >= cfg.min_history_s
        realized = {_window_label(w): self._rv(w) for w in cfg.windows_s}
        baseline = self._rv(cfg.baseline_s)
        short = self._rv(cfg.ratio_window_s)
        ratio = short / baseline if baseline > 0 else 1.0
        move_1h = candle.close / self._close_ago(3600) - 1.0 if len(closes) > 1 else 0.0
        peak = self._peaks[0][1]
        drawdown = max(0.0, 1.0 - candle.close / peak)
        trend = 0.0
        if self._path.values and self._path.total > 0:
            start = self._close_ago(len(self._path.values) * self.step)
            trend = max(-1.0, min(1.0, (candle.close - start) / self._path.total))
        level = volatility_level(ratio, cfg) if warm else 1
        if level < self.level:
            # Step down only when clearly below the threshold (no flapping at the border).
            level = max(level, volatility_level(ratio / cfg.hysteresis, cfg) if warm else 1)
        if abs(move_1h) >= cfg.shock_move:
            level = 3
        self.level = level
        return RegimeMetrics(
            symbol=self.symbol, candle_at=candle.at, close=candle.close,
            realized_vol={k: round(v, 6) for k, v in realized.items()},
            vol_ratio=round(ratio, 6), move_1h=round(move_1h, 6), drawdown=round(drawdown, 6),
            trend_strength=round(trend, 6), volatility_phase=VOL_PHASES[level],
            drawdown_phase=drawdown_phase(drawdown, cfg.drawdown_levels),
            candles=len(closes), warm=warm,
            extra={"baseline_vol": round(baseline, 6)},
        )


class RegimeBook:
    """Every symbol's rolling regime, plus the fleet-wide view."""

    def __init__(self, config: RegimeConfig | None = None,
                 symbols: Iterable[str] = ()) -> None:
        self.config = config or RegimeConfig()
        self.only = frozenset(s.upper() for s in symbols)
        self.symbols: dict[str, SymbolRegime] = {}

    def update(self, candle: Candle) -> RegimeMetrics | None:
        if self.only and candle.symbol not in self.only:
            return None
        state = self.symbols.get(candle.symbol)
        if state is None:
            state = self.symbols[candle.symbol] = SymbolRegime(candle.symbol, self.config)
        return state.update(candle)

    def fleet(self) -> dict[str, Any]:
        return fleet_view([s.last for s in self.symbols.values() if s.last is not None])


def fleet_view(metrics: Sequence[RegimeMetrics]) -> dict[str, Any]:
    """The fleet-wide regime: the worst phase of any symbol, averages of the numbers."""
    if not metrics:
        return {"volatility_phase": "normal", "drawdown_phase": "none", "symbols": 0}
    n = len(metrics)
    return {
        "volatility_phase": max((m.volatility_phase for m in metrics), key=VOL_PHASES.index),
        "drawdown_phase": max((m.drawdown_phase for m in metrics), key=DD_PHASES.index),
        "vol_ratio": round(max(m.vol_ratio for m in metrics), 6),
        "move_1h": round(min(m.move_1h for m in metrics), 6),
        "drawdown": round(max(m.drawdown for m in metrics), 6),
        "trend_strength": round(sum(m.trend_strength for m in metrics) / n, 6),
        "symbols": n,
        "candle_at": max(m.candle_at for m in metrics).isoformat(),
    }


# --- sources ----------------------------------------------------------------------------------


def _f(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("non-finite number")
    return number


def parse_kline(payload: Mapping[str, Any]) -> Candle | None:
    """A Binance websocket kline event (bare or combined-stream wrapped); None otherwise."""
    data = payload.get("data") if isinstance(payload.get("data"), Mapping) else payload
    if not isinstance(data, Mapping) or data.get("e") != "kline":
        return None
    k = data.get("k")
    if not isinstance(k, Mapping):
        return None
    try:
        return Candle(
            symbol=str(k.get("s") or data.get("s")).upper(),
            open_time=_f(k["t"]) / 1000.0,
            close_time=(_f(k["T"]) + 1) / 1000.0,
            open=_f(k["o"]), high=_f(k["h"]), low=_f(k["l"]), close=_f(k["c"]),
            volume=_f(k.get("v", 0)), interval=str(k["i"]), closed=bool(k.get("x")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def parse_rest_kline(symbol: str, interval: str, row: Sequence[Any], *, now: float
                     ) -> Candle | None:
    """One ``GET /fapi/v1/klines`` row; the still-open last candle is marked not closed."""
    try:
        close_time = (_f(row[6]) + 1) / 1000.0
        return Candle(symbol=symbol.upper(), open_time=_f(row[0]) / 1000.0,
                      close_time=close_time, open=_f(row[1]), high=_f(row[2]), low=_f(row[3]),
                      close=_f(row[4]), volume=_f(row[5]), interval=interval,
                      closed=close_time <= now)
    except (IndexError, TypeError, ValueError):
        return None


def kline_event(candle: Candle, *, event_ms: int | None = None) -> dict[str, Any]:
    """The websocket payload for a candle (what the replay publishes on the bus)."""
    step_ms = round((candle.close_time - candle.open_time) * 1000)
    open_ms = round(candle.open_time * 1000)
    return {
        "e": "kline", "E": event_ms if event_ms is not None else open_ms + step_ms,
        "s": candle.symbol,
        "k": {"t": open_ms, "T": open_ms + step_ms - 1, "s": candle.symbol, "i": candle.interval,
              "o": repr(candle.open), "c": repr(candle.close), "h": repr(candle.high),
              "l": repr(candle.low), "v": repr(candle.volume), "x": candle.closed},
    }


def load_csv(path: Path, symbol: str, interval: str, *, start: datetime | None = None,
             end: datetime | None = None) -> Iterator[Candle]:
    """Candles of a ``open_time_ms,open,high,low,close,volume`` file, optionally a time range."""
    step = interval_seconds(interval)
    lo = start.timestamp() if start else -math.inf
    hi = end.timestamp() if end else math.inf
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            open_time = int(row["open_time_ms"]) / 1000.0
            if open_time < lo:
                continue
            if open_time >= hi:
                break
            yield Candle(symbol=symbol.upper(), open_time=open_time,
                         close_time=open_time + step, open=float(row["open"]),
                         high=float(row["high"]), low=float(row["low"]),
                         close=float(row["close"]), volume=float(row["volume"] or 0),
                         interval=interval)
