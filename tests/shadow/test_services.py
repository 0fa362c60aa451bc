"""Blocked decisions -> shadow positions -> horizon marks, against PostgreSQL and real candles."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from nurse.models import ShadowCursor, ShadowMark, ShadowPosition
from nurse.shadow.prices import CandleFileSource
from nurse.shadow.services import (
    DECISIONS_CURSOR,
    shadow_positions_mark,
    shadow_positions_scan,
)
from tests.shadow.conftest import BTC, RecordFn, utc

pytestmark = pytest.mark.django_db

CRASH = utc(2021, 5, 19, 12, 0)
LATER = utc(2021, 5, 25)


def test_only_countable_blocked_entries_become_shadows(record: RecordFn) -> None:
    kept = record(received=CRASH)
    record(received=CRASH, outcome="approved", codes=())
    record(received=CRASH, action="close", codes=("STATE_HALTED",))
    record(received=CRASH, codes=("DUPLICATE_SIGNAL_ID",))
    record(received=CRASH, codes=("DUPLICATE_CONTENT", "CONFIG_SIZE_ABOVE_MAX"))
    record(received=CRASH, codes=("GATE_TIMEOUT",))
    record(received=CRASH, codes=("CONTRACT_MISSING_FIELD",))
    record(received=CRASH, codes=("EXPOSURE_UNKNOWN_SIZE",), quantity=0.0)
    short = record(received=CRASH, action="sell",
                   codes=("STATE_REDUCING", "REGIME_VOLATILITY_EXTREME"))
    assert shadow_positions_scan() == 2
    positions = {p.decision_id: p for p in ShadowPosition.objects.all()}
    assert set(positions) == {kept.decision_id, short.decision_id}
    long_pos = positions[kept.decision_id]
    assert (long_pos.side, long_pos.quantity, long_pos.intent_price) == (
        "LONG", Decimal("0.01"), Decimal("38700"))
    assert long_pos.stop_loss == Decimal("34830")
    assert long_pos.policy_version == 7
    assert positions[short.decision_id].side == "SHORT"
    assert positions[short.decision_id].primary_reason == "STATE_REDUCING"


def test_scan_is_idempotent_and_resumes_from_its_cursor(record: RecordFn) -> None:
    for _ in range(5):
        record(received=CRASH)
    assert shadow_positions_scan(batch=2) == 2
    assert shadow_positions_scan(batch=2) == 2
    # A "restart": the cursor is in the database; the rest is picked up, nothing twice.
    assert shadow_positions_scan() == 1
    assert shadow_positions_scan() == 0
    assert ShadowPosition.objects.count() == 5
    cursor = ShadowCursor.objects.get(name=DECISIONS_CURSOR)
    ShadowCursor.objects.filter(pk=cursor.pk).update(position=0)  # even a rewound cursor
    assert shadow_positions_scan() == 0
    assert ShadowPosition.objects.count() == 5


def test_scan_waits_for_recently_stored_records(record: RecordFn, settings: Any) -> None:
    settings.SHADOW_SCAN_LAG_S = 30.0
    now = utc(2021, 5, 19, 13, 0)
    record(received=CRASH, stored_at=now - dt.timedelta(seconds=60))
    record(received=CRASH, stored_at=now - dt.timedelta(seconds=5))
    assert shadow_positions_scan(now=now) == 1
    assert shadow_positions_scan(now=now + dt.timedelta(seconds=60)) == 1


def test_marking_stores_every_horizon_from_real_candles(record: RecordFn) -> None:
    # A long blocked at 12:00 with SL 38000 / TP 39200: TP in the first bar (see
    # test_marking), so every horizon holds the same result.
    record(received=CRASH, payload={"stop_loss": 38000.0, "take_profit": 39200.0})
    shadow_positions_scan()
    stats = shadow_positions_mark(now=LATER)
    assert (stats.positions, stats.marks, stats.completed) == (1, 4, 1)
    pos = ShadowPosition.objects.get()
    assert pos.status == ShadowPosition.Status.COMPLETE
    assert pos.entry_price == Decimal("38700")
    assert pos.entry_source == "candle_files"
    marks = list(pos.marks.order_by("horizon_h"))
    assert [m.horizon_h for m in marks] == [1, 4, 24, 48]
    assert {(m.exit_reason, m.pnl, m.quality) for m in marks} == {
        ("tp", Decimal("4.221"), "candles")}
    # Marking again changes nothing.
    assert shadow_positions_mark(now=LATER).marks == 0


def test_due_horizons_only_then_the_rest_later(record: RecordFn) -> None:
    received = utc(2021, 5, 16)
    record(received=received, price=46762.99,
           payload={"stop_loss": 40000.0, "take_profit": 50000.0})
    shadow_positions_scan()
    stats = shadow_positions_mark(now=received + dt.timedelta(hours=1))
    # The 1 h horizon is due; prices exist for all of them, yet the future is not marked:
    # the source only answers up to "now".
    assert stats.marks == 1
    pos = ShadowPosition.objects.get()
    assert pos.status == ShadowPosition.Status.OPEN
    assert pos.next_due_at == received + dt.timedelta(hours=4)
    assert ShadowMark.objects.get().pnl == Decimal("4.2639358")
    assert shadow_positions_mark(now=received + dt.timedelta(hours=2)).positions == 0
    shadow_positions_mark(now=LATER)
    assert [m.pnl for m in ShadowMark.objects.order_by("horizon_h")] == [
        Decimal("4.2639358"), Decimal("15.2532355"), Decimal("-4.2468449"),
        Decimal("-33.1525103")]


def test_missing_price_is_retried_then_left_unmarked(record: RecordFn, settings: Any,
                                                     tmp_path: Any) -> None:
    # The candle file stops at 16 May 01:00: 1 h is markable, the rest never is.
    short = tmp_path / "binance_spot_BTCUSDT_5m_short.csv"
    lines = BTC.read_text().splitlines()
    short.write_text("\n".join(lines[: 1 + 288 + 12]) + "\n")
    settings.SHADOW_CANDLE_FILES = [f"BTCUSDT={short}"]
    settings.SHADOW_GIVE_UP_H = 24.0
    received = utc(2021, 5, 16)
    record(received=received, price=46762.99,
           payload={"stop_loss": 40000.0, "take_profit": 50000.0})
    shadow_positions_scan()
    now = received + dt.timedelta(hours=5)
    stats = shadow_positions_mark(now=now)
    assert (stats.marks, stats.waiting) == (1, 1)
    pos = ShadowPosition.objects.get()
    assert pos.status == ShadowPosition.Status.OPEN
    assert pos.next_due_at == now + dt.timedelta(seconds=settings.SHADOW_RETRY_S)
    # Three days later, still nothing: the position is closed as incomplete, the missing
    # horizons have no mark at all (never an invented price).
    stats = shadow_positions_mark(now=received + dt.timedelta(hours=48 + 24))
    assert stats.gave_up == 1
    pos.refresh_from_db()
    assert pos.status == ShadowPosition.Status.INCOMPLETE
    assert "[4, 24, 48]" in pos.last_note
    assert list(pos.marks.values_list("horizon_h", flat=True)) == [1]


def test_sources_are_tried_in_order_and_candles_beat_samples(record: RecordFn) -> None:
    record(received=CRASH, payload={"stop_loss": 38000.0, "take_profit": 39200.0})
    shadow_positions_scan()

    class Empty:
        name = "empty"

        def fetch(self, symbol: str, start_ms: int, end_ms: int) -> None:
            return None

    stats = shadow_positions_mark(now=LATER, sources=[Empty(), CandleFileSource()])
    assert stats.by_source == {"candle_files": 4}


def test_a_bar_still_forming_is_not_used(record: RecordFn) -> None:
    # The 12:00 bar reaches the target, but at 12:03 it has not closed: its high/low are
    # not final, so nothing is marked until 12:05.
    record(received=CRASH, payload={"stop_loss": 38000.0, "take_profit": 39200.0})
    shadow_positions_scan()
    ShadowPosition.objects.update(next_due_at=CRASH)
    assert shadow_positions_mark(now=CRASH + dt.timedelta(minutes=3)).marks == 0
    ShadowPosition.objects.update(next_due_at=CRASH)
    assert shadow_positions_mark(now=CRASH + dt.timedelta(minutes=5)).marks == 4
