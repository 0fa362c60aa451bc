"""The agent envelope: what an LLM agent may change on its own, and approvals for the rest.

An agent's write is judged change by change on the *effective* values of the written scope
(what the gate will enforce), not on the raw overrides:

* tightening risk (lower size or leverage, halt, reduce-only) always applies at once;
* a loosening or risk-neutral change applies at once only when the parameter is in the
  agent's envelope and the change fits its step, daily budget and frequency limits;
* everything else becomes a ``PendingApproval`` that a staff user approves or rejects in the
  admin before it expires. The in-envelope part of a patch is applied at once; the agent is
  told which part waits.

Hard gates are not configuration: no door an agent can reach writes them, and every config
value is still checked against them by ``governance.services``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

from django.db import transaction
from django.utils import timezone

from governance import services
from governance.audit import audit_record
from governance.catalog import (
    CATALOG,
    catalog_defaults,
    change_magnitude,
    is_loosening,
    validate_full,
    validate_patch,
)
from governance.errors import CioError, Conflict, NotFound, StaleVersion, ValidationFailed
from governance.hard_gates import hard_gate_check_config
from governance.models import (
    ActorKind,
    AgentEnvelope,
    AuditEvent,
    ConfigHead,
    ConfigVersion,
    PendingApproval,
    TradingState,
    TradingStateValue,
)
from governance.scopes import STATE_KINDS, Scope, ScopeKind, resolution_chain
from governance.selectors import config_head, hard_gates_current, resolve_from_heads

Direction = Literal["tightening", "loosening", "neutral", "unchanged"]

# Violation codes: why a change is outside the envelope (shown to the agent and the staff).
ENVELOPE_DISABLED: Final = "ENVELOPE_DISABLED"
PARAMETER_NOT_IN_ENVELOPE: Final = "PARAMETER_NOT_IN_ENVELOPE"
SCOPE_NOT_IN_ENVELOPE: Final = "SCOPE_NOT_IN_ENVELOPE"
STEP_TOO_LARGE: Final = "STEP_TOO_LARGE"
DAILY_BUDGET_EXCEEDED: Final = "DAILY_BUDGET_EXCEEDED"
TOO_FREQUENT: Final = "TOO_FREQUENT"
DAILY_CHANGE_LIMIT: Final = "DAILY_CHANGE_LIMIT"
RESUME_NOT_IN_ENVELOPE: Final = "RESUME_NOT_IN_ENVELOPE"
REARM_REQUIRES_STAFF: Final = "REARM_REQUIRES_STAFF"

_WRITE_EVENTS: Final = ("config.patch", "config.replace", "config.rollback", "state.set")
_USAGE_EVENT: Final = "envelope.usage"
_DAY: Final = dt.timedelta(hours=24)
_STATE_RANK: Final = {
    TradingStateValue.ACTIVE: 0,
    TradingStateValue.REDUCING: 1,
    TradingStateValue.HALTED: 2,
}


# --- the policy ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvelopeRule:
    """Limits on loosening one parameter: relative step, relative daily sum, min interval."""

    max_step: float | None = None
    max_daily: float | None = None
    min_interval_s: int = 0


@dataclass(frozen=True, slots=True)
class EnvelopePolicy:
    """One agent's envelope as the evaluator sees it (default: no loosening at all)."""

    principal: str
    enabled: bool = True
    rules: Mapping[str, EnvelopeRule] = field(default_factory=dict)
    max_changes_per_day: int = 0
    may_resume: bool = False
    scope_kinds: frozenset[str] = frozenset()
    approval_ttl_s: int = 86400

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "enabled": self.enabled,
            "parameters": {name: asdict(rule) for name, rule in sorted(self.rules.items())},
            "max_changes_per_day": self.max_changes_per_day,
            "may_resume": self.may_resume,
            "scope_kinds": sorted(self.scope_kinds),
            "approval_ttl_s": self.approval_ttl_s,
            "always_allowed": "tightening changes (lower risk) and halts apply at once",
        }


