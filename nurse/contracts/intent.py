"""What strategies send to the gate (``Intent``) and its hot-path parser ``parse_intent``."""

from __future__ import annotations

import codecs
import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError, from_json

from nurse.contracts._common import (
    ACTIONS,
    Action,
    ConditionalDirection,
    Confidence,
    Fraction,
    JsonObject,
    OrderType,
    SignalStrength,
    SignalType,
    StrategyId,
    StrategyMode,
    TimeInForce,
    parse_iso_timestamp,
    to_utc,
    traceparent_in,
)
from nurse.contracts.engine_signal import SIGNAL_FIELDS, Signal
from nurse.contracts.errors import ContractCode, IntentRejected, rejection_from_validation_error

# Explicit and closed: anything else is refused, never mapped to a default direction.
SIDE_ALIASES: dict[str, Action] = {
    "buy": "buy",
    "long": "buy",
    "sell": "sell",
    "short": "sell",
    "close": "close",
    "exit": "close",
    "flat": "close",
    "hold": "hold",
}
INTENT_REQUIRED_FIELDS: frozenset[str] = frozenset(
    {"strategy_id", "symbol", "action", "confidence", "price", "quantity", "current_price"}
)
DEFAULT_MAX_AGE_S = 300.0
DEFAULT_FUTURE_SKEW_S = 5.0
DEFAULT_MAX_BYTES = 65536

# Epoch values at or above this are milliseconds (1e11 s is year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 1e11
# Keys whose repetition would change the trade; a JSON parser silently keeps the last one.
_GUARDED_KEYS: tuple[str, ...] = (
    "action",
    "side",
    "symbol",
    "strategy_id",
    "quantity",
    "price",
    "current_price",
    "position_size_pct",
    "confidence",
    "timestamp",
)
_GUARDED_KEY_RE = re.compile(rb'"(' + "|".join(_GUARDED_KEYS).encode() + rb')"')
_BOMS: tuple[bytes, ...] = (
    codecs.BOM_UTF8,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
)
# A set, not a frozenset: model_dump(include=...) is typed to take a set or a mapping.
_PASS_THROUGH: set[str] = set(SIGNAL_FIELDS - {"decision_id", "source", "timestamp"})

# Intents take numbers only as JSON numbers: "1.5" or true for a quantity is a sender bug,
# and reading it as a number would be a guess (the engine itself is lax here).
Number = Annotated[float, Strict()]
Price = Annotated[float, Strict(), Field(gt=0)]
Quantity = Annotated[float, Strict(), Field(ge=0)]
StrictConfidence = Annotated[Confidence, Strict()]
StrictFraction = Annotated[Fraction, Strict()]
# The pattern is checked before upper-casing so that non-ASCII letters can never be folded
# into an ASCII symbol (e.g. "ß".upper() == "SS").
Symbol = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9]{2,30}$"), AfterValidator(str.upper)
]


