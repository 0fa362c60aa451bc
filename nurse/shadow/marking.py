"""The reference shadow simulation: entry, first touch of stop-loss / take-profit, horizons.

Rules (the replay's vectorised ``nurse.replay.sim`` follows the same ones):

1. Entry: the open of the first candle that opens at or after the block time, if that candle
   opens less than one interval later (otherwise there is no price at block time yet, or a
   data gap; the position stays unmarked). That candle's high/low all lie after the entry.
2. Levels: the intent's ``stop_loss`` / ``take_profit`` prices; else its ``*_pct`` fractions
   applied to the entry price; none means the level does not exist.
3. First touch, candle by candle from the entry candle: an open already beyond a level exits
   at that open (a gap: stop orders fill at the market, so a gap through the stop costs more
   than the stop); else a low/high reaching a level exits at the level; both levels inside
   one candle cannot be ordered from high/low, so the stop-loss is assumed first (the
   conservative choice of common backtesters).
4. Horizon ``H`` (hours after the block time): a touch in a candle that closes by then is the
   result; else the close of the last candle that closes by then, but only when that candle
   is the last one that fits (the data reaches the horizon). Otherwise the horizon waits:
   a missing price is never invented. Gaps inside the window are counted and reported.
5. Costs: both fills move against the position by ``slippage`` (a fraction) and pay
   ``fee_rate`` of their notional; the PnL at a horizon is what closing there would realise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

HOUR_MS = 3_600_000
_Q = Decimal("0.000000000001")  # 12 decimal places, as stored
ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLC bar; ``open_ms`` is the UTC epoch millisecond of its open."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """Sorted bars of one symbol from one source, and what they can tell."""

    interval_ms: int
    candles: tuple[Candle, ...]
    source: str
    quality: str = "candles"  # "candles": real high/low; "last_prices": built from samples

    def close_ms(self, candle: Candle) -> int:
        return candle.open_ms + self.interval_ms


@dataclass(frozen=True, slots=True)
class Costs:
    """Per-fill costs: ``fee_rate`` of the notional and an adverse ``slippage`` fraction."""

    fee_rate: Decimal = Decimal("0.0004")
    slippage: Decimal = Decimal("0.0002")


@dataclass(frozen=True, slots=True)
class ShadowSpec:
    """What the simulation needs to know about one blocked entry."""

    side: int  # +1 long, -1 short
    quantity: Decimal
    opened_ms: int
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None


@dataclass(frozen=True, slots=True)
class HorizonMark:
    """The result at one horizon."""

    horizon_h: int
    exit_reason: str  # sl | sl_gap | tp | tp_gap | horizon
    exit_price: Decimal
    exit_at_ms: int
    entry_price: Decimal
    entry_fill: Decimal
    exit_fill: Decimal
    fees: Decimal
    pnl: Decimal
    ret: Decimal
    gaps: int = 0
    note: str = ""


@dataclass(slots=True)
class MarkOutcome:
    """Everything one simulation pass could decide; ``pending`` horizons need more data."""

    entry_price: Decimal | None
    marks: dict[int, HorizonMark] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)
    note: str = ""


def levels(spec: ShadowSpec, entry: Decimal) -> tuple[Decimal | None, Decimal | None]:
    """Absolute stop-loss and take-profit for an entry price (rule 2)."""
    sl = spec.stop_loss
    if sl is None and spec.stop_loss_pct:
        sl = entry * (ONE - spec.side * spec.stop_loss_pct)
    tp = spec.take_profit
    if tp is None and spec.take_profit_pct:
        tp = entry * (ONE + spec.side * spec.take_profit_pct)
    return sl, tp


def touch(side: int, candle: Candle, sl: Decimal | None, tp: Decimal | None
          ) -> tuple[str, Decimal] | None:
    """Rule 3 for one candle: the exit reason and price, or None."""
    if side > 0:
        if sl is not None and candle.open <= sl:
            return "sl_gap", candle.open
        if tp is not None and candle.open >= tp:
            return "tp_gap", candle.open
        hit_sl = sl is not None and candle.low <= sl
        hit_tp = tp is not None and candle.high >= tp
    else:
        if sl is not None and candle.open >= sl:
            return "sl_gap", candle.open
        if tp is not None and candle.open <= tp:
            return "tp_gap", candle.open
        hit_sl = sl is not None and candle.high >= sl
        hit_tp = tp is not None and candle.low <= tp
    if hit_sl:
        assert sl is not None  # noqa: S101  (narrowing for mypy)
        return "sl", sl
    if hit_tp:
        assert tp is not None  # noqa: S101
        return "tp", tp
    return None


def settle(side: int, quantity: Decimal, entry: Decimal, exit_price: Decimal, costs: Costs
           ) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    """Rule 5: (entry_fill, exit_fill, fees, pnl, return), quantised to 12 places."""
    entry_fill = entry * (ONE + side * costs.slippage)
    exit_fill = exit_price * (ONE - side * costs.slippage)
    fees = costs.fee_rate * (entry_fill + exit_fill) * quantity
    pnl = side * (exit_fill - entry_fill) * quantity - fees
    basis = entry_fill * quantity
    ret = pnl / basis if basis else ZERO
    return (entry_fill.quantize(_Q), exit_fill.quantize(_Q), fees.quantize(_Q),
            pnl.quantize(_Q), ret.quantize(_Q))


def _entry_index(series: CandleSeries, opened_ms: int) -> int | None:
    for i, candle in enumerate(series.candles):
        if candle.open_ms >= opened_ms:
            return i if candle.open_ms - opened_ms < series.interval_ms else None
    return None


def simulate(spec: ShadowSpec, series: CandleSeries, horizons_h: Iterable[int],
             costs: Costs, *, entry_price: Decimal | None = None) -> MarkOutcome:
    """Apply rules 1-5 to the candles at hand; see the module docstring.

    ``entry_price`` pins an entry found earlier (from another source) instead of rule 1."""
    horizons = sorted(set(horizons_h))
    candles: Sequence[Candle] = series.candles
    start = _entry_index(series, spec.opened_ms)
    if start is None:
        if entry_price is None:
            return MarkOutcome(entry_price=None, pending=horizons,
                               note=f"{series.source}: no price at block time")
        # The entry is known; scan whatever this source holds after the block time.
        start = next((i for i, c in enumerate(candles) if c.open_ms >= spec.opened_ms),
                     len(candles))
    entry = entry_price if entry_price is not None else candles[start].open
    sl, tp = levels(spec, entry)
    interval = series.interval_ms
    last_end = spec.opened_ms + horizons[-1] * HOUR_MS
    exit_event: tuple[str, Decimal, int] | None = None  # reason, price, candle index
    gaps_before: list[int] = []  # gaps seen up to and including candle i
    gaps = 0
    prev_open: int | None = None
    for i in range(start, len(candles)):
        candle = candles[i]
        if candle.open_ms + interval > last_end:
            break
        if prev_open is not None and candle.open_ms - prev_open > interval:
            gaps += (candle.open_ms - prev_open) // interval - 1
        prev_open = candle.open_ms
        gaps_before.append(gaps)
        hit = touch(spec.side, candle, sl, tp)
        if hit is not None:
            exit_event = (hit[0], hit[1], i)
            break
    outcome = MarkOutcome(entry_price=entry)
    scanned = start + len(gaps_before)  # candles [start, scanned) were examined
    for h in horizons:
        end = spec.opened_ms + h * HOUR_MS
        note = ""
        if exit_event is not None and candles[exit_event[2]].open_ms + interval <= end:
            reason, price, idx = exit_event
            exit_at = candles[idx].open_ms
            gap_count = gaps_before[idx - start]
            if reason == "sl" and tp is not None and _both_inside(spec.side, candles[idx], sl,
                                                                 tp):
                note = "both levels inside one candle: stop-loss assumed first"
        else:
            last = None
            for j in range(min(scanned, len(candles)) - 1, start - 1, -1):
                if candles[j].open_ms + interval <= end:
                    last = j
                    break
            if last is None or candles[last].open_ms + 2 * interval <= end:
                outcome.pending.append(h)
                continue
            reason, price, exit_at = "horizon", candles[last].close, candles[last].open_ms + \
                interval
            gap_count = gaps_before[last - start]
        entry_fill, exit_fill, fees, pnl, ret = settle(spec.side, spec.quantity, entry, price,
                                                      costs)
        if gap_count:
            note = (note + "; " if note else "") + f"{gap_count} missing candle(s) in window"
        outcome.marks[h] = HorizonMark(
            horizon_h=h, exit_reason=reason, exit_price=price, exit_at_ms=exit_at,
            entry_price=entry, entry_fill=entry_fill, exit_fill=exit_fill, fees=fees,
            pnl=pnl, ret=ret, gaps=gap_count, note=note)
    return outcome


def _both_inside(side: int, candle: Candle, sl: Decimal | None, tp: Decimal) -> bool:
    if sl is None:
        return False
    if side > 0:
        return candle.low <= sl and candle.high >= tp
    return candle.high >= sl and candle.low <= tp