def _number_or_none(value: Any, label: str, errors: list[str]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        errors.append(f"{label} must be a number >= 0 or null")
        return None
    return float(value)


def envelope_rules_clean(parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate an envelope's per-parameter rules (ValidationFailed, code INVALID_ENVELOPE)."""
    if not isinstance(parameters, Mapping):
        raise ValidationFailed("the envelope parameters must be an object",
                               code="INVALID_ENVELOPE")
    errors: list[str] = []
    clean: dict[str, dict[str, Any]] = {}
    for name, raw in parameters.items():
        if name not in CATALOG:
            errors.append(f"unknown parameter {name!r}")
            continue
        if not isinstance(raw, Mapping):
            errors.append(f"{name}: expected an object")
            continue
        extra = set(raw) - {"max_step", "max_daily", "min_interval_s"}
        if extra:
            errors.append(f"{name}: unknown keys {sorted(extra)}")
        interval = raw.get("min_interval_s", 0) or 0
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
            errors.append(f"{name}.min_interval_s must be an integer >= 0")
            interval = 0
        clean[name] = {
            "max_step": _number_or_none(raw.get("max_step"), f"{name}.max_step", errors),
            "max_daily": _number_or_none(raw.get("max_daily"), f"{name}.max_daily", errors),
            "min_interval_s": interval,
        }
    if errors:
        raise ValidationFailed("invalid agent envelope", code="INVALID_ENVELOPE",
                               details={"errors": errors})
    return clean


def envelope_policy_for(principal: str) -> EnvelopePolicy:
    """The envelope in force for ``principal``; an agent without one may only tighten."""
    row = AgentEnvelope.objects.filter(principal=principal).first()
    if row is None:
        return EnvelopePolicy(principal=principal, enabled=False)
    rules = {
        name: EnvelopeRule(
            max_step=raw.get("max_step"), max_daily=raw.get("max_daily"),
            min_interval_s=int(raw.get("min_interval_s") or 0),
        )
        for name, raw in envelope_rules_clean(row.parameters).items()
    }
    return EnvelopePolicy(
        principal=principal, enabled=row.enabled, rules=rules,
        max_changes_per_day=row.max_changes_per_day, may_resume=row.may_resume,
        scope_kinds=frozenset(row.scope_kinds or []), approval_ttl_s=row.approval_ttl_s,
    )


def agent_envelope_upsert(
    *,
    principal: str,
    actor: str,
    parameters: Mapping[str, Any],
    enabled: bool = True,
    max_changes_per_day: int = 20,
    may_resume: bool = False,
    scope_kinds: Sequence[str] = (),
    approval_ttl_s: int = 86400,
    notes: str = "",
) -> AgentEnvelope:
    """Create or replace an agent's envelope (staff only; audited)."""
    rules = envelope_rules_clean(parameters)
    kinds = sorted(set(scope_kinds))
    bad = [k for k in kinds if k not in {s.value for s in ScopeKind}]
    if bad:
        raise ValidationFailed(f"unknown scope kinds {bad}", code="INVALID_ENVELOPE")
    if approval_ttl_s < 60:
        raise ValidationFailed("approval_ttl_s must be at least 60", code="INVALID_ENVELOPE")
    with transaction.atomic():
        row, _ = AgentEnvelope.objects.select_for_update().get_or_create(principal=principal)
        before = {"parameters": row.parameters, "enabled": row.enabled,
                  "max_changes_per_day": row.max_changes_per_day, "may_resume": row.may_resume,
                  "scope_kinds": row.scope_kinds}
        row.parameters = rules
        row.enabled = enabled
        row.max_changes_per_day = max_changes_per_day
        row.may_resume = may_resume
        row.scope_kinds = kinds
        row.approval_ttl_s = approval_ttl_s
        row.notes = notes
        row.updated_by = actor
        row.save()
        audit_record(
            event_type="envelope.updated", actor=actor, actor_kind=ActorKind.USER,
            scope=f"agent:{principal}", summary=f"agent envelope of {principal} updated",
            payload={"before": before, "after": {
                "parameters": rules, "enabled": enabled,
                "max_changes_per_day": max_changes_per_day, "may_resume": may_resume,
                "scope_kinds": kinds}},
        )
    return row


# --- usage and assessment -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvelopeUsage:
    """What the agent already did in the last 24 hours."""

    changes_today: int = 0
    loosened_today: Mapping[str, float] = field(default_factory=dict)
    last_loosened_at: Mapping[str, dt.datetime] = field(default_factory=dict)


def envelope_usage(principal: str, *, now: dt.datetime | None = None) -> EnvelopeUsage:
    """Count the agent's writes and sum its in-envelope loosening over the last 24 hours."""
    now = now or timezone.now()
    since = now - _DAY
    events = AuditEvent.objects.filter(
        actor=principal, actor_kind=ActorKind.AGENT, created_at__gte=since
    )
    changes = events.filter(event_type__in=_WRITE_EVENTS).count()
    loosened: dict[str, float] = {}
    last: dict[str, dt.datetime] = {}
    for event in events.filter(event_type=_USAGE_EVENT).order_by("seq"):
        for name, magnitude in (event.payload.get("loosened") or {}).items():
            loosened[name] = loosened.get(name, 0.0) + (
                float(magnitude) if magnitude is not None else 0.0
            )
            last[name] = event.created_at
    return EnvelopeUsage(changes_today=changes, loosened_today=loosened, last_loosened_at=last)


@dataclass(frozen=True, slots=True)
class ChangeAssessment:
    """One effective change judged against the envelope."""

    parameter: str
    before: Any
    after: Any
    direction: Direction
    magnitude: float | None
    within: bool
    violations: tuple[dict[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "before": self.before,
            "after": self.after,
            "direction": self.direction,
            "magnitude": (None if self.magnitude is None or math.isinf(self.magnitude)
                          else round(self.magnitude, 6)),
            "within_envelope": self.within,
            "violations": list(self.violations),
        }


def change_direction(name: str, before: Any, after: Any) -> Direction:
    """Whether moving ``name`` from ``before`` to ``after`` loosens or tightens risk."""
    if before == after:
        return "unchanged"
    if is_loosening(name, before, after):
        return "loosening"
    if is_loosening(name, after, before):
        return "tightening"
    return "neutral"


def _violation(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def envelope_assess(
    policy: EnvelopePolicy,
    scope: Scope,
    changes: Iterable[tuple[str, Any, Any]],
    usage: EnvelopeUsage,
    *,
    now: dt.datetime,
) -> list[ChangeAssessment]:
    """Judge each ``(parameter, before, after)`` effective change (a pure function)."""
    result: list[ChangeAssessment] = []
    for name, before, after in changes:
        direction = change_direction(name, before, after)
        magnitude = change_magnitude(name, before, after) if direction == "loosening" else None
        violations: list[dict[str, str]] = []
        if direction in ("loosening", "neutral"):
            rule = policy.rules.get(name)
            if not policy.enabled:
                violations.append(_violation(
                    ENVELOPE_DISABLED, "this agent has no active envelope: it may only tighten"))
            if rule is None:
                violations.append(_violation(
                    PARAMETER_NOT_IN_ENVELOPE, f"{name} is not in this agent's envelope"))
            if policy.scope_kinds and scope.kind.value not in policy.scope_kinds:
                violations.append(_violation(
                    SCOPE_NOT_IN_ENVELOPE,
                    f"the envelope allows {sorted(policy.scope_kinds)} scopes, not {scope.kind}"))
            if direction == "loosening" and rule is not None:
                violations.extend(_loosening_violations(name, rule, magnitude, usage, now=now))
            if (direction == "loosening" and policy.enabled and rule is not None
                    and usage.changes_today >= policy.max_changes_per_day):
                violations.append(_violation(
                    DAILY_CHANGE_LIMIT,
                    f"{usage.changes_today} changes in the last 24 h; the envelope allows "
                    f"{policy.max_changes_per_day}"))
        result.append(ChangeAssessment(
            parameter=name, before=before, after=after, direction=direction,
            magnitude=magnitude, within=not violations, violations=tuple(violations),
        ))
    return result


def _pct(value: float) -> str:
    return "an unbounded amount" if math.isinf(value) else f"{value:.0%}"


def _loosening_violations(
    name: str, rule: EnvelopeRule, magnitude: float | None, usage: EnvelopeUsage,
    *, now: dt.datetime,
) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if rule.max_step is not None:
        if magnitude is None:
            out.append(_violation(STEP_TOO_LARGE,
                                  f"{name}: a categorical loosening needs max_step = null"))
        elif magnitude > rule.max_step:
            out.append(_violation(
                STEP_TOO_LARGE, f"{name}: loosens by {_pct(magnitude)}, the envelope allows "
                                f"{_pct(rule.max_step)} per change"))
    if rule.max_daily is not None:
        used = usage.loosened_today.get(name, 0.0)
        if magnitude is None or used + magnitude > rule.max_daily:
            out.append(_violation(
                DAILY_BUDGET_EXCEEDED,
                f"{name}: {_pct(used)} already loosened in 24 h, this change adds "
                f"{'a categorical step' if magnitude is None else _pct(magnitude)}; the daily "
                f"budget is {_pct(rule.max_daily)}"))
    last = usage.last_loosened_at.get(name)
    if rule.min_interval_s and last is not None:
        wait = rule.min_interval_s - (now - last).total_seconds()
        if wait > 0:
            ago = int((now - last).total_seconds())
            out.append(_violation(
                TOO_FREQUENT, f"{name}: loosened {ago} s ago; wait {math.ceil(wait)} s more"))
    return out


# --- results --------------------------------------------------------------------------------


@dataclass(slots=True)
class AgentWriteResult:
    """What happened to an agent's write: applied, pending approval, or both (split)."""

    status: Literal["applied", "pending_approval", "partially_applied"]
    message: str
    version: ConfigVersion | None = None
    state: TradingState | None = None
    approval: PendingApproval | None = None
    assessments: list[ChangeAssessment] = field(default_factory=list)


def _require_thought_trace(reason: str, thought_trace: str) -> None:
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required for every governance change",
                               code="REASON_REQUIRED")
    if len((thought_trace or "").strip()) < services.MIN_THOUGHT_TRACE:
        raise ValidationFailed(
            f"agents must give a thought_trace of at least {services.MIN_THOUGHT_TRACE} "
            "characters",
            code="THOUGHT_TRACE_REQUIRED",
            details={"min_length": services.MIN_THOUGHT_TRACE,
                     "length": len((thought_trace or "").strip())},
        )


def _chain(scope: Scope) -> list[Scope]:
    if scope.kind is ScopeKind.GLOBAL:
        return [scope]
    if scope.kind is ScopeKind.SYMBOL:
        return resolution_chain(symbol=scope.key)
    if scope.kind is ScopeKind.STRATEGY:
        return resolution_chain(strategy_id=scope.key)
    symbol, side = scope.key.split(":")
    return resolution_chain(symbol=symbol, side=side)


def effective_change(
    scope: Scope, current: Mapping[str, Any], target: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    """The effective ``(parameter, before, after)`` changes when ``scope`` moves to ``target``."""
    chain = _chain(scope)
    heads: dict[Scope, tuple[int, dict[str, Any]]] = {
        s: config_head(scope=s) for s in chain if s != scope
    }
    heads[scope] = (1, dict(current))
    before = resolve_from_heads(heads, chain).params
    heads[scope] = (1, dict(target))
    after = resolve_from_heads(heads, chain).params
    return [(n, before[n], after[n]) for n in sorted(after) if before.get(n) != after[n]]


def _validate_target(scope: Scope, target: Mapping[str, Any]) -> None:
    # The same checks the services make, so no approval ever carries an invalid config.
    merged = catalog_defaults()
    if scope.kind is not ScopeKind.GLOBAL:
        head = ConfigHead.objects.filter(scope_kind=ScopeKind.GLOBAL, scope_key="").first()
        if head:
            merged.update(head.params)
    merged.update(target)
    validate_full(merged)
    hard_gate_check_config(dict(target), hard_gates_current())


def _record_usage(
    principal: str, scope: Scope, assessments: Sequence[ChangeAssessment], *, version: int | None,
    trace_id: str,
) -> None:
    loosened = {a.parameter: (None if a.magnitude is None or math.isinf(a.magnitude)
                              else a.magnitude)
                for a in assessments if a.within and a.direction == "loosening"}
    if not loosened:
        return
    audit_record(
        event_type=_USAGE_EVENT, actor=principal, actor_kind=ActorKind.AGENT, scope=str(scope),
        summary=f"{principal} loosened {', '.join(sorted(loosened))} within its envelope",
        payload={"version": version, "loosened": loosened}, trace_id=trace_id,
    )


def _approval_create(
    *,
    principal: str,
    kind: str,
    scope: Scope,
    payload: dict[str, Any],
    base_version: int | None,
    assessments: Sequence[ChangeAssessment],
    reason: str,
    thought_trace: str,
    trace_id: str,
    ttl_s: int,
    extra_changes: list[dict[str, Any]] | None = None,
) -> PendingApproval:
    outside = [a for a in assessments if not a.within]
    approval = PendingApproval.objects.create(
        principal=principal, kind=kind, scope=str(scope), payload=payload,
        base_version=base_version,
        changes=extra_changes if extra_changes is not None else [a.as_dict() for a in outside],
        violations=[v for a in outside for v in a.violations],
        reason=reason, thought_trace=thought_trace, trace_id=trace_id,
        expires_at=timezone.now() + dt.timedelta(seconds=ttl_s),
    )
    audit_record(
        event_type="approval.requested", actor=principal, actor_kind=ActorKind.AGENT,
        scope=str(scope),
        summary=f"{principal} asks for approval #{approval.pk} ({kind} on {scope})",
        payload={"approval_id": approval.pk, "payload": payload, "base_version": base_version,
                 "changes": approval.changes, "violations": approval.violations,
                 "expires_at": approval.expires_at.isoformat()},
        reason=reason, thought_trace=thought_trace, trace_id=trace_id,
    )
    return approval


def _describe(assessments: Sequence[ChangeAssessment]) -> str:
    parts = []
    for a in assessments:
        why = "; ".join(v["message"] for v in a.violations)
        parts.append(f"{a.parameter} {a.before!r} -> {a.after!r} ({a.direction}): {why}")
    return " | ".join(parts)


# --- agent writes -------------------------------------------------------------------------


def agent_config_patch(
    *,
    principal: str,
    scope: Scope,
    patch: Mapping[str, Any],
    base_version: int,
    reason: str,
    thought_trace: str,
    unset: Sequence[str] = (),
    trace_id: str = "",
) -> AgentWriteResult:
    """An agent's patch: in-envelope changes apply, the rest waits for a staff approval."""
    _require_thought_trace(reason, thought_trace)
    clean = validate_patch(dict(patch)) if patch else {}
    unknown = [n for n in unset if n not in CATALOG]
    if unknown:
        raise ValidationFailed(
            "cannot unset unknown parameters", code="CONFIG_INVALID",
            details={"errors": [{"parameter": n, "code": "UNKNOWN_PARAMETER",
                                 "message": "unknown parameter"} for n in unknown]},
        )
    if not clean and not unset:
        raise ValidationFailed("the patch is empty", code="EMPTY_PATCH")
    _, current = config_head(scope=scope)
    target = {k: v for k, v in current.items() if k not in set(unset)}
    target.update(clean)

    def full() -> ConfigVersion:
        return services.config_patch(
            scope=scope, patch=clean, unset=list(unset), base_version=base_version,
            actor=principal, actor_kind=ActorKind.AGENT, reason=reason,
            thought_trace=thought_trace, trace_id=trace_id,
        )

    return _agent_config_apply(
        principal=principal, scope=scope, target=target, base_version=base_version,
        reason=reason, thought_trace=thought_trace, trace_id=trace_id, full=full,
    )


def agent_config_replace(
    *,
    principal: str,
    scope: Scope,
    params: Mapping[str, Any],
    base_version: int,
    reason: str,
    thought_trace: str,
    trace_id: str = "",
) -> AgentWriteResult:
    """An agent's whole-scope replace, judged like a patch of the difference."""
    _require_thought_trace(reason, thought_trace)
    target = validate_patch(dict(params)) if params else {}

    def full() -> ConfigVersion:
        return services.config_replace(
            scope=scope, params=target, base_version=base_version, actor=principal,
            actor_kind=ActorKind.AGENT, reason=reason, thought_trace=thought_trace,
            trace_id=trace_id,
        )

    return _agent_config_apply(
        principal=principal, scope=scope, target=target, base_version=base_version,
        reason=reason, thought_trace=thought_trace, trace_id=trace_id, full=full,
    )


def agent_config_rollback(
    *,
    principal: str,
    scope: Scope,
    to_version: int | None,
    reason: str,
    thought_trace: str,
    base_version: int | None = None,
    trace_id: str = "",
) -> AgentWriteResult:
    """An agent's rollback: a rollback that loosens beyond the envelope needs approval too."""
    _require_thought_trace(reason, thought_trace)
    current_version, _ = config_head(scope=scope)
    if base_version is None:
        base_version = current_version
    if to_version is None:
        if current_version < 1:
            raise NotFound(f"{scope} has no previous version", code="VERSION_NOT_FOUND")
        target = dict(ConfigVersion.objects.get(
            scope_kind=scope.kind, scope_key=scope.key, version=current_version).previous)
        to_version = current_version - 1
    elif to_version == 0:
        target = {}
    else:
        row = ConfigVersion.objects.filter(
            scope_kind=scope.kind, scope_key=scope.key, version=to_version).first()
        if row is None:
            raise NotFound(f"{scope} has no version {to_version}", code="VERSION_NOT_FOUND")
        target = dict(row.params)
    resolved_to = to_version

    def full() -> ConfigVersion:
        return services.config_rollback(
            scope=scope, to_version=resolved_to, base_version=base_version, actor=principal,
            actor_kind=ActorKind.AGENT, reason=reason, thought_trace=thought_trace,
            trace_id=trace_id,
        )

    return _agent_config_apply(
        principal=principal, scope=scope, target=target, base_version=base_version,
        reason=reason, thought_trace=thought_trace, trace_id=trace_id, full=full,
    )


def _agent_config_apply(
    *,
    principal: str,
    scope: Scope,
    target: dict[str, Any],
    base_version: int,
    reason: str,
    thought_trace: str,
    trace_id: str,
    full: Callable[[], ConfigVersion],
) -> AgentWriteResult:
    """1. refuse stale bases and invalid targets; 2. judge each effective change;
    3. apply what fits (all at once when everything does); 4. file an approval for the rest.
    """
    current_version, current = config_head(scope=scope)
    if current_version != base_version:
        raise StaleVersion(
            f"{scope} is at version {current_version}, not {base_version}",
            details={"scope": str(scope), "current_version": current_version,
                     "base_version": base_version},
        )
    _validate_target(scope, target)
    now = timezone.now()
    policy = envelope_policy_for(principal)
    assessments = envelope_assess(
        policy, scope, effective_change(scope, current, target),
        envelope_usage(principal, now=now), now=now,
    )
    outside = {a.parameter for a in assessments if not a.within}
    if not outside:
        with transaction.atomic():
            applied = full()
            _record_usage(principal, scope, assessments, version=applied.version,
                          trace_id=trace_id)
        return AgentWriteResult(
            status="applied", version=applied, assessments=assessments,
            message=f"applied: {scope} is now at version {applied.version}",
        )
    keys = {k for k in set(current) | set(target) if current.get(k, _MISSING) !=
            target.get(k, _MISSING)}
    applied_keys = keys - outside
    pending_patch = {k: target[k] for k in sorted(keys & outside) if k in target}
    pending_unset = sorted(k for k in keys & outside if k not in target)
    version: ConfigVersion | None = None
    with transaction.atomic():
        if applied_keys:
            try:
                with transaction.atomic():
                    version = services.config_patch(
                        scope=scope,
                        patch={k: target[k] for k in applied_keys if k in target},
                        unset=sorted(k for k in applied_keys if k not in target),
                        base_version=base_version, actor=principal,
                        actor_kind=ActorKind.AGENT,
                        reason=f"{reason} [in-envelope part; the rest awaits approval]",
                        thought_trace=thought_trace, trace_id=trace_id,
                    )
            except ValidationFailed:
                # The part alone breaks a cross-field rule: the whole change waits instead.
                version = None
                pending_patch = {k: target[k] for k in sorted(keys) if k in target}
                pending_unset = sorted(k for k in keys if k not in target)
            else:
                _record_usage(principal, scope, assessments, version=version.version,
                              trace_id=trace_id)
        approval = _approval_create(
            principal=principal, kind=PendingApproval.Kind.CONFIG, scope=scope,
            payload={"patch": pending_patch, "unset": pending_unset},
            base_version=version.version if version else base_version,
            assessments=assessments, reason=reason, thought_trace=thought_trace,
            trace_id=trace_id, ttl_s=policy.approval_ttl_s,
        )
    waiting = [a for a in assessments if not a.within]
    head = (f"applied the in-envelope part as version {version.version}; "
            if version else "nothing was applied; ")
    return AgentWriteResult(
        status="partially_applied" if version else "pending_approval",
        version=version, approval=approval, assessments=assessments,
        message=(f"{head}approval #{approval.pk} for the rest is waiting for a staff decision "
                 f"until {approval.expires_at.isoformat()}. Outside the envelope: "
                 f"{_describe(waiting)}"),
    )


_MISSING: Final = object()


def agent_trading_state_set(
    *,
    principal: str,
    scope: Scope,
    state: str,
    reason: str,
    thought_trace: str,
    expires_at: dt.datetime | None = None,
    trace_id: str = "",
) -> AgentWriteResult:
    """Halting or reducing applies at once; resuming needs ``may_resume`` or an approval."""
    _require_thought_trace(reason, thought_trace)
    if scope.kind not in STATE_KINDS:
        raise ValidationFailed("trading state is set per global, strategy or symbol scope",
                               code="INVALID_SCOPE")
    try:
        new_state = TradingStateValue(state)
    except ValueError as exc:
        raise ValidationFailed(f"unknown trading state {state!r}", code="INVALID_STATE") from exc
    now = timezone.now()
    row = TradingState.objects.filter(scope_kind=scope.kind, scope_key=scope.key).first()
    in_force = row is not None and (row.expires_at is None or row.expires_at > now)
    current = TradingStateValue(row.state) if row is not None and in_force else \
        TradingStateValue.ACTIVE
    current_end = row.expires_at if row is not None and in_force else None
    loosens = _STATE_RANK[new_state] < _STATE_RANK[current] or (
        new_state == current and current != TradingStateValue.ACTIVE
        and expires_at is not None and (current_end is None or expires_at < current_end)
    )
    change = ChangeAssessment(
        parameter="trading_state", before=current.value, after=new_state.value,
        direction="loosening" if loosens else
        ("unchanged" if new_state == current else "tightening"),
        magnitude=None, within=True,
    )
    if loosens:
        policy = envelope_policy_for(principal)
        usage = envelope_usage(principal, now=now)
        violations: list[dict[str, str]] = []
        if not policy.enabled:
            violations.append(_violation(ENVELOPE_DISABLED, "this agent may only tighten"))
        if not policy.may_resume:
            violations.append(_violation(
                RESUME_NOT_IN_ENVELOPE, "the envelope does not allow resuming trading"))
        if row is not None and row.requires_staff_rearm and in_force:
            violations.append(_violation(
                REARM_REQUIRES_STAFF, "halted by the protection ladder: a staff user re-arms it"))
        if policy.enabled and usage.changes_today >= policy.max_changes_per_day:
            violations.append(_violation(
                DAILY_CHANGE_LIMIT, f"{usage.changes_today} changes in the last 24 h"))
        if violations:
            change = ChangeAssessment(
                parameter="trading_state", before=current.value, after=new_state.value,
                direction="loosening", magnitude=None, within=False,
                violations=tuple(violations),
            )
            with transaction.atomic():
                approval = _approval_create(
                    principal=principal, kind=PendingApproval.Kind.STATE, scope=scope,
                    payload={"state": new_state.value,
                             "expires_at": expires_at.isoformat() if expires_at else None},
                    base_version=None, assessments=[change], reason=reason,
                    thought_trace=thought_trace, trace_id=trace_id,
                    ttl_s=policy.approval_ttl_s,
                )
            return AgentWriteResult(
                status="pending_approval", approval=approval, assessments=[change],
                message=(f"nothing was applied; approval #{approval.pk} ({scope}: "
                         f"{current.value} -> {new_state.value}) is waiting for a staff "
                         f"decision until {approval.expires_at.isoformat()}. "
                         f"{_describe([change])}"),
            )
    saved = services.trading_state_set(
        scope=scope, state=new_state.value, actor=principal, actor_kind=ActorKind.AGENT,
        reason=reason, expires_at=expires_at, thought_trace=thought_trace, trace_id=trace_id,
    )
    return AgentWriteResult(status="applied", state=saved, assessments=[change],
                            message=f"applied: {scope} is {saved.state}")


# --- approvals ------------------------------------------------------------------------------


def approvals_expire(*, now: dt.datetime | None = None) -> int:
    """Mark pending approvals past their expiry as expired; returns how many."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        for approval in PendingApproval.objects.select_for_update(skip_locked=True).filter(
            status=PendingApproval.Status.PENDING, expires_at__lte=now
        ):
            approval.status = PendingApproval.Status.EXPIRED
            approval.decided_at = now
            approval.decided_by = "system"
            approval.save(update_fields=["status", "decided_at", "decided_by"])
            audit_record(
                event_type="approval.expired", actor="system", actor_kind=ActorKind.SYSTEM,
                scope=approval.scope, summary=f"approval #{approval.pk} expired",
                payload={"approval_id": approval.pk}, trace_id=approval.trace_id,
            )
            count += 1
    return count


def _locked_pending(approval_id: int, now: dt.datetime) -> PendingApproval:
    approval = PendingApproval.objects.select_for_update().filter(pk=approval_id).first()
    if approval is None:
        raise NotFound(f"no approval {approval_id}", code="APPROVAL_NOT_FOUND")
    if approval.status != PendingApproval.Status.PENDING:
        raise Conflict(f"approval #{approval_id} is {approval.status}",
                       code="APPROVAL_NOT_PENDING", details={"status": approval.status})
    if approval.expires_at <= now:
        raise Conflict(f"approval #{approval_id} expired at {approval.expires_at.isoformat()}",
                       code="APPROVAL_EXPIRED")
    return approval


def approval_approve(*, approval_id: int, actor: str, note: str = "") -> PendingApproval:
    """Apply an agent's proposal as the approving staff user (on its original base version).

    A proposal that no longer applies (the scope moved on, a hard gate tightened) is marked
    ``failed`` with the reason, and the error is raised to the caller.
    """
    now = timezone.now()
    approvals_expire(now=now)
    failure: CioError | None = None
    with transaction.atomic():
        approval = _locked_pending(approval_id, now)
        scope = Scope.parse(approval.scope)
        why = f"approved proposal #{approval.pk} of agent {approval.principal}: {approval.reason}"
        if note.strip():
            why += f" [{actor}: {note.strip()}]"
        try:
            with transaction.atomic():
                if approval.kind == PendingApproval.Kind.CONFIG:
                    version = services.config_patch(
                        scope=scope, patch=approval.payload.get("patch") or {},
                        unset=approval.payload.get("unset") or [],
                        base_version=approval.base_version or 0, actor=actor,
                        actor_kind=ActorKind.USER, reason=why,
                        thought_trace=approval.thought_trace, trace_id=approval.trace_id,
                    )
                    approval.result_version = version.version
                else:
                    raw_expiry = approval.payload.get("expires_at")
                    services.trading_state_set(
                        scope=scope, state=approval.payload["state"], actor=actor,
                        actor_kind=ActorKind.USER, reason=why,
                        expires_at=dt.datetime.fromisoformat(raw_expiry) if raw_expiry else None,
                        thought_trace=approval.thought_trace, trace_id=approval.trace_id,
                    )
        except CioError as exc:
            failure = exc
            approval.status = PendingApproval.Status.FAILED
            approval.error = f"{exc.code}: {exc.message}"
        else:
            approval.status = PendingApproval.Status.APPROVED
        approval.decided_by = actor
        approval.decided_at = now
        approval.decision_note = note
        approval.save()
        audit_record(
            event_type="approval.approved" if failure is None else "approval.failed",
            actor=actor, actor_kind=ActorKind.USER, scope=approval.scope,
            summary=(f"{actor} approved #{approval.pk} of {approval.principal}"
                     + ("" if failure is None else f"; it could not be applied: {failure.code}")),
            payload={"approval_id": approval.pk, "result_version": approval.result_version,
                     "error": approval.error},
            reason=note, trace_id=approval.trace_id,
        )
    if failure is not None:
        raise failure
    return approval


def approval_reject(*, approval_id: int, actor: str, note: str) -> PendingApproval:
    """Refuse an agent's proposal; nothing changes but the approval's status."""
    if not note.strip():
        raise ValidationFailed("say why the proposal is rejected", code="REASON_REQUIRED")
    now = timezone.now()
    with transaction.atomic():
        approval = _locked_pending(approval_id, now)
        approval.status = PendingApproval.Status.REJECTED
        approval.decided_by = actor
        approval.decided_at = now
        approval.decision_note = note
        approval.save()
        audit_record(
            event_type="approval.rejected", actor=actor, actor_kind=ActorKind.USER,
            scope=approval.scope,
            summary=f"{actor} rejected #{approval.pk} of {approval.principal}",
            payload={"approval_id": approval.pk}, reason=note, trace_id=approval.trace_id,
        )
    return approval


def approvals_list(
    *, principal: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[int, list[PendingApproval]]:
    """Approvals, newest first (expired ones are marked first); ``(total, page)``."""
    approvals_expire()
    qs = PendingApproval.objects.all()
    if principal is not None:
        qs = qs.filter(principal=principal)
    if status:
        qs = qs.filter(status=status)
    return qs.count(), list(qs.order_by("-created_at")[offset : offset + limit])
