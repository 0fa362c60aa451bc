"""Tests of the trading-configuration catalog: engine facts, validation, risk semantics, docs."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.catalog import (
    CATALOG,
    CIO_NAMES,
    CONFIG_INVALID,
    CROSS_FIELD_RULES,
    ENGINE_SCHEMA_NAMES,
    INVALID_TYPE,
    INVALID_VALUE,
    NON_FIELD,
    OUT_OF_RANGE,
    OWNERS,
    PARAM_TYPES,
    RISK_DIRECTIONS,
    SYMBOL_RE,
    UNKNOWN_PARAMETER,
    ParameterSpec,
    catalog_as_json_schema,
    catalog_defaults,
    change_magnitude,
    get_spec,
    is_loosening,
    loosening_rule,
    parameter_doc,
    validate_full,
    validate_patch,
)
from governance.errors import NotFound, ValidationFailed

HERE = Path(__file__).resolve()
FIXTURE = HERE.parents[1] / "fixtures" / "contracts" / "trading_config_params.json"
SHARED_SOURCE = HERE.parents[3] / "shared" / "contracts" / "trading_config_params.json"

ENTRIES: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))
CATALOG_ENTRIES = [e for e in ENTRIES if "non-catalog" not in e["category"]]
NON_CATALOG_NAMES = [e["name"] for e in ENTRIES if "non-catalog" in e["category"]]
FIXTURE_TYPES = {"list[str]": "list"}

NAMES = sorted(CATALOG)
NUMERIC = sorted(n for n, s in CATALOG.items() if s.type in ("integer", "float"))
INTEGERS = sorted(n for n, s in CATALOG.items() if s.type == "integer")
FLOATS = sorted(n for n, s in CATALOG.items() if s.type == "float")
BOOLEANS = sorted(n for n, s in CATALOG.items() if s.type == "boolean")
STRINGS = sorted(n for n, s in CATALOG.items() if s.type == "string")
DICTS = sorted(n for n, s in CATALOG.items() if s.type == "dict")
NON_NULLABLE = sorted(n for n, s in CATALOG.items() if not s.nullable)
NULLABLE = sorted(n for n, s in CATALOG.items() if s.nullable)
DIRECTIONAL_NUMERIC = sorted(n for n in NUMERIC if CATALOG[n].risk_direction != "neutral")
NEUTRAL = sorted(n for n, s in CATALOG.items() if s.risk_direction == "neutral")


# --- helpers -------------------------------------------------------------------------------


def errors_of(exc_info: pytest.ExceptionInfo[ValidationFailed]) -> list[dict[str, str]]:
    exc = exc_info.value
    assert exc.code == CONFIG_INVALID
    errors: list[dict[str, str]] = exc.details["errors"]
    for error in errors:
        assert set(error) == {"parameter", "code", "message"}
        assert error["message"]
    return errors


def single_error(patch: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as exc_info:
        validate_patch(patch)
    errors = errors_of(exc_info)
    assert len(errors) == 1, errors
    return errors[0]


def plain(value: Any) -> Any:
    """Catalog defaults are immutable; compare them as the JSON types they stand for."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type, recursively (so 10 vs 10.0 or 1 vs True is a drift)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def fact_mismatches(spec: ParameterSpec, entry: Mapping[str, Any]) -> list[str]:
    """Which of the engine's facts about ``spec`` differ from the fixture ``entry``."""
    mismatches = []
    if spec.type != FIXTURE_TYPES.get(entry["type"], entry["type"]):
        mismatches.append("type")
    if not same(plain(spec.default), entry["default"]):
        mismatches.append("default")
    if not same(spec.minimum, entry["min"]):
        mismatches.append("min")
    if not same(spec.maximum, entry["max"]):
        mismatches.append("max")
    if not same(plain(spec.allowed), entry["allowed"]):
        mismatches.append("allowed")
    if spec.category != entry["category"]:
        mismatches.append("category")
    if spec.engine_schema != entry["in_parameter_schema"]:
        mismatches.append("in_parameter_schema")
    return mismatches


# --- strategies ----------------------------------------------------------------------------

symbols = st.from_regex(SYMBOL_RE, fullmatch=True)
weights = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.floats(min_value=0, max_value=1e9) | st.integers(min_value=0, max_value=10**9),
    max_size=6,
)


def valid_value(name: str) -> st.SearchStrategy[Any]:
    spec = CATALOG[name]
    strategy: st.SearchStrategy[Any]
    if spec.type == "integer":
        strategy = st.integers(min_value=spec.minimum, max_value=spec.maximum)
    elif spec.type == "float":
        low, high = spec.minimum, spec.maximum
        strategy = st.floats(min_value=low, max_value=high, allow_nan=False)
        assert low is not None
        assert high is not None
        if math.ceil(low) <= math.floor(high):
            strategy |= st.integers(min_value=math.ceil(low), max_value=math.floor(high))
    elif spec.type == "boolean":
        strategy = st.booleans()
    elif spec.type == "string":
        assert spec.allowed is not None
        strategy = st.sampled_from(spec.allowed)
    elif spec.type == "dict":
        strategy = weights
    else:
        strategy = st.lists(symbols, unique=True, max_size=6)
    return st.none() | strategy if spec.nullable else strategy


def out_of_range_value(name: str) -> st.SearchStrategy[int | float]:
    spec = CATALOG[name]
    low, high = spec.minimum, spec.maximum
    assert low is not None
    assert high is not None
    if spec.type == "integer":
        return st.integers(max_value=int(low) - 1) | st.integers(min_value=int(high) + 1)
    below = st.floats(max_value=low, allow_nan=False, allow_infinity=False) | st.integers(
        max_value=math.ceil(low) - 1
    )
    above = st.floats(min_value=high, allow_nan=False, allow_infinity=False) | st.integers(
        min_value=math.floor(high) + 1
    )
    return (below | above).filter(lambda v: v < low or v > high)


