"""Wire schemas shared by the HTTP API and the MCP tools (one source of truth).

``*In`` models are an operation's input (the MCP tool's ``inputSchema``); ``*Out`` models
its ``data``. Configuration values are typed by the parameter catalog's JSON Schema, so
agents and OpenAPI readers see units, bounds and risk notes; the values themselves are
checked by the catalog (stable per-parameter codes), not by pydantic.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from governance.catalog import CATALOG, catalog_as_json_schema
from governance.errors import ValidationFailed
from governance.scopes import Scope

T = TypeVar("T")

SYMBOL_PATTERN = r"^[A-Za-z0-9]{2,30}$"
STRATEGY_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
THOUGHT_TRACE_HELP = (
    "Agents: your reasoning for this change, at least 100 characters (what you observed, "
    "why this change, what you expect). It is stored with the version and the audit event."
)


@cache
def _patch_schema() -> dict[str, Any]:
    schema = catalog_as_json_schema()
    return {
        "type": "object",
        "description": (
            "Parameters to set, by name. " + schema["description"]
            + " Cross-field rules: " + "; ".join(schema["x-cross-field-rules"]) + "."
        ),
        "properties": schema["properties"],
        "additionalProperties": False,
    }


@cache
def _loose_patch_schema() -> dict[str, Any]:
    # A dry run must accept bad values too, to report them with their codes.
    schema = dict(_patch_schema())
    schema["additionalProperties"] = True
    return schema


def _unset_schema() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "enum": sorted(CATALOG)},
            "uniqueItems": True, "description": "Parameters whose override at this scope is "
            "removed (the scope then inherits them again)."}


def _utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC (naive input counts as UTC); a date beyond what UTC can hold is refused."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ValueError("the date is out of range") from exc


UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]
ConfigPatch = Annotated[dict[str, Any], WithJsonSchema(_patch_schema())]
LooseConfigPatch = Annotated[dict[str, Any], WithJsonSchema(_loose_patch_schema())]
UnsetList = Annotated[list[str], WithJsonSchema(_unset_schema())]
JsonObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]
AnyJson = Annotated[Any, WithJsonSchema({})]
Side = Literal["LONG", "SHORT"]


def _has_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 20:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


class In(BaseModel):
    """Base of every operation input: unknown fields are refused, not silently ignored, and
    NUL characters (which PostgreSQL text and JSON cannot store) are refused anywhere."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("NUL characters are not allowed")
        return data


# --- envelope -------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    code: str = Field(description="Stable error code, e.g. STALE_VERSION")
    message: str
    details: AnyJson = Field(default_factory=dict)


class Envelope(BaseModel, Generic[T]):
    """Every response: ``success`` with ``data``, or an ``error`` with a stable code."""

    success: bool
    data: T | None = None
    trace_id: str
    error: ErrorOut | None = None


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    data: None = None
    trace_id: str
    error: ErrorOut


# --- scope selection ------------------------------------------------------------------------


class ScopeFields(In):
    """Which configuration scope: none = global; symbol; symbol + side; or strategy_id."""

    symbol: str | None = Field(default=None, pattern=SYMBOL_PATTERN,
                               description="Symbol, e.g. BTCUSDT (upper-cased)")
    side: Side | None = Field(default=None, description="LONG or SHORT; needs a symbol")
    strategy_id: str | None = Field(default=None, pattern=STRATEGY_PATTERN,
                                    description="Strategy id (the strategy scope)")

    def target_scope(self) -> Scope:
        """The one scope a write targets (INVALID_SCOPE for a combination)."""
        if self.side and not self.symbol:
            raise ValidationFailed("side needs a symbol", code="INVALID_SCOPE")
        if self.strategy_id and self.symbol:
            raise ValidationFailed("write one scope: a symbol (with side) or a strategy_id",
                                   code="INVALID_SCOPE")
        if self.strategy_id:
            return Scope.strategy(self.strategy_id)
        if self.symbol and self.side:
            return Scope.symbol_side(self.symbol, self.side)
        if self.symbol:
            return Scope.symbol(self.symbol)
        return Scope.global_()


class GetParameterSchemaIn(In):
    parameter: str | None = Field(default=None, max_length=80,
                                  description="One parameter's documentation; omit for all")
    include_json_schema: bool = Field(default=False,
                                      description="Also return the JSON Schema of a config")


class GetTradingConfigIn(ScopeFields):
    pass


class ValidateConfigIn(ScopeFields):
    parameters: LooseConfigPatch = Field(description="The parameters to check")
    unset: UnsetList = Field(default_factory=list)
    mode: Literal["patch", "replace"] = Field(
        default="patch", description="patch merges into the scope; replace swaps it whole")


