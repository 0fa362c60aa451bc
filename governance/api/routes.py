"""HTTP routes (django-ninja): thin adapters that build an operation input and execute it.

The ``/config/...`` routes mirror the trade engine's (``shared/contracts/config_routes.json``)
so the fleet's tools keep working; PATCH routes and ``/config/strategy/...`` are additions.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from pydantic import BaseModel

from governance.api.ops.config import config_view
from governance.api.registry import Call, execute
from governance.api.responses import ERROR_STATUSES, ok
from governance.api.schemas import (
    ApplyConfigPatchIn,
    ApprovalListOut,
    ConfigHealthOut,
    ConfigOut,
    ConfigUpdateBody,
    ConfigWriteOut,
    DecisionDetailOut,
    DecisionIdIn,
    DecisionListOut,
    DefaultsOut,
    EarningsIn,
    EmptyIn,
    Envelope,
    EnvelopeOut,
    ErrorEnvelope,
    ExplainOut,
    FiltersOut,
    FilterUpdateBody,
    GetParameterSchemaIn,
    GetTradingConfigIn,
    HardGateOut,
    HistoryIn,
    HistoryOut,
    ListApprovalsIn,
    ListDecisionsIn,
    PatchBody,
    ReplaceConfigIn,
    RollbackBody,
    RollbackIn,
    SchemaOut,
    ScopeQuery,
    SetTradingStateIn,
    StateActionIn,
    StateWriteOut,
    TradingStateQueryIn,
    TradingStateViewOut,
    ValidateConfigIn,
    ValidationOut,
)
from governance.api.tracing import request_trace_id
from governance.auth import SCOPE_READ, Principal

router = Router()


def _errors() -> dict[int, type[BaseModel]]:
    return dict.fromkeys(ERROR_STATUSES, ErrorEnvelope)


def _resp(model: Any, *, accepted: bool = False) -> dict[int, Any]:
    codes: dict[int, Any] = {200: Envelope[model]}
    if accepted:
        codes[202] = Envelope[model]
    codes.update(_errors())
    return codes


def _principal(request: HttpRequest) -> Principal:
    principal = request.auth  # type: ignore[attr-defined]
    assert isinstance(principal, Principal)  # noqa: S101  (ninja ran our authenticators)
    return principal


def run(request: HttpRequest, name: str, args: BaseModel) -> Status[dict[str, Any]]:
    trace_id = request_trace_id(request)
    result = execute(name, Call(principal=_principal(request), trace_id=trace_id, door="api"),
                     args)
    return Status(result.status, ok(result.data, trace_id))


def _side(side: str) -> str:
    return side.upper()


# --- configuration (engine mirror) --------------------------------------------------------


@router.get("/config/trading/schema", response=_resp(SchemaOut), tags=["config"],
            summary="Parameter catalog and JSON Schema")
def trading_schema(request: HttpRequest) -> Any:
    return run(request, "get_parameter_schema", GetParameterSchemaIn(include_json_schema=True))


@router.get("/config/parameters/{name}", response=_resp(SchemaOut), tags=["config"],
            summary="One parameter's documentation")
def parameter_doc(request: HttpRequest, name: str) -> Any:
    return run(request, "get_parameter_schema", GetParameterSchemaIn(parameter=name))


@router.get("/config/trading/defaults", response=_resp(DefaultsOut), tags=["config"],
            summary="Parameter defaults")
def trading_defaults(request: HttpRequest) -> Any:
    return run(request, "get_config_defaults", EmptyIn())


@router.get("/config/trading", response=_resp(ConfigOut), tags=["config"],
            summary="Resolved config (global)")
def get_global(request: HttpRequest) -> Any:
    return run(request, "get_trading_config", GetTradingConfigIn())


@router.post("/config/trading", response=_resp(ConfigWriteOut, accepted=True), tags=["config"],
             summary="Replace config (global; engine semantics)")
def post_global(request: HttpRequest, body: ConfigUpdateBody) -> Any:
    return run(request, "replace_config", ReplaceConfigIn(**body.model_dump()))


@router.patch("/config/trading", response=_resp(ConfigWriteOut, accepted=True), tags=["config"],
              summary="Patch config (global) against a base version")
def patch_global(request: HttpRequest, body: PatchBody) -> Any:
    return run(request, "apply_config_patch", ApplyConfigPatchIn(**body.model_dump()))


@router.get("/config/trading/{symbol}", response=_resp(ConfigOut), tags=["config"],
            summary="Resolved config (symbol)")
def get_symbol(request: HttpRequest, symbol: str) -> Any:
    return run(request, "get_trading_config", GetTradingConfigIn(symbol=symbol))


@router.post("/config/trading/{symbol}", response=_resp(ConfigWriteOut, accepted=True),
             tags=["config"], summary="Replace config (symbol; engine semantics)")
def post_symbol(request: HttpRequest, symbol: str, body: ConfigUpdateBody) -> Any:
    return run(request, "replace_config", ReplaceConfigIn(symbol=symbol, **body.model_dump()))


@router.patch("/config/trading/{symbol}", response=_resp(ConfigWriteOut, accepted=True),
              tags=["config"], summary="Patch config (symbol) against a base version")
def patch_symbol(request: HttpRequest, symbol: str, body: PatchBody) -> Any:
    return run(request, "apply_config_patch",
               ApplyConfigPatchIn(symbol=symbol, **body.model_dump()))


@router.get("/config/trading/{symbol}/{side}", response=_resp(ConfigOut), tags=["config"],
            summary="Resolved config (symbol + side)")
def get_symbol_side(request: HttpRequest, symbol: str, side: str) -> Any:
    return run(request, "get_trading_config",
               GetTradingConfigIn(symbol=symbol, side=_side(side)))


@router.post("/config/trading/{symbol}/{side}", response=_resp(ConfigWriteOut, accepted=True),
             tags=["config"], summary="Replace config (symbol + side; engine semantics)")
def post_symbol_side(request: HttpRequest, symbol: str, side: str,
                     body: ConfigUpdateBody) -> Any:
    return run(request, "replace_config",
               ReplaceConfigIn(symbol=symbol, side=_side(side),
                               **body.model_dump()))


@router.patch("/config/trading/{symbol}/{side}", response=_resp(ConfigWriteOut, accepted=True),
              tags=["config"], summary="Patch config (symbol + side) against a base version")
def patch_symbol_side(request: HttpRequest, symbol: str, side: str, body: PatchBody) -> Any:
    return run(request, "apply_config_patch",
               ApplyConfigPatchIn(symbol=symbol, side=_side(side),
                                  **body.model_dump()))


@router.get("/config/strategy/{strategy_id}", response=_resp(ConfigOut), tags=["config"],
            summary="Resolved config (strategy)")
def get_strategy(request: HttpRequest, strategy_id: str) -> Any:
    return run(request, "get_trading_config", GetTradingConfigIn(strategy_id=strategy_id))


@router.post("/config/strategy/{strategy_id}", response=_resp(ConfigWriteOut, accepted=True),
             tags=["config"], summary="Replace config (strategy)")
def post_strategy(request: HttpRequest, strategy_id: str, body: ConfigUpdateBody) -> Any:
    return run(request, "replace_config",
               ReplaceConfigIn(strategy_id=strategy_id, **body.model_dump()))


@router.patch("/config/strategy/{strategy_id}", response=_resp(ConfigWriteOut, accepted=True),
              tags=["config"], summary="Patch config (strategy) against a base version")
def patch_strategy(request: HttpRequest, strategy_id: str, body: PatchBody) -> Any:
    return run(request, "apply_config_patch",
               ApplyConfigPatchIn(strategy_id=strategy_id, **body.model_dump()))


@router.post("/config/validate", response=_resp(ValidationOut), tags=["config"],
             summary="Validate a change (dry run): errors, impact, risk level")
def validate(request: HttpRequest, body: ValidateConfigIn) -> Any:
    return run(request, "validate_config_patch", body)


@router.get("/config/history", response=_resp(HistoryOut), tags=["config"],
            summary="Versions of one scope with diffs")
def history(request: HttpRequest, query: Query[HistoryIn]) -> Any:
    return run(request, "get_config_history", query)


def _rollback(request: HttpRequest, scope: ScopeQuery, body: RollbackBody) -> Any:
    return run(request, "rollback_to_version",
               RollbackIn(**scope.model_dump(), **body.model_dump()))


@router.post("/config/rollback", response=_resp(ConfigWriteOut, accepted=True), tags=["config"],
             summary="Roll back a scope to a version (or the previous one)")
def rollback(request: HttpRequest, scope: Query[ScopeQuery], body: RollbackBody) -> Any:
    return _rollback(request, scope, body)


@router.post("/config/restore", response=_resp(ConfigWriteOut, accepted=True), tags=["config"],
             summary="Alias of /config/rollback (engine)")
def restore(request: HttpRequest, scope: Query[ScopeQuery], body: RollbackBody) -> Any:
    return _rollback(request, scope, body)


@router.get("/config/health", response=_resp(ConfigHealthOut), tags=["config"],
            summary="Config store health (engine compatible)")
def config_health(request: HttpRequest) -> Any:
    return run(request, "config_health", EmptyIn())


# --- filters (engine mirror: the same scopes under the engine's filter names) ----------------


def _filters(request: HttpRequest, fields: GetTradingConfigIn) -> Any:
    _principal(request).require(SCOPE_READ)
    view = config_view(fields)
    data = FiltersOut(scope=view.scope, symbol=view.symbol, side=view.side,
                      strategy_id=view.strategy_id, filters=view.parameters,
                      version=view.version)
    return Status(200, ok(data, request_trace_id(request)))


def _put_filters(request: HttpRequest, body: FilterUpdateBody, **scope: Any) -> Any:
    return run(request, "replace_config", ReplaceConfigIn(
        **scope, parameters=body.filters, changed_by=body.changed_by, reason=body.reason,
        base_version=body.base_version, thought_trace=body.thought_trace))


@router.get("/config/filters/global", response=_resp(FiltersOut), tags=["filters"])
def filters_global(request: HttpRequest) -> Any:
    return _filters(request, GetTradingConfigIn())


@router.put("/config/filters/global", response=_resp(ConfigWriteOut, accepted=True),
            tags=["filters"])
def put_filters_global(request: HttpRequest, body: FilterUpdateBody) -> Any:
    return _put_filters(request, body)


@router.get("/config/filters/pair/{symbol}", response=_resp(FiltersOut), tags=["filters"])
def filters_pair(request: HttpRequest, symbol: str) -> Any:
    return _filters(request, GetTradingConfigIn(symbol=symbol))


@router.put("/config/filters/pair/{symbol}", response=_resp(ConfigWriteOut, accepted=True),
            tags=["filters"])
def put_filters_pair(request: HttpRequest, symbol: str, body: FilterUpdateBody) -> Any:
    return _put_filters(request, body, symbol=symbol)


@router.get("/config/filters/pair/{symbol}/side/{side}", response=_resp(FiltersOut),
            tags=["filters"])
def filters_pair_side(request: HttpRequest, symbol: str, side: str) -> Any:
    return _filters(request, GetTradingConfigIn(symbol=symbol,
                                                side=_side(side)))


@router.put("/config/filters/pair/{symbol}/side/{side}",
            response=_resp(ConfigWriteOut, accepted=True), tags=["filters"])
def put_filters_pair_side(request: HttpRequest, symbol: str, side: str,
                          body: FilterUpdateBody) -> Any:
    return _put_filters(request, body, symbol=symbol, side=_side(side))


@router.get("/config/filters/strategy/{strategy_id}", response=_resp(FiltersOut),
            tags=["filters"])
def filters_strategy(request: HttpRequest, strategy_id: str) -> Any:
    return _filters(request, GetTradingConfigIn(strategy_id=strategy_id))


@router.put("/config/filters/strategy/{strategy_id}",
            response=_resp(ConfigWriteOut, accepted=True), tags=["filters"])
def put_filters_strategy(request: HttpRequest, strategy_id: str, body: FilterUpdateBody) -> Any:
    return _put_filters(request, body, strategy_id=strategy_id)


@router.get("/hard-gates", response=_resp(list[HardGateOut]), tags=["config"],
            summary="Hard safety gates in force (read-only)")
def hard_gates(request: HttpRequest) -> Any:
    return run(request, "get_hard_gates", EmptyIn())


# --- trading state ------------------------------------------------------------------------


@router.get("/trading-state", response=_resp(TradingStateViewOut), tags=["trading-state"],
            summary="Trading state in force and per scope")
def trading_state(request: HttpRequest, query: Query[TradingStateQueryIn]) -> Any:
    return run(request, "get_trading_state", query)


@router.post("/trading-state", response=_resp(StateWriteOut, accepted=True),
             tags=["trading-state"], summary="Set a scope's trading state")
def set_state(request: HttpRequest, body: SetTradingStateIn) -> Any:
    return run(request, "set_trading_state", body)


def _state_action(request: HttpRequest, body: StateActionIn, state: str) -> Any:
    return run(request, "set_trading_state", SetTradingStateIn(state=state,
                                                               **body.model_dump()))


@router.post("/trading-state/halt", response=_resp(StateWriteOut, accepted=True),
             tags=["trading-state"], summary="HALT a scope (no new exposure)")
def halt(request: HttpRequest, body: StateActionIn) -> Any:
    return _state_action(request, body, "HALTED")


@router.post("/trading-state/reduce-only", response=_resp(StateWriteOut, accepted=True),
             tags=["trading-state"], summary="Reduce-only (only position-reducing intents)")
def reduce_only(request: HttpRequest, body: StateActionIn) -> Any:
    return _state_action(request, body, "REDUCING")


@router.post("/trading-state/resume", response=_resp(StateWriteOut, accepted=True),
             tags=["trading-state"], summary="Resume (ACTIVE)")
def resume(request: HttpRequest, body: StateActionIn) -> Any:
    return _state_action(request, body, "ACTIVE")


# --- decisions ------------------------------------------------------------------------------


@router.get("/decisions", response=_resp(DecisionListOut), tags=["decisions"],
            summary="Gate decisions (filter by outcome, strategy, symbol, reason, time)")
def decisions(request: HttpRequest, query: Query[ListDecisionsIn]) -> Any:
    return run(request, "list_decisions", query)


@router.get("/decisions/blocked", response=_resp(DecisionListOut), tags=["decisions"],
            summary="Blocked intents")
def blocked(request: HttpRequest, query: Query[ListDecisionsIn]) -> Any:
    return run(request, "list_decisions", query.model_copy(update={"outcome": "blocked"}))


@router.get("/decisions/{decision_id}", response=_resp(DecisionDetailOut), tags=["decisions"],
            summary="One decision")
def decision(request: HttpRequest, decision_id: str) -> Any:
    return run(request, "get_decision", DecisionIdIn(decision_id=decision_id))


@router.get("/decisions/{decision_id}/explain", response=_resp(ExplainOut), tags=["decisions"],
            summary="Why, and what would pass")
def explain(request: HttpRequest, decision_id: str) -> Any:
    return run(request, "explain_decision", DecisionIdIn(decision_id=decision_id))


# --- earnings -------------------------------------------------------------------------------


@router.get("/earnings-summary", response=_resp(dict[str, Any]), tags=["earnings"],
            summary="Net profit, shadow ROI (avoided / foregone), top blocking rules")
def earnings_summary(request: HttpRequest, query: Query[EarningsIn]) -> Any:
    return run(request, "get_earnings_summary", query)


# --- agents and approvals -------------------------------------------------------------------


@router.get("/approvals", response=_resp(ApprovalListOut), tags=["agents"],
            summary="Pending and decided approvals")
def approvals(request: HttpRequest, query: Query[ListApprovalsIn]) -> Any:
    return run(request, "list_pending_approvals", query)


@router.get("/agent-envelope", response=_resp(EnvelopeOut), tags=["agents"],
            summary="The caller's agent envelope and its use in the last 24 h")
def agent_envelope(request: HttpRequest) -> Any:
    return run(request, "get_agent_envelope", EmptyIn())
