"""Types shared by the Nurse's wire contracts: engine enums, UTC timestamps, trace ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from pydantic_core import PydanticCustomError

# The engine spells action and conditional_direction as Literals and the rest as StrEnums
# (contracts/signal.py @ 9adbfe9); every one of them is case-sensitive.
Action = Literal["buy", "sell", "hold", "close"]
ACTIONS: frozenset[str] = frozenset({"buy", "sell", "hold", "close"})
ConditionalDirection = Literal["above", "below"]


class SignalType(StrEnum):
    """Deprecated engine field; ``action`` is authoritative."""

    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"
    CLOSE = "close"


class SignalStrength(StrEnum):
    """Engine ``SignalStrength``."""

    WEAK = "weak"
    MEDIUM = "medium"
    STRONG = "strong"
    EXTREME = "extreme"


class OrderType(StrEnum):
    """Engine ``OrderType``; the exchange adapter accepts only the first six."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT = "take_profit"
    TAKE_PROFIT_LIMIT = "take_profit_limit"
    CONDITIONAL_LIMIT = "conditional_limit"
    CONDITIONAL_STOP = "conditional_stop"


class TimeInForce(StrEnum):
    """Engine ``TimeInForce`` (upper case on the wire)."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"


class StrategyMode(StrEnum):
    """Engine ``StrategyMode``: selects the engine's processor."""

    DETERMINISTIC = "deterministic"
    ML_LIGHT = "ml_light"
    LLM_REASONING = "llm_reasoning"


# Signal fractions are in [0, 1]; the trading config uses percents (README fact 5).
Fraction = Annotated[float, Field(ge=0, le=1)]
Confidence = Annotated[float, Field(ge=0, le=1)]
# Nested payload values must be plain JSON; in python-mode validation this also refuses
# NaN/inf at any depth (allow_inf_nan=False reaches the floats inside JsonValue).
JsonObject = dict[str, JsonValue]


def to_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; a naive value is taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def _invalid_timestamp(message: str, value: object) -> PydanticCustomError:
    return PydanticCustomError(
        "CONTRACT_INVALID_TIMESTAMP", "{reason}", {"reason": message, "value": repr(value)[:64]}
    )


def parse_iso_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 date-time (``Z``/offset optional, naive = UTC) into aware UTC.

    Date-only strings, hour-only times and bare numbers are refused: the engine's consumer
    would silently replace them with "now", which is a guess.
    """
    if (
        len(value) < 16
        or value[4] != "-"
        or value[7] != "-"
        or value[13] != ":"
        or (value[10] not in "Tt ")
    ):
        raise _invalid_timestamp("timestamp must be ISO-8601 YYYY-MM-DDTHH:MM[:SS][offset]", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid_timestamp("timestamp is not a valid ISO-8601 date-time", value) from None
    return to_utc(parsed)


def _iso_only(value: object) -> datetime:
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, str):
        return parse_iso_timestamp(value)
    raise _invalid_timestamp("timestamp must be an ISO-8601 string", value)


# Serialised by pydantic as "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" because the value is always UTC.
UtcDatetime = Annotated[datetime, BeforeValidator(_iso_only)]

_TRACEPARENT_RE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def is_valid_traceparent(value: object) -> bool:
    """True for a W3C ``traceparent`` of version 00 with non-zero trace and span ids."""
    if not isinstance(value, str):
        return False
    match = _TRACEPARENT_RE.fullmatch(value)
    return match is not None and match[1] != _ZERO_TRACE and match[2] != _ZERO_SPAN


def traceparent_in(carrier: object) -> str | None:
    """The valid ``traceparent`` of a W3C carrier dict (``_otel_trace_context``), if any."""
    value = carrier.get("traceparent") if isinstance(carrier, dict) else None
    return value if is_valid_traceparent(value) else None


def _check_traceparent(value: str) -> str:
    if not is_valid_traceparent(value):
        raise ValueError("traceparent must look like 00-<32 hex>-<16 hex>-<2 hex>")
    return value


Traceparent = Annotated[str, AfterValidator(_check_traceparent)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
# `\S` (searched, not anchored) refuses ids made only of whitespace.
StrategyId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]


class FrozenModel(BaseModel):
    """Base for our own immutable wire models: unknown keys are refused, numbers finite."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
