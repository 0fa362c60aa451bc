"""The Auditor: deterministic checks of every proposal before anything is applied.

1. schema: the proposal is a valid ``PolicyProposal`` (done by ``proposal_parse``);
2. catalog: every parameter exists and every value is valid, alone and with the scope's
   effective config (cross-field rules) - a hallucinated name fails here (UNKNOWN_PARAMETER);
3. hard gates: no value beyond the primal limits (HARD_GATE_VIOLATION);
4. envelope: each effective change judged as ``governance.envelope`` will judge it (what
   applies at once, what will wait for a staff approval);
5. replay: the proposed policy decides the last N hours of recorded intents next to the
   current one (block rate, approved exposure, mark-to-latest PnL of the intents it flips).

Refused proposals are recorded with their reasons; approved ones are applied through the
same operations as the MCP tools (``strategist.integration``).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from governance import envelope
from governance.catalog import CATALOG, catalog_defaults, validate_full, validate_patch
from governance.errors import CioError
from governance.hard_gates import hard_gate_check_config
from governance.policy import policy_snapshot_build
from governance.scopes import STATE_KINDS, Scope, ScopeKind
from governance.selectors import config_head, hard_gates_current
from nurse.gate import Gate
from nurse.models import DecisionRecord
from nurse.policy import CompiledPolicy, exchange_filters_from_info
from strategist.contracts import PolicyProposal


@dataclass(slots=True)
class AuditCheck:
    """One check's result; ``code`` is a stable reason code when it failed."""

    name: str
    ok: bool
    code: str = ""
    message: str = ""
    details: Any = None


@dataclass(slots=True)
class AuditVerdict:
    """Whether the proposal may be applied, why, and what it would do."""

    approved: bool
    checks: list[AuditCheck] = field(default_factory=list)
    envelope: list[dict[str, Any]] = field(default_factory=list)
    replay: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> list[dict[str, Any]]:
        return [{"check": c.name, "code": c.code, "message": c.message, "details": c.details}
                for c in self.checks if not c.ok]

    @property
    def needs_approval(self) -> bool:
        return any(not row.get("within_envelope", True) for row in self.envelope)

    def as_dict(self) -> dict[str, Any]:
        return {"approved": self.approved, "needs_approval": self.needs_approval,
                "reasons": self.reasons, "checks": [asdict(c) for c in self.checks],
                "envelope": self.envelope, "replay": self.replay}


def _fail(check: str, exc: CioError) -> AuditCheck:
    return AuditCheck(check, False, exc.code, exc.message, exc.details)


def _target(scope: Scope, patch: dict[str, Any], unset: list[str]) -> tuple[int, dict[str, Any],
                                                                              dict[str, Any]]:
    version, current = config_head(scope=scope)
    target = {k: v for k, v in current.items() if k not in set(unset)}
    target.update(patch)
    return version, current, target


