"""Configuration operations: schema, defaults, resolved config, validate, patch, history."""

from __future__ import annotations

import math
from typing import Any, Literal

from django.db import connection
from django.utils import timezone

from governance import envelope, services
from governance.api.ops._out import approval_out, assessments_out, version_out
from governance.api.registry import Call, Operation, Result, register
from governance.api.schemas import (
    ApplyConfigPatchIn,
    ConfigHealthOut,
    ConfigOut,
    ConfigWriteOut,
    DefaultsOut,
    EmptyIn,
    EnvelopeCheckOut,
    GetParameterSchemaIn,
    GetTradingConfigIn,
    HardGateOut,
    HistoryIn,
    HistoryOut,
    ImpactOut,
    ReplaceConfigIn,
    RollbackIn,
    SchemaOut,
    ScopeFields,
    ValidateConfigIn,
    ValidationErrorOut,
    ValidationOut,
)
from governance.auth import SCOPE_CONFIG_WRITE, SCOPE_READ
from governance.catalog import (
    CATALOG,
    CROSS_FIELD_RULES,
    catalog_as_json_schema,
    catalog_defaults,
    change_magnitude,
    parameter_doc,
    validate_full,
    validate_patch,
)
from governance.errors import HardGateViolation, NotFound, ValidationFailed
from governance.hard_gates import SPECS, hard_gate_check_config
from governance.models import ConfigHead, ConfigVersion, HardGate
from governance.scopes import Scope, ScopeKind, resolution_chain
from governance.selectors import (
    config_head,
    config_history,
    hard_gates_current,
    policy_version_current,
    resolve_from_heads,
)

_CATALOG_NOTE = (
    " Parameters (see get_parameter_schema for units and risk notes): "
    + ", ".join(sorted(CATALOG)) + "."
)


def _scope_parts(scope: Scope) -> tuple[str | None, str | None, str | None]:
    if scope.kind is ScopeKind.SYMBOL:
        return scope.key, None, None
    if scope.kind is ScopeKind.SYMBOL_SIDE:
        symbol, side = scope.key.split(":")
        return symbol, side, None
    if scope.kind is ScopeKind.STRATEGY:
        return None, None, scope.key
    return None, None, None


# --- reads ----------------------------------------------------------------------------------


def get_parameter_schema(call: Call, args: GetParameterSchemaIn) -> Result:
    if args.parameter:
        docs = {args.parameter: parameter_doc(args.parameter)}
    else:
        docs = {name: parameter_doc(name) for name in CATALOG}
    return Result(SchemaOut(
        total_parameters=len(CATALOG), parameters=docs, cross_field_rules=list(CROSS_FIELD_RULES),
        json_schema=catalog_as_json_schema() if args.include_json_schema else None,
    ))


register(Operation(
    name="get_parameter_schema", title="Parameter catalog",
    description=(
        "Documentation of every trading parameter the CIO governs: type, unit, default, "
        "bounds, allowed values, when to raise or lower it, which direction loosens risk, "
        "and the cross-field rules. Read it before proposing a change. Pass `parameter` for "
        "one entry." + _CATALOG_NOTE),
    input=GetParameterSchemaIn, output=SchemaOut, scope=SCOPE_READ,
    handler=get_parameter_schema,
))


def get_config_defaults(call: Call, args: EmptyIn) -> Result:
    defaults = catalog_defaults()
    return Result(DefaultsOut(total_parameters=len(defaults), parameters=defaults))


register(Operation(
    name="get_config_defaults", title="Parameter defaults",
    description="The default value of every parameter (what applies where no scope sets it).",
    input=EmptyIn, output=DefaultsOut, scope=SCOPE_READ, handler=get_config_defaults,
    agent=False,
))


