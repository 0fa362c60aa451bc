"""Trading-state operations: read the state in force; halt, reduce-only or resume a scope."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from governance import envelope, services
from governance.api.ops._out import approval_out, assessments_out, state_out
from governance.api.registry import Call, Operation, Result, register
from governance.api.schemas import (
    EffectiveStateOut,
    SetTradingStateIn,
    StateWriteOut,
    TradingStateQueryIn,
    TradingStateViewOut,
)
from governance.auth import SCOPE_READ, SCOPE_STATE_WRITE
from governance.errors import ValidationFailed
from governance.models import TradingState
from governance.scopes import Scope
from governance.selectors import policy_version_current, trading_state_effective


def get_trading_state(call: Call, args: TradingStateQueryIn) -> Result:
    symbol = Scope.symbol(args.symbol).key if args.symbol else None
    strategy = Scope.strategy(args.strategy_id).key if args.strategy_id else None
    now = timezone.now()
    state, source = trading_state_effective(strategy_id=strategy, symbol=symbol, now=now)
    rows = list(TradingState.objects.order_by("scope_kind", "scope_key"))
    origin = next((r for r in rows if str(state_out(r).scope) == source
                   and r.state == state and (r.expires_at is None or r.expires_at > now)), None)
    return Result(TradingStateViewOut(
        effective=EffectiveStateOut(state=state, scope=source,
                                    expires_at=origin.expires_at if origin else None,
                                    reason=origin.reason if origin else ""),
        scopes=[state_out(r) for r in rows], policy_version=policy_version_current(),
    ))


register(Operation(
    name="get_trading_state", title="Trading state",
    description=(
        "The trading state in force (ACTIVE, REDUCING = only position-reducing intents pass, "
        "HALTED = no new exposure), the most restrictive of global, strategy and symbol, with "
        "its scope, reason and expiry; plus every scope's row. Give symbol and/or "
        "strategy_id to see what applies to them."),
    input=TradingStateQueryIn, output=TradingStateViewOut, scope=SCOPE_READ,
    handler=get_trading_state,
))


def _expiry(args: SetTradingStateIn) -> dt.datetime | None:
    if args.expires_at is not None and args.ttl_seconds is not None:
        raise ValidationFailed("give expires_at or ttl_seconds, not both", code="INVALID_EXPIRY")
    if args.ttl_seconds is not None:
        return timezone.now() + dt.timedelta(seconds=args.ttl_seconds)
    expires = args.expires_at
    if expires is None:
        return None
    if timezone.is_naive(expires):
        expires = timezone.make_aware(expires, dt.UTC)
    if expires <= timezone.now():
        raise ValidationFailed("expires_at must lie in the future", code="INVALID_EXPIRY")
    return expires


def set_trading_state(call: Call, args: SetTradingStateIn) -> Result:
    scope = args.target_scope()
    expires = _expiry(args)
    p = call.principal
    if p.is_agent:
        res = envelope.agent_trading_state_set(
            principal=p.name, scope=scope, state=args.state, reason=args.reason,
            thought_trace=args.thought_trace, expires_at=expires, trace_id=call.trace_id)
        return Result(StateWriteOut(
            status="applied" if res.status == "applied" else "pending_approval",
            message=res.message, state=state_out(res.state) if res.state else None,
            approval=approval_out(res.approval) if res.approval else None,
            assessments=assessments_out(res.assessments),
        ), status=200 if res.status == "applied" else 202)
    row = services.trading_state_set(
        scope=scope, state=args.state, actor=p.name, actor_kind=p.actor_kind,
        reason=args.reason, expires_at=expires, thought_trace=args.thought_trace,
        trace_id=call.trace_id)
    return Result(StateWriteOut(status="applied", message=f"applied: {scope} is {row.state}",
                                state=state_out(row)))


register(Operation(
    name="set_trading_state", title="Halt, reduce-only or resume",
    description=(
        "Set a global, symbol or strategy scope to HALTED (no new exposure), REDUCING (only "
        "position-reducing intents pass) or ACTIVE (resume), with a reason and an optional "
        "expiry (expires_at or ttl_seconds). Halting and reducing apply at once for everyone; "
        "an agent resuming needs `may_resume` in its envelope, otherwise a pending approval "
        "is filed and the result says so. A halt by the protection ladder needs a staff "
        "re-arm. Agents must give a thought_trace of at least 100 characters."),
    input=SetTradingStateIn, output=StateWriteOut, scope=SCOPE_STATE_WRITE,
    handler=set_trading_state, read_only=False, destructive=True, idempotent=False,
    rate_limit_exempt=lambda args: args.state in ("HALTED", "REDUCING"),
))
