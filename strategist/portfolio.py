"""Portfolio health in memory: equity, peak, drawdown and exposure, updated per event.

The engine's execution events (``execution.events.>``) and its ``/state`` endpoint report
equity; between two reports the tracker marks the positions it knows to the latest kline
close, so a crash moves the drawdown at candle speed even when the engine reports slowly.
Parsing is lenient about key names (engine events, Binance account payloads) and strict
about values (finite, positive equity).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_EQUITY_KEYS = ("equity", "total_equity", "account_equity", "totalMarginBalance",
                "total_margin_balance", "margin_balance")
_EXPOSURE_KEYS = ("exposure", "total_exposure", "gross_exposure", "open_notional")
_PNL_KEYS = ("daily_pnl", "pnl_today", "realized_pnl_today")
_FILLED = {"filled", "partially_filled", "FILLED", "PARTIALLY_FILLED", "fill", "executed"}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        number = _number(data.get(key))
        if number is not None:
            return number
    return None


def event_time(data: Mapping[str, Any], fallback: dt.datetime) -> dt.datetime:
    """The event's own timestamp (ISO string, epoch s or ms), or ``fallback``."""
    for key in ("timestamp", "ts", "event_time", "E", "T"):
        raw = data.get(key)
        if isinstance(raw, str):
            try:
                parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        number = _number(raw)
        if number is not None and number > 0:
            seconds = number / 1000.0 if number >= 1e11 else number
            try:
                return dt.datetime.fromtimestamp(seconds, dt.UTC)
            except (OverflowError, OSError, ValueError):
                continue
    return fallback


@dataclass(slots=True)
class Position:
    """A signed quantity and the mark it was last valued at."""

    quantity: float
    mark: float | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What one event told the tracker (None fields: not reported)."""

    equity: float | None = None
    exposure: float | None = None
    daily_pnl: float | None = None
    estimated: bool = False


@dataclass(slots=True)
class PortfolioTracker:
    """Equity, peak and positions of the fleet, in memory (seeded from the database)."""

    equity: float | None = None
    peak: float = 0.0
    exposure: float | None = None
    daily_pnl: float | None = None
    positions: dict[str, Position] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    _base_equity: float | None = None

    @property
    def drawdown(self) -> float:
        if self.equity is None or self.peak <= 0:
            return 0.0
        return max(0.0, 1.0 - self.equity / self.peak)

    def _set_equity(self, equity: float) -> None:
        self.equity = equity
        if equity > self.peak:
            self.peak = equity

    def on_execution(self, data: Mapping[str, Any]) -> Observation | None:
        """Fold one execution event or ``/state`` body; None when it says nothing we use."""
        body: Mapping[str, Any] = data
        nested = data.get("account") or data.get("data")
        if isinstance(nested, Mapping) and _first(nested, _EQUITY_KEYS) is not None:
            body = nested
        positions = body.get("positions")
        if isinstance(positions, list):
            self._replace_positions(positions)
        else:
            self._apply_fill(body)
        equity = _first(body, _EQUITY_KEYS)
        exposure = _first(body, _EXPOSURE_KEYS)
        if exposure is None and isinstance(positions, list):
            exposure = sum(abs(_number(p.get("notional")) or 0.0) for p in positions
                           if isinstance(p, Mapping))
        pnl = _first(body, _PNL_KEYS)
        if exposure is not None:
            self.exposure = exposure
        if pnl is not None:
            self.daily_pnl = pnl
        if equity is None or equity <= 0:
            return Observation(exposure=exposure, daily_pnl=pnl) if (
                exposure is not None or pnl is not None) else None
        self._set_equity(equity)
        # The engine's equity includes every unrealised PnL up to now: re-anchor the marks.
        self._base_equity = equity
        for symbol, position in self.positions.items():
            position.mark = self.marks.get(symbol, position.mark)
        return Observation(equity=equity, exposure=exposure, daily_pnl=pnl)

    def on_price(self, symbol: str, price: float) -> Observation | None:
        """Mark the known positions to a new price; an estimated equity when it moved."""
        self.marks[symbol] = price
        position = self.positions.get(symbol)
        if position is None or self._base_equity is None or position.quantity == 0:
            return None
        if position.mark is None:
            position.mark = price
            return None
        pnl = sum(p.quantity * (self.marks.get(s, p.mark or 0.0) - (p.mark or 0.0))
                  for s, p in self.positions.items() if p.mark is not None)
        estimate = self._base_equity + pnl
        if estimate <= 0:
            estimate = 0.01  # a wiped-out book is a 100% drawdown, not a missing equity
        self._set_equity(estimate)
        return Observation(equity=estimate, estimated=True)

    def _replace_positions(self, rows: list[Any]) -> None:
        fresh: dict[str, Position] = {}
        for row in rows:
            if not isinstance(row, Mapping) or not row.get("symbol"):
                continue
            qty = _first(row, ("quantity", "positionAmt", "position_amt", "qty"))
            if qty is None:
                continue  # notional-only snapshots size exposure but cannot be marked
            symbol = str(row["symbol"]).upper()
            fresh[symbol] = Position(quantity=qty, mark=self.marks.get(symbol) or _first(
                row, ("mark_price", "markPrice", "entry_price", "entryPrice")))
        self.positions = fresh

    def _apply_fill(self, body: Mapping[str, Any]) -> None:
        status = body.get("status") or body.get("event_type")
        symbol = body.get("symbol")
        if status not in _FILLED or not symbol:
            return
        qty = _first(body, ("filled_quantity", "quantity", "qty")) or 0.0
        price = _first(body, ("avg_price", "price")) or 0.0
        if qty <= 0 or price <= 0:
            return
        symbol = str(symbol).upper()
        position = self.positions.setdefault(symbol, Position(0.0, price))
        action = str(body.get("action") or body.get("side") or "").lower()
        if action == "close" or body.get("reduce_only"):
            step = min(qty, abs(position.quantity))
            position.quantity -= math.copysign(step, position.quantity) if position.quantity \
                else 0.0
        elif action in ("buy", "long"):
            position.quantity += qty
        elif action in ("sell", "short"):
            position.quantity -= qty


def decimal(value: float) -> Decimal:
    return Decimal(repr(round(value, 8)))
