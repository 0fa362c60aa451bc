"""The gate's fast path for canonical intents: decoded and re-encoded in C by msgspec.

``parse_intent`` (pydantic) spends ~20 µs per intent on this machine validating the shape
and another ~12 µs serialising the audit copy and the signal; most intents are canonical
(the engine's Signal keys only, ``action`` rather than a ``side`` alias, both prices, an
ISO timestamp, an upper-case symbol). ``parse_intent_fast`` decodes those straight into a
``FastIntent`` with the same types and bounds (~3 µs), checks the rest in Python, and hands
anything else to ``parse_intent``, which decides it and, when it refuses, says why:

1. Size, then duplicate trade-deciding keys, exactly as ``parse_intent`` (same errors).
2. A payload with ``\\u`` escapes, an unknown key (``side`` included), a wrong type, a
   value out of bounds, a missing price, a lower-case symbol, a conflicting
   ``signal_type``, a missing or non-string timestamp, or no size goes to ``parse_intent``.
3. The age window is the same function as ``parse_intent``'s.

A ``FastIntent`` answers everything the rules and the gate read from an ``Intent``
(``IntentView``); its audit copy is the received bytes (every key is a known field,
validated, so they are the intent as sent), and its signal is encoded by msgspec with the
same keys and values as ``Intent.signal_json``. tests/nurse/test_fast_intent.py compares
both paths on random payloads: same outcome, same reasons, same values, same signal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal, Protocol

import msgspec
from msgspec import UNSET, Meta, Struct, field, structs

from nurse.contracts._common import (
    OrderType,
    SignalStrength,
    SignalType,
    StrategyMode,
    TimeInForce,
    parse_iso_timestamp,
    traceparent_in,
)
from nurse.contracts.intent import (
    DEFAULT_FUTURE_SKEW_S,
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_BYTES,
    Intent,
    check_age,
    parse_intent,
    refuse_duplicate_keys,
    signal_with_head,
)

# The Intent's bounds, as msgspec constraints (patterns anchored with \Z: Python's "$"
# would let a trailing newline through, pydantic's Rust regex does not).
_Price = Annotated[float, Meta(gt=0)]
_Quantity = Annotated[float, Meta(ge=0)]
_Fraction = Annotated[float, Meta(ge=0, le=1)]
_Symbol = Annotated[str, Meta(pattern=r"^[A-Z0-9]{2,30}\Z")]
_StrategyId = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"\S")]
# Keys the gate writes itself in a signal's head, or that are not Signal fields.
_NOT_IN_BODY: Final = {"intent_id": UNSET, "decision_id": UNSET, "source": UNSET,
                       "strategy": UNSET, "timestamp": UNSET, "otel": UNSET}


class FastIntent(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True,
                 dict=True):
    """A canonical intent; fields in ``Intent``'s order (the signal's key order).

    Fields with a non-None default in ``Intent`` default to UNSET here and are filled in by
    ``parse_intent_fast``: encoding omits defaults, so None values are left out of the
    signal while the filled-in defaults are written, as ``Intent.signal_json`` does.
    The received bytes and the timestamp's epoch are kept in the instance ``__dict__``,
    outside the fields (so no key of the payload can set them)."""

    intent_id: str | None = None
    id: str | None = None
    strategy_id: _StrategyId
    signal_id: str | None = None
    decision_id: str | None = None
    strategy_mode: StrategyMode = UNSET  # type: ignore[assignment]
    symbol: _Symbol
    signal_type: SignalType | None = None
    action: Literal["buy", "sell", "hold", "close"]
    confidence: _Fraction
    strength: SignalStrength = UNSET  # type: ignore[assignment]
    price: _Price
    quantity: _Quantity
    current_price: _Price
    target_price: float | None = None
    source: str | None = None
    strategy: str | None = None
    metadata: dict[str, Any] = UNSET  # type: ignore[assignment]
    timeframe: str = UNSET  # type: ignore[assignment]
    order_type: OrderType = UNSET  # type: ignore[assignment]
    time_in_force: TimeInForce = UNSET  # type: ignore[assignment]
    position_size_pct: _Fraction | None = None
    quote_quantity: float | None = None
    stop_loss: float | None = None
    stop_loss_pct: _Fraction | None = None
    take_profit: float | None = None
    take_profit_pct: _Fraction | None = None
    conditional_price: float | None = None
    conditional_direction: Literal["above", "below"] | None = None
    conditional_timeout: int | None = None
    iceberg_quantity: float | None = None
    client_order_id: str | None = None
    model_confidence: _Fraction | None = None
    model_features: dict[str, Any] | None = None
    llm_reasoning: str | None = None
    llm_alternatives: list[dict[str, Any]] | None = None
    indicators: dict[str, Any] | None = None
    rationale: str | None = None
    meta: dict[str, Any] = UNSET  # type: ignore[assignment]
    timestamp: str
    otel: dict[str, Any] | None = field(default=None, name="_otel_trace_context")

    @property
    def epoch(self) -> float:
        """``timestamp`` in seconds since the epoch (set by ``parse_intent_fast``)."""
        value: float = self.__dict__["epoch"]
        return value

    @property
    def notional(self) -> float:
        return float(self.quantity * self.current_price)

    @property
    def is_pct_sized(self) -> bool:
        return self.position_size_pct is not None and self.position_size_pct > 0

    @property
    def traceparent(self) -> str | None:
        return traceparent_in(self.otel)

    def audit_json(self) -> bytes:
        """The intent as received: every key is a validated field (no escapes, no extras)."""
        raw: bytes = self.__dict__["raw"]
        return raw

    def signal_json(self, *, decision_id: str, source: str, timestamp: str,
                    traceparent: str) -> bytes:
        """What ``Intent.signal_json`` writes for the same intent (same keys and values)."""
        body = _encode(structs.replace(self, **_NOT_IN_BODY))
        strategy = self.strategy if self.strategy is not None else self.strategy_id
        return signal_with_head(body, decision_id=decision_id, source=source,
                                strategy=strategy, timestamp=timestamp,
                                traceparent=traceparent)


class IntentView(Protocol):
    """What the rules and the gate read from an intent (``Intent`` or ``FastIntent``)."""

    @property
    def strategy_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def price(self) -> float: ...
    @property
    def quantity(self) -> float: ...
    @property
    def current_price(self) -> float: ...
    @property
    def intent_id(self) -> str | None: ...
    @property
    def id(self) -> str | None: ...
    @property
    def signal_id(self) -> str | None: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def meta(self) -> dict[str, Any]: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def position_size_pct(self) -> float | None: ...
    @property
    def quote_quantity(self) -> float | None: ...
    @property
    def stop_loss(self) -> float | None: ...
    @property
    def stop_loss_pct(self) -> float | None: ...
    @property
    def take_profit(self) -> float | None: ...
    @property
    def take_profit_pct(self) -> float | None: ...
    @property
    def epoch(self) -> float: ...
    @property
    def notional(self) -> float: ...
    @property
    def is_pct_sized(self) -> bool: ...
    @property
    def traceparent(self) -> str | None: ...
    def audit_json(self) -> bytes: ...
    def signal_json(self, *, decision_id: str, source: str, timestamp: str,
                    traceparent: str) -> bytes: ...


_decode = msgspec.json.Decoder(FastIntent).decode
_encode = msgspec.json.Encoder().encode
_DEFAULTS: Final = (("strategy_mode", StrategyMode.DETERMINISTIC),
                    ("strength", SignalStrength.MEDIUM), ("timeframe", "1h"),
                    ("order_type", OrderType.MARKET), ("time_in_force", TimeInForce.GTC))


def parse_intent_fast(
    raw: bytes,
    *,
    now: float,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    future_skew_s: float = DEFAULT_FUTURE_SKEW_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FastIntent | Intent:
    """``parse_intent``'s answer for any payload; canonical ones take the fast path."""
    intent = _decode_canonical(raw, max_bytes)
    if intent is None:  # (parse_intent repeats the size and duplicate-key checks: cheap)
        return parse_intent(raw, now=now, max_age_s=max_age_s,
                            future_skew_s=future_skew_s, max_bytes=max_bytes)
    check_age(intent.epoch, now=now, max_age_s=max_age_s, future_skew_s=future_skew_s)
    intent.__dict__["raw"] = raw
    return intent


def _decode_canonical(raw: bytes, max_bytes: int) -> FastIntent | None:
    """The payload as a ``FastIntent``, or None when ``parse_intent`` must decide it."""
    if type(raw) is not bytes or len(raw) > max_bytes or b"\\u" in raw:
        return None
    refuse_duplicate_keys(raw)
    try:
        intent = _decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return intent if _canonical(intent) else None


def _canonical(intent: FastIntent) -> bool:
    """Fill the defaults and the epoch; False when ``parse_intent`` must decide instead."""
    signal_type = intent.signal_type
    if signal_type is not None and signal_type != intent.action:
        return False
    if intent.action != "hold" and intent.quantity <= 0 and not intent.is_pct_sized:
        return False
    try:
        moment: datetime = parse_iso_timestamp(intent.timestamp)
    except ValueError:  # (PydanticCustomError is one)
        return False
    intent.__dict__["epoch"] = moment.timestamp()
    for name, value in _DEFAULTS:
        if getattr(intent, name) is UNSET:
            setattr(intent, name, value)
    for name in ("metadata", "meta"):
        if getattr(intent, name) is UNSET:
            setattr(intent, name, {})
    return True