def _intent_timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, str):
        return parse_iso_timestamp(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise PydanticCustomError("CONTRACT_INVALID_NUMBER", "timestamp must be finite")
        try:
            seconds = value / 1000 if abs(value) >= _MS_THRESHOLD else value
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise PydanticCustomError(
                "CONTRACT_INVALID_TIMESTAMP", "epoch timestamp out of range"
            ) from None
    raise PydanticCustomError(
        "CONTRACT_INVALID_TIMESTAMP", "timestamp must be an ISO-8601 string or epoch number"
    )


IntentTimestamp = Annotated[datetime, BeforeValidator(_intent_timestamp)]


def _is_action(value: object) -> bool:
    # Membership is tested only on strings: the value may be any JSON, lists included.
    return isinstance(value, str) and value in ACTIONS


def _short(value: object) -> str:
    return repr(value)[:64]


class Intent(BaseModel):
    """A strategy's request to trade: the engine Signal's shape, read leniently but exactly.

    ``side`` (case-insensitive aliases) stands in for ``action`` and ``price`` /
    ``current_price`` stand in for each other; ``source`` and ``strategy`` may be absent
    (``to_signal`` sets the source and falls back to ``strategy_id`` for the label). Unknown
    keys are kept (``model_extra``) for the audit trail; a ``side`` key stays there as sent.
    """

    model_config = ConfigDict(
        frozen=True, extra="allow", allow_inf_nan=False, protected_namespaces=()
    )
    __pydantic_extra__: dict[str, JsonValue] = Field(init=False)

    intent_id: str | None = None
    id: str | None = None
    strategy_id: StrategyId
    signal_id: str | None = None
    decision_id: str | None = None
    strategy_mode: StrategyMode = StrategyMode.DETERMINISTIC
    symbol: Symbol
    signal_type: SignalType | None = None
    action: Action
    confidence: StrictConfidence
    strength: SignalStrength = SignalStrength.MEDIUM
    price: Price
    quantity: Quantity
    current_price: Price
    target_price: Number | None = None
    source: str | None = None
    strategy: str | None = None
    metadata: JsonObject = Field(default_factory=dict)
    timeframe: str = "1h"
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.GTC
    position_size_pct: StrictFraction | None = None
    quote_quantity: Number | None = None
    stop_loss: Number | None = None
    stop_loss_pct: StrictFraction | None = None
    take_profit: Number | None = None
    take_profit_pct: StrictFraction | None = None
    conditional_price: Number | None = None
    conditional_direction: ConditionalDirection | None = None
    conditional_timeout: Annotated[int, Strict()] | None = None
    iceberg_quantity: Number | None = None
    client_order_id: str | None = None
    model_confidence: StrictConfidence | None = None
    model_features: JsonObject | None = None
    llm_reasoning: str | None = None
    llm_alternatives: list[JsonObject] | None = None
    indicators: JsonObject | None = None
    rationale: str | None = None
    meta: JsonObject = Field(default_factory=dict)
    timestamp: IntentTimestamp

    @model_validator(mode="before")
    @classmethod
    def _resolve_aliases(cls, data: Any, info: ValidationInfo) -> Any:
        """Map the senders' aliases onto the Signal shape.

        1. ``side`` -> ``action`` through ``SIDE_ALIASES`` (ASCII, case-insensitive); an
           unknown side, or one that disagrees with ``action``, is refused.
        2. ``signal_type``, when present, must agree with the action as well.
        3. A missing (or null) ``current_price`` is taken from ``price`` and vice versa.
        4. A missing (or null) ``timestamp`` is the received time (``context["now"]``).
        """
        if not isinstance(data, dict):
            return data  # pydantic reports model_type -> CONTRACT_NOT_OBJECT
        data = dict(data)
        side = data.get("side")
        action = data.get("action")
        if side is not None:
            mapped = (
                SIDE_ALIASES.get(side.lower()) if isinstance(side, str) and side.isascii() else None
            )
            if mapped is None:
                raise PydanticCustomError(
                    "CONTRACT_UNKNOWN_SIDE",
                    "side {side} is not one of buy/long/sell/short/close/exit/flat/hold",
                    {"side": _short(side), "field": "side"},
                )
            if action is None:
                data["action"] = action = mapped
            elif _is_action(action) and action != mapped:
                raise PydanticCustomError(
                    "CONTRACT_ACTION_CONFLICT",
                    "action {action} disagrees with side {side}",
                    {"action": action, "side": _short(side), "field": "side"},
                )
        signal_type = data.get("signal_type")
        if _is_action(signal_type) and _is_action(action) and signal_type != action:
            raise PydanticCustomError(
                "CONTRACT_ACTION_CONFLICT",
                "action {action} disagrees with signal_type {signal_type}",
                {"action": action, "signal_type": signal_type, "field": "signal_type"},
            )
        if data.get("current_price") is None:
            if data.get("price") is not None:
                data["current_price"] = data["price"]
        elif data.get("price") is None:
            data["price"] = data["current_price"]
        if data.get("timestamp") is None:
            context = info.context
            now = context.get("now") if isinstance(context, dict) else None
            data["timestamp"] = (
                datetime.fromtimestamp(now, UTC)
                if isinstance(now, int | float)
                else datetime.now(UTC)
            )
        return data

    @model_validator(mode="after")
    def _check_size(self) -> Self:
        # A zero quantity is fine for hold, and for entries sized by position_size_pct
        # (the engine then ignores quantity, samples A02/A12); otherwise it orders nothing.
        if (
            self.action != "hold"
            and self.quantity <= 0
            and not (self.position_size_pct is not None and self.position_size_pct > 0)
        ):
            raise PydanticCustomError(
                "CONTRACT_NON_POSITIVE_QUANTITY",
                "{action} needs quantity > 0 or position_size_pct > 0",
                {"action": self.action, "field": "quantity"},
            )
        return self

    @property
    def notional(self) -> float:
        """``quantity * current_price`` as sent, for risk rules.

        When ``is_pct_sized`` the engine ignores ``quantity`` and sizes from the portfolio,
        so this figure (0.0 for A02/A12-style intents) is not the order's notional.
        """
        return float(self.quantity * self.current_price)

    @property
    def epoch(self) -> float:
        """``timestamp`` in seconds since the epoch."""
        return self.timestamp.timestamp()

    @property
    def is_pct_sized(self) -> bool:
        """True when the engine will size the order from ``position_size_pct``."""
        return self.position_size_pct is not None and self.position_size_pct > 0

    @property
    def traceparent(self) -> str | None:
        """The sender's W3C traceparent from ``_otel_trace_context``, if well formed."""
        extra = self.__pydantic_extra__
        return traceparent_in(extra.get("_otel_trace_context")) if extra else None

    def to_signal(
        self, *, decision_id: str, source: str = "petrosa-cio", timestamp: datetime
    ) -> Signal:
        """The engine Signal for this intent: every Signal field passes through unchanged
        except ``decision_id``, ``source`` and ``timestamp`` (re-stamped at decision time);
        ``strategy`` falls back to ``strategy_id`` when the sender gave none."""
        data = self.model_dump(include=_PASS_THROUGH, exclude_unset=True)
        data["decision_id"] = decision_id
        data["source"] = source
        data["timestamp"] = timestamp
        if self.strategy is None:
            data["strategy"] = self.strategy_id
        return Signal.model_validate(data)

    def signal_json(self, *, decision_id: str, source: str, timestamp: str,
                    traceparent: str) -> bytes:
        """``signal_to_json_bytes(self.to_signal(...), traceparent=...)``, without building
        a Signal: the gate's hot path.

        An ``Intent`` already satisfies every Signal field's type (it is stricter), so its
        Signal fields are serialised directly (defaults included, None left out, as
        ``signal_to_json_bytes`` does) and the four decision-time keys are put in front.
        ``timestamp`` is the ISO-8601 UTC string; ``decision_id`` and ``traceparent`` are
        hex ids made by the gate. tests/nurse/test_contracts.py checks this equals the
        Signal path for random intents."""
        body = _SERIALIZER.to_json(self, include=_SIGNAL_BODY, exclude_none=True)
        strategy = self.strategy if self.strategy is not None else self.strategy_id
        return signal_with_head(body, decision_id=decision_id, source=source,
                                strategy=strategy, timestamp=timestamp,
                                traceparent=traceparent)

    def audit_json(self) -> bytes:
        """``audit_payload()`` as JSON bytes (what the decision record carries)."""
        return _SERIALIZER.to_json(self, exclude_unset=True)

    def audit_payload(self) -> dict[str, Any]:
        """JSON-ready dict of everything received (after alias resolution), for the audit."""
        return self.model_dump(mode="json", exclude_unset=True)


def signal_with_head(body: bytes, *, decision_id: str, source: str, strategy: str,
                     timestamp: str, traceparent: str) -> bytes:
    """A signal's JSON: the keys the gate writes at decision time, then ``body`` (the
    intent's other Signal fields as a JSON object)."""
    head = (f'{{"_otel_trace_context":{{"traceparent":"{traceparent}"}},'
            f'"decision_id":"{decision_id}","source":{json.dumps(source)},'
            f'"strategy":{json.dumps(strategy)},"timestamp":"{timestamp}"')
    return head.encode() + (b"}" if body == b"{}" else b"," + body[1:])


_SERIALIZER = Intent.__pydantic_serializer__
_SIGNAL_BODY: set[str] = set(SIGNAL_FIELDS - {"decision_id", "source", "timestamp", "strategy"})


def _classify_unparseable(raw: bytes) -> IntentRejected:
    if raw.startswith(_BOMS) or b"\x00" in raw:
        return IntentRejected(
            ContractCode.ENCODING.value, "payload must be UTF-8 without BOM", {"bytes": len(raw)}
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return IntentRejected(
            ContractCode.ENCODING.value, "payload is not valid UTF-8", {"position": exc.start}
        )
    return IntentRejected(ContractCode.NOT_JSON.value, "payload is not JSON", {"bytes": len(raw)})


def _ignore_scalar(_: str) -> None:
    return None


def refuse_duplicate_keys(raw: bytes) -> None:
    """Refuse a payload whose top-level object repeats a trade-deciding key.

    1. Fast screen in C: a guarded key seen twice anywhere, or any ``\\u`` escape (which
       could spell one), sends the payload to step 2; nearly all payloads stop here.
    2. Re-read it with ``json.loads`` keeping key/value pairs (numbers are not converted,
       so no size limit applies) and look at the outermost object, completed last.
    3. If Python cannot read what pydantic could, fail closed (``CONTRACT_NOT_JSON``).
    """
    found = _GUARDED_KEY_RE.findall(raw)
    if len(found) == len(set(found)) and b"\\u" not in raw:
        return
    objects: list[list[tuple[str, Any]]] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> None:
        objects.append(pairs)

    try:
        json.loads(
            raw,
            object_pairs_hook=keep_pairs,
            parse_int=_ignore_scalar,
            parse_float=_ignore_scalar,
            parse_constant=_ignore_scalar,
        )
    except (ValueError, RecursionError):
        raise IntentRejected(
            ContractCode.NOT_JSON.value, "payload could not be checked for duplicate keys", {}
        ) from None
    seen: set[str] = set()
    for key, _ in objects[-1] if objects else ():
        if key in seen and key in _GUARDED_KEYS:
            raise IntentRejected(
                ContractCode.DUPLICATE_KEY.value,
                f"key {key!r} appears more than once",
                {"field": key},
            )
        seen.add(key)


def parse_intent(
    raw: bytes,
    *,
    now: float,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    future_skew_s: float = DEFAULT_FUTURE_SKEW_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Intent:
    """Parse one intent message or raise ``IntentRejected`` with a stable code.

    1. Size (before any parsing), then UTF-8 JSON, then top-level object.
    2. Duplicate trade-deciding keys are refused (a parser would keep the last silently).
    3. The shape is validated by ``Intent`` (aliases, ranges, enums, finite numbers).
    4. The timestamp must lie in [now - max_age_s, now + future_skew_s]; ``now`` is the
       received time in epoch seconds and stands in for an absent timestamp.
    """
    if not isinstance(raw, bytes):
        if not isinstance(raw, bytearray | memoryview):
            raise IntentRejected(ContractCode.ENCODING.value, "payload must be bytes", {})
        raw = bytes(raw)
    if len(raw) > max_bytes:
        raise IntentRejected(
            ContractCode.OVERSIZED.value,
            f"payload of {len(raw)} bytes exceeds {max_bytes}",
            {"bytes": len(raw), "max_bytes": max_bytes},
        )
    try:
        data = from_json(raw)
    except ValueError:
        raise _classify_unparseable(raw) from None
    if type(data) is not dict:
        raise IntentRejected(
            ContractCode.NOT_OBJECT.value,
            "payload must be a JSON object",
            {"type": type(data).__name__},
        )
    refuse_duplicate_keys(raw)
    try:
        intent = Intent.model_validate(data, context={"now": now})
    except ValidationError as exc:
        raise rejection_from_validation_error(exc, required=INTENT_REQUIRED_FIELDS) from None
    check_age(intent.epoch, now=now, max_age_s=max_age_s, future_skew_s=future_skew_s)
    return intent


def check_age(epoch: float, *, now: float, max_age_s: float, future_skew_s: float) -> None:
    """Refuse a timestamp outside [now - max_age_s, now + future_skew_s]."""
    age = now - epoch
    if age > max_age_s:
        raise IntentRejected(
            ContractCode.STALE.value,
            f"intent is {age:.3f} s old (max {max_age_s} s)",
            {"field": "timestamp", "age_s": age, "max_age_s": max_age_s},
        )
    if -age > future_skew_s:
        raise IntentRejected(
            ContractCode.FUTURE_TIMESTAMP.value,
            f"intent is {-age:.3f} s in the future (max {future_skew_s} s)",
            {"field": "timestamp", "ahead_s": -age, "future_skew_s": future_skew_s},
        )
