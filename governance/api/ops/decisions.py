"""Decision operations: list and filter the gate's decisions, read one, explain one."""

from __future__ import annotations

from django.db import connection
from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast

from governance.api.ops._out import decision_out
from governance.api.registry import Call, Operation, Result, register
from governance.api.schemas import (
    DecisionDetailOut,
    DecisionIdIn,
    DecisionListOut,
    ExplainOut,
    ListDecisionsIn,
)
from governance.auth import SCOPE_READ
from governance.errors import NotFound
from governance.explain import decision_explain
from nurse.models import DecisionRecord


def decisions_filter(args: ListDecisionsIn) -> QuerySet[DecisionRecord]:
    qs = DecisionRecord.objects.all()
    if args.outcome:
        qs = qs.filter(outcome=args.outcome)
    if args.strategy_id:
        qs = qs.filter(strategy_id=args.strategy_id)
    if args.symbol:
        qs = qs.filter(symbol=args.symbol.upper())
    if args.since:
        qs = qs.filter(decided_at__gte=args.since)
    if args.until:
        qs = qs.filter(decided_at__lt=args.until)
    if args.reason_code:
        if connection.vendor == "postgresql":
            qs = qs.filter(reason_codes__contains=[args.reason_code])
        else:
            # SQLite has no JSON containment: match the quoted code in the JSON text.
            qs = qs.annotate(_codes=Cast("reason_codes", CharField())).filter(
                _codes__contains=f'"{args.reason_code}"')
    return qs.order_by("-decided_at", "-pk")


def list_decisions(call: Call, args: ListDecisionsIn) -> Result:
    qs = decisions_filter(args)
    page = list(qs[args.offset : args.offset + args.limit])
    return Result(DecisionListOut(total=qs.count(), limit=args.limit, offset=args.offset,
                                  items=[decision_out(r) for r in page]))


register(Operation(
    name="list_decisions", title="Gate decisions",
    description=(
        "The intent gate's decisions, newest first, filtered by outcome (approved/blocked), "
        "strategy_id, symbol, reason_code (e.g. CONFIG_SIZE_ABOVE_MAX, STATE_HALTED) and "
        "time range. Each has its reasons (code + key=value detail) and policy version."),
    input=ListDecisionsIn, output=DecisionListOut, scope=SCOPE_READ, handler=list_decisions,
))


def get_decision(call: Call, args: DecisionIdIn) -> Result:
    rec = DecisionRecord.objects.filter(decision_id=args.decision_id).first()
    if rec is None:
        raise NotFound(f"no decision {args.decision_id!r}", code="DECISION_NOT_FOUND")
    return Result(decision_out(rec, detail=True))


register(Operation(
    name="get_decision", title="One decision",
    description="One gate decision with the intent as received.",
    input=DecisionIdIn, output=DecisionDetailOut, scope=SCOPE_READ, handler=get_decision,
))


def explain_decision(call: Call, args: DecisionIdIn) -> Result:
    return Result(ExplainOut.model_validate(decision_explain(decision_id=args.decision_id)))


register(Operation(
    name="explain_decision", title="Explain a decision",
    description=(
        "Why the gate decided as it did: the rules that fired, every limit the intent faces "
        "now with its headroom (size vs max_position_size_usd and the hard order notional, "
        "exposure caps, leverage bounds, confidence thresholds, trading state), and what "
        "would pass: the largest allowed notional and quantity, the binding limit, and how "
        "long until a lock, cooldown or rate window expires."),
    input=DecisionIdIn, output=ExplainOut, scope=SCOPE_READ, handler=explain_decision,
))