def invalid_value(name: str) -> st.SearchStrategy[Any]:
    """Values that make exactly one error for ``name``, whatever its type."""
    spec = CATALOG[name]
    if spec.type == "integer":
        return st.floats() | st.booleans() | st.text() | out_of_range_value(name)
    if spec.type == "float":
        return (
            st.booleans()
            | st.text()
            | st.sampled_from([math.nan, math.inf, -math.inf])
            | out_of_range_value(name)
        )
    if spec.type == "boolean":
        return st.integers() | st.text() | st.floats(allow_nan=False)
    if spec.type == "string":
        allowed = spec.allowed or ()
        return st.text().filter(lambda s: s not in allowed) | st.integers()
    if spec.type == "dict":
        return st.integers() | st.just({"momentum_strategy": -1.0}) | st.just({"x": "heavy"})
    return st.text() | st.just(["btcusdt"]) | st.just(["BTCUSDT", "BTCUSDT"])


@st.composite
def named_valid(draw: st.DrawFn, names: list[str] = NAMES) -> tuple[str, Any]:
    name = draw(st.sampled_from(names))
    return name, draw(valid_value(name))


@st.composite
def valid_patches(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    return {name: draw(valid_value(name)) for name in chosen}


# --- the engine's facts --------------------------------------------------------------------


def test_fixture_holds_the_engines_37_catalog_parameters() -> None:
    assert len(CATALOG_ENTRIES) == 37
    assert len(NON_CATALOG_NAMES) == 14
    schema_names = {e["name"] for e in CATALOG_ENTRIES if e["in_parameter_schema"]}
    assert len(schema_names) == 36
    assert {e["name"] for e in CATALOG_ENTRIES} - schema_names == {"allowed_symbols"}


def test_catalog_has_every_engine_parameter_and_the_cio_ones() -> None:
    engine_names = {e["name"] for e in CATALOG_ENTRIES}
    assert engine_names <= set(CATALOG)
    assert {e["name"] for e in CATALOG_ENTRIES if e["in_parameter_schema"]} == ENGINE_SCHEMA_NAMES
    assert set(CATALOG) == ENGINE_SCHEMA_NAMES | CIO_NAMES
    assert not ENGINE_SCHEMA_NAMES & CIO_NAMES
    assert {
        "allowed_symbols",
        "max_symbol_exposure_usd",
        "max_strategy_exposure_usd",
        "max_fleet_exposure_usd",
        "max_orders_per_minute",
        "require_stop_loss",
        "require_take_profit",
        "volatility_high_size_scale",
        "volatility_extreme_action",
        "drawdown_reduce_pct",
        "drawdown_halt_pct",
    } == CIO_NAMES


@pytest.mark.parametrize("entry", CATALOG_ENTRIES, ids=lambda e: e["name"])
def test_engine_facts_match_the_fixture_exactly(entry: dict[str, Any]) -> None:
    spec = CATALOG[entry["name"]]
    assert fact_mismatches(spec, entry) == []
    if entry["in_parameter_schema"]:
        assert (spec.owner, spec.engine_schema) == ("engine", True)
    else:
        assert (spec.owner, spec.engine_schema) == ("cio", False)


_FACT_FIELDS = ["type", "default", "min", "max", "allowed", "category", "in_parameter_schema"]


def _perturb(field: str, value: Any) -> Any:
    if field == "type":
        return "float" if value != "float" else "integer"
    if field in ("category",):
        return value + "_x"
    if field == "in_parameter_schema":
        return not value
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return float(value)  # same number, other type: still a drift
    if isinstance(value, float):
        return value + 1.0
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {**value, "drift": 1.0}
    return [*value, "DRIFT"]


@given(st.sampled_from(CATALOG_ENTRIES), st.sampled_from(_FACT_FIELDS))
def test_fact_comparison_detects_any_drift(entry: dict[str, Any], field: str) -> None:
    drifted = {**entry, field: _perturb(field, entry[field])}
    assert fact_mismatches(CATALOG[entry["name"]], drifted) != []


@pytest.mark.parametrize("name", NON_CATALOG_NAMES)
def test_engine_keys_outside_its_catalog_are_unknown(name: str) -> None:
    assert name not in CATALOG
    assert single_error({name: 1})["code"] == UNKNOWN_PARAMETER


def test_fixture_copy_matches_the_shared_source() -> None:
    if not SHARED_SOURCE.exists():
        pytest.skip(f"{SHARED_SOURCE} is absent (fresh clone without ../shared)")
    assert json.loads(SHARED_SOURCE.read_text(encoding="utf-8")) == ENTRIES


def test_units_of_percent_and_fraction_parameters_are_spelled_out() -> None:
    for name in ("stop_loss_pct", "take_profit_pct", "slippage_tolerance_pct"):
        assert CATALOG[name].unit.startswith("percent"), name
    for name in ("stop_loss_pct", "take_profit_pct"):
        assert "PERCENT" in CATALOG[name].description
        assert "FRACTION" in CATALOG[name].description  # the Signal's unit, as a warning
    for name in ("position_size_pct", "max_daily_loss_pct", "max_portfolio_exposure_pct"):
        assert CATALOG[name].unit.startswith("fraction"), name
        assert "FRACTION" in CATALOG[name].description
    assert CATALOG["leverage"].unit.startswith("x leverage")
    assert CATALOG["max_position_size_usd"].unit.startswith("USD")
    assert CATALOG["max_signal_age_seconds"].unit.startswith("seconds")


# --- CIO-owned parameters ------------------------------------------------------------------

CIO_FACTS = {
    # name: (type, default, minimum, maximum, allowed)
    "allowed_symbols": ("list", (), None, None, None),
    "max_symbol_exposure_usd": ("float", 5000.0, 0.0, 10_000_000.0, None),
    "max_strategy_exposure_usd": ("float", 5000.0, 0.0, 10_000_000.0, None),
    "max_fleet_exposure_usd": ("float", 20000.0, 0.0, 100_000_000.0, None),
    "max_orders_per_minute": ("integer", 30, 1, 10000, None),
    "require_stop_loss": ("boolean", True, None, None, None),
    "require_take_profit": ("boolean", True, None, None, None),
    "volatility_high_size_scale": ("float", 0.5, 0.0, 1.0, None),
    "volatility_extreme_action": ("string", "block", None, None, ("block", "scale_down", "allow")),
    "drawdown_reduce_pct": ("float", 0.15, 0.01, 0.5, None),
    "drawdown_halt_pct": ("float", 0.20, 0.01, 0.5, None),
}


@pytest.mark.parametrize("name", sorted(CIO_FACTS))
def test_cio_parameters_are_as_specified(name: str) -> None:
    spec = CATALOG[name]
    assert (spec.type, spec.default, spec.minimum, spec.maximum, spec.allowed) == CIO_FACTS[name]
    assert (spec.owner, spec.engine_schema) == ("cio", False)


# --- spec invariants -----------------------------------------------------------------------


def test_parameter_spec_is_frozen_with_slots_and_catalog_is_read_only() -> None:
    spec = CATALOG["leverage"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.default = 20  # type: ignore[misc]
    assert not hasattr(spec, "__dict__")
    with pytest.raises(TypeError):
        CATALOG["leverage"] = spec  # type: ignore[index]
    with pytest.raises(TypeError):
        CATALOG["strategy_weights"].default["default"] = 9.0
    assert isinstance(CATALOG["strategy_weights"].default, MappingProxyType)
    assert isinstance(CATALOG["allowed_symbols"].default, tuple)


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_coherent(name: str) -> None:
    spec = CATALOG[name]
    assert spec.name == name
    assert spec.type in PARAM_TYPES
    assert spec.risk_direction in RISK_DIRECTIONS
    assert spec.owner in OWNERS
    assert spec.engine_schema == (spec.owner == "engine")
    for text in (spec.unit, spec.description, spec.raise_when, spec.lower_when, spec.risk_impact):
        assert text.strip()
        assert text.isascii()
    assert 60 <= len(spec.description) <= 600
    # The default is itself valid (nullable defaults included).
    assert same(validate_patch({name: plain(spec.default)})[name], plain(spec.default))
    if spec.type in ("integer", "float") and spec.default is not None:
        assert spec.minimum is not None
        assert spec.maximum is not None
        assert spec.minimum <= spec.default <= spec.maximum
    if spec.type == "integer":
        assert type(spec.minimum) is int
        assert type(spec.maximum) is int
    if spec.type == "string":
        assert spec.allowed
        assert spec.default in spec.allowed
    else:
        assert spec.allowed is None
    if spec.type == "boolean" and spec.riskier_value is not None:
        expected = "higher_is_riskier" if spec.riskier_value else "lower_is_riskier"
        assert spec.risk_direction == expected
    if spec.type != "boolean":
        assert spec.riskier_value is None
    if spec.risk_order is not None:
        assert spec.type == "string"
        assert spec.allowed is not None
        assert sorted(spec.risk_order) == sorted(spec.allowed)
    if spec.type == "string" and spec.risk_direction != "neutral":
        assert spec.risk_order is not None
    if spec.type == "boolean" and spec.risk_direction != "neutral":
        assert spec.riskier_value is not None
    if spec.risk_direction == "neutral":
        assert spec.riskier_value is None
        assert spec.risk_order is None
    if spec.type == "dict":
        assert spec.risk_direction == "neutral"
    if spec.zero_means_unlimited:
        assert spec.minimum == 0
    if spec.owner == "engine" and spec.type == "integer":
        assert "10.0" in spec.engine_notes


@pytest.mark.parametrize(
    ("name", "riskier"),
    [
        ("enabled", True),
        ("enable_shorts", True),
        ("enable_longs", True),
        ("risk_management_enabled", False),
        ("require_stop_loss", False),
        ("require_take_profit", False),
        ("use_exchange_minimums", False),
        ("position_mode_aware_conflicts", None),
    ],
)
def test_riskier_boolean_values(name: str, riskier: bool | None) -> None:
    assert CATALOG[name].riskier_value is riskier


# --- catalog_defaults ----------------------------------------------------------------------


def test_catalog_defaults_are_complete_and_fresh() -> None:
    first = catalog_defaults()
    assert list(first) == list(CATALOG)
    assert first["override_min_notional"] is None
    assert first["allowed_symbols"] == []
    assert first["stop_loss_pct"] == 2.0
    first["strategy_weights"]["default"] = 99.0
    first["allowed_symbols"].append("BTCUSDT")
    first["leverage"] = 50
    second = catalog_defaults()
    assert second is not first
    assert second["strategy_weights"]["default"] == 1.0
    assert second["allowed_symbols"] == []
    assert second["leverage"] == 10
    assert CATALOG["strategy_weights"].default["default"] == 1.0


def test_defaults_pass_full_validation() -> None:
    assert validate_full(catalog_defaults()) == catalog_defaults()
    assert validate_full({}) == catalog_defaults()


# --- validate_patch: accepted values -------------------------------------------------------


@given(named_valid())
def test_in_range_values_pass(item: tuple[str, Any]) -> None:
    name, value = item
    cleaned = validate_patch({name: value})
    assert cleaned[name] == value
    if CATALOG[name].type == "float" and value is not None:
        assert type(cleaned[name]) is float
    if CATALOG[name].type == "dict":
        assert all(type(w) is float for w in cleaned[name].values())


@given(valid_patches())
def test_valid_patches_pass_whole(patch: dict[str, Any]) -> None:
    cleaned = validate_patch(patch)
    assert cleaned.keys() == patch.keys()
    assert cleaned == patch


def test_cleaning_normalises_and_copies() -> None:
    weights_in = {"momentum_strategy": 2}
    symbols_in = ["BTCUSDT"]
    cleaned = validate_patch(
        {"max_position_size_usd": 5, "strategy_weights": weights_in, "allowed_symbols": symbols_in}
    )
    assert cleaned["max_position_size_usd"] == 5.0
    assert type(cleaned["max_position_size_usd"]) is float
    assert cleaned["strategy_weights"] == {"momentum_strategy": 2.0}
    assert type(cleaned["strategy_weights"]["momentum_strategy"]) is float
    weights_in["momentum_strategy"] = 3
    symbols_in.append("ETHUSDT")
    assert cleaned["strategy_weights"] == {"momentum_strategy": 2.0}
    assert cleaned["allowed_symbols"] == ["BTCUSDT"]
    assert validate_patch({"allowed_symbols": ("BTCUSDT",)})["allowed_symbols"] == ["BTCUSDT"]
    assert validate_patch({}) == {}


@given(st.sampled_from(NULLABLE))
def test_nullable_parameters_accept_none(name: str) -> None:
    assert validate_patch({name: None}) == {name: None}


# --- validate_patch: each error code -------------------------------------------------------


@given(st.text().filter(lambda s: s not in CATALOG))
def test_unknown_names_fail(name: str) -> None:
    error = single_error({name: 1})
    assert error == {**error, "parameter": name, "code": UNKNOWN_PARAMETER}


def test_unknown_name_suggests_the_closest_parameter() -> None:
    assert "did you mean 'leverage'" in single_error({"leverge": 10})["message"]
    error = single_error({7: 10})
    assert (error["parameter"], error["code"]) == ("7", UNKNOWN_PARAMETER)


def test_a_patch_that_is_not_an_object_fails() -> None:
    error = single_error([("leverage", 10)])
    assert (error["parameter"], error["code"]) == (NON_FIELD, INVALID_TYPE)


@given(st.sampled_from(NUMERIC).flatmap(lambda n: st.tuples(st.just(n), out_of_range_value(n))))
def test_out_of_range_numbers_fail(item: tuple[str, int | float]) -> None:
    name, value = item
    error = single_error({name: value})
    assert (error["parameter"], error["code"]) == (name, OUT_OF_RANGE)


@pytest.mark.parametrize("name", NUMERIC)
def test_bounds_are_inclusive(name: str) -> None:
    spec = CATALOG[name]
    assert validate_patch({name: spec.minimum}) == {name: spec.minimum}
    assert validate_patch({name: spec.maximum}) == {name: spec.maximum}


@given(
    st.sampled_from(INTEGERS),
    st.floats() | st.booleans() | st.text() | st.none() | st.just(10.0),
)
def test_integers_reject_floats_bools_and_others(name: str, value: Any) -> None:
    error = single_error({name: value})
    assert (error["parameter"], error["code"]) == (name, INVALID_TYPE)


def test_integer_written_as_float_is_invalid_type() -> None:
    assert single_error({"leverage": 10.0})["code"] == INVALID_TYPE
    assert single_error({"max_retries": True})["code"] == INVALID_TYPE


@given(st.sampled_from(FLOATS), st.booleans() | st.text() | st.lists(st.integers()))
def test_floats_reject_bools_and_non_numbers(name: str, value: Any) -> None:
    error = single_error({name: value})
    assert (error["parameter"], error["code"]) == (name, INVALID_TYPE)


@given(st.sampled_from(FLOATS), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_floats_reject_nan_and_infinity(name: str, value: float) -> None:
    error = single_error({name: value})
    assert (error["parameter"], error["code"]) == (name, INVALID_VALUE)


@given(st.sampled_from(NON_NULLABLE))
def test_none_is_rejected_where_the_default_is_not_none(name: str) -> None:
    error = single_error({name: None})
    assert (error["parameter"], error["code"]) == (name, INVALID_TYPE)


@given(
    st.sampled_from(BOOLEANS),
    st.integers() | st.floats() | st.text() | st.sampled_from(["true", "false"]),
)
def test_booleans_accept_only_real_bools(name: str, value: Any) -> None:
    error = single_error({name: value})
    assert (error["parameter"], error["code"]) == (name, INVALID_TYPE)


@given(st.sampled_from(STRINGS).flatmap(lambda n: st.tuples(st.just(n), st.text())))
def test_strings_must_be_allowed_values(item: tuple[str, str]) -> None:
    name, value = item
    allowed = CATALOG[name].allowed
    assert allowed is not None
    if value in allowed:
        assert validate_patch({name: value}) == {name: value}
    else:
        error = single_error({name: value})
        assert (error["parameter"], error["code"]) == (name, INVALID_VALUE)


@given(st.sampled_from(STRINGS), st.integers() | st.booleans() | st.lists(st.text()))
def test_strings_reject_non_strings(name: str, value: Any) -> None:
    assert single_error({name: value})["code"] == INVALID_TYPE


def test_string_values_are_case_sensitive() -> None:
    assert single_error({"time_in_force": "gtc"})["code"] == INVALID_VALUE
    assert single_error({"margin_type": "Isolated"})["code"] == INVALID_VALUE


@given(
    st.sampled_from(DICTS),
    weights,
    st.text(min_size=1, max_size=8),
    st.floats(max_value=0, exclude_max=True)
    | st.integers(max_value=-1)
    | st.sampled_from([math.nan, math.inf, True, "1.0", None, [1.0]])
    | st.just(10**400),
)
def test_weight_maps_reject_bad_weights(
    name: str, good: dict[str, Any], key: str, bad: Any
) -> None:
    error = single_error({name: {**good, key: bad}})
    assert (error["parameter"], error["code"]) == (name, INVALID_VALUE)
    assert repr(key) in error["message"]


@given(st.sampled_from(DICTS), st.integers() | st.text() | st.lists(st.floats()))
def test_weight_maps_must_be_objects(name: str, value: Any) -> None:
    assert single_error({name: value})["code"] == INVALID_TYPE


@given(st.sampled_from(DICTS), st.sampled_from(["", 1, None, ("a",)]))
def test_weight_map_keys_must_be_non_empty_strings(name: str, key: Any) -> None:
    assert single_error({name: {key: 1.0}})["code"] == INVALID_VALUE


@given(
    st.lists(symbols, unique=True, max_size=5),
    st.text().filter(lambda s: SYMBOL_RE.fullmatch(s) is None) | st.integers() | st.none(),
    st.integers(min_value=0, max_value=5),
)
def test_allowed_symbols_reject_malformed_symbols(good: list[str], bad: Any, at: int) -> None:
    value = [*good[:at], bad, *good[at:]]
    error = single_error({"allowed_symbols": value})
    assert (error["parameter"], error["code"]) == ("allowed_symbols", INVALID_VALUE)


@given(st.lists(symbols, min_size=1, unique=True, max_size=5), st.data())
def test_allowed_symbols_reject_duplicates(good: list[str], data: st.DataObject) -> None:
    duplicate = data.draw(st.sampled_from(good))
    error = single_error({"allowed_symbols": [*good, duplicate]})
    assert error["code"] == INVALID_VALUE
    assert "duplicate" in error["message"]


@pytest.mark.parametrize(
    "value", ["btcusdt", "BTC-USDT", "B", "A" * 31, "BTC USDT", "BTCUSDT ", "ÄTH"]
)
def test_allowed_symbols_format_examples(value: str) -> None:
    assert single_error({"allowed_symbols": [value]})["code"] == INVALID_VALUE


@pytest.mark.parametrize("value", ["BTCUSDT", {"BTCUSDT"}, {"BTCUSDT": 1}, 1])
def test_allowed_symbols_must_be_a_list(value: Any) -> None:
    assert single_error({"allowed_symbols": value})["code"] == INVALID_TYPE


# --- validate_patch: all errors at once ----------------------------------------------------


@st.composite
def patches_with_errors(draw: st.DrawFn) -> tuple[dict[Any, Any], set[str]]:
    bad_names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=10))
    patch: dict[Any, Any] = {name: draw(invalid_value(name)) for name in bad_names}
    unknown = draw(st.lists(st.sampled_from(NON_CATALOG_NAMES), unique=True, max_size=3))
    patch.update(dict.fromkeys(unknown, 1))
    good = draw(
        st.lists(st.sampled_from(NAMES), unique=True, max_size=10).map(
            lambda ns: [n for n in ns if n not in bad_names]
        )
    )
    for name in good:
        patch[name] = draw(valid_value(name))
    return patch, set(bad_names) | set(unknown)


@given(patches_with_errors())
def test_every_problem_is_reported_at_once(item: tuple[dict[Any, Any], set[str]]) -> None:
    patch, bad = item
    with pytest.raises(ValidationFailed) as exc_info:
        validate_patch(patch)
    errors = errors_of(exc_info)
    assert [e["parameter"] for e in errors] == [name for name in patch if name in bad]
    assert exc_info.value.as_dict()["code"] == CONFIG_INVALID
    assert exc_info.value.http_status == 422


def test_error_report_example() -> None:
    with pytest.raises(ValidationFailed) as exc_info:
        validate_patch(
            {
                "leverage": 10.0,
                "stop_loss_pct": 60,
                "margin_type": "portfolio",
                "enabled": "yes",
                "allowed_symbols": ["btcusdt"],
                "max_position_size": 1000,
                "take_profit_pct": 5,
            }
        )
    codes = {e["parameter"]: e["code"] for e in errors_of(exc_info)}
    assert codes == {
        "leverage": INVALID_TYPE,
        "stop_loss_pct": OUT_OF_RANGE,
        "margin_type": INVALID_VALUE,
        "enabled": INVALID_TYPE,
        "allowed_symbols": INVALID_VALUE,
        "max_position_size": UNKNOWN_PARAMETER,
    }
    assert "5 problems" not in exc_info.value.message
    assert "6 problems" in exc_info.value.message


# --- validate_full -------------------------------------------------------------------------


def test_validate_full_fills_defaults_and_cleans() -> None:
    result = validate_full({"leverage": 5, "max_position_size_usd": 2000})
    assert result == {**catalog_defaults(), "leverage": 5, "max_position_size_usd": 2000.0}
    assert type(result["max_position_size_usd"]) is float


def _full_errors(params: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationFailed) as exc_info:
        validate_full(params)
    return errors_of(exc_info)


@given(valid_value("min_position_size_usd"), valid_value("max_position_size_usd"))
def test_min_position_size_must_not_exceed_max(low: float, high: float) -> None:
    params = {"min_position_size_usd": low, "max_position_size_usd": high}
    if low <= high:
        validate_full(params)
    else:
        [error] = _full_errors(params)
        assert (error["parameter"], error["code"]) == ("min_position_size_usd", INVALID_VALUE)
        assert "min_position_size_usd" in error["message"]
        assert "max_position_size_usd" in error["message"]


@given(valid_value("leverage"), valid_value("max_leverage_bound"))
def test_leverage_must_not_exceed_its_bound(leverage: int, bound: int) -> None:
    params = {"leverage": leverage, "max_leverage_bound": bound}
    if leverage <= bound:
        validate_full(params)
    else:
        [error] = _full_errors(params)
        assert (error["parameter"], error["code"]) == ("leverage", INVALID_VALUE)
        assert "max_leverage_bound" in error["message"]


@given(valid_value("drawdown_reduce_pct"), valid_value("drawdown_halt_pct"))
def test_drawdown_reduce_must_be_below_halt(reduce: float, halt: float) -> None:
    params = {"drawdown_reduce_pct": reduce, "drawdown_halt_pct": halt}
    if reduce < halt:
        validate_full(params)
    else:
        [error] = _full_errors(params)
        assert (error["parameter"], error["code"]) == ("drawdown_reduce_pct", INVALID_VALUE)
        assert "drawdown_halt_pct" in error["message"]


def test_cross_field_rules_use_defaults_for_absent_keys() -> None:
    [error] = _full_errors({"min_position_size_usd": 5000.0})  # default max is 1000
    assert error["parameter"] == "min_position_size_usd"
    [error] = _full_errors({"drawdown_reduce_pct": 0.3})  # default halt is 0.20
    assert error["parameter"] == "drawdown_reduce_pct"
    [error] = _full_errors({"max_leverage_bound": 5})  # default leverage is 10
    assert error["parameter"] == "leverage"


def test_cross_field_rules_are_skipped_for_invalid_values_and_all_are_reported() -> None:
    errors = _full_errors({"leverage": 500, "max_leverage_bound": 20})
    assert [(e["parameter"], e["code"]) for e in errors] == [("leverage", OUT_OF_RANGE)]
    errors = _full_errors(
        {
            "min_position_size_usd": 500.0,
            "max_position_size_usd": 100.0,
            "leverage": 50,
            "max_leverage_bound": 20,
            "drawdown_reduce_pct": 0.25,
            "drawdown_halt_pct": 0.25,
            "bogus": 1,
        }
    )
    assert [(e["parameter"], e["code"]) for e in errors] == [
        ("bogus", UNKNOWN_PARAMETER),
        ("min_position_size_usd", INVALID_VALUE),
        ("leverage", INVALID_VALUE),
        ("drawdown_reduce_pct", INVALID_VALUE),
    ]
    assert len(CROSS_FIELD_RULES) == 3


@given(valid_patches())
def test_random_full_configs_fail_only_on_cross_field_rules(patch: dict[str, Any]) -> None:
    low, high = patch.get("min_position_size_usd", 10.0), patch.get("max_position_size_usd", 1e3)
    leverage, bound = patch.get("leverage", 10), patch.get("max_leverage_bound", 125)
    reduce, halt = patch.get("drawdown_reduce_pct", 0.15), patch.get("drawdown_halt_pct", 0.2)
    broken = {
        name
        for name, ok in (
            ("min_position_size_usd", low <= high),
            ("leverage", leverage <= bound),
            ("drawdown_reduce_pct", reduce < halt),
        )
        if not ok
    }
    if broken:
        with pytest.raises(ValidationFailed) as exc_info:
            validate_full(patch)
        errors = errors_of(exc_info)
        assert {e["code"] for e in errors} == {INVALID_VALUE}
        assert {e["parameter"] for e in errors} == broken
    else:
        result = validate_full(patch)
        assert result.keys() == CATALOG.keys()
        jsonschema.validate(result, catalog_as_json_schema())


# --- is_loosening --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "old", "new", "loosens"),
    [
        ("leverage", 10, 20, True),
        ("leverage", 20, 10, False),
        ("max_leverage_bound", 20, 125, True),
        ("stop_loss_pct", 2.0, 3.0, True),  # a wider stop risks more per trade
        ("stop_loss_pct", 3.0, 2.0, False),
        ("take_profit_pct", 5.0, 10.0, False),  # neutral either way
        ("take_profit_pct", 10.0, 5.0, False),
        ("min_confidence_threshold", 0.5, 0.4, True),
        ("min_confidence_threshold", 0.5, 0.6, False),
        ("max_signal_age_seconds", 300, 600, True),
        ("max_signal_age_seconds", 300, 60, False),
        ("position_size_pct", 0.1, 0.2, True),
        ("max_daily_loss_pct", 0.05, 0.04, False),
        ("slippage_tolerance_pct", 0.1, 0.5, True),
        ("max_retries", 3, 10, False),  # neutral
        ("enabled", True, False, False),  # disabling is safer
        ("enabled", False, True, True),
        ("enable_shorts", False, True, True),
        ("enable_longs", True, False, False),
        ("risk_management_enabled", True, False, True),
        ("require_stop_loss", True, False, True),
        ("require_take_profit", False, True, False),
        ("use_exchange_minimums", True, False, True),
        ("position_mode_aware_conflicts", True, False, False),
        ("margin_type", "isolated", "cross", True),
        ("margin_type", "cross", "isolated", False),
        ("same_direction_conflict_resolution", "reject_duplicates", "accumulate", True),
        ("volatility_extreme_action", "block", "scale_down", True),
        ("volatility_extreme_action", "allow", "scale_down", False),
        ("position_mode", "hedge", "one-way", False),
        ("default_order_type", "limit", "market", False),
        ("portfolio_leverage_cap", 0, 5, False),  # 0 = no cap, so any cap tightens
        ("portfolio_leverage_cap", 5, 0, True),
        ("portfolio_leverage_cap", 5, 10, True),
        ("portfolio_leverage_cap", 10, 5, False),
        ("allowed_symbols", ["BTCUSDT"], [], True),  # empty = unrestricted
        ("allowed_symbols", [], ["BTCUSDT"], False),
        ("allowed_symbols", ["BTCUSDT"], ["BTCUSDT", "ETHUSDT"], True),
        ("allowed_symbols", ["BTCUSDT", "ETHUSDT"], ["BTCUSDT"], False),
        ("allowed_symbols", ["BTCUSDT"], ["ETHUSDT"], True),  # a new symbol is admitted
        ("allowed_symbols", ["BTCUSDT", "ETHUSDT"], ["ETHUSDT", "BTCUSDT"], False),
        ("allowed_symbols", [], [], False),
        ("strategy_weights", {"default": 1.0}, {"default": 5.0}, False),
        ("override_min_notional", None, 5.0, False),
        ("max_symbol_exposure_usd", 5000, 6000.0, True),
        ("max_fleet_exposure_usd", 20000.0, 10000.0, False),
        ("max_orders_per_minute", 30, 60, True),
        ("volatility_high_size_scale", 0.5, 0.8, True),
        ("drawdown_reduce_pct", 0.15, 0.1, False),
        ("drawdown_halt_pct", 0.2, 0.3, True),
        ("min_position_size_usd", 10.0, 100.0, True),
        ("leverage_breach_alert_threshold", 3, 10, True),
    ],
)
def test_loosening_examples(name: str, old: Any, new: Any, loosens: bool) -> None:
    assert is_loosening(name, old, new) is loosens