def config_view(fields: ScopeFields) -> ConfigOut:
    """The resolved configuration for a symbol / side / strategy combination."""
    if fields.side and not fields.symbol:
        raise ValidationFailed("side needs a symbol", code="INVALID_SCOPE")
    chain = resolution_chain(symbol=fields.symbol, side=fields.side,
                             strategy_id=fields.strategy_id)
    target = chain[0]
    heads = {(h.scope_kind, h.scope_key): h for h in ConfigHead.objects.filter(
        scope_kind__in=[s.kind for s in chain], scope_key__in=[s.key for s in chain])}
    resolved = resolve_from_heads(
        {s: (heads[(s.kind, s.key)].version, dict(heads[(s.kind, s.key)].params))
         for s in chain if (s.kind, s.key) in heads}, chain)
    versions = {str(s): heads[(s.kind, s.key)].version if (s.kind, s.key) in heads else 0
                for s in chain}
    head = heads.get((target.kind, target.key))
    return ConfigOut(
        scope=str(target), symbol=fields.symbol.upper() if fields.symbol else None,
        side=fields.side, strategy_id=fields.strategy_id, parameters=resolved.params,
        sources=resolved.sources, overrides=dict(head.params) if head else {},
        version=versions[str(target)], scope_versions=versions,
        policy_version=policy_version_current(), updated_at=head.updated_at if head else None,
    )


def get_trading_config(call: Call, args: GetTradingConfigIn) -> Result:
    return Result(config_view(args))


register(Operation(
    name="get_trading_config", title="Resolved trading configuration",
    description=(
        "The effective parameters for a scope, each with its source (default, global, "
        "symbol:X, strategy:Y, symbol_side:X:SIDE; most specific wins: symbol+side > "
        "strategy > symbol > global > default). `version` is the target scope's current "
        "version: pass it as base_version when you patch that scope. No arguments = global."),
    input=GetTradingConfigIn, output=ConfigOut, scope=SCOPE_READ, handler=get_trading_config,
))


def get_config_history(call: Call, args: HistoryIn) -> Result:
    scope = args.target_scope()
    current, _ = config_head(scope=scope)
    items = config_history(scope=scope, limit=args.limit, offset=args.offset)
    count = ConfigVersion.objects.filter(scope_kind=scope.kind, scope_key=scope.key).count()
    return Result(HistoryOut(scope=str(scope), current_version=current, count=count,
                             limit=args.limit, offset=args.offset,
                             items=[version_out(v) for v in items]))


register(Operation(
    name="get_config_history", title="Configuration history",
    description=(
        "Versions of one scope, newest first, each with its diff (parameter, before, after), "
        "actor, reason, thought trace and trace id. Use it to pick a version to roll back to."),
    input=HistoryIn, output=HistoryOut, scope=SCOPE_READ, handler=get_config_history,
))


def get_hard_gates(call: Call, args: EmptyIn) -> Result:
    rows = {g.key: g for g in HardGate.objects.all()}
    values = hard_gates_current()
    return Result([
        HardGateOut(key=key, value=values.get(key), ceiling=spec.ceiling,
                    direction=spec.direction, unit=spec.unit, description=spec.description,
                    updated_by=rows[key].updated_by if key in rows else "code default",
                    updated_at=rows[key].updated_at if key in rows else None)
        for key, spec in SPECS.items()
    ])


register(Operation(
    name="get_hard_gates", title="Hard safety gates",
    description=(
        "The primal safety limits in force (max leverage, max order notional, fleet exposure, "
        "drawdown levels, ...). No configuration may go beyond them and no agent can change "
        "them; read them to keep proposals inside."),
    input=EmptyIn, output=None, scope=SCOPE_READ, handler=get_hard_gates,
))


def config_health(call: Call, args: EmptyIn) -> Result:
    try:
        connection.ensure_connection()
        version = policy_version_current()
        ok = True
    except Exception:  # any database failure means "unhealthy", never a 500
        version, ok = 0, False
    return Result(ConfigHealthOut(status="healthy" if ok else "unhealthy",
                                  database_connected=ok, mongodb_connected=ok,
                                  policy_version=version))


register(Operation(
    name="config_health", title="Config store health",
    description="Engine-compatible health of the configuration store.",
    input=EmptyIn, output=ConfigHealthOut, scope=SCOPE_READ, handler=config_health, agent=False,
))


# --- validation (dry run) -----------------------------------------------------------------


def _suggest(error: dict[str, Any], value: Any) -> Any:
    spec = CATALOG.get(str(error.get("parameter")))
    if spec is None or error.get("code") != "OUT_OF_RANGE":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        low = spec.minimum if spec.minimum is not None else value
        high = spec.maximum if spec.maximum is not None else value
        return min(max(value, low), high)
    return None


