"""Shadow writes: turn blocked decisions into positions, mark them, record engine fills.

``shadow_positions_scan`` (Celery beat, every minute):
1. locks the ``decisions`` cursor row (one scanner at a time; a restart resumes from it);
2. reads decision records after the cursor in id order, stopping at the first one stored
   less than ``SHADOW_SCAN_LAG_S`` ago (a transaction still open may yet commit a lower id);
3. creates a shadow position for each blocked entry that counts (``nurse.shadow.codes``),
   idempotently (one per decision), and moves the cursor past what it read.

``shadow_positions_mark`` (same beat tick):
1. claims due open positions (``next_due_at`` passed) with ``SKIP LOCKED``;
2. fetches candles per symbol from the price sources in order and runs the reference
   simulation (``nurse.shadow.marking``) for every unmarked horizon;
3. stores each horizon that could be decided once (never overwritten) and schedules the
   next attempt; after ``SHADOW_GIVE_UP_H`` without a price the position is closed as
   ``incomplete`` with the horizons left unmarked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from nurse.models import (
    BookPosition,
    DecisionRecord,
    ExecutionFill,
    ShadowCursor,
    ShadowMark,
    ShadowPosition,
)
from nurse.shadow.codes import ENTRY_ACTIONS, counts_as_shadow
from nurse.shadow.marking import HOUR_MS, CandleSeries, Costs, ShadowSpec, simulate
from nurse.shadow.prices import PriceSource, price_sources

logger = logging.getLogger(__name__)

DECISIONS_CURSOR = "shadow.decisions"
_Q12 = Decimal("0.000000000001")


def shadow_costs() -> Costs:
    return Costs(fee_rate=Decimal(str(settings.SHADOW_FEE_RATE)),
                 slippage=Decimal(str(settings.SHADOW_SLIPPAGE_BPS)) / Decimal(10_000))


def shadow_horizons() -> list[int]:
    return sorted({int(h) for h in settings.SHADOW_HORIZONS_H})


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _positive(value: Any) -> Decimal | None:
    number = _dec(value)
    return number if number is not None and number > 0 else None


def shadow_position_from_record(record: DecisionRecord) -> ShadowPosition | None:
    """The shadow position for one decision record, or None when it does not count."""
    codes = [str(c) for c in (record.reason_codes or [])]
    if record.outcome != DecisionRecord.Outcome.BLOCKED or not counts_as_shadow(
            record.action, codes):
        return None
    payload = record.payload if isinstance(record.payload, dict) else {}
    price = _positive(record.price) or _positive(payload.get("current_price"))
    if price is None:
        return None
    quantity = _positive(record.quantity)
    if quantity is None:
        notional = _positive(record.notional)
        if notional is None:
            return None  # no size: a PnL would need an invented one
        quantity = (notional / price).quantize(_Q12)
    horizons = shadow_horizons()
    return ShadowPosition(
        decision_id=record.decision_id, strategy_id=record.strategy_id, symbol=record.symbol,
        side=ENTRY_ACTIONS[record.action], quantity=quantity, intent_price=price,
        notional=(quantity * price).quantize(_Q12),
        stop_loss=_positive(payload.get("stop_loss")),
        take_profit=_positive(payload.get("take_profit")),
        stop_loss_pct=_positive(payload.get("stop_loss_pct")),
        take_profit_pct=_positive(payload.get("take_profit_pct")),
        reason_codes=codes, primary_reason=codes[0] if codes else "UNKNOWN",
        policy_version=record.policy_version, blocked_at=record.received_at,
        next_due_at=record.received_at + dt.timedelta(hours=horizons[0]),
    )


def shadow_positions_scan(*, now: dt.datetime | None = None, batch: int | None = None) -> int:
    """Steps 1-3 of the module docstring; returns how many positions were created."""
    now = now or timezone.now()
    batch = batch or settings.SHADOW_SCAN_BATCH
    settled = now - dt.timedelta(seconds=settings.SHADOW_SCAN_LAG_S)
    with transaction.atomic():
        cursor, _ = ShadowCursor.objects.select_for_update().get_or_create(
            name=DECISIONS_CURSOR)
        rows = list(DecisionRecord.objects.filter(pk__gt=cursor.position).order_by("pk")
                    .only("pk", "decision_id", "strategy_id", "symbol", "action", "quantity",
                          "price", "notional", "outcome", "reason_codes", "policy_version",
                          "received_at", "payload", "stored_at")[:batch])
        read = []
        for row in rows:
            if row.stored_at > settled:
                break
            read.append(row)
        if not read:
            return 0
        positions = [p for p in map(shadow_position_from_record, read) if p is not None]
        existing = set(ShadowPosition.objects.filter(
            decision_id__in=[p.decision_id for p in positions]).values_list(
                "decision__decision_id", flat=True))
        new = [p for p in positions if p.decision_id not in existing]
        ShadowPosition.objects.bulk_create(new, ignore_conflicts=True)
        cursor.position = read[-1].pk
        cursor.save(update_fields=["position", "updated_at"])
    return len(new)


@dataclass(slots=True)
class MarkStats:
    """What one marking pass did."""

    positions: int = 0
    marks: int = 0
    completed: int = 0
    gave_up: int = 0
    waiting: int = 0
    by_source: dict[str, int] = field(default_factory=dict)


def _spec(pos: ShadowPosition) -> ShadowSpec:
    return ShadowSpec(
        side=1 if pos.side == ShadowPosition.Side.LONG else -1, quantity=pos.quantity,
        opened_ms=int(pos.blocked_at.timestamp() * 1000), stop_loss=pos.stop_loss,
        take_profit=pos.take_profit, stop_loss_pct=pos.stop_loss_pct,
        take_profit_pct=pos.take_profit_pct)


def _ms_to_dt(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def shadow_positions_mark(*, now: dt.datetime | None = None, limit: int | None = None,
                          sources: list[PriceSource] | None = None) -> MarkStats:
    """Steps 1-3 of the module docstring for up to ``limit`` due positions."""
    now = now or timezone.now()
    limit = limit or settings.SHADOW_MARK_BATCH
    sources = sources if sources is not None else price_sources()
    horizons = shadow_horizons()
    costs = shadow_costs()
    stats = MarkStats()
    now_ms = int(now.timestamp() * 1000)
    with transaction.atomic():
        due = list(ShadowPosition.objects.select_for_update(skip_locked=True)
                   .filter(status=ShadowPosition.Status.OPEN, next_due_at__lte=now)
                   .order_by("next_due_at")[:limit])
        if not due:
            return stats
        marked: dict[int, set[int]] = defaultdict(set)
        for pos_id, h in ShadowMark.objects.filter(position__in=due).values_list(
                "position_id", "horizon_h"):
            marked[pos_id].add(h)
        by_symbol: dict[str, list[ShadowPosition]] = defaultdict(list)
        for pos in due:
            by_symbol[pos.symbol].append(pos)
        new_marks: list[ShadowMark] = []
        for symbol, positions in sorted(by_symbol.items()):
            start = min(int(p.blocked_at.timestamp() * 1000) for p in positions)
            end = min(now_ms, max(int(p.blocked_at.timestamp() * 1000) for p in positions)
                      + horizons[-1] * HOUR_MS)
            series: list[CandleSeries] = []
            for source in sources:
                found = source.fetch(symbol, start, end)
                if found is None:
                    continue
                # Only bars closed by now: a bar still forming has no final high/low.
                closed = tuple(c for c in found.candles
                               if c.open_ms + found.interval_ms <= now_ms)
                if closed:
                    series.append(CandleSeries(found.interval_ms, closed, found.source,
                                               found.quality))
            for pos in positions:
                stats.positions += 1
                new_marks.extend(_mark_position(pos, series, horizons, marked[pos.pk], costs,
                                                now, stats))
        ShadowMark.objects.bulk_create(new_marks, ignore_conflicts=True)
        for pos in due:
            pos.save(update_fields=["entry_price", "entry_source", "status", "next_due_at",
                                    "attempts", "last_note"])
    stats.marks = len(new_marks)
    return stats


def _mark_position(pos: ShadowPosition, series: list[CandleSeries], horizons: list[int],
                   done: set[int], costs: Costs, now: dt.datetime, stats: MarkStats
                   ) -> list[ShadowMark]:
    spec = _spec(pos)
    todo = [h for h in horizons if h not in done]
    notes: list[str] = []
    created: list[ShadowMark] = []
    for found in series:
        if not todo:
            break
        outcome = simulate(spec, found, todo, costs, entry_price=pos.entry_price)
        if outcome.entry_price is None:
            notes.append(outcome.note)
            continue
        if pos.entry_price is None:
            pos.entry_price = outcome.entry_price
            pos.entry_source = found.source
        for h, mark in sorted(outcome.marks.items()):
            note = mark.note
            if found.quality != "candles":
                note = ("built from last-price samples: touches between samples are not "
                        "seen" + (f"; {note}" if note else ""))
            created.append(ShadowMark(
                position=pos, horizon_h=h, exit_reason=mark.exit_reason,
                exit_price=mark.exit_price, exit_at=_ms_to_dt(mark.exit_at_ms),
                entry_fill=mark.entry_fill, exit_fill=mark.exit_fill, fees=mark.fees,
                pnl=mark.pnl, ret=mark.ret, source=found.source, quality=found.quality,
                note=note[:300]))
            stats.by_source[found.source] = stats.by_source.get(found.source, 0) + 1
            done.add(h)
        todo = [h for h in todo if h not in done]
    pos.attempts += 1
    if not todo:
        pos.status = ShadowPosition.Status.COMPLETE
        pos.last_note = ""
        stats.completed += 1
        return created
    give_up_at = pos.blocked_at + dt.timedelta(hours=max(todo) + settings.SHADOW_GIVE_UP_H)
    if now >= give_up_at:
        pos.status = ShadowPosition.Status.INCOMPLETE
        pos.last_note = (f"no price for horizons {todo} after {settings.SHADOW_GIVE_UP_H} h; "
                         "left unmarked")[:300]
        stats.gave_up += 1
        return created
    next_horizon = pos.blocked_at + dt.timedelta(hours=min(todo))
    retry = now + dt.timedelta(seconds=settings.SHADOW_RETRY_S)
    pos.next_due_at = max(next_horizon, retry) if next_horizon > now else retry
    pos.last_note = ("; ".join(n for n in notes if n) or
                     f"waiting for prices up to horizon {min(todo)} h")[:300]
    stats.waiting += 1
    return created


# -- actual PnL from the engine's execution events ---------------------------------------------

_FILLED = {"filled", "partially_filled", "FILLED", "PARTIALLY_FILLED", "fill", "executed"}
_SIDE_OF_ACTION = {"buy": "LONG", "sell": "SHORT"}


def _event_time(event: dict[str, Any]) -> dt.datetime:
    value = event.get("timestamp") or event.get("filled_at") or event.get("time")
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value >= 1e11 else value
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return timezone.now()
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return timezone.now()


def _event_key(event: dict[str, Any]) -> str:
    for name in ("event_id", "execution_id", "trade_id", "fill_id"):
        value = event.get(name)
        if value not in (None, ""):
            return f"{name}:{value}"[:80]
    digest = hashlib.blake2b(json.dumps(event, sort_keys=True, default=str).encode(),
                             digest_size=20).hexdigest()
    return f"digest:{digest}"


def execution_fill_record(*, event: dict[str, Any]) -> ExecutionFill | None:
    """Store one fill event once and the PnL it realises; None when it is not a fill.

    1. The fill is read like the gate's ledger reads it (``status``/``event_type``,
       ``filled_quantity``/``quantity``, ``avg_price``/``price``, ``action``,
       ``reduce_only``); ``position_side`` (LONG/SHORT) or the action names the side.
    2. The engine's own ``realized_pnl`` (or ``realizedPnl``/``rp``) wins when present;
       otherwise an average-cost book per (strategy, symbol, side) computes it.
    3. Fees (``commission``/``fee``) are subtracted: entries realise ``-fee``."""
    status = event.get("status") or event.get("event_type")
    if status not in _FILLED or not event.get("strategy_id") or not event.get("symbol"):
        return None
    qty = _positive(event.get("filled_quantity") or event.get("quantity"))
    price = _positive(event.get("avg_price") or event.get("price"))
    if qty is None or price is None:
        return None
    meta: dict[str, Any] = event["metadata"] if isinstance(event.get("metadata"), dict) else {}
    action = str(event.get("action") or "").lower()
    reducing = action == "close" or bool(event.get("reduce_only"))
    strategy_id = str(event["strategy_id"])[:128]
    symbol = str(event["symbol"]).upper()[:32]
    side = str(event.get("position_side") or "").upper()
    if side not in ("LONG", "SHORT"):
        side = _SIDE_OF_ACTION.get(action, "")
        if reducing:
            # A reduce-only buy closes a short; a reduce-only sell closes a long.
            order_side = str(event.get("side") or "").upper()
            side = {"BUY": "SHORT", "SELL": "LONG"}.get(order_side, "")
    fee = _dec(event.get("commission") if event.get("commission") is not None
               else event.get("fee")) or Decimal(0)
    engine_pnl = next((_dec(event[k]) for k in ("realized_pnl", "realizedPnl", "rp")
                       if event.get(k) is not None), None)
    key = _event_key(event)
    try:
        with transaction.atomic():
            if ExecutionFill.objects.filter(event_key=key).exists():
                return None
            if not side:
                side = _open_side(strategy_id, symbol)
            book, _ = BookPosition.objects.select_for_update().get_or_create(
                strategy_id=strategy_id, symbol=symbol, side=side or "LONG")
            sign = 1 if (side or "LONG") == "LONG" else -1
            if reducing:
                closed = min(qty, book.quantity)
                computed = sign * (price - book.avg_price) * closed
                book.quantity -= closed
                if book.quantity == 0:
                    book.avg_price = Decimal(0)
            else:
                total = book.quantity + qty
                book.avg_price = ((book.avg_price * book.quantity + price * qty) / total
                                  ).quantize(_Q12)
                book.quantity = total
                computed = Decimal(0)
            book.save()
            gross = engine_pnl if engine_pnl is not None else computed
            return ExecutionFill.objects.create(
                event_key=key,
                decision_id=str(event.get("decision_id") or meta.get("decision_id") or "")[:40],
                strategy_id=strategy_id, symbol=symbol, position_side=side or "LONG",
                action=action[:8], reducing=reducing, quantity=qty, price=price, fee=fee,
                realized_pnl=(gross - fee).quantize(_Q12),
                pnl_source="event" if engine_pnl is not None else "computed",
                filled_at=_event_time(event), payload=event)
    except IntegrityError:
        return None  # a concurrent writer stored the same event first


def _open_side(strategy_id: str, symbol: str) -> str:
    sides = list(BookPosition.objects.filter(strategy_id=strategy_id, symbol=symbol,
                                             quantity__gt=0).values_list("side", flat=True))
    return sides[0] if len(sides) == 1 else ""