@given(
    st.sampled_from(DIRECTIONAL_NUMERIC).flatmap(
        lambda n: st.tuples(st.just(n), valid_value(n), valid_value(n))
    )
)
def test_numeric_loosening_follows_the_risk_direction(item: tuple[str, Any, Any]) -> None:
    name, old, new = item
    spec = CATALOG[name]

    def rank(value: float) -> float:
        return math.inf if spec.zero_means_unlimited and value == 0 else value

    expected = rank(new) > rank(old)
    if spec.risk_direction == "lower_is_riskier":
        expected = rank(new) < rank(old)
    assert is_loosening(name, old, new) is expected


@given(named_valid())
def test_no_change_never_loosens(item: tuple[str, Any]) -> None:
    name, value = item
    assert is_loosening(name, value, value) is False
    assert change_magnitude(name, value, value) == 0.0


@given(
    st.sampled_from([n for n in NAMES if n != "allowed_symbols"]).flatmap(
        lambda n: st.tuples(st.just(n), valid_value(n), valid_value(n))
    )
)
def test_a_change_and_its_reverse_do_not_both_loosen(item: tuple[str, Any, Any]) -> None:
    # allowed_symbols is the exception: swapping one symbol for another admits a new one both
    # ways.
    name, old, new = item
    assert not (is_loosening(name, old, new) and is_loosening(name, new, old))


