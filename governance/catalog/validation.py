"""Validation of configuration patches and whole configs against the catalog.

Type rules (stricter than the engine where the engine is sloppy):

* ``integer``: an ``int`` that is not a ``bool``. A float such as ``10.0`` is INVALID_TYPE,
  as in the engine (its ``isinstance(value, int)`` check); unlike the engine we also refuse
  ``True``/``False``, which Python counts as ints.
* ``float``: an ``int`` or ``float`` that is not a ``bool``; NaN and +/-inf are
  INVALID_VALUE. Cleaned values are always ``float``.
* ``boolean``: only ``True``/``False`` (not 0/1, not "true").
* ``string``: a ``str`` that is one of ``allowed`` (INVALID_VALUE otherwise).
* ``dict``: a mapping of non-empty string keys to finite numbers >= 0 (weights).
* ``list`` (``allowed_symbols``): a list of distinct ``^[A-Z0-9]{2,30}$`` strings.
* Parameters whose default is None (``override_*``) also accept None.

Every problem is collected and reported at once in one ``ValidationFailed``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from governance.catalog.parameters import CATALOG
from governance.catalog.spec import ParameterSpec, ParamType
from governance.errors import ValidationFailed

CONFIG_INVALID: Final = "CONFIG_INVALID"
UNKNOWN_PARAMETER: Final = "UNKNOWN_PARAMETER"
INVALID_TYPE: Final = "INVALID_TYPE"
OUT_OF_RANGE: Final = "OUT_OF_RANGE"
INVALID_VALUE: Final = "INVALID_VALUE"

NON_FIELD: Final = "__all__"
"""``parameter`` of an error that concerns the patch as a whole (Django's convention)."""

SYMBOL_RE: Final = re.compile(r"[A-Z0-9]{2,30}")

_TYPE_WORDS: Final = {
    "integer": "an integer (whole-number literal, not 10.0, not a boolean)",
    "float": "a number (not a boolean)",
    "boolean": "true or false",
    "string": "a string",
    "dict": "an object mapping names to numbers",
    "list": "a list of strings",
}


class _Problem(Exception):
    """One problem with one value; collected, never escapes this module."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(parameter: str, code: str, message: str) -> dict[str, str]:
    return {"parameter": parameter, "code": code, "message": message}


def config_invalid(errors: list[dict[str, str]]) -> ValidationFailed:
    """The ``ValidationFailed`` (code CONFIG_INVALID) that carries ``errors``."""
    count = len(errors)
    return ValidationFailed(
        f"invalid trading configuration: {count} problem{'s' if count != 1 else ''}",
        code=CONFIG_INVALID,
        details={"errors": errors},
    )


def raise_if_errors(errors: list[dict[str, str]]) -> None:
    """Raise ``config_invalid(errors)`` when there is at least one error."""
    if errors:
        raise config_invalid(errors)


def unknown_parameter_error(name: object) -> dict[str, str]:
    """The UNKNOWN_PARAMETER error for ``name``, with a "did you mean" hint when one fits."""
    label = name if isinstance(name, str) else repr(name)
    message = f"unknown parameter {label!r}"
    if isinstance(name, str):
        close = difflib.get_close_matches(name, list(CATALOG), n=3, cutoff=0.6)
        if close:
            message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return _error(label, UNKNOWN_PARAMETER, message)


def get_spec(name: str) -> ParameterSpec:
    """The spec of ``name``; an unknown name raises ``ValidationFailed`` (UNKNOWN_PARAMETER)."""
    spec = CATALOG.get(name) if isinstance(name, str) else None
    if spec is None:
        raise config_invalid([unknown_parameter_error(name)])
    return spec


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite_float(value: int | float) -> float:
    try:
        result = float(value)
    except OverflowError:
        raise _Problem(INVALID_VALUE, f"{value!r} is too large to be a number") from None
    if not math.isfinite(result):
        raise _Problem(INVALID_VALUE, f"{value!r} is not a finite number")
    return result


def _check_range(spec: ParameterSpec, value: int | float) -> None:
    # Compare before converting so huge ints are reported as out of range, not overflow.
    low, high = spec.minimum, spec.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise _Problem(
            OUT_OF_RANGE,
            f"{value!r} is outside [{low}, {high}]" + (f"; unit: {spec.unit}" if spec.unit else ""),
        )


def _clean_integer(spec: ParameterSpec, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Problem(INVALID_TYPE, f"expected {_TYPE_WORDS['integer']}, got {value!r}")
    _check_range(spec, value)
    return value


def _clean_float(spec: ParameterSpec, value: Any) -> float:
    if not _is_number(value):
        raise _Problem(INVALID_TYPE, f"expected {_TYPE_WORDS['float']}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Problem(INVALID_VALUE, f"{value!r} is not a finite number")
    _check_range(spec, value)
    return _finite_float(value)


def _clean_boolean(spec: ParameterSpec, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Problem(INVALID_TYPE, f"expected {_TYPE_WORDS['boolean']}, got {value!r}")
    return value


def _clean_string(spec: ParameterSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise _Problem(INVALID_TYPE, f"expected {_TYPE_WORDS['string']}, got {value!r}")
    if spec.allowed is not None and value not in spec.allowed:
        choices = ", ".join(repr(a) for a in spec.allowed)
        raise _Problem(INVALID_VALUE, f"{value!r} is not one of {choices}")
    return value


def _clean_dict(spec: ParameterSpec, value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise _Problem(INVALID_TYPE, f"expected {_TYPE_WORDS['dict']}, got {value!r}")
    cleaned: dict[str, float] = {}
    bad: list[str] = []
    for key, weight in value.items():
        if not isinstance(key, str) or not key:
            bad.append(f"key {key!r} is not a non-empty string")
            continue
        if not _is_number(weight):
            bad.append(f"{key!r}: {weight!r} is not a number")
            continue
        try:
            number = _finite_float(weight)
        except _Problem as problem:
            bad.append(f"{key!r}: {problem.message}")
            continue
        if number < 0:
            bad.append(f"{key!r}: {weight!r} is negative (weights must be >= 0)")
            continue
        cleaned[key] = number
    if bad:
        raise _Problem(INVALID_VALUE, "; ".join(bad))
    return cleaned


def _clean_symbols(spec: ParameterSpec, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _Problem(INVALID_TYPE, f"expected {_TYPE_WORDS['list']}, got {value!r}")
    seen: set[str] = set()
    bad: list[str] = []
    for index, symbol in enumerate(value):
        if not isinstance(symbol, str) or SYMBOL_RE.fullmatch(symbol) is None:
            bad.append(
                f"item {index} ({symbol!r}) is not an upper-case symbol of 2-30 letters or "
                "digits, e.g. 'BTCUSDT'"
            )
        elif symbol in seen:
            bad.append(f"item {index} ({symbol!r}) is a duplicate")
        else:
            seen.add(symbol)
    if bad:
        raise _Problem(INVALID_VALUE, "; ".join(bad))
    return list(value)


_CLEANERS: Final[Mapping[ParamType, Callable[[ParameterSpec, Any], Any]]] = {
    "integer": _clean_integer,
    "float": _clean_float,
    "boolean": _clean_boolean,
    "string": _clean_string,
    "dict": _clean_dict,
    "list": _clean_symbols,
}


def clean_value(spec: ParameterSpec, value: Any) -> Any:
    """Return ``value`` cleaned for ``spec`` or raise ``ValidationFailed`` (one error)."""
    errors: list[dict[str, str]] = []
    cleaned = _clean_into(spec, value, errors)
    raise_if_errors(errors)
    return cleaned


def _clean_into(spec: ParameterSpec, value: Any, errors: list[dict[str, str]]) -> Any:
    if value is None:
        if spec.nullable:
            return None
        errors.append(
            _error(spec.name, INVALID_TYPE, f"expected {_TYPE_WORDS[spec.type]}, got None")
        )
        return None
    try:
        return _CLEANERS[spec.type](spec, value)
    except _Problem as problem:
        errors.append(_error(spec.name, problem.code, problem.message))
        return None


def _clean_mapping(params: object, errors: list[dict[str, str]]) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        errors.append(
            _error(NON_FIELD, INVALID_TYPE, f"expected an object of parameters, got {params!r}")
        )
        return {}
    cleaned: dict[str, Any] = {}
    for name, value in params.items():
        spec = CATALOG.get(name) if isinstance(name, str) else None
        if spec is None:
            errors.append(unknown_parameter_error(name))
            continue
        before = len(errors)
        result = _clean_into(spec, value, errors)
        if len(errors) == before:
            cleaned[name] = result
    return cleaned


def catalog_defaults() -> dict[str, Any]:
    """Every parameter's default, as a fresh dict (mutable copies of dict/list defaults)."""
    defaults: dict[str, Any] = {}
    for name, spec in CATALOG.items():
        if isinstance(spec.default, Mapping):
            defaults[name] = dict(spec.default)
        elif isinstance(spec.default, tuple):
            defaults[name] = list(spec.default)
        else:
            defaults[name] = spec.default
    return defaults


def validate_patch(patch: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a partial config and return it cleaned (floats as float, fresh containers).

    Raises ``ValidationFailed`` (code CONFIG_INVALID) listing every problem in
    ``details["errors"]`` as ``{"parameter", "code", "message"}`` with code
    UNKNOWN_PARAMETER, INVALID_TYPE, OUT_OF_RANGE or INVALID_VALUE. Cross-field rules are
    not checked here (a patch alone does not know the other values): see ``validate_full``.
    """
    errors: list[dict[str, str]] = []
    cleaned = _clean_mapping(patch, errors)
    raise_if_errors(errors)
    return cleaned


def _number_or_none(config: Mapping[str, Any], name: str) -> int | float | None:
    value = config.get(name)
    return value if _is_number(value) else None


def _cross_field_errors(config: Mapping[str, Any]) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    low = _number_or_none(config, "min_position_size_usd")
    high = _number_or_none(config, "max_position_size_usd")
    if low is not None and high is not None and low > high:
        errors.append(
            _error(
                "min_position_size_usd",
                INVALID_VALUE,
                f"min_position_size_usd ({low}) must be <= max_position_size_usd ({high})",
            )
        )
    leverage = _number_or_none(config, "leverage")
    bound = _number_or_none(config, "max_leverage_bound")
    if leverage is not None and bound is not None and leverage > bound:
        errors.append(
            _error(
                "leverage",
                INVALID_VALUE,
                f"leverage ({leverage}) must be <= max_leverage_bound ({bound})",
            )
        )
    reduce = _number_or_none(config, "drawdown_reduce_pct")
    halt = _number_or_none(config, "drawdown_halt_pct")
    if reduce is not None and halt is not None and reduce >= halt:
        errors.append(
            _error(
                "drawdown_reduce_pct",
                INVALID_VALUE,
                f"drawdown_reduce_pct ({reduce}) must be < drawdown_halt_pct ({halt})",
            )
        )
    return errors


CROSS_FIELD_RULES: Final = (
    "min_position_size_usd <= max_position_size_usd",
    "leverage <= max_leverage_bound",
    "drawdown_reduce_pct < drawdown_halt_pct",
)
"""The rules ``validate_full`` checks across parameters (error code INVALID_VALUE)."""


def validate_full(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a whole merged config and return it complete and cleaned.

    1. Check every key and value as ``validate_patch`` does.
    2. Fill keys absent from ``params`` with the catalog default (as the engine falls back
       to its defaults).
    3. Check the cross-field rules (``CROSS_FIELD_RULES``), each reported as INVALID_VALUE
       on the first parameter named, with a message naming both. A rule is skipped when
       one of its values is itself invalid (that error is already reported).

    Raises ``ValidationFailed`` (code CONFIG_INVALID) with every problem found.
    """
    errors: list[dict[str, str]] = []
    cleaned = _clean_mapping(params, errors)
    invalid = {e["parameter"] for e in errors}
    merged = catalog_defaults()
    merged.update(cleaned)
    checked = {k: v for k, v in merged.items() if k not in invalid}
    errors.extend(_cross_field_errors(checked))
    raise_if_errors(errors)
    return merged
