"""The one door the strategist uses to change policy: the MCP tools' operations.

``proposal_apply_via_agent_tools`` runs every change of an audited proposal through
``governance.api.registry.execute`` - the same ``apply_config_patch`` and
``set_trading_state`` operations (scope check, write rate limit, agent envelope, services)
an external LLM agent reaches over MCP - as the agent principal ``STRATEGIST_PRINCIPAL``.
Tightening applies at once; loosening beyond the envelope becomes a ``PendingApproval``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from pydantic import BaseModel

from governance.auth import (
    SCOPE_AGENT,
    SCOPE_CONFIG_WRITE,
    SCOPE_READ,
    SCOPE_STATE_WRITE,
    Principal,
)
from governance.errors import CioError
from governance.scopes import Scope, ScopeKind
from governance.selectors import config_head
from strategist.contracts import PolicyProposal


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """What happened to one change of a proposal."""

    kind: str  # config | state
    scope: str
    status: str  # applied | pending_approval | partially_applied | failed
    version: int | None = None
    approval_id: int | None = None
    code: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def strategist_principal() -> Principal:
    """The strategist as an agent: every write carries its thought trace and its envelope."""
    return Principal(name=settings.STRATEGIST_PRINCIPAL, kind="agent",
                     scopes=frozenset({SCOPE_READ, SCOPE_CONFIG_WRITE, SCOPE_STATE_WRITE,
                                       SCOPE_AGENT}), via="internal")


def _scope_fields(scope: Scope) -> dict[str, Any]:
    if scope.kind is ScopeKind.SYMBOL:
        return {"symbol": scope.key}
    if scope.kind is ScopeKind.SYMBOL_SIDE:
        symbol, side = scope.key.split(":")
        return {"symbol": symbol, "side": side}
    if scope.kind is ScopeKind.STRATEGY:
        return {"strategy_id": scope.key}
    return {}


def _data(result: Any) -> dict[str, Any]:
    data = result.data
    if isinstance(data, BaseModel):
        dumped: dict[str, Any] = data.model_dump(mode="json")
        return dumped
    return dict(data) if isinstance(data, dict) else {}


def proposal_apply_via_agent_tools(proposal: PolicyProposal, *, trace_id: str
                                   ) -> list[AppliedChange]:
    """Apply each change through the MCP tools' operations; one failure does not stop the
    others (each is its own governance transaction)."""
    from governance.api import ops  # noqa: F401  (registers the operations)
    from governance.api.registry import Call, execute
    from governance.api.schemas import ApplyConfigPatchIn, SetTradingStateIn

    call = Call(principal=strategist_principal(), trace_id=trace_id, door="internal")
    reason = proposal.summary[:2000]
    results: list[AppliedChange] = []
    for change in proposal.patches:
        scope = Scope.parse(change.scope)
        try:
            base_version, _ = config_head(scope=scope)
            args = ApplyConfigPatchIn(**_scope_fields(scope), patch=dict(change.patch),
                                      unset=list(change.unset), base_version=base_version,
                                      reason=reason, thought_trace=proposal.thought_trace)
            data = _data(execute("apply_config_patch", call, args))
        except CioError as exc:
            results.append(AppliedChange("config", str(scope), "failed", code=exc.code,
                                         message=exc.message))
            continue
        approval = data.get("approval") or {}
        results.append(AppliedChange(
            "config", str(scope), str(data.get("status", "applied")),
            version=data.get("version"), approval_id=approval.get("id"),
            message=str(data.get("message", ""))[:500]))
    for state in proposal.state_changes:
        scope = Scope.parse(state.scope)
        try:
            state_args = SetTradingStateIn(scope=str(scope), state=state.state,
                                           ttl_seconds=state.ttl_seconds, reason=reason,
                                           thought_trace=proposal.thought_trace)
            data = _data(execute("set_trading_state", call, state_args))
        except CioError as exc:
            results.append(AppliedChange("state", str(scope), "failed", code=exc.code,
                                         message=exc.message))
            continue
        approval = data.get("approval") or {}
        results.append(AppliedChange(
            "state", str(scope), str(data.get("status", "applied")),
            approval_id=approval.get("id"), message=str(data.get("message", ""))[:500]))
    return results
