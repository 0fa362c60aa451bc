"""Model rows -> output schemas (shared by the operation handlers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils import timezone

from governance.api.schemas import (
    ApprovalOut,
    AssessmentOut,
    ChangeOut,
    ConfigVersionOut,
    DecisionDetailOut,
    DecisionOut,
    ReasonOut,
    TradingStateOut,
)
from governance.envelope import ChangeAssessment
from governance.models import ConfigVersion, PendingApproval, TradingState
from governance.scopes import Scope, ScopeKind
from nurse.models import DecisionRecord


def version_out(version: ConfigVersion) -> ConfigVersionOut:
    return ConfigVersionOut(
        id=version.pk, scope=str(version.scope), version=version.version,
        operation=version.operation, rollback_to=version.rollback_to, actor=version.actor,
        actor_kind=version.actor_kind, reason=version.reason,
        thought_trace=version.thought_trace, trace_id=version.trace_id,
        policy_version=version.policy_version, created_at=version.created_at,
        params=dict(version.params), previous=dict(version.previous),
        changes=[ChangeOut(parameter=str(c.get("parameter", "")), before=c.get("before"),
                           after=c.get("after"), change=str(c.get("change", "")))
                 for c in version.changes if isinstance(c, Mapping)],
    )


def approval_out(approval: PendingApproval) -> ApprovalOut:
    return ApprovalOut(
        id=approval.pk, principal=approval.principal, kind=approval.kind, scope=approval.scope,
        payload=dict(approval.payload), base_version=approval.base_version,
        changes=list(approval.changes), violations=list(approval.violations),
        reason=approval.reason, trace_id=approval.trace_id, status=approval.status,
        created_at=approval.created_at, expires_at=approval.expires_at,
        decided_by=approval.decided_by, decided_at=approval.decided_at,
        decision_note=approval.decision_note, result_version=approval.result_version,
        error=approval.error,
    )


def assessments_out(items: Iterable[ChangeAssessment]) -> list[AssessmentOut]:
    return [AssessmentOut(**a.as_dict()) for a in items]


def state_out(row: TradingState) -> TradingStateOut:
    now = timezone.now()
    return TradingStateOut(
        scope=str(Scope(ScopeKind(row.scope_kind), row.scope_key)), state=row.state,
        reason=row.reason, set_by=row.set_by, actor_kind=row.actor_kind, set_at=row.set_at,
        expires_at=row.expires_at, requires_staff_rearm=row.requires_staff_rearm,
        in_force=row.expires_at is None or row.expires_at > now,
    )


def _reasons(raw: Any) -> list[ReasonOut]:
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping):
            out.append(ReasonOut(code=str(item.get("code", "")),
                                 detail=str(item.get("detail", ""))))
        elif isinstance(item, list | tuple) and item:
            out.append(ReasonOut(code=str(item[0]), detail=str(item[1]) if len(item) > 1 else ""))
    return out


def decision_out(rec: DecisionRecord, *, detail: bool = False) -> DecisionOut:
    fields: dict[str, Any] = {
        "decision_id": rec.decision_id, "intent_id": rec.intent_id,
        "strategy_id": rec.strategy_id, "symbol": rec.symbol, "action": rec.action,
        "quantity": rec.quantity, "price": rec.price, "notional": rec.notional,
        "outcome": rec.outcome, "reasons": _reasons(rec.reasons),
        "reason_codes": [str(c) for c in rec.reason_codes or []],
        "policy_version": rec.policy_version, "latency_us": rec.latency_us,
        "trace_id": rec.trace_id, "received_at": rec.received_at,
        "decided_at": rec.decided_at, "signal_subject": rec.signal_subject,
    }
    if detail:
        return DecisionDetailOut(**fields, payload=dict(rec.payload or {}))
    return DecisionOut(**fields)
