"""Vectorised first-touch exits and horizon marks in floats, for replays.

The rules are those of ``nurse.shadow.marking`` (entry at the open of the first bar at or
after the decision, gaps exit at the open, a touch at the level, both inside one bar: the
stop first, horizons need data reaching them, adverse slippage and fees on both fills);
``tests/replay/test_sim.py`` checks both agree on real candles. Floats are used here for
speed: a replay's report rounds money once, at the end (``engine._money``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nurse.replay.candles import SymbolCandles

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Touch:
    """A level reached inside bar ``index``; it takes effect at the bar's close."""

    index: int
    reason: str  # sl | sl_gap | tp | tp_gap
    price: float


def levels(side: int, entry: float, stop_loss: float | None, take_profit: float | None,
           stop_loss_pct: float | None, take_profit_pct: float | None
           ) -> tuple[float | None, float | None]:
    sl = stop_loss
    if sl is None and stop_loss_pct:
        sl = entry * (1.0 - side * stop_loss_pct)
    tp = take_profit
    if tp is None and take_profit_pct:
        tp = entry * (1.0 + side * take_profit_pct)
    return sl, tp


def first_touch(c: SymbolCandles, start: int, stop: int, side: int, sl: float | None,
                tp: float | None) -> Touch | None:
    """The first bar in ``[start, stop]`` that reaches a level, and how."""
    if stop < start or (sl is None and tp is None):
        return None
    lo, hi = c.low[start:stop + 1], c.high[start:stop + 1]
    if side > 0:
        hit_sl = lo <= sl if sl is not None else None
        hit_tp = hi >= tp if tp is not None else None
    else:
        hit_sl = hi >= sl if sl is not None else None
        hit_tp = lo <= tp if tp is not None else None
    if hit_sl is None:
        assert hit_tp is not None  # noqa: S101  (one level exists)
        events = hit_tp
    elif hit_tp is None:
        events = hit_sl
    else:
        events = hit_sl | hit_tp
    k = int(np.argmax(events))
    if not events[k]:
        return None
    i = start + k
    o = float(c.open[i])
    if sl is not None and (o <= sl if side > 0 else o >= sl):
        return Touch(i, "sl_gap", o)
    if tp is not None and (o >= tp if side > 0 else o <= tp):
        return Touch(i, "tp_gap", o)
    if hit_sl is not None and bool(hit_sl[k]):
        assert sl is not None  # noqa: S101
        return Touch(i, "sl", sl)
    assert tp is not None  # noqa: S101
    return Touch(i, "tp", tp)


def horizon_exit(c: SymbolCandles, start: int, opened_ms: int, hours: float,
                 touch: Touch | None) -> tuple[str, float, int] | None:
    """(reason, price, effective ms) at ``hours`` after ``opened_ms``, or None when the data
    does not reach that far (never invented)."""
    end = opened_ms + int(hours * HOUR_MS)
    interval = c.interval_ms
    if touch is not None and int(c.open_ms[touch.index]) + interval <= end:
        return touch.reason, touch.price, int(c.open_ms[touch.index]) + interval
    j = c.last_closed_by(end)
    if j < start or int(c.open_ms[j]) + 2 * interval <= end:
        return None
    return "horizon", float(c.close[j]), int(c.open_ms[j]) + interval


def settle(side: int, quantity: float, entry: float, exit_price: float, fee_rate: float,
           slippage: float) -> tuple[float, float, float, float]:
    """(entry_fill, exit_fill, fees, pnl) as in ``nurse.shadow.marking.settle``."""
    entry_fill = entry * (1.0 + side * slippage)
    exit_fill = exit_price * (1.0 - side * slippage)
    fees = fee_rate * (entry_fill + exit_fill) * quantity
    return entry_fill, exit_fill, fees, side * (exit_fill - entry_fill) * quantity - fees
