"""Actual PnL from the engine's execution events: one row per event, average-cost book."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nurse.models import BookPosition, ExecutionFill
from nurse.shadow.services import execution_fill_record

pytestmark = pytest.mark.django_db


def fill(**fields: object) -> dict[str, object]:
    event: dict[str, object] = {"status": "filled", "strategy_id": "s1", "symbol": "btcusdt",
                                "timestamp": "2021-05-19T12:00:00Z"}
    event.update(fields)
    return event


def test_long_round_trip_realises_price_move_minus_fees() -> None:
    opened = execution_fill_record(event=fill(event_id="e1", action="buy",
                                              filled_quantity=0.02, avg_price=38700,
                                              commission=0.15))
    assert opened is not None and opened.realized_pnl == Decimal("-0.15")
    assert opened.symbol == "BTCUSDT" and opened.position_side == "LONG"
    # Half the position closed higher: 0.01 * (39200 - 38700) - 0.16.
    half = execution_fill_record(event=fill(event_id="e2", action="close", side="SELL",
                                            filled_quantity=0.01, avg_price=39200,
                                            commission=0.16, reduce_only=True))
    assert half is not None and half.realized_pnl == Decimal("4.84")
    book = BookPosition.objects.get(strategy_id="s1", symbol="BTCUSDT", side="LONG")
    assert (book.quantity, book.avg_price) == (Decimal("0.01"), Decimal("38700"))
    # The rest lower; the close names no side but only the long is open.
    rest = execution_fill_record(event=fill(event_id="e3", action="close",
                                            filled_quantity=0.01, avg_price=38000, fee=0.15))
    assert rest is not None and rest.realized_pnl == Decimal("-7.15")
    assert sum(f.realized_pnl for f in ExecutionFill.objects.all()) == Decimal("-2.46")


def test_short_uses_the_engines_figure_when_it_sends_one() -> None:
    execution_fill_record(event=fill(event_id="s1", symbol="ETHUSDT", action="sell",
                                     filled_quantity=0.5, avg_price=2500, commission=0.2))
    closed = execution_fill_record(event=fill(
        event_id="s2", symbol="ETHUSDT", action="close", side="BUY", filled_quantity=0.5,
        avg_price=2475, commission=0.3, realized_pnl=12.5, position_side="SHORT"))
    assert closed is not None
    assert (closed.position_side, closed.pnl_source, closed.realized_pnl) == (
        "SHORT", "event", Decimal("12.2"))
    assert BookPosition.objects.get(symbol="ETHUSDT", side="SHORT").quantity == 0


def test_each_event_counts_once_and_non_fills_are_ignored() -> None:
    event = fill(event_id="dup", action="buy", filled_quantity=0.01, avg_price=100)
    assert execution_fill_record(event=event) is not None
    assert execution_fill_record(event=event) is None
    no_id = fill(action="buy", filled_quantity=0.01, avg_price=100, order_id=9)
    assert execution_fill_record(event=no_id) is not None
    assert execution_fill_record(event=dict(no_id)) is None  # same content, same digest
    assert execution_fill_record(event=fill(status="new", action="buy", quantity=1,
                                            price=1)) is None
    assert execution_fill_record(event=fill(event_id="z", action="buy",
                                            filled_quantity=0)) is None
    assert ExecutionFill.objects.count() == 2
