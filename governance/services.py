"""Governance writes: versioned config, trading state and hard gates.

Every write runs in one transaction that (1) locks what it changes, (2) validates the
result as a whole, (3) stores an immutable version, (4) bumps the fleet policy version,
(5) appends an audit event, and (6) after commit announces the new policy to the fleet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from governance import policy
from governance.audit import audit_record
from governance.catalog import catalog_defaults, validate_full, validate_patch
from governance.errors import NotFound, PermissionDenied, StaleVersion, ValidationFailed
from governance.hard_gates import hard_gate_check_config, hard_gate_check_value
from governance.models import (
    ActorKind,
    ConfigHead,
    ConfigVersion,
    HardGate,
    PolicyHead,
    TradingState,
    TradingStateValue,
)
from governance.scopes import STATE_KINDS, Scope, ScopeKind
from governance.selectors import config_diff, hard_gates_current

MIN_THOUGHT_TRACE = 100


def _require_reason(reason: str, thought_trace: str, actor_kind: str) -> None:
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required for every governance change",
                               code="REASON_REQUIRED")
    if actor_kind == ActorKind.AGENT and len(thought_trace.strip()) < MIN_THOUGHT_TRACE:
        raise ValidationFailed(
            f"agents must give a thought_trace of at least {MIN_THOUGHT_TRACE} characters",
            code="THOUGHT_TRACE_REQUIRED",
            details={"min_length": MIN_THOUGHT_TRACE, "length": len(thought_trace.strip())},
        )


def policy_bump() -> int:
    """Increment the fleet policy version inside the caller's transaction."""
    head, _ = PolicyHead.objects.select_for_update().get_or_create(pk=1)
    head.version += 1
    head.save(update_fields=["version", "updated_at"])
    return head.version


def _effective_for_validation(scope: Scope, params: Mapping[str, Any]) -> dict[str, Any]:
    merged = catalog_defaults()
    if scope.kind is not ScopeKind.GLOBAL:
        head = ConfigHead.objects.filter(scope_kind=ScopeKind.GLOBAL, scope_key="").first()
        if head:
            merged.update(head.params)
    merged.update(params)
    return merged


def _config_write(
    *,
    scope: Scope,
    new_params: dict[str, Any],
    base_version: int,
    operation: str,
    actor: str,
    actor_kind: str,
    reason: str,
    thought_trace: str,
    trace_id: str,
    rollback_to: int | None = None,
) -> ConfigVersion:
    _require_reason(reason, thought_trace, actor_kind)
    validate_full(_effective_for_validation(scope, new_params))
    hard_gate_check_config(new_params, hard_gates_current())
    try:
        with transaction.atomic():
            head, _ = ConfigHead.objects.select_for_update().get_or_create(
                scope_kind=scope.kind, scope_key=scope.key
            )
            if head.version != base_version:
                raise StaleVersion(
                    f"{scope} is at version {head.version}, not {base_version}",
                    details={"scope": str(scope), "current_version": head.version,
                             "base_version": base_version},
                )
            previous = dict(head.params)
            changes = config_diff(previous, new_params)
            policy_version = policy_bump()
            version = ConfigVersion.objects.create(
                scope_kind=scope.kind,
                scope_key=scope.key,
                version=head.version + 1,
                params=new_params,
                previous=previous,
                changes=changes,
                operation=operation,
                rollback_to=rollback_to,
                actor=actor,
                actor_kind=actor_kind,
                reason=reason,
                thought_trace=thought_trace,
                trace_id=trace_id,
                policy_version=policy_version,
            )
            head.version = version.version
            head.params = new_params
            head.save(update_fields=["version", "params", "updated_at"])
            audit_record(
                event_type=f"config.{operation}",
                actor=actor,
                actor_kind=actor_kind,
                scope=str(scope),
                summary=f"{scope} v{base_version} -> v{version.version} ({len(changes)} changes)",
                payload={"version": version.version, "base_version": base_version,
                         "changes": changes, "policy_version": policy_version,
                         "rollback_to": rollback_to},
                reason=reason,
                thought_trace=thought_trace,
                trace_id=trace_id,
            )
            policy.announce_on_commit(policy_version=policy_version, scopes=[str(scope)],
                                      trace_id=trace_id)
    except IntegrityError as exc:
        # Two first writers of a new scope both inserted a head or the same version number.
        raise StaleVersion(
            f"{scope} was changed concurrently; re-read and retry",
            details={"scope": str(scope), "base_version": base_version},
        ) from exc
    return version