@given(
    st.sampled_from(NEUTRAL).flatmap(
        lambda n: st.tuples(st.just(n), valid_value(n), valid_value(n))
    )
)
def test_neutral_parameters_never_loosen(item: tuple[str, Any, Any]) -> None:
    name, old, new = item
    assert is_loosening(name, old, new) is False


@given(st.sampled_from(BOOLEANS), st.booleans(), st.booleans())
def test_boolean_loosening_uses_the_riskier_value(name: str, old: bool, new: bool) -> None:
    riskier = CATALOG[name].riskier_value
    expected = riskier is not None and old != new and new is riskier
    assert is_loosening(name, old, new) is expected


@given(st.lists(symbols, unique=True, max_size=6), st.lists(symbols, unique=True, max_size=6))
def test_allowed_symbols_loosening_rule(old: list[str], new: list[str]) -> None:
    expected = bool(old) and (not new or bool(set(new) - set(old)))
    assert is_loosening("allowed_symbols", old, new) is expected


def test_is_loosening_validates_its_inputs() -> None:
    with pytest.raises(ValidationFailed) as exc_info:
        is_loosening("leverage", 10.0, 500)
    errors = errors_of(exc_info)
    assert [e["code"] for e in errors] == [INVALID_TYPE, OUT_OF_RANGE]
    assert errors[0]["message"].startswith("old value:")
    assert errors[1]["message"].startswith("new value:")
    with pytest.raises(ValidationFailed) as exc_info:
        is_loosening("leverag", 1, 2)
    assert errors_of(exc_info)[0]["code"] == UNKNOWN_PARAMETER
    with pytest.raises(ValidationFailed):
        change_magnitude("enabled", 1, 0)


