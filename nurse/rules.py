"""The gate's checks: an ordered registry of pure, in-memory rules.

Each rule reads a ``GateContext`` and appends ``(code, detail)`` reasons; codes are stable
``CATEGORY_CONDITION`` strings. Rules marked ``exposure=True`` guard new exposure only:
position-reducing intents (``close``) skip them, so an outage or a limit never stops a
position from being reduced. Cross-instance checks (duplicates, order rates, exposure
reservations) run afterwards as one atomic Redis script (``nurse.ledger``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nurse.contracts.fast import IntentView
from nurse.policy import CompiledPolicy, ExchangeFilter

Reason = tuple[str, str]


@dataclass(slots=True)
class GateContext:
    """What one decision reads: the intent, its resolved parameters and shared state views."""

    intent: IntentView
    policy: CompiledPolicy
    params: Mapping[str, Any]
    side: str  # LONG / SHORT for entries, "" for close and hold
    reducing: bool
    now: float
    notional: float
    exchange: ExchangeFilter | None
    exchange_loaded: bool
    equity: float | None
    reasons: list[Reason] = field(default_factory=list)

    def block(self, code: str, detail: str) -> None:
        self.reasons.append((code, detail))


RuleFn = Callable[[GateContext], None]


@dataclass(frozen=True, slots=True)
class Rule:
    """A registered check: its name, the codes it may emit, and whether it guards exposure."""

    name: str
    fn: RuleFn
    exposure: bool
    codes: tuple[str, ...]


RULES: list[Rule] = []


def register_rule(name: str, *, codes: tuple[str, ...], exposure: bool = True
                  ) -> Callable[[RuleFn], RuleFn]:
    def wrap(fn: RuleFn) -> RuleFn:
        RULES.append(Rule(name=name, fn=fn, exposure=exposure, codes=codes))
        return fn

    return wrap


def all_reason_codes() -> frozenset[str]:
    return frozenset(code for rule in RULES for code in rule.codes)


def _fmt(value: float) -> str:
    return f"{value:.10g}"


@register_rule("trading_state", codes=("STATE_HALTED", "STATE_REDUCING"))
def check_trading_state(ctx: GateContext) -> None:
    state, source = ctx.policy.state_for(ctx.intent.strategy_id, ctx.intent.symbol, ctx.now)
    if state == "HALTED":
        ctx.block("STATE_HALTED", f"scope={source} state=HALTED")
    elif state == "REDUCING":
        ctx.block("STATE_REDUCING", f"scope={source} state=REDUCING only_reducing=true")


def _leverage_of(intent: IntentView) -> float | None:
    for carrier in (intent.metadata, intent.meta):
        value = carrier.get("leverage") if isinstance(carrier, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


@register_rule("hard_gates", codes=("HARD_SYMBOL_NOT_ALLOWED", "HARD_ORDER_NOTIONAL",
                                    "HARD_LEVERAGE", "HARD_POSITION_SIZE_PCT",
                                    "HARD_MIN_CONFIDENCE"))
def check_hard_gates(ctx: GateContext) -> None:
    gates = ctx.policy.hard_gates
    intent = ctx.intent
    allowed = ctx.policy.hard_allowed_symbols
    if allowed and intent.symbol not in allowed:
        ctx.block("HARD_SYMBOL_NOT_ALLOWED", f"symbol={intent.symbol}")
    limit = gates.get("max_order_notional_usd")
    if limit is not None and ctx.notional > limit:
        ctx.block("HARD_ORDER_NOTIONAL", f"notional={_fmt(ctx.notional)} limit={_fmt(limit)}")
    leverage = _leverage_of(intent)
    max_leverage = gates.get("max_leverage")
    if leverage is not None and max_leverage is not None and leverage > max_leverage:
        ctx.block("HARD_LEVERAGE", f"leverage={_fmt(leverage)} limit={max_leverage}")
    pct_limit = gates.get("max_position_size_pct")
    pct = intent.position_size_pct
    if pct is not None and pct_limit is not None and pct > pct_limit:
        ctx.block("HARD_POSITION_SIZE_PCT", f"position_size_pct={pct} limit={pct_limit}")
    floor = gates.get("min_confidence")
    if floor is not None and intent.confidence < floor:
        ctx.block("HARD_MIN_CONFIDENCE", f"confidence={intent.confidence} floor={floor}")


@register_rule("config", codes=(
    "CONFIG_DISABLED", "CONFIG_LONGS_DISABLED", "CONFIG_SHORTS_DISABLED",
    "CONFIG_SYMBOL_NOT_ALLOWED", "CONFIG_CONFIDENCE_LOW", "CONFIG_SIGNAL_STALE",
    "CONFIG_SIZE_ABOVE_MAX", "CONFIG_SIZE_BELOW_MIN", "CONFIG_LEVERAGE_OUT_OF_BOUNDS",
    "CONFIG_POSITION_SIZE_PCT_ABOVE_MAX"))
def check_config(ctx: GateContext) -> None:
    p = ctx.params
    intent = ctx.intent
    if not p.get("enabled", True):
        ctx.block("CONFIG_DISABLED", "enabled=false")
    if ctx.side == "LONG" and not p.get("enable_longs", True):
        ctx.block("CONFIG_LONGS_DISABLED", "enable_longs=false")
    if ctx.side == "SHORT" and not p.get("enable_shorts", True):
        ctx.block("CONFIG_SHORTS_DISABLED", "enable_shorts=false")
    allowed = ctx.policy.allowed_symbols(p)
    if allowed and intent.symbol not in allowed:
        ctx.block("CONFIG_SYMBOL_NOT_ALLOWED", f"symbol={intent.symbol}")
    threshold = p.get("min_confidence_threshold")
    if threshold is not None and intent.confidence < threshold:
        ctx.block("CONFIG_CONFIDENCE_LOW",
                  f"confidence={intent.confidence} threshold={threshold}")
    max_age = p.get("max_signal_age_seconds")
    if max_age is not None:
        age = ctx.now - intent.epoch
        if age > max_age:
            ctx.block("CONFIG_SIGNAL_STALE", f"age_s={age:.3f} max_age_s={max_age}")
    max_usd = p.get("max_position_size_usd")
    if max_usd is not None and ctx.notional > max_usd:
        ctx.block("CONFIG_SIZE_ABOVE_MAX", f"notional={_fmt(ctx.notional)} max={_fmt(max_usd)}")
    min_usd = p.get("min_position_size_usd")
    if min_usd is not None and 0 < ctx.notional < min_usd:
        ctx.block("CONFIG_SIZE_BELOW_MIN", f"notional={_fmt(ctx.notional)} min={_fmt(min_usd)}")
    pct = intent.position_size_pct
    max_pct = p.get("position_size_pct")
    if pct is not None and max_pct is not None and pct > max_pct:
        ctx.block("CONFIG_POSITION_SIZE_PCT_ABOVE_MAX", f"position_size_pct={pct} max={max_pct}")
    leverage = _leverage_of(intent)
    if leverage is not None:
        bound = min(p.get("max_leverage_bound") or math.inf, p.get("leverage") or math.inf)
        if leverage < 1 or leverage > bound:
            ctx.block("CONFIG_LEVERAGE_OUT_OF_BOUNDS", f"leverage={_fmt(leverage)} max={bound}")


@register_rule("stops", codes=("CONFIG_STOP_LOSS_MISSING", "CONFIG_TAKE_PROFIT_MISSING",
                               "CONFIG_STOP_LOSS_WRONG_SIDE", "CONFIG_TAKE_PROFIT_WRONG_SIDE"))
def check_stops(ctx: GateContext) -> None:
    """Entries carry a stop-loss and a take-profit on the correct side of the price.

    The engine force-closes live positions missing either (contract fact 9)."""
    if ctx.side == "":
        return
    intent = ctx.intent
    price = intent.current_price
    long = ctx.side == "LONG"
    if intent.stop_loss is None and not intent.stop_loss_pct:
        if ctx.params.get("require_stop_loss", True):
            ctx.block("CONFIG_STOP_LOSS_MISSING", "stop_loss and stop_loss_pct absent")
    elif intent.stop_loss is not None and (intent.stop_loss >= price if long
                                           else intent.stop_loss <= price):
        ctx.block("CONFIG_STOP_LOSS_WRONG_SIDE",
                  f"side={ctx.side} stop_loss={_fmt(intent.stop_loss)} price={_fmt(price)}")
    if intent.take_profit is None and not intent.take_profit_pct:
        if ctx.params.get("require_take_profit", True):
            ctx.block("CONFIG_TAKE_PROFIT_MISSING", "take_profit and take_profit_pct absent")
    elif intent.take_profit is not None and (intent.take_profit <= price if long
                                             else intent.take_profit >= price):
        ctx.block("CONFIG_TAKE_PROFIT_WRONG_SIDE",
                  f"side={ctx.side} take_profit={_fmt(intent.take_profit)} price={_fmt(price)}")


@register_rule("regime", codes=("REGIME_VOLATILITY_EXTREME", "REGIME_SIZE_SCALED_DOWN"))
def check_regime(ctx: GateContext) -> None:
    """Scale down or block new exposure by the symbol's volatility phase (strategist regime).

    Without a regime status for the symbol no scaling applies: the drawdown ladder acts
    through the trading state, which is always present."""
    regime = ctx.policy.regime_for(ctx.intent.symbol)
    if regime is None:
        return
    phase = regime.get("volatility_phase")
    action = ctx.params.get("volatility_extreme_action", "block")
    scale: float | None = None
    if phase == "extreme":
        if action == "block":
            ctx.block("REGIME_VOLATILITY_EXTREME", f"symbol={ctx.intent.symbol} phase=extreme")
            return
        if action == "scale_down":
            scale = ctx.params.get("volatility_high_size_scale", 0.5)
    elif phase == "high":
        scale = ctx.params.get("volatility_high_size_scale", 0.5)
    max_usd = ctx.params.get("max_position_size_usd")
    if scale is not None and max_usd is not None and ctx.notional > max_usd * scale:
        ctx.block("REGIME_SIZE_SCALED_DOWN",
                  f"phase={phase} notional={_fmt(ctx.notional)} max={_fmt(max_usd * scale)}")


@register_rule("sizing", codes=("EXPOSURE_UNKNOWN_SIZE",))
def check_sizing(ctx: GateContext) -> None:
    if ctx.notional <= 0 and ctx.intent.action in ("buy", "sell"):
        ctx.block("EXPOSURE_UNKNOWN_SIZE",
                  "position_size_pct sizing needs a known equity; none is available")


def _off_grid(value: float, step: float) -> bool:
    if step <= 0:
        return False
    ratio = value / step
    return abs(ratio - round(ratio)) > 1e-9 * max(1.0, abs(ratio))


@register_rule("exchange_filters", codes=(
    "EXCHANGE_INFO_UNAVAILABLE", "EXCHANGE_UNKNOWN_SYMBOL", "EXCHANGE_SYMBOL_NOT_TRADING",
    "EXCHANGE_LOT_STEP", "EXCHANGE_MIN_QTY", "EXCHANGE_MAX_QTY", "EXCHANGE_MIN_NOTIONAL",
    "EXCHANGE_TICK_SIZE"))
def check_exchange_filters(ctx: GateContext) -> None:
    if not ctx.exchange_loaded:
        ctx.block("EXCHANGE_INFO_UNAVAILABLE", "no exchangeInfo cached")
        return
    f = ctx.exchange
    intent = ctx.intent
    if f is None:
        ctx.block("EXCHANGE_UNKNOWN_SYMBOL", f"symbol={intent.symbol}")
        return
    if f.status != "TRADING":
        ctx.block("EXCHANGE_SYMBOL_NOT_TRADING", f"symbol={intent.symbol} status={f.status}")
    if intent.is_pct_sized and intent.quantity <= 0:
        return  # the engine sizes it; it rounds to the lot step itself
    market = intent.order_type == "market"
    step = f.market_step_size if market else f.step_size
    min_qty = f.market_min_qty if market else f.min_qty
    max_qty = f.market_max_qty if market else f.max_qty
    qty = intent.quantity
    if _off_grid(qty, step):
        ctx.block("EXCHANGE_LOT_STEP", f"quantity={_fmt(qty)} step={_fmt(step)}")
    if qty < min_qty:
        ctx.block("EXCHANGE_MIN_QTY", f"quantity={_fmt(qty)} min={_fmt(min_qty)}")
    if max_qty and qty > max_qty:
        ctx.block("EXCHANGE_MAX_QTY", f"quantity={_fmt(qty)} max={_fmt(max_qty)}")
    if f.min_notional and ctx.notional < f.min_notional:
        ctx.block("EXCHANGE_MIN_NOTIONAL",
                  f"notional={_fmt(ctx.notional)} min={_fmt(f.min_notional)}")
    if not market and _off_grid(intent.price, f.tick_size):
        ctx.block("EXCHANGE_TICK_SIZE", f"price={_fmt(intent.price)} tick={_fmt(f.tick_size)}")


# Codes produced outside the rule list: the parser, the gate itself and the Redis ledger.
GATE_CODES = ("POLICY_MISSING", "GATE_TIMEOUT", "GATE_OVERLOAD", "GATE_ERROR",
              "AUDIT_UNAVAILABLE", "DUPLICATE_SIGNAL_ID", "DUPLICATE_CONTENT",
              "RATE_ORDERS_PER_MINUTE", "RATE_DAILY_TRADES", "EXPOSURE_SYMBOL_LIMIT",
              "EXPOSURE_STRATEGY_LIMIT", "EXPOSURE_FLEET_LIMIT", "EXPOSURE_STATE_UNAVAILABLE",
              "EXPOSURE_NO_POSITIONS")
