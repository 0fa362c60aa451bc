"""Dashboard controls: halt / reduce-only / resume and rollback.

They run the same registered operations as the API and the MCP tools (``set_trading_state``,
``rollback_to_version``): same services, same validation, same audit trail, same policy
publication. After the write, every open dashboard gets the new fleet state at once.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from governance.api.registry import Call, execute
from governance.api.schemas import RollbackIn, SetTradingStateIn
from governance.auth import staff_principal
from governance.dashboard.events import KIND_STATE, broadcast
from governance.dashboard.selectors import fleet_state_get
from governance.errors import PermissionDenied, ValidationFailed
from governance.scopes import Scope, ScopeKind

Action = Literal["halt", "reduce", "resume"]
ACTION_STATES: Final[dict[str, str]] = {"halt": "HALTED", "reduce": "REDUCING",
                                         "resume": "ACTIVE"}


def _call(user: Any, trace_id: str) -> Call:
    principal = staff_principal(user)
    if principal is None:
        raise PermissionDenied("a staff session with a verified second factor is required",
                               code="MFA_REQUIRED")
    # The dashboard is a session-authenticated HTTP client of the same operations.
    return Call(principal=principal, trace_id=trace_id, door="api")


def _announce() -> dict[str, Any]:
    fleet = fleet_state_get()
    broadcast({"kind": KIND_STATE, **fleet})
    return fleet


def dashboard_state_set(*, user: Any, action: str, scope: str, reason: str, trace_id: str
                        ) -> dict[str, Any]:
    """Halt, reduce-only or resume one scope (``global``, ``symbol:X``, ``strategy:X``)."""
    state = ACTION_STATES.get(action)
    if state is None:
        raise ValidationFailed(f"unknown action {action!r}", code="INVALID_ACTION")
    target = Scope.parse(scope or "global")
    if target.kind not in (ScopeKind.GLOBAL, ScopeKind.SYMBOL, ScopeKind.STRATEGY):
        raise ValidationFailed("trading state is set per global, strategy or symbol scope",
                               code="INVALID_SCOPE")
    result = execute("set_trading_state", _call(user, trace_id),
                     SetTradingStateIn(state=state, scope=str(target),
                                       reason=reason))
    return {"result": result.data.model_dump(mode="json"), "fleet": _announce()}


def dashboard_rollback(*, user: Any, scope: str, target_version: int, reason: str,
                       trace_id: str) -> dict[str, Any]:
    """Restore one scope's overrides of ``target_version`` as a new version."""
    target = Scope.parse(scope or "global")
    fields: dict[str, Any] = {}
    if target.kind is ScopeKind.SYMBOL:
        fields["symbol"] = target.key
    elif target.kind is ScopeKind.SYMBOL_SIDE:
        fields["symbol"], fields["side"] = target.key.split(":")
    elif target.kind is ScopeKind.STRATEGY:
        fields["strategy_id"] = target.key
    result = execute("rollback_to_version", _call(user, trace_id),
                     RollbackIn(target_version=target_version, reason=reason, **fields))
    return {"result": result.data.model_dump(mode="json"), "fleet": _announce()}