def _errors_from(exc: ValidationFailed | HardGateViolation, params: dict[str, Any]
                 ) -> tuple[list[ValidationErrorOut], list[str]]:
    errors, fixes = [], []
    raw = exc.details.get("errors", []) if isinstance(exc.details, dict) else []
    if not raw:
        raw = [{"parameter": "__all__", "code": exc.code, "message": exc.message}]
    for item in raw:
        name = str(item.get("parameter", "__all__"))
        if isinstance(exc, HardGateViolation):
            errors.append(ValidationErrorOut(
                field=name, parameter=name, code="HARD_GATE_VIOLATION",
                message=f"{name}={item.get('value')} is beyond the hard gate "
                        f"{item.get('hard_gate')} ({item.get('limit')})",
                suggested_value=item.get("limit")))
            fixes.append(f"keep {name} within the hard gate {item.get('hard_gate')}="
                         f"{item.get('limit')}")
            continue
        suggestion = _suggest(item, params.get(name))
        errors.append(ValidationErrorOut(field=name, parameter=name, code=str(item.get("code")),
                                         message=str(item.get("message")),
                                         suggested_value=suggestion))
        if suggestion is not None:
            fixes.append(f"set {name} to {suggestion} (nearest allowed value)")
        elif "did you mean" in str(item.get("message")):
            fixes.append(str(item.get("message")))
    return errors, fixes


def _risk_level(changes: list[envelope.ChangeAssessment]) -> Literal["low", "medium", "high"]:
    loosening = [c for c in changes if c.direction == "loosening"]
    if not loosening:
        return "low"
    if any(c.magnitude is None or math.isinf(c.magnitude) or c.magnitude >= 0.5
           for c in loosening):
        return "high"
    return "medium"


def validate_config(call: Call, args: ValidateConfigIn) -> Result:
    scope = args.target_scope()
    version, current = config_head(scope=scope)
    errors: list[ValidationErrorOut] = []
    fixes: list[str] = []
    warnings: list[str] = []
    try:
        clean = validate_patch(dict(args.parameters)) if args.parameters else {}
        unknown = [n for n in args.unset if n not in CATALOG]
        if unknown:
            raise ValidationFailed("cannot unset unknown parameters", code="CONFIG_INVALID",
                                   details={"errors": [{"parameter": n,
                                                        "code": "UNKNOWN_PARAMETER",
                                                        "message": "unknown parameter"}
                                                       for n in unknown]})
    except ValidationFailed as exc:
        errors, fixes = _errors_from(exc, dict(args.parameters))
        return Result(ValidationOut(validation_passed=False, scope=str(scope),
                                    base_version=version, errors=errors, warnings=warnings,
                                    suggested_fixes=fixes, estimated_impact=None))
    if args.mode == "replace":
        target = clean
    else:
        target = {k: v for k, v in current.items() if k not in set(args.unset)}
        target.update(clean)
    merged = catalog_defaults()
    if scope.kind is not ScopeKind.GLOBAL:
        merged.update(config_head(scope=Scope.global_())[1])
    merged.update(target)
    problems: list[ValidationFailed | HardGateViolation] = []
    try:
        validate_full(merged)
    except ValidationFailed as exc:
        problems.append(exc)
    try:
        hard_gate_check_config(target, hard_gates_current())
    except HardGateViolation as exc:
        problems.append(exc)
    for problem in problems:
        more, more_fixes = _errors_from(problem, target)
        errors += more
        fixes += more_fixes
    changes: list[envelope.ChangeAssessment] = []
    if not errors:
        for name, before, after in envelope.effective_change(scope, current, target):
            direction = envelope.change_direction(name, before, after)
            magnitude = (change_magnitude(name, before, after) if direction == "loosening"
                         else None)
            changes.append(envelope.ChangeAssessment(
                parameter=name, before=before, after=after, direction=direction,
                magnitude=magnitude, within=True))
        for c in changes:
            if c.direction == "loosening" and c.magnitude is not None and c.magnitude >= 0.5:
                size = "an unbounded amount" if math.isinf(c.magnitude) else f"{c.magnitude:.0%}"
                warnings.append(f"{c.parameter} loosens risk by {size}")
        if not changes:
            warnings.append("no effective change: the values equal what already applies")
    impact = None if errors else ImpactOut(
        risk_level=_risk_level(changes),
        loosening=[c.parameter for c in changes if c.direction == "loosening"],
        tightening=[c.parameter for c in changes if c.direction == "tightening"],
        neutral=[c.parameter for c in changes if c.direction == "neutral"],
        changes=assessments_out(changes),
    )
    check: EnvelopeCheckOut | None = None
    if call.principal.is_agent and not errors:
        now = timezone.now()
        judged = envelope.envelope_assess(
            envelope.envelope_policy_for(call.principal.name), scope,
            [(c.parameter, c.before, c.after) for c in changes],
            envelope.envelope_usage(call.principal.name, now=now), now=now)
        check = EnvelopeCheckOut(
            applies_at_once=all(a.within for a in judged),
            needs_approval=[a.parameter for a in judged if not a.within],
            assessments=assessments_out(judged))
    return Result(ValidationOut(
        validation_passed=not errors, scope=str(scope), base_version=version, errors=errors,
        warnings=warnings, suggested_fixes=fixes, estimated_impact=impact, envelope=check))