class ApplyConfigPatchIn(ScopeFields):
    patch: ConfigPatch = Field(default_factory=dict)
    unset: UnsetList = Field(default_factory=list)
    base_version: int = Field(ge=0, description="The scope's version you read (optimistic "
                              "concurrency: a stale base is refused with STALE_VERSION)")
    reason: str = Field(min_length=1, max_length=2000)
    thought_trace: str = Field(default="", max_length=20000, description=THOUGHT_TRACE_HELP)


class ReplaceConfigIn(ScopeFields):
    parameters: ConfigPatch
    base_version: int | None = Field(
        default=None, ge=0, description="Omit for the engine's unconditional write")
    reason: str | None = Field(default=None, max_length=2000)
    changed_by: str | None = Field(default=None, max_length=150,
                                   description="Informational; the actor is the caller")
    validate_only: bool = False
    thought_trace: str = Field(default="", max_length=20000, description=THOUGHT_TRACE_HELP)


class RollbackIn(ScopeFields):
    target_version: int | None = Field(default=None, ge=0,
                                       description="Version to restore; omit for the previous")
    rollback_id: str | None = Field(default=None, max_length=40, pattern=r"^[0-9]{1,18}$",
                                    description="A config version record id (wins over "
                                    "target_version)")
    base_version: int | None = Field(default=None, ge=0)
    reason: str | None = Field(default=None, max_length=2000)
    changed_by: str | None = Field(default=None, max_length=150)
    thought_trace: str = Field(default="", max_length=20000, description=THOUGHT_TRACE_HELP)


class HistoryIn(ScopeFields):
    limit: int = Field(default=20, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100000)


class TradingStateQueryIn(In):
    symbol: str | None = Field(default=None, pattern=SYMBOL_PATTERN)
    strategy_id: str | None = Field(default=None, pattern=STRATEGY_PATTERN)


class SetTradingStateIn(In):
    state: Literal["ACTIVE", "REDUCING", "HALTED"] = Field(
        description="HALTED: no new exposure; REDUCING: only position-reducing intents; "
        "ACTIVE: resume")
    scope: str | None = Field(default=None, max_length=180, pattern=r"^(global|symbol:|strategy:)",
                              description="global, symbol:BTCUSDT or strategy:<id>")
    symbol: str | None = Field(default=None, pattern=SYMBOL_PATTERN)
    strategy_id: str | None = Field(default=None, pattern=STRATEGY_PATTERN)
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: UtcDatetime | None = Field(default=None,
                                           description="When the state lapses (UTC)")
    ttl_seconds: int | None = Field(default=None, ge=1, le=30 * 86400,
                                    description="Alternative to expires_at")
    thought_trace: str = Field(default="", max_length=20000, description=THOUGHT_TRACE_HELP)

    def target_scope(self) -> Scope:
        given = [x for x in (self.scope, self.symbol, self.strategy_id) if x]
        if len(given) > 1:
            raise ValidationFailed("give one of scope, symbol or strategy_id",
                                   code="INVALID_SCOPE")
        if self.scope:
            return Scope.parse(self.scope)
        if self.symbol:
            return Scope.symbol(self.symbol)
        if self.strategy_id:
            return Scope.strategy(self.strategy_id)
        return Scope.global_()


class StateActionIn(In):
    """Body of the halt / reduce-only / resume routes."""

    scope: str | None = Field(default=None, max_length=180, pattern=r"^(global|symbol:|strategy:)")
    symbol: str | None = Field(default=None, pattern=SYMBOL_PATTERN)
    strategy_id: str | None = Field(default=None, pattern=STRATEGY_PATTERN)
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: UtcDatetime | None = None
    ttl_seconds: int | None = Field(default=None, ge=1, le=30 * 86400)
    thought_trace: str = Field(default="", max_length=20000)


class ListDecisionsIn(In):
    outcome: Literal["approved", "blocked"] | None = None
    strategy_id: str | None = Field(default=None, max_length=128)
    symbol: str | None = Field(default=None, max_length=32)
    reason_code: str | None = Field(default=None, max_length=64, pattern=r"^[A-Z0-9_]+$")
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1000000)


class DecisionIdIn(In):
    decision_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-:.]+$")


class ListApprovalsIn(In):
    status: Literal["pending", "approved", "rejected", "expired", "failed"] | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


class EmptyIn(In):
    pass


class RegimeIn(In):
    symbol: str | None = Field(default=None, pattern=SYMBOL_PATTERN)


class EarningsIn(In):
    window_hours: int | None = Field(default=None, ge=1, le=8760,
                                     description="look-back window; overrides period")
    period: Literal["day", "week", "month"] = "week"
    strategy_id: str | None = Field(default=None, pattern=STRATEGY_PATTERN)


class MemorySearchIn(In):
    query: str = Field(min_length=1, max_length=2000)
    limit: int = Field(default=10, ge=1, le=50)


# --- outputs --------------------------------------------------------------------------------