def config_patch(
    *,
    scope: Scope,
    patch: Mapping[str, Any],
    base_version: int,
    actor: str,
    actor_kind: str,
    reason: str,
    unset: Sequence[str] = (),
    thought_trace: str = "",
    trace_id: str = "",
) -> ConfigVersion:
    """Merge ``patch`` into the scope's overrides (and drop ``unset``) as a new version."""
    clean = validate_patch(dict(patch)) if patch else {}
    unknown_unset = [n for n in unset if n not in catalog_defaults()]
    if unknown_unset:
        raise ValidationFailed(
            "cannot unset unknown parameters",
            code="CONFIG_INVALID",
            details={"errors": [{"parameter": n, "code": "UNKNOWN_PARAMETER",
                                 "message": "unknown parameter"} for n in unknown_unset]},
        )
    if not clean and not unset:
        raise ValidationFailed("the patch is empty", code="EMPTY_PATCH")
    _, current = _head_params(scope)
    new_params = {k: v for k, v in current.items() if k not in set(unset)}
    new_params.update(clean)
    return _config_write(
        scope=scope, new_params=new_params, base_version=base_version, operation="patch",
        actor=actor, actor_kind=actor_kind, reason=reason, thought_trace=thought_trace,
        trace_id=trace_id,
    )


def config_replace(
    *,
    scope: Scope,
    params: Mapping[str, Any],
    base_version: int,
    actor: str,
    actor_kind: str,
    reason: str,
    thought_trace: str = "",
    trace_id: str = "",
) -> ConfigVersion:
    """Replace the scope's overrides as a whole (the engine's write semantics)."""
    clean = validate_patch(dict(params)) if params else {}
    return _config_write(
        scope=scope, new_params=clean, base_version=base_version, operation="replace",
        actor=actor, actor_kind=actor_kind, reason=reason, thought_trace=thought_trace,
        trace_id=trace_id,
    )


def config_rollback(
    *,
    scope: Scope,
    to_version: int | None,
    actor: str,
    actor_kind: str,
    reason: str,
    base_version: int | None = None,
    thought_trace: str = "",
    trace_id: str = "",
) -> ConfigVersion:
    """Restore the overrides of ``to_version`` (or the one before the current) as a new version.

    History is never rewritten: the rollback is itself a version that names its target.
    """
    current_version, _ = _head_params(scope)
    if base_version is None:
        base_version = current_version
    if to_version is None:
        if current_version < 1:
            raise NotFound(f"{scope} has no previous version", code="VERSION_NOT_FOUND")
        target_params = ConfigVersion.objects.get(
            scope_kind=scope.kind, scope_key=scope.key, version=current_version
        ).previous
        to_version = current_version - 1
    elif to_version == 0:
        target_params = {}
    else:
        target = ConfigVersion.objects.filter(
            scope_kind=scope.kind, scope_key=scope.key, version=to_version
        ).first()
        if target is None:
            raise NotFound(f"{scope} has no version {to_version}", code="VERSION_NOT_FOUND")
        target_params = target.params
    return _config_write(
        scope=scope, new_params=dict(target_params), base_version=base_version,
        operation="rollback", actor=actor, actor_kind=actor_kind, reason=reason,
        thought_trace=thought_trace, trace_id=trace_id, rollback_to=to_version,
    )


