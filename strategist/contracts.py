"""Strategist wire contracts: the LLM's ``PolicyProposal`` and the events we publish.

A proposal's parameter *values* are free JSON here on purpose: the parameter catalog checks
them in the auditor with its stable per-parameter codes (UNKNOWN_PARAMETER for a
hallucinated name, OUT_OF_RANGE, ...), exactly as for the MCP tools.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from governance.services import MIN_THOUGHT_TRACE

CONFIG_SCOPE_PATTERN = (
    r"^(global|symbol:[A-Z0-9]{2,30}|symbol_side:[A-Z0-9]{2,30}:(LONG|SHORT)"
    r"|strategy:[A-Za-z0-9_.:\-]{1,128})$"
)
STATE_SCOPE_PATTERN = r"^(global|symbol:[A-Z0-9]{2,30}|strategy:[A-Za-z0-9_.:\-]{1,128})$"

# Stable codes of a brain failure (each one raises an alert and changes nothing).
LLM_INVALID_JSON = "LLM_INVALID_JSON"
LLM_SCHEMA_INVALID = "LLM_SCHEMA_INVALID"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigChange(_Strict):
    """Set (``patch``) or drop (``unset``) parameter overrides of one scope."""

    scope: Annotated[str, Field(pattern=CONFIG_SCOPE_PATTERN)] = "global"
    patch: dict[str, JsonValue] = Field(default_factory=dict, max_length=40)
    unset: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list,
                                                              max_length=40)

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.patch and not self.unset:
            raise ValueError("a config change needs a patch or an unset list")
        return self


class StateChange(_Strict):
    """Move a global, symbol or strategy scope to a trading state, optionally for a while."""

    scope: Annotated[str, Field(pattern=STATE_SCOPE_PATTERN)] = "global"
    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    ttl_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] | None = None


class PolicyProposal(_Strict):
    """What the brain proposes for one cycle; an empty proposal means "no change"."""

    summary: Annotated[str, Field(min_length=1, max_length=500)]
    thought_trace: Annotated[str, Field(min_length=1, max_length=20000)]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    patches: list[ConfigChange] = Field(default_factory=list, max_length=10)
    state_changes: list[StateChange] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _trace_for_changes(self) -> Self:
        if (self.patches or self.state_changes) and \
                len(self.thought_trace.strip()) < MIN_THOUGHT_TRACE:
            raise ValueError(f"a proposal that changes anything needs a thought_trace of at "
                             f"least {MIN_THOUGHT_TRACE} characters")
        return self

    @property
    def is_empty(self) -> bool:
        return not self.patches and not self.state_changes


class ProposalInvalid(Exception):
    """The model's output is not a valid ``PolicyProposal``; ``code`` says how."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details if details is not None else {}


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _json_text(text: str) -> str:
    """The JSON object inside a model's answer (bare, fenced, or with prose around it)."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return text
    return text[start:end + 1]


def proposal_parse(text: str) -> PolicyProposal:
    """Parse and validate a model answer; raises ``ProposalInvalid``."""
    try:
        data = json.loads(_json_text(text))
    except ValueError as exc:
        raise ProposalInvalid(LLM_INVALID_JSON, f"the model's answer is not JSON: {exc}",
                              {"excerpt": text[:300]}) from None
    if not isinstance(data, dict):
        raise ProposalInvalid(LLM_INVALID_JSON, "the model's answer is not a JSON object")
    try:
        return PolicyProposal.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": ".".join(str(p) for p in e["loc"]), "type": e["type"],
                   "msg": e["msg"]} for e in exc.errors(include_url=False, include_input=False)]
        raise ProposalInvalid(LLM_SCHEMA_INVALID, "the answer does not match PolicyProposal",
                              {"errors": errors}) from None


def proposal_json_schema() -> dict[str, Any]:
    """The schema the providers ask the model to follow (structured output)."""
    schema: dict[str, Any] = PolicyProposal.model_json_schema()
    return schema


class RegimeChanged(_Strict):
    """Published on ``cio.regime.changed.<symbol>`` when a phase changes."""

    symbol: str
    volatility_phase: str
    drawdown_phase: str
    previous_volatility_phase: str
    previous_drawdown_phase: str
    metrics: dict[str, JsonValue]
    policy_version: int
    candle_at: str | None = None
    at: str