# --- change_magnitude ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "old", "new", "magnitude"),
    [
        ("leverage", 10, 15, 0.5),
        ("leverage", 10, 5, 0.5),
        ("stop_loss_pct", 2.0, 2.5, 0.25),
        ("max_position_size_usd", 1000, 1100.0, 0.1),
        ("max_retries", 0, 1, math.inf),
        ("portfolio_leverage_cap", 5, 0, math.inf),  # to "no cap"
        ("portfolio_leverage_cap", 0, 5, math.inf),  # from "no cap"
        ("portfolio_leverage_cap", 4, 5, 0.25),
        ("max_symbol_exposure_usd", 0.0, 100.0, math.inf),
        ("max_symbol_exposure_usd", 100.0, 0.0, 1.0),
        ("enabled", True, False, None),
        ("enabled", True, True, 0.0),
        ("margin_type", "isolated", "cross", None),
        ("allowed_symbols", ["BTCUSDT", "ETHUSDT"], ["ETHUSDT", "BTCUSDT"], 0.0),
        ("allowed_symbols", ["BTCUSDT"], ["BTCUSDT", "ETHUSDT"], None),
        ("override_min_notional", None, 5.0, None),
        ("override_min_notional", None, None, 0.0),
        ("strategy_weights", {"a": 1.0, "b": 2.0}, {"a": 1.5, "b": 2.0}, 0.5),
        ("strategy_weights", {"a": 1.0}, {"a": 1.0, "b": 1.0}, math.inf),
        ("strategy_weights", {}, {}, 0.0),
        ("strategy_weights", {"a": 0.0}, {"a": 1.0}, math.inf),
    ],
)
def test_change_magnitude_examples(name: str, old: Any, new: Any, magnitude: float | None) -> None:
    result = change_magnitude(name, old, new)
    if magnitude is None:
        assert result is None
    else:
        assert result == pytest.approx(magnitude)