def _head_params(scope: Scope) -> tuple[int, dict[str, Any]]:
    head = ConfigHead.objects.filter(scope_kind=scope.kind, scope_key=scope.key).first()
    return (head.version, dict(head.params)) if head else (0, {})


def trading_state_set(
    *,
    scope: Scope,
    state: str,
    actor: str,
    actor_kind: str,
    reason: str,
    expires_at: dt.datetime | None = None,
    requires_staff_rearm: bool = False,
    thought_trace: str = "",
    trace_id: str = "",
) -> TradingState:
    """Set ACTIVE / REDUCING / HALTED on a global, strategy or symbol scope."""
    if scope.kind not in STATE_KINDS:
        raise ValidationFailed("trading state is set per global, strategy or symbol scope",
                               code="INVALID_SCOPE")
    try:
        new_state = TradingStateValue(state)
    except ValueError as exc:
        raise ValidationFailed(f"unknown trading state {state!r}",
                               code="INVALID_STATE") from exc
    _require_reason(reason, thought_trace, actor_kind)
    with transaction.atomic():
        row, _ = TradingState.objects.select_for_update().get_or_create(
            scope_kind=scope.kind, scope_key=scope.key
        )
        before = row.state
        if row.requires_staff_rearm and row.state != TradingStateValue.ACTIVE and (
            actor_kind != ActorKind.USER and new_state != TradingStateValue.HALTED
        ):
            raise PermissionDenied(
                f"{scope} was halted by the protection ladder; a staff user must re-arm it",
                code="REARM_REQUIRES_STAFF",
            )
        row.state = new_state
        row.reason = reason
        row.set_by = actor
        row.actor_kind = actor_kind
        row.expires_at = expires_at
        row.requires_staff_rearm = requires_staff_rearm and new_state != TradingStateValue.ACTIVE
        row.save()
        policy_version = policy_bump()
        audit_record(
            event_type="state.set",
            actor=actor,
            actor_kind=actor_kind,
            scope=str(scope),
            summary=f"{scope}: {before} -> {new_state}",
            payload={"before": before, "after": new_state.value,
                     "expires_at": expires_at.isoformat() if expires_at else None,
                     "policy_version": policy_version,
                     "requires_staff_rearm": row.requires_staff_rearm},
            reason=reason,
            thought_trace=thought_trace,
            trace_id=trace_id,
        )
        policy.announce_on_commit(policy_version=policy_version, scopes=[str(scope)],
                                  trace_id=trace_id)
    return row


def hard_gate_set(
    *,
    key: str,
    value: Any,
    actor: str,
    reason: str,
    is_superuser: bool,
    mfa_verified: bool,
    trace_id: str = "",
) -> HardGate:
    """Change a hard gate inside its code ceiling: superusers with a verified second factor only."""
    if not (is_superuser and mfa_verified):
        raise PermissionDenied(
            "hard gates change only by a superuser with a verified second factor",
            code="HARD_GATE_FORBIDDEN",
        )
    if not reason.strip():
        raise ValidationFailed("a reason is required", code="REASON_REQUIRED")
    clean = hard_gate_check_value(key, value)
    with transaction.atomic():
        row = HardGate.objects.select_for_update().filter(key=key).first()
        before = row.value if row else hard_gates_current()[key]
        if row is None:
            row = HardGate(key=key)
        row.value = clean
        row.updated_by = actor
        row.reason = reason
        row.save()
        policy_version = policy_bump()
        audit_record(
            event_type="hard_gate.set",
            actor=actor,
            actor_kind=ActorKind.USER,
            scope=f"hard_gate:{key}",
            summary=f"hard gate {key}: {before} -> {clean}",
            payload={"key": key, "before": before, "after": clean, "mfa_verified": True,
                     "policy_version": policy_version},
            reason=reason,
            trace_id=trace_id,
        )
        policy.announce_on_commit(policy_version=policy_version, scopes=[f"hard_gate:{key}"],
                                  trace_id=trace_id)
    return row