class ChangeOut(BaseModel):
    parameter: str
    before: AnyJson = None
    after: AnyJson = None
    change: str = ""


class ConfigVersionOut(BaseModel):
    id: int
    scope: str
    version: int
    operation: str
    rollback_to: int | None
    actor: str
    actor_kind: str
    reason: str
    thought_trace: str
    trace_id: str
    policy_version: int
    created_at: dt.datetime
    params: JsonObject
    previous: JsonObject
    changes: list[ChangeOut]


class AssessmentOut(BaseModel):
    parameter: str
    before: AnyJson = None
    after: AnyJson = None
    direction: Literal["tightening", "loosening", "neutral", "unchanged"]
    magnitude: float | None = None
    within_envelope: bool
    violations: list[dict[str, str]] = Field(default_factory=list)


class ApprovalOut(BaseModel):
    id: int
    principal: str
    kind: str
    scope: str
    payload: JsonObject
    base_version: int | None
    changes: list[JsonObject]
    violations: list[JsonObject]
    reason: str
    trace_id: str
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime
    decided_by: str
    decided_at: dt.datetime | None
    decision_note: str
    result_version: int | None
    error: str


class ConfigOut(BaseModel):
    """Resolved configuration, shaped like the engine's ConfigResponse plus provenance."""

    scope: str
    symbol: str | None
    side: Side | None
    strategy_id: str | None
    parameters: JsonObject
    sources: dict[str, str] = Field(description="Per parameter: default or the scope that set it")
    overrides: JsonObject = Field(description="What the target scope itself sets")
    version: int = Field(description="The target scope's current version (base_version for a "
                         "patch)")
    scope_versions: dict[str, int]
    source: str = "resolved"
    policy_version: int
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class ConfigWriteOut(BaseModel):
    """Outcome of a config write; ``status`` says whether it applied or awaits approval."""

    status: Literal["applied", "pending_approval", "partially_applied", "validated"]
    message: str
    scope: str
    symbol: str | None
    side: Side | None
    strategy_id: str | None
    version: int | None = Field(description="The scope's version after the write")
    parameters: JsonObject = Field(description="The scope's overrides after the write")
    source: str = "cio"
    created_at: dt.datetime | None = None
    record: ConfigVersionOut | None = None
    approval: ApprovalOut | None = None
    assessments: list[AssessmentOut] = Field(default_factory=list)


class ValidationErrorOut(BaseModel):
    field: str
    parameter: str
    message: str
    code: str
    suggested_value: AnyJson = None


class ImpactOut(BaseModel):
    risk_level: Literal["low", "medium", "high"]
    loosening: list[str]
    tightening: list[str]
    neutral: list[str]
    changes: list[AssessmentOut]


class EnvelopeCheckOut(BaseModel):
    applies_at_once: bool
    needs_approval: list[str]
    assessments: list[AssessmentOut]


class ValidationOut(BaseModel):
    validation_passed: bool
    scope: str
    base_version: int
    errors: list[ValidationErrorOut]
    warnings: list[str]
    suggested_fixes: list[str]
    estimated_impact: ImpactOut | None
    conflicts: list[JsonObject] = Field(default_factory=list)
    envelope: EnvelopeCheckOut | None = None


class HistoryOut(BaseModel):
    scope: str
    current_version: int
    count: int
    limit: int
    offset: int
    items: list[ConfigVersionOut]


class SchemaOut(BaseModel):
    total_parameters: int
    parameters: dict[str, JsonObject] = Field(description="Per parameter: type, unit, bounds, "
                                              "default, when to raise/lower, risk direction")
    cross_field_rules: list[str]
    json_schema: JsonObject | None = Field(default=None, description="JSON Schema of a config")


class DefaultsOut(BaseModel):
    total_parameters: int
    parameters: JsonObject


class HardGateOut(BaseModel):
    key: str
    value: AnyJson = None
    ceiling: float | None
    direction: str
    unit: str
    description: str
    updated_by: str
    updated_at: dt.datetime | None


class TradingStateOut(BaseModel):
    scope: str
    state: str
    reason: str
    set_by: str
    actor_kind: str
    set_at: dt.datetime | None
    expires_at: dt.datetime | None
    requires_staff_rearm: bool
    in_force: bool


class EffectiveStateOut(BaseModel):
    state: str
    scope: str
    expires_at: dt.datetime | None
    reason: str


class TradingStateViewOut(BaseModel):
    effective: EffectiveStateOut
    scopes: list[TradingStateOut]
    policy_version: int


class StateWriteOut(BaseModel):
    status: Literal["applied", "pending_approval"]
    message: str
    state: TradingStateOut | None = None
    approval: ApprovalOut | None = None
    assessments: list[AssessmentOut] = Field(default_factory=list)


class ReasonOut(BaseModel):
    code: str
    detail: str = ""


