"""A stand-in trade engine: consumes approved signals and reports fills and positions.

It subscribes exactly as the real engine does (``signals.trading.*``, queue group
``tradeengine-workers``, buy/sell only from ``source == "petrosa-cio"``), fills every
accepted signal at its ``current_price`` in hedge mode (``sell`` opens a short, ``close``
closes the strategy's position in the symbol), and publishes what the Nurse, the shadow
ROI and the strategist read (docs/nurse.md "Execution events"):

* a fill per order on ``execution.events.<strategy token>`` with ``decision_id``;
* every few seconds a ``positions_snapshot`` with every open position and the equity.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from nurse.contracts import signal_from_json
from nurse.gate import subject_token

logger = logging.getLogger("governance.dashboard.demo.engine")

ENGINE_QUEUE = "tradeengine-workers"


@dataclass(slots=True)
class Position:
    """One hedge-mode leg: quantity (positive) and average entry price."""

    quantity: float
    entry: float


class StandInEngine:
    """The engine's book in memory; ``marks`` (symbol -> last price) values it."""

    def __init__(self, nc: Any, *, signal_subject: str, execution_prefix: str = "execution.events",
                 queue: str = ENGINE_QUEUE, start_equity: float = 10_000.0,
                 fee_rate: float = 0.0004, marks: Mapping[str, float] | None = None) -> None:
        self.nc = nc
        self.signal_subject = signal_subject
        self.execution_prefix = execution_prefix
        self.queue = queue
        self.start_equity = start_equity
        self.fee_rate = fee_rate
        self.marks: Mapping[str, float] = marks if marks is not None else {}
        self.book: dict[tuple[str, str, str], Position] = {}
        self.realized = 0.0
        self.fees = 0.0
        self.counters = {"signals": 0, "fills": 0, "rejected": 0, "snapshots": 0}

    async def start(self) -> None:
        await self.nc.subscribe(self.signal_subject, queue=self.queue, cb=self._on_signal)

    # -- the book ----------------------------------------------------------------------------
    def side_of(self, strategy_id: str, symbol: str) -> str | None:
        for side in ("LONG", "SHORT"):
            if (strategy_id, symbol, side) in self.book:
                return side
        return None

    def equity(self) -> float:
        unrealized = 0.0
        for (_, symbol, side), pos in self.book.items():
            mark = self.marks.get(symbol, pos.entry)
            sign = 1.0 if side == "LONG" else -1.0
            unrealized += sign * (mark - pos.entry) * pos.quantity
        return round(self.start_equity + self.realized - self.fees + unrealized, 8)

    def positions(self) -> list[dict[str, Any]]:
        rows = []
        for (strategy_id, symbol, side), pos in sorted(self.book.items()):
            mark = self.marks.get(symbol, pos.entry)
            rows.append({"strategy_id": strategy_id, "symbol": symbol, "position_side": side,
                         "quantity": pos.quantity if side == "LONG" else -pos.quantity,
                         "entry_price": pos.entry, "mark_price": mark,
                         "notional": round(abs(pos.quantity * mark), 8)})
        return rows

    def apply(self, signal: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Fill one accepted signal; returns the fill events (none for ``hold``)."""
        action = signal["action"]
        strategy_id, symbol = signal["strategy_id"], signal["symbol"]
        price = float(signal.get("current_price") or signal.get("price") or 0)
        qty = float(signal.get("quantity") or 0)
        if price <= 0 or action == "hold":
            return []
        decision_id = str(signal.get("decision_id") or "")
        if action == "close":
            fills = []
            for side in ("LONG", "SHORT"):
                pos = self.book.pop((strategy_id, symbol, side), None)
                if pos is None:
                    continue
                sign = 1.0 if side == "LONG" else -1.0
                pnl = sign * (price - pos.entry) * pos.quantity
                fee = price * pos.quantity * self.fee_rate
                self.realized += pnl
                self.fees += fee
                fills.append(self._fill(signal, decision_id, "close", side, pos.quantity, price,
                                        fee, realized=pnl - fee))
            return fills
        if qty <= 0:
            return []
        side = "LONG" if action == "buy" else "SHORT"
        fee = price * qty * self.fee_rate
        self.fees += fee
        key = (strategy_id, symbol, side)
        pos = self.book.get(key)
        if pos is None:
            self.book[key] = Position(qty, price)
        else:
            total = pos.quantity + qty
            self.book[key] = Position(total, (pos.entry * pos.quantity + price * qty) / total)
        return [self._fill(signal, decision_id, action, side, qty, price, fee, realized=-fee)]

    def _fill(self, signal: Mapping[str, Any], decision_id: str, action: str, side: str,
              qty: float, price: float, fee: float, *, realized: float) -> dict[str, Any]:
        closing = action == "close"
        order_side = ("SELL" if side == "LONG" else "BUY") if closing else \
            ("BUY" if side == "LONG" else "SELL")
        return {
            "event_id": uuid.uuid4().hex, "event_type": "fill", "status": "filled",
            "strategy_id": signal["strategy_id"], "symbol": signal["symbol"],
            "action": action, "side": order_side, "position_side": side,
            "reduce_only": closing, "filled_quantity": qty, "avg_price": price,
            "decision_id": decision_id, "metadata": {"decision_id": decision_id},
            "commission": round(fee, 8), "realized_pnl": round(realized, 8),
            "equity": self.equity(), "timestamp": datetime.now(UTC).isoformat(),
            "source": "demo-engine",
        }

    # -- NATS --------------------------------------------------------------------------------
    async def _on_signal(self, msg: Any) -> None:
        self.counters["signals"] += 1
        try:
            signal = signal_from_json(msg.data)
        except (ValidationError, ValueError):
            self.counters["rejected"] += 1
            return
        # The engine's default source check (shared/contracts README, fact 2).
        if signal.action in ("buy", "sell") and signal.source != "petrosa-cio":
            self.counters["rejected"] += 1
            return
        data = json.loads(msg.data)
        for fill in self.apply(data):
            self.counters["fills"] += 1
            subject = f"{self.execution_prefix}.{subject_token(fill['strategy_id'])}"
            await self.nc.publish(subject, json.dumps(fill).encode())

    async def publish_snapshot(self) -> dict[str, Any]:
        positions = self.positions()
        body = {"event_type": "positions_snapshot", "positions": positions,
                "equity": self.equity(),
                "exposure": round(sum(p["notional"] for p in positions), 8),
                "timestamp": datetime.now(UTC).isoformat(), "source": "demo-engine"}
        await self.nc.publish(f"{self.execution_prefix}.demo-engine", json.dumps(body).encode())
        self.counters["snapshots"] += 1
        return body
