"""The Nurse benchmark's workload: 50 strategies, 20 symbols and the intent payloads.

Shared by the seed (policy, exchange filters) and the load generator (payloads), so the
intents always fit the seeded policy: every intent is unique (own ``signal_id``; a stop-loss
that differs per sequence number, so the content key differs too), on the exchange grid,
above the minimum notional, inside every limit, with a stop-loss and a take-profit on the
right side. 1 in 20 is a ``close``; 1 in 4 entries is a limit order (tick-size check runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    price: str  # base price
    tick: str
    step: str


# BTCUSDT and ETHUSDT use the real filters of nurse/data/exchange_info_usdm.json; the other 18
# are synthetic (same filter shapes, plausible values, MIN_NOTIONAL 5).
SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", "50000", "0.10", "0.001"),
    SymbolSpec("ETHUSDT", "3000", "0.01", "0.001"),
    SymbolSpec("BNBUSDT", "600", "0.010", "0.01"),
    SymbolSpec("SOLUSDT", "150", "0.0100", "0.1"),
    SymbolSpec("XRPUSDT", "0.6", "0.0001", "10"),
    SymbolSpec("ADAUSDT", "0.45", "0.0001", "10"),
    SymbolSpec("DOGEUSDT", "0.15", "0.00001", "100"),
    SymbolSpec("AVAXUSDT", "35", "0.001", "1"),
    SymbolSpec("DOTUSDT", "7", "0.001", "1"),
    SymbolSpec("LINKUSDT", "15", "0.001", "1"),
    SymbolSpec("LTCUSDT", "80", "0.01", "0.1"),
    SymbolSpec("TRXUSDT", "0.12", "0.00001", "100"),
    SymbolSpec("MATICUSDT", "0.7", "0.0001", "10"),
    SymbolSpec("ATOMUSDT", "9", "0.001", "1"),
    SymbolSpec("NEARUSDT", "5", "0.001", "1"),
    SymbolSpec("UNIUSDT", "8", "0.001", "1"),
    SymbolSpec("APTUSDT", "9", "0.001", "0.1"),
    SymbolSpec("ARBUSDT", "1.1", "0.0001", "1"),
    SymbolSpec("OPUSDT", "2.5", "0.0001", "1"),
    SymbolSpec("FILUSDT", "5.5", "0.001", "1"),
)
HIGH_VOL_SYMBOLS = frozenset({"SOLUSDT", "DOGEUSDT", "ARBUSDT"})
_FAMILIES = ("momentum", "meanrev", "breakout", "mlgrid", "llmswing")
STRATEGIES: tuple[str, ...] = tuple(f"bench-{_FAMILIES[i % 5]}-{i:02d}" for i in range(50))
N_PRICE_STEPS = 50
_SPAN = "00f067aa0ba902b7"


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


class Workload:
    """Builds intent number ``seq`` of a run tagged ``tag`` (a short [a-z0-9] string)."""

    def __init__(self, tag: str, tag_hex: int) -> None:
        self.tag = tag
        self.tag_hex = tag_hex
        self.tokens = STRATEGIES  # strategy ids are already valid subject tokens
        # Per symbol: the price ladder as (float, text) and the quantities (text, float).
        self.prices: list[list[tuple[float, str]]] = []
        self.qtys: list[list[str]] = []
        for spec in SYMBOLS:
            tick, base = float(spec.tick), float(spec.price)
            pd = _decimals(spec.tick)
            ladder = []
            for k in range(N_PRICE_STEPS):
                value = round(base + k * tick, pd)
                ladder.append((value, f"{value:.{pd}f}"))
            self.prices.append(ladder)
            step = float(spec.step)
            qd = _decimals(spec.step)
            lots = max(1, math.ceil(25.0 / (base * step)))
            self.qtys.append([f"{round(lots * m * step, qd):.{qd}f}" for m in (1, 2, 3)])

    def build(self, seq: int, ts_iso: str) -> tuple[str, bytes]:
        """(strategy token, payload bytes) for intent ``seq``."""
        strategy = STRATEGIES[seq % 50]
        si = (seq // 50 + seq) % 20
        symbol = SYMBOLS[si].symbol
        price, price_txt = self.prices[si][(seq // 7) % N_PRICE_STEPS]
        qty = self.qtys[si][(seq // 1000) % 3]
        u = (seq % 100_000) * 1e-8
        if seq % 20 == 19:
            action, sl, tp = "close", price * (0.98 - u), price * (1.04 + u)
        elif (seq // 3) % 2 == 0:
            action, sl, tp = "buy", price * (0.98 - u), price * (1.04 + u)
        else:
            action, sl, tp = "sell", price * (1.02 + u), price * (0.96 - u)
        order_type = "limit" if seq % 4 == 1 else "market"
        confidence = 0.6 + (seq % 35) / 100
        body = (
            f'{{"strategy_id":"{strategy}","signal_id":"{self.tag}-{seq}","symbol":"{symbol}",'
            f'"action":"{action}","confidence":{confidence:.2f},"price":{price_txt},'
            f'"current_price":{price_txt},"quantity":{qty},"stop_loss":{sl!r},'
            f'"take_profit":{tp!r},"order_type":"{order_type}","source":"{strategy}",'
            f'"strategy":"{strategy.rsplit("-", 1)[0]}","timeframe":"15m",'
            f'"timestamp":"{ts_iso}","metadata":{{"leverage":3,"bench":true}},'
            f'"_otel_trace_context":{{"traceparent":"00-{self.tag_hex:08x}{seq:024x}-{_SPAN}-01"}}}}'
        )
        return strategy, body.encode()