class DecisionOut(BaseModel):
    decision_id: str
    intent_id: str
    strategy_id: str
    symbol: str
    action: str
    quantity: float | None
    price: float | None
    notional: float | None
    outcome: str
    reasons: list[ReasonOut]
    reason_codes: list[str]
    policy_version: int
    latency_us: int
    trace_id: str
    received_at: dt.datetime
    decided_at: dt.datetime
    signal_subject: str


class DecisionDetailOut(DecisionOut):
    payload: JsonObject


class DecisionListOut(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[DecisionOut]


class FiredRuleOut(BaseModel):
    code: str
    detail: str
    values: dict[str, str]


class LimitOut(BaseModel):
    name: str
    source: str
    limit: AnyJson = None
    observed: AnyJson = None
    headroom: float | None
    passes: bool | None
    unit: str
    kind: str
    note: str


class HintOut(BaseModel):
    code: str
    advice: str
    wait_seconds: float | None
    resend_can_pass: bool


class WouldPassOut(BaseModel):
    max_notional_usd: float | None
    binding_limit: str | None
    max_quantity: float | None
    min_notional_usd: float | None
    min_confidence: float | None
    max_leverage: float | None
    wait_seconds: float | None
    blocked_by: list[str]
    hints: list[HintOut]


class ExplainPolicyOut(BaseModel):
    version_at_decision: int
    version_now: int
    changed_since: bool


class ExplainStateOut(BaseModel):
    state: str
    scope: str
    expires_at: str | None
    seconds_until_expiry: float | None


class ExplainOut(BaseModel):
    decision_id: str
    outcome: str
    strategy_id: str
    symbol: str
    action: str
    side: str | None
    notional: float | None
    decided_at: str
    rules_fired: list[FiredRuleOut]
    policy: ExplainPolicyOut
    trading_state: ExplainStateOut
    limits: list[LimitOut]
    what_would_pass: WouldPassOut


class ApprovalListOut(BaseModel):
    total: int
    items: list[ApprovalOut]


class EnvelopeOut(BaseModel):
    principal: str
    is_agent: bool
    enabled: bool
    parameters: dict[str, JsonObject]
    max_changes_per_day: int
    may_resume: bool
    scope_kinds: list[str]
    approval_ttl_s: int
    always_allowed: str
    changes_last_24h: int
    loosened_last_24h: dict[str, float]


class ConfigHealthOut(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    database_connected: bool
    mongodb_connected: bool = Field(description="Engine compatibility: same as database")
    cache_size: int = 0
    policy_version: int


class LiveOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, Literal["ok", "down"]]


# --- HTTP bodies (the scope comes from the path) ----------------------------------------------


class PatchBody(In):
    patch: ConfigPatch = Field(default_factory=dict)
    unset: UnsetList = Field(default_factory=list)
    base_version: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=2000)
    thought_trace: str = Field(default="", max_length=20000, description=THOUGHT_TRACE_HELP)


class ConfigUpdateBody(In):
    """The engine's ConfigUpdateRequest (whole-scope replace) plus an optional base version."""

    parameters: ConfigPatch
    changed_by: str | None = Field(default=None, max_length=150)
    reason: str | None = Field(default=None, max_length=2000)
    validate_only: bool = False
    base_version: int | None = Field(default=None, ge=0)
    thought_trace: str = Field(default="", max_length=20000, description=THOUGHT_TRACE_HELP)


class FilterUpdateBody(In):
    """The engine's FilterUpdateRequest (whole-scope replace)."""

    filters: ConfigPatch
    changed_by: str | None = Field(default=None, max_length=150)
    reason: str | None = Field(default=None, max_length=2000)
    base_version: int | None = Field(default=None, ge=0)
    thought_trace: str = Field(default="", max_length=20000, description=THOUGHT_TRACE_HELP)


class RollbackBody(In):
    """The engine's RollbackRequest plus an optional base version and thought trace."""

    target_version: int | None = Field(default=None, ge=0)
    rollback_id: str | None = Field(default=None, max_length=40, pattern=r"^[0-9]{1,18}$")
    changed_by: str | None = Field(default=None, max_length=150)
    reason: str | None = Field(default=None, max_length=2000)
    base_version: int | None = Field(default=None, ge=0)
    thought_trace: str = Field(default="", max_length=20000, description=THOUGHT_TRACE_HELP)


class ScopeQuery(In):
    symbol: str | None = Field(default=None, pattern=SYMBOL_PATTERN)
    side: Side | None = None
    strategy_id: str | None = Field(default=None, pattern=STRATEGY_PATTERN)


class FiltersOut(BaseModel):
    """The engine's filter view: the resolved parameters of one scope."""

    scope: str
    symbol: str | None
    side: Side | None
    strategy_id: str | None
    filters: JsonObject
    version: int