def audit_proposal(proposal: PolicyProposal, *, principal: str | None = None,
                   snapshot: dict[str, Any] | None = None, replay: bool = True
                   ) -> AuditVerdict:
    """Run checks 2-5 (the schema held already); never writes anything."""
    principal = principal or settings.STRATEGIST_PRINCIPAL
    verdict = AuditVerdict(approved=True, checks=[AuditCheck("schema", True)])
    now = timezone.now()
    policy = envelope.envelope_policy_for(principal)
    usage = envelope.envelope_usage(principal, now=now)
    gates = hard_gates_current()
    for i, change in enumerate(proposal.patches):
        label = f"patches[{i}] {change.scope}"
        try:
            scope = Scope.parse(change.scope)
            clean = validate_patch(dict(change.patch)) if change.patch else {}
            unknown = [n for n in change.unset if n not in CATALOG]
            if unknown:
                raise CioError("cannot unset unknown parameters", code="CONFIG_INVALID",
                               details={"errors": [{"parameter": n, "code": "UNKNOWN_PARAMETER",
                                                    "message": "unknown parameter"}
                                                   for n in unknown]})
            _, current, target = _target(scope, clean, list(change.unset))
            merged = catalog_defaults()
            if scope.kind is not ScopeKind.GLOBAL:
                merged.update(config_head(scope=Scope.global_())[1])
            merged.update(target)
            validate_full(merged)
        except CioError as exc:
            verdict.checks.append(_fail(f"catalog {label}", exc))
            continue
        verdict.checks.append(AuditCheck(f"catalog {label}", True))
        try:
            hard_gate_check_config(target, gates)
        except CioError as exc:
            verdict.checks.append(_fail(f"hard_gates {label}", exc))
            continue
        verdict.checks.append(AuditCheck(f"hard_gates {label}", True))
        assessed = envelope.envelope_assess(
            policy, scope, envelope.effective_change(scope, current, target), usage, now=now)
        verdict.envelope.extend({"scope": str(scope), **a.as_dict()} for a in assessed)
    for i, state in enumerate(proposal.state_changes):
        label = f"state_changes[{i}] {state.scope}"
        try:
            scope = Scope.parse(state.scope)
            if scope.kind not in STATE_KINDS:
                raise CioError("trading state is set per global, strategy or symbol scope",
                               code="INVALID_SCOPE")
        except CioError as exc:
            verdict.checks.append(_fail(label, exc))
            continue
        verdict.checks.append(AuditCheck(label, True))
        snapshot_states = (snapshot or {}).get("states") or {}
        before = (snapshot_states.get(str(scope)) or {}).get("state", "ACTIVE")
        rank = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
        loosens = rank[state.state] < rank.get(before, 0)
        verdict.envelope.append({
            "scope": str(scope), "parameter": "trading_state", "before": before,
            "after": state.state, "direction": "loosening" if loosens else "tightening",
            "within_envelope": not loosens or (policy.enabled and policy.may_resume),
            "violations": [] if not loosens or policy.may_resume else
            [{"code": "RESUME_NOT_IN_ENVELOPE", "message": "resuming needs an approval"}]})
    verdict.approved = all(c.ok for c in verdict.checks)
    if replay and verdict.approved and not proposal.is_empty:
        verdict.replay = replay_effect(proposal=proposal, snapshot=snapshot)
        increase = verdict.replay.get("block_rate_after", 0.0) - verdict.replay.get(
            "block_rate_before", 0.0)
        limit = settings.STRATEGIST_REPLAY_MAX_BLOCK_RATE_INCREASE
        if verdict.replay.get("intents") and increase > limit:
            verdict.checks.append(AuditCheck(
                "replay", False, "REPLAY_BLOCK_RATE_JUMP",
                f"the proposal would block {increase:.0%} more of recent intents "
                f"(limit {limit:.0%})", {"increase": increase}))
            verdict.approved = False
    return verdict


def proposed_snapshot(snapshot: dict[str, Any], proposal: PolicyProposal) -> dict[str, Any]:
    """The policy snapshot as it would be with the proposal applied (nothing is written)."""
    target = copy.deepcopy(snapshot)
    scopes = target.setdefault("scopes", {})
    for change in proposal.patches:
        key = str(Scope.parse(change.scope))
        merged = {k: v for k, v in (scopes.get(key) or {}).items() if k not in set(change.unset)}
        merged.update(change.patch)
        scopes[key] = merged
    states = target.setdefault("states", {})
    for state in proposal.state_changes:
        states[str(Scope.parse(state.scope))] = {
            "state": state.state, "reason": "proposed", "set_by": "strategist",
            "expires_at": None}
    target["policy_version"] = int(target.get("policy_version", 0)) + 1
    return target


def _exchange_filters() -> dict[str, Any]:
    from governance.policy import _redis
    from nurse.services import DEFAULT_EXCHANGE_INFO

    raw = None
    try:
        raw = _redis().get(f"{settings.CIO_NAMESPACE}:exchange_info")
    except Exception:
        raw = None
    info = json.loads(raw) if raw else json.loads(DEFAULT_EXCHANGE_INFO.read_text())
    return exchange_filters_from_info(info)


def _gate(policy: CompiledPolicy, filters: dict[str, Any], equity: float | None) -> Gate:
    gate = Gate(instance="strategist-replay", budget_ms=1e9)
    gate.set_policy(policy)
    gate.set_exchange(filters)
    gate.equity = equity
    return gate