register(Operation(
    name="validate_config_patch", title="Validate a config change (dry run)",
    description=(
        "Check a change without applying it: every problem with its code (UNKNOWN_PARAMETER, "
        "INVALID_TYPE, OUT_OF_RANGE, INVALID_VALUE, HARD_GATE_VIOLATION) and a suggested "
        "value, the effective changes with their risk direction, an estimated risk level "
        "(low/medium/high), and for agents whether it fits the agent envelope or would need "
        "a staff approval. Always call it before apply_config_patch."),
    input=ValidateConfigIn, output=ValidationOut, scope=SCOPE_READ, handler=validate_config,
))


# --- writes -------------------------------------------------------------------------------


def _write_out(scope: Scope, res: envelope.AgentWriteResult | None,
               version: ConfigVersion | None, message: str = "") -> Result:
    symbol, side, strategy = _scope_parts(scope)
    current, params = config_head(scope=scope)
    if res is not None:
        version = res.version
    status = res.status if res is not None else "applied"
    return Result(ConfigWriteOut(
        status=status, message=res.message if res is not None else message, scope=str(scope),
        symbol=symbol, side=side, strategy_id=strategy,
        version=current, parameters=params,
        created_at=version.created_at if version else None,
        record=version_out(version) if version else None,
        approval=approval_out(res.approval) if res is not None and res.approval else None,
        assessments=assessments_out(res.assessments) if res is not None else [],
    ), status=200 if status == "applied" else 202)


def apply_config_patch(call: Call, args: ApplyConfigPatchIn) -> Result:
    scope = args.target_scope()
    p = call.principal
    if p.is_agent:
        return _write_out(scope, envelope.agent_config_patch(
            principal=p.name, scope=scope, patch=args.patch, unset=args.unset,
            base_version=args.base_version, reason=args.reason,
            thought_trace=args.thought_trace, trace_id=call.trace_id), None)
    version = services.config_patch(
        scope=scope, patch=args.patch, unset=args.unset, base_version=args.base_version,
        actor=p.name, actor_kind=p.actor_kind, reason=args.reason,
        thought_trace=args.thought_trace, trace_id=call.trace_id)
    return _write_out(scope, None, version, f"applied: {scope} is now at version "
                                            f"{version.version}")


register(Operation(
    name="apply_config_patch", title="Apply a config patch",
    description=(
        "Merge `patch` into one scope's overrides (and drop `unset`) as a new immutable "
        "version, announced to the fleet at once. Give the base_version you read "
        "(get_trading_config `version`); a stale one is refused with STALE_VERSION. For "
        "agents: changes that tighten risk apply at once; loosening beyond your envelope "
        "(get_agent_envelope) becomes a pending approval for a staff user and the result "
        "says so (status pending_approval or partially_applied). Requires a reason and, for "
        "agents, a thought_trace of at least 100 characters. Values beyond the hard gates "
        "are refused (HARD_GATE_VIOLATION)."),
    input=ApplyConfigPatchIn, output=ConfigWriteOut, scope=SCOPE_CONFIG_WRITE,
    handler=apply_config_patch, read_only=False, destructive=True, idempotent=False,
    open_world=True,
))