@given(
    st.sampled_from(NUMERIC).flatmap(
        lambda n: st.tuples(st.just(n), valid_value(n), valid_value(n))
    )
)
def test_numeric_change_magnitude_is_the_relative_change(item: tuple[str, Any, Any]) -> None:
    name, old, new = item
    result = change_magnitude(name, old, new)
    if old is None or new is None:
        assert result == (0.0 if old is new else None)
        return
    assert result is not None
    assert result >= 0
    unlimited = CATALOG[name].zero_means_unlimited and 0 in (old, new)
    if old == new:
        assert result == 0.0
    elif old == 0 or unlimited:
        assert result == math.inf
    else:
        assert result == pytest.approx(abs(new - old) / abs(old))


# --- JSON schema and docs ------------------------------------------------------------------


def test_json_schema_is_valid_and_describes_every_parameter() -> None:
    schema = catalog_as_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(schema)) == schema
    assert list(schema["properties"]) == list(CATALOG)
    assert schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        spec = CATALOG[name]
        assert spec.description in prop["description"]
        assert spec.unit in prop["description"]
        assert prop["x-unit"] == spec.unit
        assert prop["x-owner"] == spec.owner
        assert prop["x-risk-direction"] == spec.risk_direction
        assert prop["default"] == plain(spec.default)
        assert prop.get("minimum") == spec.minimum
        assert prop.get("maximum") == spec.maximum
        assert prop.get("enum") == plain(spec.allowed)
        assert ("null" in prop["type"]) is spec.nullable
    jsonschema.validate(catalog_defaults(), schema)