def replay_effect(*, proposal: PolicyProposal, snapshot: dict[str, Any] | None = None,
                  hours: float | None = None, limit: int | None = None,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """Decide the last ``hours`` of recorded intents with the current and the proposed policy.

    ``Gate.decide_local`` per stored intent (at its original receive time, ledger answering
    OK: no exposure bookkeeping), so the difference is the proposal's effect alone. The
    PnL of intents whose outcome flips is marked to the latest close the regime saw.
    This stays small on purpose; the Shadow ROI replay engine can replace it when it lands.
    """
    from strategist.models import RegimeStatus

    now = now or timezone.now()
    hours = settings.STRATEGIST_REPLAY_HOURS if hours is None else hours
    limit = settings.STRATEGIST_REPLAY_MAX_INTENTS if limit is None else limit
    snapshot = snapshot or policy_snapshot_build()
    records = list(DecisionRecord.objects.filter(
        decided_at__gte=now - dt.timedelta(hours=hours), decided_at__lte=now)
        .order_by("-decided_at").values("payload", "received_at")[:limit])
    records.reverse()
    filters = _exchange_filters()
    from strategist.selectors import portfolio_get

    equity = portfolio_get().get("equity") or None
    base = _gate(CompiledPolicy.from_snapshot(snapshot), filters, equity)
    after = _gate(CompiledPolicy.from_snapshot(proposed_snapshot(snapshot, proposal)), filters,
                  equity)
    last = dict(RegimeStatus.objects.values_list("symbol", "last_close"))
    stats: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    exposure = {"before": 0.0, "after": 0.0}
    pnl = {"newly_blocked": 0.0, "newly_approved": 0.0}
    for row in records:
        payload = row["payload"]
        if not isinstance(payload, dict) or not payload:
            continue
        raw = json.dumps(payload).encode()
        received = row["received_at"].timestamp()
        vb = base.decide_local(raw, received=received)
        va = after.decide_local(raw, received=received)
        stats["intents"] += 1
        stats["blocked_before"] += vb.outcome == "blocked"
        stats["blocked_after"] += va.outcome == "blocked"
        notional = float(json.loads(vb.decision_body).get("notional") or 0.0)
        if vb.outcome == "approved" and payload.get("action") in ("buy", "sell"):
            exposure["before"] += notional
        if va.outcome == "approved" and payload.get("action") in ("buy", "sell"):
            exposure["after"] += notional
        for code, _ in va.reasons:
            reasons[code] += 1
        if vb.outcome != va.outcome:
            key = "newly_blocked" if va.outcome == "blocked" else "newly_approved"
            stats[key] += 1
            pnl[key] += _mark(payload, last.get(str(payload.get("symbol", "")).upper()))
    n = stats["intents"]
    return {
        "hours": hours, "intents": n,
        "block_rate_before": round(stats["blocked_before"] / n, 4) if n else 0.0,
        "block_rate_after": round(stats["blocked_after"] / n, 4) if n else 0.0,
        "newly_blocked": stats["newly_blocked"], "newly_approved": stats["newly_approved"],
        "approved_exposure_before": round(exposure["before"], 2),
        "approved_exposure_after": round(exposure["after"], 2),
        "shadow_pnl_newly_blocked": round(pnl["newly_blocked"], 2),
        "shadow_pnl_newly_approved": round(pnl["newly_approved"], 2),
        "top_reasons_after": [{"code": c, "count": k} for c, k in reasons.most_common(8)],
        "engine": "strategist.auditor.replay_effect (Gate.decide_local)",
    }


def _mark(payload: dict[str, Any], last: float | None) -> float:
    """PnL of an entry if held to the latest close (0 for closes or unknown prices)."""
    side = {"buy": 1.0, "sell": -1.0}.get(str(payload.get("action")))
    price = payload.get("current_price") or payload.get("price")
    qty = payload.get("quantity")
    if side is None or not last or not isinstance(price, int | float) or \
            not isinstance(qty, int | float):
        return 0.0
    return side * float(qty) * (float(last) - float(price))
