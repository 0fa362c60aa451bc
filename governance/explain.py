"""Explain one gate decision: the rules that fired and what would pass now (a selector).

The decision record holds the reasons the gate gave (``CODE`` + ``key=value`` detail) and the
intent as received. Limits are read *now* (config resolved for the intent's scopes, hard
gates, trading state), so the answer says what a resend would face, and notes when the
policy changed since the decision.

Extension points for the gate team (explicit registries, no ``if code == ...`` chains):

* ``register_limit(fn)``: ``fn(ctx) -> list[LimitRow]`` adds limits with their headroom;
* ``register_hint(code)``: ``fn(ctx, values) -> Hint`` says how to get past one reason code.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from governance.errors import CioError, NotFound
from governance.scopes import Scope
from governance.selectors import (
    config_resolve,
    hard_gates_current,
    policy_version_current,
    trading_state_effective,
    trading_states_all,
)
from nurse.models import DecisionRecord


@dataclass(frozen=True, slots=True)
class LimitRow:
    """One limit the intent faces: where it comes from, the observed value, the headroom.

    ``kind`` says how ``what_would_pass`` uses it: ``max_notional`` (caps the order's
    notional at ``headroom + observed``), ``min_notional``, ``min_confidence``,
    ``max_leverage``, ``max_fraction`` or ``flag``.
    """

    name: str
    source: str
    limit: Any
    observed: Any
    headroom: float | None
    passes: bool | None
    unit: str = ""
    kind: str = "flag"
    note: str = ""


@dataclass(frozen=True, slots=True)
class Hint:
    """How to get past one reason: advice and, when it is a matter of time, how long."""

    advice: str
    wait_seconds: float | None = None
    resend_can_pass: bool = True


@dataclass(slots=True)
class ExplainContext:
    """Everything the limit and hint functions read."""

    record: DecisionRecord
    intent: Mapping[str, Any]
    side: str
    params: Mapping[str, Any]
    sources: Mapping[str, str]
    gates: Mapping[str, Any]
    state: str
    state_scope: str
    state_expires_at: dt.datetime | None
    now: dt.datetime
    reasons: list[dict[str, Any]] = field(default_factory=list)

    def reason_values(self, code: str) -> dict[str, str] | None:
        for reason in self.reasons:
            if reason["code"] == code:
                values: dict[str, str] = reason["values"]
                return values
        return None


LimitFn = Callable[[ExplainContext], list[LimitRow]]
HintFn = Callable[[ExplainContext, Mapping[str, str]], Hint]
LIMITS: list[LimitFn] = []
HINTS: dict[str, HintFn] = {}


def register_limit(fn: LimitFn) -> LimitFn:
    LIMITS.append(fn)
    return fn


def register_hint(*codes: str) -> Callable[[HintFn], HintFn]:
    def wrap(fn: HintFn) -> HintFn:
        for code in codes:
            HINTS[code] = fn
        return fn

    return wrap


def parse_detail(detail: str) -> dict[str, str]:
    """``"notional=120 limit=100"`` -> ``{"notional": "120", "limit": "100"}``."""
    values: dict[str, str] = {}
    for token in (detail or "").split():
        key, sep, value = token.partition("=")
        if sep and key:
            values[key] = value
    return values


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _leverage(intent: Mapping[str, Any]) -> float | None:
    for key in ("metadata", "meta"):
        carrier = intent.get(key)
        if isinstance(carrier, Mapping):
            value = _number(carrier.get("leverage"))
            if value is not None:
                return value
    return None


def _cap(name: str, source: str, limit: Any, observed: float | None, unit: str, kind: str,
         note: str = "") -> LimitRow:
    lim = _number(limit)
    if lim is None or observed is None:
        return LimitRow(name, source, limit, observed, None, None, unit, kind, note)
    return LimitRow(name, source, lim, observed, lim - observed, observed <= lim, unit, kind, note)


def _floor(name: str, source: str, limit: Any, observed: float | None, unit: str, kind: str
           ) -> LimitRow:
    lim = _number(limit)
    if lim is None or observed is None:
        return LimitRow(name, source, limit, observed, None, None, unit, kind)
    return LimitRow(name, source, lim, observed, observed - lim, observed >= lim, unit, kind)


@register_limit
def _size_limits(ctx: ExplainContext) -> list[LimitRow]:
    notional = _number(ctx.record.notional)
    src = ctx.sources
    rows = [
        _cap("max_position_size_usd", f"config:{src.get('max_position_size_usd', 'default')}",
             ctx.params.get("max_position_size_usd"), notional, "USD", "max_notional"),
        _cap("max_order_notional_usd", "hard_gate", ctx.gates.get("max_order_notional_usd"),
             notional, "USD", "max_notional"),
        _floor("min_position_size_usd", f"config:{src.get('min_position_size_usd', 'default')}",
               ctx.params.get("min_position_size_usd"), notional, "USD", "min_notional"),
    ]
    pct = _number(ctx.intent.get("position_size_pct"))
    rows.append(_cap("position_size_pct", f"config:{src.get('position_size_pct', 'default')}",
                     ctx.params.get("position_size_pct"), pct, "fraction", "max_fraction"))
    rows.append(_cap("max_position_size_pct", "hard_gate", ctx.gates.get("max_position_size_pct"),
                     pct, "fraction", "max_fraction"))
    return rows


@register_limit
def _exposure_limits(ctx: ExplainContext) -> list[LimitRow]:
    notional = _number(ctx.record.notional) or 0.0
    rows = []
    for name, code in (("max_symbol_exposure_usd", "EXPOSURE_SYMBOL_LIMIT"),
                       ("max_strategy_exposure_usd", "EXPOSURE_STRATEGY_LIMIT"),
                       ("max_fleet_exposure_usd", "EXPOSURE_FLEET_LIMIT")):
        values = ctx.reason_values(code) or {}
        open_now = _number(values.get("open"))
        limit = ctx.params.get(name)
        source = f"config:{ctx.sources.get(name, 'default')}"
        if open_now is None:
            # Open exposure lives in the gate's ledger; without the reason we only know the cap.
            rows.append(_cap(name, source, limit, notional, "USD", "max_notional",
                             note="open exposure unknown here: headroom ignores open positions"))
        else:
            row = _cap(name, source, limit, open_now + notional, "USD", "max_notional",
                       note=f"open exposure {open_now:g} USD at decision time")
            rows.append(LimitRow(row.name, row.source, row.limit, notional,
                                 None if row.headroom is None else row.headroom,
                                 row.passes, row.unit, row.kind, row.note))
    return rows


@register_limit
def _confidence_and_leverage(ctx: ExplainContext) -> list[LimitRow]:
    confidence = _number(ctx.intent.get("confidence"))
    leverage = _leverage(ctx.intent)
    bound = min(_number(ctx.params.get("max_leverage_bound")) or math.inf,
                _number(ctx.params.get("leverage")) or math.inf)
    return [
        _floor("min_confidence_threshold",
               f"config:{ctx.sources.get('min_confidence_threshold', 'default')}",
               ctx.params.get("min_confidence_threshold"), confidence, "fraction",
               "min_confidence"),
        _floor("min_confidence", "hard_gate", ctx.gates.get("min_confidence"), confidence,
               "fraction", "min_confidence"),
        _cap("leverage", f"config:{ctx.sources.get('leverage', 'default')}",
             None if math.isinf(bound) else bound, leverage, "x", "max_leverage"),
        _cap("max_leverage", "hard_gate", ctx.gates.get("max_leverage"), leverage, "x",
             "max_leverage"),
    ]


@register_limit
def _flags(ctx: ExplainContext) -> list[LimitRow]:
    p, symbol = ctx.params, ctx.record.symbol
    rows = [LimitRow("enabled", "config", p.get("enabled", True), None, None,
                     bool(p.get("enabled", True)))]
    if ctx.side:
        key = "enable_longs" if ctx.side == "LONG" else "enable_shorts"
        rows.append(LimitRow(key, "config", p.get(key, True), ctx.side, None,
                             bool(p.get(key, True))))
    for name, source, allowed in (("allowed_symbols", "config", p.get("allowed_symbols") or []),
                                  ("allowed_symbols", "hard_gate",
                                   ctx.gates.get("allowed_symbols") or [])):
        rows.append(LimitRow(name, source, allowed or "any", symbol, None,
                             not allowed or symbol in allowed))
    rows.append(LimitRow("trading_state", ctx.state_scope, ctx.state, ctx.record.action, None,
                         ctx.state == "ACTIVE" or ctx.record.action == "close"))
    return rows


# --- hints per reason code ------------------------------------------------------------------


def _seconds_until(ctx: ExplainContext) -> float | None:
    if ctx.state_expires_at is None:
        return None
    return max(0.0, (ctx.state_expires_at - ctx.now).total_seconds())


@register_hint("STATE_HALTED", "STATE_REDUCING")
def _state_hint(ctx: ExplainContext, values: Mapping[str, str]) -> Hint:
    if ctx.state == "ACTIVE":
        return Hint("the scope is ACTIVE again: a resend faces the other checks only")
    wait = _seconds_until(ctx)
    if wait is None:
        return Hint(f"{ctx.state_scope} is {ctx.state} with no expiry: only close (reducing) "
                    "intents pass until someone resumes it", resend_can_pass=False)
    return Hint(f"{ctx.state_scope} is {ctx.state} until {ctx.state_expires_at}", wait)


@register_hint("RATE_ORDERS_PER_MINUTE")
def _rate_minute(ctx: ExplainContext, values: Mapping[str, str]) -> Hint:
    return Hint("the per-minute order budget was used up; it refills within a minute", 60.0)


@register_hint("RATE_DAILY_TRADES")
def _rate_day(ctx: ExplainContext, values: Mapping[str, str]) -> Hint:
    return Hint("the daily trade budget was used up; it refills as the 24 h window rolls",
                86400.0)


@register_hint("DUPLICATE_SIGNAL_ID", "DUPLICATE_CONTENT")
def _duplicate(ctx: ExplainContext, values: Mapping[str, str]) -> Hint:
    window = float(getattr(settings, "NURSE_DEDUP_WINDOW_S", 60))
    age = (ctx.now - ctx.record.decided_at).total_seconds()
    return Hint("an identical intent was already decided; send a new signal id or content",
                max(0.0, window - age))


@register_hint("CONFIG_SIGNAL_STALE", "CONTRACT_STALE")
def _stale(ctx: ExplainContext, values: Mapping[str, str]) -> Hint:
    return Hint("re-stamp the intent with a fresh timestamp; age is measured on arrival")


@register_hint("GATE_TIMEOUT", "GATE_OVERLOAD", "EXPOSURE_STATE_UNAVAILABLE", "POLICY_MISSING",
               "EXCHANGE_INFO_UNAVAILABLE", "EXPOSURE_NO_POSITIONS")
def _transient(ctx: ExplainContext, values: Mapping[str, str]) -> Hint:
    return Hint("a transient condition of the gate: a resend may pass once it clears", 5.0)


def _default_hint(code: str) -> Hint:
    if code.startswith(("HARD_", "CONFIG_", "EXPOSURE_", "REGIME_", "EXCHANGE_")):
        return Hint("change the intent to fit the limits below (see what_would_pass)")
    if code.startswith("CONTRACT_"):
        return Hint("the payload breaks the intent contract: fix it and resend")
    return Hint("see the limits below")


# --- the selector -------------------------------------------------------------------------


def _context(record: DecisionRecord, now: dt.datetime) -> ExplainContext:
    intent = record.payload if isinstance(record.payload, Mapping) else {}
    side = {"buy": "LONG", "sell": "SHORT"}.get(record.action, "")
    try:
        resolved = config_resolve(symbol=record.symbol or None, side=side or None,
                                  strategy_id=record.strategy_id or None)
    except CioError:
        # A rejected payload may carry an invalid symbol or strategy: global limits apply.
        resolved = config_resolve()
    symbol = strategy = None
    try:
        symbol = Scope.symbol(record.symbol).key if record.symbol else None
        strategy = Scope.strategy(record.strategy_id).key if record.strategy_id else None
    except CioError:
        pass
    state, state_scope = trading_state_effective(strategy_id=strategy, symbol=symbol, now=now)
    expires = None
    for scope, row in trading_states_all(now=now).items():
        if str(scope) == state_scope and row.state == state:
            expires = row.expires_at
    reasons = [
        {"code": str(r.get("code", "")), "detail": str(r.get("detail", "")),
         "values": parse_detail(str(r.get("detail", "")))}
        for r in (record.reasons or []) if isinstance(r, Mapping)
    ]
    return ExplainContext(
        record=record, intent=intent, side=side, params=resolved.params,
        sources=resolved.sources, gates=hard_gates_current(), state=state,
        state_scope=state_scope, state_expires_at=expires, now=now, reasons=reasons,
    )


def _what_would_pass(ctx: ExplainContext, limits: list[LimitRow]) -> dict[str, Any]:
    notional = _number(ctx.record.notional) or 0.0
    caps = [(row.headroom + notional, row) for row in limits
            if row.kind == "max_notional" and row.headroom is not None]
    max_notional, binding = min(caps, key=lambda c: c[0]) if caps else (None, None)
    floors = [row.limit for row in limits if row.kind == "min_notional"
              and _number(row.limit) is not None]
    price = _number(ctx.record.price) or _number(ctx.intent.get("current_price"))
    confidences = [row.limit for row in limits if row.kind == "min_confidence"
                   and _number(row.limit) is not None]
    leverages = [row.limit for row in limits if row.kind == "max_leverage"
                 and _number(row.limit) is not None]
    hints = []
    for reason in ctx.reasons:
        fn = HINTS.get(reason["code"])
        hint = fn(ctx, reason["values"]) if fn else _default_hint(reason["code"])
        hints.append({"code": reason["code"], **asdict(hint)})
    waits = [h["wait_seconds"] for h in hints if h["wait_seconds"] is not None]
    blocked_flags = [row.name for row in limits if row.kind == "flag" and row.passes is False]
    return {
        "max_notional_usd": None if max_notional is None else max(0.0, max_notional),
        "binding_limit": None if binding is None else f"{binding.name} ({binding.source})",
        "max_quantity": (None if max_notional is None or not price
                         else max(0.0, max_notional) / price),
        "min_notional_usd": max(floors) if floors else None,
        "min_confidence": max(confidences) if confidences else None,
        "max_leverage": min(leverages) if leverages else None,
        "wait_seconds": max(waits) if waits else None,
        "blocked_by": blocked_flags,
        "hints": hints,
    }


def decision_explain(*, decision_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Why a decision came out as it did, and what a resend would need to pass now."""
    record = DecisionRecord.objects.filter(decision_id=decision_id).first()
    if record is None:
        raise NotFound(f"no decision {decision_id!r}", code="DECISION_NOT_FOUND")
    now = now or timezone.now()
    ctx = _context(record, now)
    limits = [row for fn in LIMITS for row in fn(ctx)]
    policy_now = policy_version_current()
    return {
        "decision_id": record.decision_id,
        "outcome": record.outcome,
        "strategy_id": record.strategy_id,
        "symbol": record.symbol,
        "action": record.action,
        "side": ctx.side or None,
        "notional": record.notional,
        "decided_at": record.decided_at.isoformat(),
        "rules_fired": ctx.reasons,
        "policy": {
            "version_at_decision": record.policy_version,
            "version_now": policy_now,
            "changed_since": policy_now != record.policy_version,
        },
        "trading_state": {
            "state": ctx.state,
            "scope": ctx.state_scope,
            "expires_at": ctx.state_expires_at.isoformat() if ctx.state_expires_at else None,
            "seconds_until_expiry": _seconds_until(ctx),
        },
        "limits": [asdict(row) for row in limits],
        "what_would_pass": _what_would_pass(ctx, limits),
    }
