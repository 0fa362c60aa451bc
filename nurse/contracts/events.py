"""What the Nurse emits besides Signals: decisions, heartbeats and policy-change events."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from nurse.contracts._common import (
    Action,
    FrozenModel,
    JsonObject,
    NonEmptyStr,
    StrategyId,
    Traceparent,
    UtcDatetime,
)

Outcome = Literal["approved", "blocked"]
GovernanceStatus = Literal["GOVERNANCE_ACTIVE", "DEGRADED", "HALTED"]
DependencyState = Literal["ok", "down"]
# Approved signals go on signals.trading.<one token>: the engine subscribes to
# `signals.trading.*`, which matches neither the bare subject nor deeper ones (README fact 1).
SIGNAL_SUBJECT_PATTERN = r"^signals\.trading\.[^.\s*>]+$"
Count = Annotated[int, Field(ge=0)]


class ReasonCode(FrozenModel):
    """One reason behind a decision: a stable ``CATEGORY_CONDITION`` code and key=value detail."""

    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")]
    detail: str = ""


class Decision(FrozenModel):
    """The gate's verdict on one intent, as audited and published on the decisions stream."""

    decision_id: NonEmptyStr
    intent_id: str | None = None
    signal_id: str | None = None
    strategy_id: StrategyId
    symbol: NonEmptyStr
    action: Action
    quantity: float
    price: float
    notional: float
    outcome: Outcome
    reasons: tuple[ReasonCode, ...] = ()
    policy_version: Count
    latency_us: Count
    traceparent: Traceparent | None = None
    received_at: UtcDatetime
    decided_at: UtcDatetime
    instance: NonEmptyStr
    signal_subject: Annotated[str, Field(pattern=SIGNAL_SUBJECT_PATTERN)] | None = None
    intent: JsonObject = Field(default_factory=dict)

    @model_validator(mode="after")
    def _outcome_is_consistent(self) -> Self:
        if self.outcome == "blocked":
            if self.signal_subject is not None:
                raise ValueError("a blocked decision publishes no signal (signal_subject)")
            if not self.reasons:
                raise ValueError("a blocked decision carries at least one reason code")
        elif self.signal_subject is None:
            raise ValueError("an approved decision names the subject its signal went to")
        return self


class Dependencies(FrozenModel):
    """Reachability of the Nurse's infrastructure as last observed."""

    nats: DependencyState
    redis: DependencyState
    db: DependencyState


class DecisionCounters(FrozenModel):
    """Decisions since process start."""

    approved: Count = 0
    blocked: Count = 0
    rejected: Count = 0  # intents refused by the contract (never reached policy)


class Heartbeat(FrozenModel):
    """Published on ``cio.heartbeat`` well within the engine's 60 s restricted-mode timeout.

    The engine reads ``service`` (required), ``timestamp`` (epoch seconds), ``version`` and
    ``status``; the other fields are ours.
    """

    service: NonEmptyStr = "petrosa-cio"
    timestamp: Annotated[float, Field(ge=0)]
    version: NonEmptyStr
    status: GovernanceStatus
    instance: NonEmptyStr
    policy_version: Count
    dependencies: Dependencies
    uptime_s: Annotated[float, Field(ge=0)]
    decisions: DecisionCounters = Field(default_factory=DecisionCounters)


class PolicyUpdated(FrozenModel):
    """A new immutable policy snapshot is live; gates swap to it atomically."""

    policy_version: Count
    snapshot_key: NonEmptyStr
    changed_scopes: tuple[NonEmptyStr, ...] = ()
    at: UtcDatetime
    trace_id: str | None = None