def test_json_schema_is_fresh_on_every_call() -> None:
    schema = catalog_as_json_schema()
    schema["properties"]["strategy_weights"]["default"]["default"] = 9.0
    del schema["properties"]["leverage"]
    again = catalog_as_json_schema()
    assert "leverage" in again["properties"]
    assert again["properties"]["strategy_weights"]["default"]["default"] == 1.0


@given(valid_patches())
def test_valid_patches_satisfy_the_json_schema(patch: dict[str, Any]) -> None:
    jsonschema.validate(validate_patch(patch), catalog_as_json_schema())


@pytest.mark.parametrize(
    "patch",
    [
        {"bogus": 1},
        {"leverage": 500},
        {"margin_type": "portfolio"},
        {"allowed_symbols": ["btcusdt"]},
        {"allowed_symbols": ["BTCUSDT", "BTCUSDT"]},
        {"strategy_weights": {"a": -1}},
        {"enabled": "yes"},
    ],
)
def test_json_schema_rejects_what_validation_rejects(patch: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(patch, catalog_as_json_schema())
    with pytest.raises(ValidationFailed):
        validate_patch(patch)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_doc_is_complete_and_serialisable(name: str) -> None:
    doc = parameter_doc(name)
    assert json.loads(json.dumps(doc)) == doc
    spec = CATALOG[name]
    assert doc["name"] == name
    assert doc["default"] == plain(spec.default)
    for key in ("unit", "description", "raise_when", "lower_when", "risk_impact"):
        assert doc[key] == getattr(spec, key)
    assert doc["loosening_rule"] == loosening_rule(spec)
    assert doc["owner"] == spec.owner
    assert doc["nullable"] is spec.nullable


def test_parameter_doc_cross_field_rules_and_unknown_names() -> None:
    assert parameter_doc("leverage")["cross_field_rules"] == ["leverage <= max_leverage_bound"]
    assert parameter_doc("stop_loss_pct")["cross_field_rules"] == []
    with pytest.raises(NotFound) as exc_info:
        parameter_doc("stoploss_pct")
    assert exc_info.value.code == UNKNOWN_PARAMETER
    assert "stop_loss_pct" in exc_info.value.details["suggestions"]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("leverage", "Raising it loosens risk"),
        ("min_confidence_threshold", "Lowering it loosens risk"),
        ("enabled", "Setting it to true loosens risk"),
        ("risk_management_enabled", "Setting it to false loosens risk"),
        ("volatility_extreme_action", "block < scale_down < allow"),
        ("portfolio_leverage_cap", "0 disables the limit"),
        ("allowed_symbols", "emptying the list"),
        ("take_profit_pct", "Risk-neutral"),
    ],
)
def test_loosening_rule_text(name: str, fragment: str) -> None:
    assert fragment in loosening_rule(CATALOG[name])


def test_get_spec() -> None:
    assert get_spec("leverage") is CATALOG["leverage"]
    with pytest.raises(ValidationFailed) as exc_info:
        get_spec("nope")
    assert errors_of(exc_info)[0]["code"] == UNKNOWN_PARAMETER