def _with_changed_by(reason: str | None, changed_by: str | None, principal: str) -> str:
    text = (reason or "").strip()
    if text and changed_by and changed_by != principal:
        text += f" [changed_by={changed_by}]"
    return text


def replace_config(call: Call, args: ReplaceConfigIn) -> Result:
    scope = args.target_scope()
    p = call.principal
    current, _ = config_head(scope=scope)
    base = current if args.base_version is None else args.base_version
    reason = _with_changed_by(args.reason, args.changed_by, p.name)
    if args.validate_only:
        clean = validate_patch(dict(args.parameters)) if args.parameters else {}
        merged = catalog_defaults()
        if scope.kind is not ScopeKind.GLOBAL:
            merged.update(config_head(scope=Scope.global_())[1])
        merged.update(clean)
        validate_full(merged)
        hard_gate_check_config(clean, hard_gates_current())
        symbol, side, strategy = _scope_parts(scope)
        return Result(ConfigWriteOut(
            status="validated", message="validation passed; nothing was written",
            scope=str(scope), symbol=symbol, side=side, strategy_id=strategy,
            version=current, parameters=clean))
    if p.is_agent:
        return _write_out(scope, envelope.agent_config_replace(
            principal=p.name, scope=scope, params=args.parameters, base_version=base,
            reason=reason, thought_trace=args.thought_trace, trace_id=call.trace_id), None)
    version = services.config_replace(
        scope=scope, params=args.parameters, base_version=base, actor=p.name,
        actor_kind=p.actor_kind, reason=reason, thought_trace=args.thought_trace,
        trace_id=call.trace_id)
    return _write_out(scope, None, version, f"replaced: {scope} is now at version "
                                            f"{version.version}")


register(Operation(
    name="replace_config", title="Replace a scope's config (engine semantics)",
    description=(
        "The engine's POST /config/trading semantics: the scope's overrides become exactly "
        "`parameters`. Without base_version the write is unconditional, as in the engine."),
    input=ReplaceConfigIn, output=ConfigWriteOut, scope=SCOPE_CONFIG_WRITE,
    handler=replace_config, agent=False, read_only=False, destructive=True, idempotent=False,
    open_world=True,
))


def rollback_to_version(call: Call, args: RollbackIn) -> Result:
    target_version = args.target_version
    if args.rollback_id:
        row = ConfigVersion.objects.filter(pk=int(args.rollback_id)).first()
        if row is None:
            raise NotFound(f"no config version record {args.rollback_id}",
                           code="VERSION_NOT_FOUND")
        asked = args.target_scope()
        if (args.symbol or args.strategy_id) and asked != row.scope:
            raise ValidationFailed(f"record {row.pk} belongs to {row.scope}, not {asked}",
                                   code="INVALID_SCOPE")
        scope, target_version = row.scope, row.version
    else:
        scope = args.target_scope()
    p = call.principal
    reason = _with_changed_by(args.reason, args.changed_by, p.name)
    if p.is_agent:
        return _write_out(scope, envelope.agent_config_rollback(
            principal=p.name, scope=scope, to_version=target_version,
            base_version=args.base_version, reason=reason, thought_trace=args.thought_trace,
            trace_id=call.trace_id), None)
    version = services.config_rollback(
        scope=scope, to_version=target_version, base_version=args.base_version, actor=p.name,
        actor_kind=p.actor_kind, reason=reason, thought_trace=args.thought_trace,
        trace_id=call.trace_id)
    return _write_out(scope, None, version,
                      f"rolled back {scope} to version {version.rollback_to} as version "
                      f"{version.version}")


register(Operation(
    name="rollback_to_version", title="Roll back a scope",
    description=(
        "Restore one scope's overrides of `target_version` (omit it for the version before "
        "the current one; 0 = no overrides) as a new version; history is never rewritten. "
        "Find versions with get_config_history. Agents: a rollback that loosens risk beyond "
        "the envelope becomes a pending approval. Requires a reason and, for agents, a "
        "thought_trace of at least 100 characters."),
    input=RollbackIn, output=ConfigWriteOut, scope=SCOPE_CONFIG_WRITE,
    handler=rollback_to_version, read_only=False, destructive=True, idempotent=False,
    open_world=True,
))
