"""The trade engine's ``Signal`` (tradeengine contracts/signal.py @ 9adbfe9) and its wire form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nurse.contracts._common import (
    Action,
    ConditionalDirection,
    Confidence,
    Fraction,
    JsonObject,
    OrderType,
    SignalStrength,
    SignalType,
    StrategyMode,
    TimeInForce,
    UtcDatetime,
    is_valid_traceparent,
    traceparent_in,
)

ENGINE_COMMIT = "9adbfe9e657346a68f59fcf6c072ae3c29f3323e"
SIGNAL_REQUIRED_FIELDS: frozenset[str] = frozenset(
    {
        "strategy_id",
        "symbol",
        "action",
        "confidence",
        "price",
        "quantity",
        "current_price",
        "source",
        "strategy",
    }
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Signal(BaseModel):
    """What the engine consumes on ``signals.trading.<token>``; fields in the engine's order.

    Deliberate differences from the engine model, all stricter so that whatever passes here
    also passes the engine's consumer: NaN/inf are refused, and ``timestamp`` must be an
    ISO-8601 string (the engine model would take an epoch number, which its consumer then
    drops, and would replace an unparseable value with "now").
    """

    # The engine sets only json_encoders and protected_namespaces: extra keys are ignored.
    model_config = ConfigDict(
        frozen=True, extra="ignore", allow_inf_nan=False, protected_namespaces=()
    )

    id: str | None = None
    strategy_id: str
    signal_id: str | None = None
    decision_id: str | None = None
    strategy_mode: StrategyMode = StrategyMode.DETERMINISTIC
    symbol: str
    signal_type: SignalType | None = None
    action: Action
    confidence: Confidence
    strength: SignalStrength = SignalStrength.MEDIUM
    price: float
    quantity: float
    current_price: float
    target_price: float | None = None
    source: str
    strategy: str
    metadata: JsonObject = Field(default_factory=dict)
    timeframe: str = "1h"
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.GTC
    position_size_pct: Fraction | None = None
    quote_quantity: float | None = None
    stop_loss: float | None = None
    stop_loss_pct: Fraction | None = None
    take_profit: float | None = None
    take_profit_pct: Fraction | None = None
    conditional_price: float | None = None
    conditional_direction: ConditionalDirection | None = None
    conditional_timeout: int | None = None
    iceberg_quantity: float | None = None
    client_order_id: str | None = None
    model_confidence: Confidence | None = None
    model_features: JsonObject | None = None
    llm_reasoning: str | None = None
    llm_alternatives: list[JsonObject] | None = None
    indicators: JsonObject | None = None
    rationale: str | None = None
    meta: JsonObject = Field(default_factory=dict)
    timestamp: UtcDatetime = Field(default_factory=_utc_now)


SIGNAL_FIELDS: frozenset[str] = frozenset(Signal.model_fields)


def signal_to_json_bytes(signal: Signal, *, traceparent: str | None = None) -> bytes:
    """Serialise ``signal`` for publishing to the engine.

    1. Every field is written except those whose value is None: for each nullable field the
       engine's default is None, so leaving it out means the same and avoids sending
       ``conditional_direction: null`` (listed as not nullable in the engine's schema).
    2. ``timestamp`` is an ISO-8601 UTC string ending in ``Z``.
    3. ``traceparent`` (W3C, the caller's current span) goes in the ``_otel_trace_context``
       envelope key, the only place the engine's consumer reads trace context from.

    Raises ``ValueError`` for a malformed traceparent rather than sending a broken carrier.
    """
    body = signal.model_dump_json(exclude_none=True).encode()
    if traceparent is None:
        return body
    if not is_valid_traceparent(traceparent):
        raise ValueError(f"malformed traceparent {traceparent!r}")
    # The traceparent is plain hex and dashes (checked above), so splicing needs no escaping.
    return b'{"_otel_trace_context":{"traceparent":"' + traceparent.encode() + b'"},' + body[1:]


def signal_from_json(raw: bytes | str) -> Signal:
    """Parse an engine Signal the way the engine's consumer does (raises ``ValidationError``)."""
    return Signal.model_validate_json(raw)


def trace_context_of(payload: dict[str, Any]) -> str | None:
    """The valid ``traceparent`` inside a payload's ``_otel_trace_context``, if any."""
    return traceparent_in(payload.get("_otel_trace_context"))
