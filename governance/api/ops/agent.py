"""Agent-facing operations: its envelope, its approvals, and features still to come."""

from __future__ import annotations

from governance import envelope
from governance.api.ops._out import approval_out
from governance.api.registry import Call, NotYetAvailable, Operation, Result, register
from governance.api.schemas import (
    ApprovalListOut,
    EarningsIn,
    EmptyIn,
    EnvelopeOut,
    ListApprovalsIn,
    MemorySearchIn,
    RegimeIn,
)
from governance.auth import SCOPE_READ


def list_pending_approvals(call: Call, args: ListApprovalsIn) -> Result:
    # An agent sees its own proposals; people see everyone's.
    who = call.principal.name if call.principal.is_agent else None
    total, rows = envelope.approvals_list(principal=who, status=args.status, limit=args.limit,
                                          offset=args.offset)
    return Result(ApprovalListOut(total=total, items=[approval_out(a) for a in rows]))


register(Operation(
    name="list_pending_approvals", title="Approvals",
    description=(
        "Changes that went beyond an agent envelope and wait for (or got) a staff decision: "
        "status pending, approved (with the resulting version), rejected (with the staff "
        "note), expired or failed. Agents see their own."),
    input=ListApprovalsIn, output=ApprovalListOut, scope=SCOPE_READ,
    handler=list_pending_approvals,
))


def get_agent_envelope(call: Call, args: EmptyIn) -> Result:
    policy = envelope.envelope_policy_for(call.principal.name)
    usage = envelope.envelope_usage(call.principal.name)
    data = policy.as_dict()
    return Result(EnvelopeOut(
        **data, is_agent=call.principal.is_agent, changes_last_24h=usage.changes_today,
        loosened_last_24h=dict(usage.loosened_today)))


register(Operation(
    name="get_agent_envelope", title="My agent envelope",
    description=(
        "What you may change on your own: the parameters in your envelope with their limits "
        "(max_step = largest relative loosening per change, max_daily = per 24 h, "
        "min_interval_s between loosening changes), max changes per day, whether you may "
        "resume trading, and what you used in the last 24 h. Tightening risk is always "
        "allowed; anything else outside the envelope becomes a pending approval."),
    input=EmptyIn, output=EnvelopeOut, scope=SCOPE_READ, handler=get_agent_envelope,
))


def _not_yet(feature: str) -> NotYetAvailable:
    return NotYetAvailable(f"{feature} is not available yet in this deployment",
                           details={"feature": feature})


def get_regime(call: Call, args: RegimeIn) -> Result:
    raise _not_yet("market regime")


def get_earnings_summary(call: Call, args: EarningsIn) -> Result:
    raise _not_yet("earnings summary")


def search_institutional_memory(call: Call, args: MemorySearchIn) -> Result:
    raise _not_yet("institutional memory")


register(Operation(
    name="get_regime", title="Market regime",
    description=(
        "The strategist's market regime per symbol (trend, volatility phase). Returns "
        "NOT_YET_AVAILABLE until the strategist feature is deployed."),
    input=RegimeIn, output=None, scope=SCOPE_READ, handler=get_regime,
))
register(Operation(
    name="get_earnings_summary", title="Earnings summary",
    description=(
        "Realised and unrealised PnL per strategy over a period. Returns NOT_YET_AVAILABLE "
        "until the earnings feature is deployed."),
    input=EarningsIn, output=None, scope=SCOPE_READ, handler=get_earnings_summary,
))
register(Operation(
    name="search_institutional_memory", title="Search institutional memory",
    description=(
        "Search past incidents, decisions and post-mortems by meaning. Returns "
        "NOT_YET_AVAILABLE until the memory feature is deployed."),
    input=MemorySearchIn, output=None, scope=SCOPE_READ, handler=search_institutional_memory,
))
