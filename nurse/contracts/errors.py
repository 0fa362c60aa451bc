"""Stable rejection codes of the intent contract and the mapping from pydantic errors."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from governance.errors import ValidationFailed


class ContractCode(StrEnum):
    """Why an intent was refused before any policy ran (``CATEGORY_CONDITION``)."""

    OVERSIZED = "CONTRACT_OVERSIZED"
    ENCODING = "CONTRACT_ENCODING"
    NOT_JSON = "CONTRACT_NOT_JSON"
    NOT_OBJECT = "CONTRACT_NOT_OBJECT"
    DUPLICATE_KEY = "CONTRACT_DUPLICATE_KEY"
    MISSING_FIELD = "CONTRACT_MISSING_FIELD"
    UNKNOWN_SIDE = "CONTRACT_UNKNOWN_SIDE"
    ACTION_CONFLICT = "CONTRACT_ACTION_CONFLICT"
    INVALID_NUMBER = "CONTRACT_INVALID_NUMBER"
    NON_POSITIVE_QUANTITY = "CONTRACT_NON_POSITIVE_QUANTITY"
    NON_POSITIVE_PRICE = "CONTRACT_NON_POSITIVE_PRICE"
    CONFIDENCE_RANGE = "CONTRACT_CONFIDENCE_RANGE"
    FRACTION_RANGE = "CONTRACT_FRACTION_RANGE"
    INVALID_SYMBOL = "CONTRACT_INVALID_SYMBOL"
    INVALID_ENUM = "CONTRACT_INVALID_ENUM"
    INVALID_TIMESTAMP = "CONTRACT_INVALID_TIMESTAMP"
    STALE = "CONTRACT_STALE"
    FUTURE_TIMESTAMP = "CONTRACT_FUTURE_TIMESTAMP"
    INVALID_FIELD = "CONTRACT_INVALID_FIELD"


CONTRACT_REASON_CODES: frozenset[str] = frozenset(code.value for code in ContractCode)

# When one payload has several problems, the most fundamental one names the rejection, so
# the code is a function of the payload, not of pydantic's error order.
_PRIORITY: dict[str, int] = {code.value: rank for rank, code in enumerate(ContractCode)}

_CONFIDENCE_FIELDS = frozenset({"confidence", "model_confidence"})
_FRACTION_FIELDS = frozenset({"stop_loss_pct", "take_profit_pct", "position_size_pct"})
_PRICE_FIELDS = frozenset({"price", "current_price"})
_RANGE_TYPES = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})
_ENUM_TYPES = frozenset({"enum", "literal_error"})
# A string, a bool or a fraction where a JSON number (or integer) belongs.
_NUMBER_TYPES = frozenset(
    {"finite_number", "float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"}
)
_MAX_DETAIL_ERRORS = 20


class IntentRejected(ValidationFailed):
    """An intent broke the wire contract; ``code`` is one of ``CONTRACT_REASON_CODES``."""

    code = ContractCode.INVALID_FIELD.value

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        if code not in CONTRACT_REASON_CODES:
            raise ValueError(f"unknown contract code {code!r}")
        super().__init__(message, code=code, details=details)

    def __reduce__(self) -> tuple[Any, ...]:
        # The base Exception pickles only `args` (the message); keep code and details.
        return (type(self), (self.code, self.message, self.details))


def _code_for(error: Any, required: frozenset[str]) -> str:
    kind: str = error["type"]
    if kind in CONTRACT_REASON_CODES:
        return kind
    loc: tuple[int | str, ...] = error["loc"]
    field = loc[0] if loc else None
    value = error.get("input")
    if kind == "missing":
        return ContractCode.MISSING_FIELD.value
    if (
        field in required
        and len(loc) == 1
        and (value is None or (isinstance(value, str) and not value.strip()))
    ):
        # null, "" and whitespace carry no value: the field is missing, not malformed.
        return ContractCode.MISSING_FIELD.value
    if kind in _NUMBER_TYPES:
        return ContractCode.INVALID_NUMBER.value
    if kind == "model_type" and not loc:
        return ContractCode.NOT_OBJECT.value
    if kind in _RANGE_TYPES and len(loc) == 1:
        if field in _CONFIDENCE_FIELDS:
            return ContractCode.CONFIDENCE_RANGE.value
        if field in _FRACTION_FIELDS:
            return ContractCode.FRACTION_RANGE.value
        if field == "quantity":
            return ContractCode.NON_POSITIVE_QUANTITY.value
        if field in _PRICE_FIELDS:
            return ContractCode.NON_POSITIVE_PRICE.value
    if field == "symbol" and len(loc) == 1:
        return ContractCode.INVALID_SYMBOL.value
    if kind in _ENUM_TYPES:
        return ContractCode.INVALID_ENUM.value
    return ContractCode.INVALID_FIELD.value


def rejection_from_validation_error(
    exc: ValidationError, *, required: frozenset[str]
) -> IntentRejected:
    """Turn a pydantic error into one ``IntentRejected`` listing every problem found.

    1. Each pydantic error gets a contract code (custom errors already carry one as type).
    2. The highest-priority code names the rejection; its first field goes in ``field``.
    3. ``details.errors`` keeps loc/msg/type/code of at most 20 errors (inputs are omitted:
       they may be large or sensitive).
    """
    raw_errors = exc.errors(include_url=False, include_input=True, include_context=True)
    listed: list[dict[str, Any]] = []
    best_code = ContractCode.INVALID_FIELD.value
    best_rank = len(_PRIORITY)
    best_loc = ""
    for error in raw_errors:
        code = _code_for(error, required)
        loc = ".".join(str(part) for part in error["loc"])
        if not loc:
            # Errors raised by a model-level validator carry their field in the context.
            loc = str(error.get("ctx", {}).get("field", ""))
        if _PRIORITY[code] < best_rank:
            best_code, best_rank, best_loc = code, _PRIORITY[code], loc
        if len(listed) < _MAX_DETAIL_ERRORS:
            listed.append({"loc": loc, "msg": error["msg"], "type": error["type"], "code": code})
    first_msg = listed[0]["msg"] if listed else "invalid intent"
    for item in listed:
        if item["code"] == best_code:
            first_msg = item["msg"]
            break
    details: dict[str, Any] = {"field": best_loc, "errors": listed, "error_count": len(raw_errors)}
    return IntentRejected(best_code, first_msg, details)
