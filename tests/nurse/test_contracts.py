"""Examples for nurse.contracts: engine samples, every alias, every rejection code."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from governance.errors import CioError
from nurse.contracts import (
    CONTRACT_REASON_CODES,
    ENGINE_COMMIT,
    SIDE_ALIASES,
    SIGNAL_FIELDS,
    SIGNAL_REQUIRED_FIELDS,
    ContractCode,
    Decision,
    DecisionCounters,
    Dependencies,
    Envelope,
    Heartbeat,
    Intent,
    IntentRejected,
    PolicyUpdated,
    ReasonCode,
    Signal,
    envelope_error,
    envelope_from_error,
    envelope_ok,
    parse_intent,
    signal_to_json_bytes,
    trace_context_of,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"
SHARED = Path("/work/shared/contracts")
SCHEMA: dict[str, Any] = json.loads((FIXTURES / "signal_schema.json").read_text())
SAMPLES: list[dict[str, Any]] = json.loads((FIXTURES / "sample_signals.json").read_text())
SAMPLES_BY_ID = {sample["id"]: sample for sample in SAMPLES}
ACCEPTED = [sample for sample in SAMPLES if sample["accepted"]]
SCHEMA_FIELDS: dict[str, dict[str, Any]] = {field["name"]: field for field in SCHEMA["fields"]}

NOMINAL = datetime(2026, 8, 21, 18, 0, 0, tzinfo=UTC)  # the samples' publish time
NOW = NOMINAL.timestamp()
TRACEPARENT = "00-d23f0824128b2f330c5c7fd0a6a3a450-1818e811892f902b-01"
MAX_ENGINE_AGE_S = 300

# Rejections at the engine's schema stage: field the engine names, and our intent code
# (None = parse_intent accepts it on purpose, see test_r02_missing_current_price...).
SCHEMA_REJECTIONS: dict[str, tuple[str, str | None]] = {
    "R01": ("action", "CONTRACT_INVALID_ENUM"),
    "R02": ("current_price", None),
    "R03": ("confidence", "CONTRACT_CONFIDENCE_RANGE"),
    "R04": ("stop_loss_pct", "CONTRACT_FRACTION_RANGE"),
    "R05": ("strength", "CONTRACT_INVALID_ENUM"),
    "R06": ("metadata", "CONTRACT_INVALID_FIELD"),
}
# Later engine stages: source enforcement, confidence thresholds, risk and exchange checks
# belong to the gate's policy or to the engine itself, not to the wire contract.
LATER_STAGE_REJECTIONS = {
    "R07": "cio_enforcement",
    "R08": "stale_check",
    "R09": "consumer",
    "R10": "processor",
    "R11": "risk_check",
    "R12": "exchange_validation",
    "R13": "exchange_validation",
}


# ---------------------------------------------------------------- helpers (imported by the
# property tests too)


def raw_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def canon(value: Any) -> str:
    """JSON text of a value with sorted keys: equal text means identical JSON value."""
    return json.dumps(value, sort_keys=True)


def iso_instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _json_type_ok(value: Any, json_type: str) -> bool:
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "object":
        return isinstance(value, dict)
    if json_type == "array":
        return isinstance(value, list)
    if json_type.startswith("string (ISO-8601)"):
        if not isinstance(value, str):
            return False
        try:
            iso_instant(value)
        except ValueError:
            return False
        return True
    raise AssertionError(f"schema json_type {json_type!r} not handled")


def engine_schema_violations(payload: dict[str, Any], *, now: float | None = None) -> list[str]:
    """What the engine's consumer would object to, judged from signal_schema.json alone.

    Independent of ``nurse.contracts.Signal`` so that a bug shared by our model and our
    serializer cannot hide: required keys, JSON types, nullability, enum values, ge/le,
    finite numbers, an ISO timestamp string, and (given ``now``) the 300 s staleness gate.
    """
    problems: list[str] = []
    for name in SCHEMA["required_fields"]:
        if name not in payload:
            problems.append(f"{name}: missing")
    for name, value in payload.items():
        spec = SCHEMA_FIELDS.get(name)
        if spec is None:
            continue  # ignored by the engine
        if value is None:
            if not spec["nullable"]:
                problems.append(f"{name}: null")
            continue
        types = spec["json_type"] if isinstance(spec["json_type"], list) else [spec["json_type"]]
        if not any(_json_type_ok(value, t) for t in types if t != "null"):
            problems.append(f"{name}: {value!r} is not {types}")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{name}: not finite")
        if spec["enum_values"] is not None and value not in spec["enum_values"]:
            problems.append(f"{name}: {value!r} not in enum")
        constraints = spec["constraints"] or {}
        if "ge" in constraints and value < constraints["ge"]:
            problems.append(f"{name}: {value} < {constraints['ge']}")
        if "le" in constraints and value > constraints["le"]:
            problems.append(f"{name}: {value} > {constraints['le']}")
    if now is not None and isinstance(payload.get("timestamp"), str):
        age = now - iso_instant(payload["timestamp"]).timestamp()
        if age > MAX_ENGINE_AGE_S:
            problems.append(f"timestamp: {age} s old")
    return problems


BASE_INTENT: dict[str, Any] = {
    "strategy_id": "trend_ada",
    "strategy": "trend_follow",
    "symbol": "ADAUSDT",
    "action": "buy",
    "confidence": 0.65,
    "price": 0.88,
    "current_price": 0.88,
    "quantity": 15.0,
    "source": "ta-bot",
    "timestamp": "2026-08-21T18:00:00Z",
}


def intent_raw(drop: tuple[str, ...] = (), **changes: Any) -> bytes:
    payload = {k: v for k, v in BASE_INTENT.items() if k not in drop}
    payload.update(changes)
    return raw_of(payload)


def parse(raw: bytes, **kwargs: Any) -> Intent:
    return parse_intent(raw, now=NOW, **kwargs)


def rejection(raw: Any, **kwargs: Any) -> IntentRejected:
    with pytest.raises(IntentRejected) as info:
        parse_intent(raw, now=NOW, **kwargs)
    assert info.value.code in CONTRACT_REASON_CODES
    return info.value


def publish(intent: Intent, *, at: datetime = NOMINAL) -> dict[str, Any]:
    signal = intent.to_signal(decision_id="dec-1", timestamp=at)
    loaded: dict[str, Any] = json.loads(signal_to_json_bytes(signal, traceparent=TRACEPARENT))
    return loaded


# ---------------------------------------------------------------- fixtures and schema


def test_fixture_copies_match_provenance() -> None:
    provenance = (FIXTURES / "PROVENANCE.md").read_text()
    for name in ("sample_signals.json", "signal_schema.json"):
        digest = hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest()
        assert digest in provenance, name
    assert SCHEMA["commit"] == ENGINE_COMMIT
    assert ENGINE_COMMIT in provenance


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared material not mounted")
def test_fixture_copies_match_shared_source() -> None:
    for name in ("sample_signals.json", "signal_schema.json"):
        assert (FIXTURES / name).read_bytes() == (SHARED / name).read_bytes(), name


def test_samples_cover_14_accepted_and_13_rejected() -> None:
    assert len(ACCEPTED) == 14
    rejected = {s["id"]: s["stage"] for s in SAMPLES if not s["accepted"]}
    schema_stage = {rid for rid, stage in rejected.items() if stage == "schema"}
    # A new or re-staged sample must be classified here before the suite passes again.
    assert schema_stage == set(SCHEMA_REJECTIONS)
    assert {rid: st for rid, st in rejected.items() if st != "schema"} == LATER_STAGE_REJECTIONS


def test_signal_fields_match_engine_schema() -> None:
    assert SCHEMA["field_count"] == 39
    assert list(Signal.model_fields) == [f["name"] for f in SCHEMA["fields"]]
    assert frozenset(SCHEMA["required_fields"]) == SIGNAL_REQUIRED_FIELDS
    assert {n for n, f in Signal.model_fields.items() if f.is_required()} == SIGNAL_REQUIRED_FIELDS
    assert frozenset(Signal.model_fields) == SIGNAL_FIELDS


@pytest.mark.parametrize("name", [f["name"] for f in SCHEMA["fields"]])
def test_signal_field_default_and_enum_match_schema(name: str) -> None:
    spec = SCHEMA_FIELDS[name]
    field = Signal.model_fields[name]
    if spec["required"]:
        assert field.is_required()
        return
    default = field.get_default(call_default_factory=True)
    if spec["default"] is None:
        assert default is None
    elif spec["default"].startswith("{}"):
        assert default == {}
    elif spec["default"] == "now(UTC)":
        assert isinstance(default, datetime)
        assert abs(default - datetime.now(UTC)) < timedelta(seconds=5)
    else:
        assert default == spec["default"]
    if spec["enum_values"] is not None:
        base = dict(BASE_INTENT)
        for value in spec["enum_values"]:
            assert getattr(Signal.model_validate({**base, name: value}), name) == value
        for value in spec["enum_values"]:
            if value.upper() != value:
                with pytest.raises(ValidationError):
                    Signal.model_validate({**base, name: value.upper()})
            else:
                with pytest.raises(ValidationError):
                    Signal.model_validate({**base, name: value.lower()})


@pytest.mark.parametrize(
    "name", [f["name"] for f in SCHEMA["fields"] if f["constraints"] is not None]
)
def test_signal_range_constraints_match_schema(name: str) -> None:
    bounds = SCHEMA_FIELDS[name]["constraints"]
    base = dict(BASE_INTENT)
    for ok in (bounds["ge"], bounds["le"], (bounds["ge"] + bounds["le"]) / 2):
        Signal.model_validate({**base, name: ok})
    for bad in (bounds["ge"] - 1e-9, bounds["le"] + 1e-9, math.nan, math.inf):
        with pytest.raises(ValidationError):
            Signal.model_validate({**base, name: bad})


@pytest.mark.parametrize("name", ["metadata", "meta"])
def test_signal_dicts_are_not_nullable(name: str) -> None:
    with pytest.raises(ValidationError):
        Signal.model_validate({**BASE_INTENT, name: None})


def test_signal_ignores_unknown_keys_like_the_engine() -> None:
    signal = Signal.model_validate({**BASE_INTENT, "intent_id": "x", "_otel_trace_context": {}})
    assert "intent_id" not in signal.model_dump()
    assert signal.model_extra is None


# ---------------------------------------------------------------- accepted samples


@pytest.mark.parametrize("sample", ACCEPTED, ids=[s["id"] for s in ACCEPTED])
def test_accepted_sample_round_trips_through_signal(sample: dict[str, Any]) -> None:
    """The sample survives Signal parsing and dumping unchanged.

    "Identical" means: ``json.loads(Signal.model_validate_json(raw).model_dump_json(
    exclude_unset=True))`` has exactly the sample's keys that are Signal fields (the engine
    and we ignore the others: ``_otel_trace_context``, and A10's ``intent_id`` and
    ``cio_policy_version``), and every value has the same JSON text as in the sample
    (``json.dumps(value, sort_keys=True)``: 1 vs 1.0, or a changed nested value, differs).
    The one exception is ``timestamp``: the dump is the same instant written in UTC with
    ``Z``, which is the very same string for every sample that already wrote ``...Z``
    (all but A10, whose naive timestamp means UTC).
    """
    payload = sample["payload"]
    signal = Signal.model_validate_json(raw_of(payload))
    dumped = json.loads(signal.model_dump_json(exclude_unset=True))
    expected_keys = set(payload) & SIGNAL_FIELDS
    assert set(dumped) == expected_keys
    assert set(payload) - expected_keys <= {
        "_otel_trace_context",
        "intent_id",
        "cio_policy_version",
    }
    for key in expected_keys - {"timestamp"}:
        assert canon(dumped[key]) == canon(payload[key]), key
    assert iso_instant(dumped["timestamp"]) == iso_instant(payload["timestamp"])
    assert dumped["timestamp"].endswith("Z")
    if payload["timestamp"].endswith("Z"):
        assert dumped["timestamp"] == payload["timestamp"]
    # Parsing the dump again gives the same model: the round trip is a fixed point.
    assert Signal.model_validate_json(signal.model_dump_json()) == signal


@pytest.mark.parametrize("sample", ACCEPTED, ids=[s["id"] for s in ACCEPTED])
def test_accepted_sample_wire_form_keeps_values_and_engine_defaults(
    sample: dict[str, Any],
) -> None:
    payload = sample["payload"]
    wire = json.loads(signal_to_json_bytes(Signal.model_validate(payload), traceparent=TRACEPARENT))
    assert wire["_otel_trace_context"] == {"traceparent": TRACEPARENT}
    assert engine_schema_violations(wire, now=NOW) == []
    for key in (set(payload) & SIGNAL_FIELDS) - {"timestamp"}:
        assert canon(wire[key]) == canon(payload[key]), key
    for name, spec in SCHEMA_FIELDS.items():
        if name in payload or spec["required"] or name == "timestamp":
            continue
        if spec["default"] is None:
            assert name not in wire  # None is the engine default: left out
        elif spec["default"].startswith("{}"):
            assert wire[name] == {}
        else:
            assert wire[name] == spec["default"], name


@pytest.mark.parametrize("sample", ACCEPTED, ids=[s["id"] for s in ACCEPTED])
def test_accepted_sample_as_intent_publishes_an_engine_valid_signal(
    sample: dict[str, Any],
) -> None:
    payload = sample["payload"]
    intent = parse(raw_of(payload))
    published_at = NOMINAL + timedelta(milliseconds=3)
    wire = publish(intent, at=published_at)
    assert engine_schema_violations(wire, now=published_at.timestamp()) == []
    assert wire["source"] == "petrosa-cio"
    assert wire["decision_id"] == "dec-1"
    assert wire["timestamp"] == "2026-08-21T18:00:00.003000Z"
    assert wire["_otel_trace_context"] == {"traceparent": TRACEPARENT}
    for key in (set(payload) & SIGNAL_FIELDS) - {"decision_id", "source", "timestamp"}:
        assert canon(wire[key]) == canon(payload[key]), key
    assert intent.traceparent == trace_context_of(payload)


# ---------------------------------------------------------------- rejected samples


@pytest.mark.parametrize("rid", sorted(SCHEMA_REJECTIONS))
def test_schema_stage_rejection_is_refused_by_signal(rid: str) -> None:
    field, _ = SCHEMA_REJECTIONS[rid]
    with pytest.raises(ValidationError) as info:
        Signal.model_validate_json(raw_of(SAMPLES_BY_ID[rid]["payload"]))
    assert field in {str(error["loc"][0]) for error in info.value.errors()}


@pytest.mark.parametrize(
    "rid", sorted(rid for rid, (_, code) in SCHEMA_REJECTIONS.items() if code is not None)
)
def test_schema_stage_rejection_is_refused_by_parse_intent_with_stable_code(rid: str) -> None:
    field, code = SCHEMA_REJECTIONS[rid]
    raw = raw_of(SAMPLES_BY_ID[rid]["payload"])
    first = rejection(raw)
    assert first.code == code
    assert first.details["field"] == field
    assert rejection(raw).as_dict() == first.as_dict()  # stable across calls


def test_r02_missing_current_price_is_filled_from_price_by_the_intent_alias() -> None:
    """R02 lacks current_price: the engine refuses it, but for an *intent* the brief makes
    ``price`` stand in for a missing ``current_price``, so the Nurse repairs it and the
    published signal is valid."""
    intent = parse(raw_of(SAMPLES_BY_ID["R02"]["payload"]))
    wire = publish(intent)
    assert wire["current_price"] == wire["price"] == 112000.0
    assert engine_schema_violations(wire, now=NOW) == []


def test_r08_stale_sample_is_refused_by_parse_intent() -> None:
    payload = SAMPLES_BY_ID["R08"]["payload"]
    Signal.model_validate(payload)  # shape is fine: age is the consumer's check, not the model's
    error = rejection(raw_of(payload))
    assert error.code == "CONTRACT_STALE"
    assert error.details["age_s"] == pytest.approx(600)


def test_r09_epoch_timestamp_is_refused_by_signal_and_converted_by_intent() -> None:
    """The engine model takes an epoch but its consumer drops the message; our Signal is
    stricter (ISO strings only) and the Nurse converts an intent's epoch to ISO."""
    payload = SAMPLES_BY_ID["R09"]["payload"]
    with pytest.raises(ValidationError):
        Signal.model_validate_json(raw_of(payload))
    intent = parse(raw_of(payload))
    assert intent.timestamp == NOMINAL
    assert isinstance(publish(intent)["timestamp"], str)


@pytest.mark.parametrize("rid", ["R07", "R10", "R11", "R12", "R13"])
def test_later_stage_rejections_are_not_the_contracts_job(rid: str) -> None:
    """Source enforcement (R07), processor thresholds (R10), risk limits (R11) and exchange
    validation (R12, R13) are decided after the wire contract: both models accept them."""
    payload = SAMPLES_BY_ID[rid]["payload"]
    Signal.model_validate_json(raw_of(payload))
    intent = parse(raw_of(payload))
    assert engine_schema_violations(publish(intent), now=NOW) == []


# ---------------------------------------------------------------- aliases


@pytest.mark.parametrize(("alias", "action"), sorted(SIDE_ALIASES.items()))
@pytest.mark.parametrize("spell", [str.lower, str.upper, str.title])
def test_side_alias_maps_to_action(alias: str, action: str, spell: Any) -> None:
    intent = parse(intent_raw(drop=("action",), side=spell(alias), quantity=1.0))
    assert intent.action == action
    assert intent.model_extra == {"side": spell(alias)}  # kept as sent, for the audit
    assert publish(intent)["action"] == action


def test_side_alias_table_is_exactly_the_briefed_one() -> None:
    assert SIDE_ALIASES == {
        "buy": "buy",
        "long": "buy",
        "sell": "sell",
        "short": "sell",
        "close": "close",
        "exit": "close",
        "flat": "close",
        "hold": "hold",
    }


@pytest.mark.parametrize(
    "side",
    ["", " buy", "buy ", "b", "up", "longs", "\uff22\uff35\uff39", "\u212aill", 1, True, [], {}],
)
def test_unknown_side_is_refused_never_defaulted(side: Any) -> None:
    error = rejection(intent_raw(drop=("action",), side=side))
    assert error.code == "CONTRACT_UNKNOWN_SIDE"
    assert error.details["field"] == "side"


def test_null_side_without_action_is_a_missing_action() -> None:
    error = rejection(intent_raw(drop=("action",), side=None))
    assert (error.code, error.details["field"]) == ("CONTRACT_MISSING_FIELD", "action")


@pytest.mark.parametrize(
    ("action", "side"), [("buy", "long"), ("sell", "SHORT"), ("close", "Flat")]
)
def test_agreeing_action_and_side_are_accepted(action: str, side: str) -> None:
    assert parse(intent_raw(action=action, side=side)).action == action


@pytest.mark.parametrize(("action", "side"), [("buy", "short"), ("sell", "buy"), ("hold", "exit")])
def test_disagreeing_action_and_side_are_refused(action: str, side: str) -> None:
    assert rejection(intent_raw(action=action, side=side)).code == "CONTRACT_ACTION_CONFLICT"


def test_signal_type_disagreeing_with_action_is_refused() -> None:
    assert rejection(intent_raw(signal_type="sell")).code == "CONTRACT_ACTION_CONFLICT"
    assert parse(intent_raw(signal_type="buy")).signal_type == "buy"


@pytest.mark.parametrize("action", ["BUY", "Buy", "long", "sell ", "open"])
def test_action_itself_is_case_sensitive_and_not_aliased(action: str) -> None:
    error = rejection(intent_raw(action=action))
    assert (error.code, error.details["field"]) == ("CONTRACT_INVALID_ENUM", "action")


def test_price_stands_in_for_missing_current_price_and_back() -> None:
    assert parse(intent_raw(drop=("current_price",), price=2.5)).current_price == 2.5
    assert parse(intent_raw(drop=("price",), current_price=2.5)).price == 2.5
    assert parse(intent_raw(current_price=None, price=2.5)).current_price == 2.5
    both = parse(intent_raw(price=1.0, current_price=2.0))
    assert (both.price, both.current_price) == (1.0, 2.0)  # both given: both kept
    error = rejection(intent_raw(drop=("price", "current_price")))
    assert error.code == "CONTRACT_MISSING_FIELD"


# ---------------------------------------------------------------- field rules


@pytest.mark.parametrize("field", ["symbol", "strategy_id", "confidence", "quantity", "action"])
@pytest.mark.parametrize("how", ["absent", "null", "empty"])
def test_missing_required_field_is_refused(field: str, how: str) -> None:
    if how == "absent":
        raw = intent_raw(drop=(field,))
    else:
        raw = intent_raw(**{field: None if how == "null" else ""})
    error = rejection(raw)
    # No default symbol, strategy, size or direction: null and "" carry no value either.
    assert (error.code, error.details["field"]) == ("CONTRACT_MISSING_FIELD", field)


def test_whitespace_strategy_id_is_missing_and_length_is_capped() -> None:
    assert rejection(intent_raw(strategy_id="   ")).code == "CONTRACT_MISSING_FIELD"
    assert parse(intent_raw(strategy_id="s" * 128)).strategy_id == "s" * 128
    error = rejection(intent_raw(strategy_id="s" * 129))
    assert (error.code, error.details["field"]) == ("CONTRACT_INVALID_FIELD", "strategy_id")


@pytest.mark.parametrize(
    ("given", "normal"), [("btcusdt", "BTCUSDT"), ("1000Pepeusdt", "1000PEPEUSDT")]
)
def test_symbol_is_upper_cased(given: str, normal: str) -> None:
    intent = parse(intent_raw(symbol=given))
    assert intent.symbol == normal
    assert publish(intent)["symbol"] == normal


@pytest.mark.parametrize(
    "symbol",
    [
        "B",
        "X" * 31,
        "BTC-USDT",
        "BTC/USDT",
        "BTC USDT",
        " BTCUSDT",
        "ßUSDT",
        "\uff22\uff34\uff23",
        7,
    ],
)
def test_bad_symbol_is_refused(symbol: Any) -> None:
    assert rejection(intent_raw(symbol=symbol)).code == "CONTRACT_INVALID_SYMBOL"


def test_symbol_bounds_are_2_and_30() -> None:
    assert parse(intent_raw(symbol="AB")).symbol == "AB"
    assert parse(intent_raw(symbol="A" * 30)).symbol == "A" * 30


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
@pytest.mark.parametrize(
    "where",
    ["confidence", "price", "quantity", "stop_loss", "metadata", "indicators", "extra", "ts"],
)
def test_non_finite_number_anywhere_is_refused(literal: str, where: str) -> None:
    base = intent_raw().decode()[:-1]  # drop the closing brace, append one more key
    if where == "metadata":
        raw = base + f', "metadata": {{"a": [1, {{"b": {literal}}}]}}}}'
    elif where == "indicators":
        raw = base + f', "indicators": {{"rsi": {literal}}}}}'
    elif where == "extra":
        raw = base + f', "score": {literal}}}'
    elif where == "ts":
        raw = base.replace('"timestamp": "2026-08-21T18:00:00Z"', f'"timestamp": {literal}') + "}"
    else:
        raw = base + f', "{where}": {literal}}}'
        raw = raw.replace(f'"{where}": {json.dumps(BASE_INTENT.get(where))}, ', "", 1)
    error = rejection(raw.encode())
    assert error.code == "CONTRACT_INVALID_NUMBER", (raw, error.as_dict())


@pytest.mark.parametrize("value", ["1.5", True, [1], {"v": 1}])
def test_non_number_in_numeric_field_is_refused(value: Any) -> None:
    assert rejection(intent_raw(quantity=value)).code == "CONTRACT_INVALID_NUMBER"
    assert rejection(intent_raw(stop_loss=value)).code == "CONTRACT_INVALID_NUMBER"


@pytest.mark.parametrize("action", ["buy", "sell", "close", "hold"])
def test_negative_quantity_is_refused_for_every_action(action: str) -> None:
    error = rejection(intent_raw(action=action, quantity=-0.5))
    assert (error.code, error.details["field"]) == ("CONTRACT_NON_POSITIVE_QUANTITY", "quantity")


@pytest.mark.parametrize("action", ["buy", "sell", "close"])
def test_zero_quantity_is_refused_for_orders(action: str) -> None:
    assert rejection(intent_raw(action=action, quantity=0)).code == "CONTRACT_NON_POSITIVE_QUANTITY"
    pct_zero = intent_raw(action=action, quantity=0, position_size_pct=0.0)
    assert rejection(pct_zero).code == "CONTRACT_NON_POSITIVE_QUANTITY"


@pytest.mark.parametrize("action", ["buy", "sell", "close"])
def test_zero_quantity_with_position_size_pct_is_accepted(action: str) -> None:
    """The engine sizes from position_size_pct and then ignores quantity (samples A02, A12)."""
    intent = parse(intent_raw(action=action, quantity=0.0, position_size_pct=0.05))
    assert intent.is_pct_sized
    assert intent.notional == 0.0


def test_hold_may_carry_zero_quantity() -> None:
    assert parse(intent_raw(action="hold", quantity=0)).quantity == 0.0


@pytest.mark.parametrize("field", ["price", "current_price"])
@pytest.mark.parametrize("value", [0, -1.0])
def test_non_positive_price_is_refused(field: str, value: float) -> None:
    error = rejection(intent_raw(**{field: value}))
    assert (error.code, error.details["field"]) == ("CONTRACT_NON_POSITIVE_PRICE", field)


@pytest.mark.parametrize("field", ["confidence", "model_confidence"])
def test_confidence_outside_unit_interval_is_refused(field: str) -> None:
    for ok in (0, 0.0, 1, 1.0):
        parse(intent_raw(**{field: ok}))
    for bad in (-0.0001, 1.0001, 82):
        error = rejection(intent_raw(**{field: bad}))
        assert (error.code, error.details["field"]) == ("CONTRACT_CONFIDENCE_RANGE", field)


@pytest.mark.parametrize("field", ["stop_loss_pct", "take_profit_pct", "position_size_pct"])
def test_fraction_outside_unit_interval_is_refused(field: str) -> None:
    parse(intent_raw(**{field: 0.07}))
    for bad in (-0.01, 2.0, 5.0):
        error = rejection(intent_raw(**{field: bad}))
        assert (error.code, error.details["field"]) == ("CONTRACT_FRACTION_RANGE", field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order_type", "MARKET"),
        ("time_in_force", "gtc"),
        ("strength", "high"),
        ("strategy_mode", "llm"),
        ("conditional_direction", "up"),
        ("signal_type", "BUY"),
    ],
)
def test_enum_values_are_case_sensitive(field: str, value: str) -> None:
    error = rejection(intent_raw(**{field: value}))
    assert (error.code, error.details["field"]) == ("CONTRACT_INVALID_ENUM", field)


def test_null_metadata_is_an_invalid_field_not_an_empty_dict() -> None:
    error = rejection(intent_raw(metadata=None))
    assert (error.code, error.details["field"]) == ("CONTRACT_INVALID_FIELD", "metadata")
    assert error.details["errors"][0]["loc"] == "metadata"
    assert error.details["errors"][0]["msg"]


def test_several_problems_are_all_listed_and_the_most_basic_names_the_code() -> None:
    error = rejection(intent_raw(drop=("symbol",), confidence=3, stop_loss_pct=9, strength="x"))
    assert error.code == "CONTRACT_MISSING_FIELD"
    codes = {item["code"] for item in error.details["errors"]}
    assert codes == {
        "CONTRACT_MISSING_FIELD",
        "CONTRACT_CONFIDENCE_RANGE",
        "CONTRACT_FRACTION_RANGE",
        "CONTRACT_INVALID_ENUM",
    }
    assert error.details["error_count"] == 4


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-08-21T18:00:00Z", NOMINAL),
        ("2026-08-21T18:00:00", NOMINAL),
        ("2026-08-21T20:00:00+02:00", NOMINAL),
        ("2026-08-21 17:59:30.250000+00:00", NOMINAL - timedelta(seconds=29.75)),
        (1787335200, NOMINAL),
        (1787335200.5, NOMINAL + timedelta(seconds=0.5)),
        (1787335200000, NOMINAL),
        (1787335199250, NOMINAL - timedelta(milliseconds=750)),
    ],
)
def test_timestamp_forms_are_read_as_utc(value: Any, expected: datetime) -> None:
    intent = parse(intent_raw(timestamp=value))
    assert intent.timestamp == expected
    assert intent.timestamp.tzinfo is UTC


@pytest.mark.parametrize("drop", [True, False])
def test_absent_or_null_timestamp_is_the_received_time(drop: bool) -> None:
    raw = intent_raw(drop=("timestamp",)) if drop else intent_raw(timestamp=None)
    received = NOW + 0.125
    intent = parse_intent(raw, now=received)
    assert intent.timestamp.timestamp() == received


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-08-21",
        "2026-08-21T18",
        "2026-08-21x18:00:00",
        "2026-W34-5T18:00",
        "1787335200",
        "",
        "2026-13-01T00:00Z",
        False,
        [],
    ],
)
def test_unreadable_timestamp_is_refused(value: Any) -> None:
    error = rejection(intent_raw(timestamp=value))
    assert (error.code, error.details["field"]) == ("CONTRACT_INVALID_TIMESTAMP", "timestamp")


@pytest.mark.parametrize("value", [10**30, -(10**30), 10**400, 1e300])
def test_epoch_out_of_range_is_refused(value: float) -> None:
    assert rejection(intent_raw(timestamp=value)).code == "CONTRACT_INVALID_TIMESTAMP"


def test_stale_and_future_boundaries() -> None:
    assert parse(intent_raw(timestamp=NOW - 300)).timestamp.timestamp() == NOW - 300
    assert rejection(intent_raw(timestamp=NOW - 300.001)).code == "CONTRACT_STALE"
    assert parse(intent_raw(timestamp=NOW + 5)).timestamp.timestamp() == NOW + 5
    error = rejection(intent_raw(timestamp=NOW + 5.001))
    assert error.code == "CONTRACT_FUTURE_TIMESTAMP"
    assert error.details["ahead_s"] == pytest.approx(5.001)


def test_age_window_is_configurable() -> None:
    raw = intent_raw(timestamp=NOW - 30)
    assert rejection(raw, max_age_s=10).code == "CONTRACT_STALE"
    raw = intent_raw(timestamp=NOW + 30)
    parse(raw, future_skew_s=60)
    assert rejection(raw).code == "CONTRACT_FUTURE_TIMESTAMP"


# ---------------------------------------------------------------- envelope-level checks


def test_oversized_is_refused_before_parsing() -> None:
    padded = intent_raw(rationale="x" * 70_000)
    error = rejection(padded)
    assert error.code == "CONTRACT_OVERSIZED"
    assert error.details == {"bytes": len(padded), "max_bytes": 65536}
    garbage = b"\xff" * 70_000  # would be an encoding error if it were parsed
    assert rejection(garbage).code == "CONTRACT_OVERSIZED"
    raw = intent_raw()
    parse(raw, max_bytes=len(raw))
    assert rejection(raw, max_bytes=len(raw) - 1).code == "CONTRACT_OVERSIZED"


@pytest.mark.parametrize(
    "raw",
    [
        intent_raw().replace(b"trend_follow", b"trend\xff\xfe"),
        b"\xef\xbb\xbf" + intent_raw(),
        json.dumps(BASE_INTENT).encode("utf-16"),
        json.dumps(BASE_INTENT).encode("utf-16-le"),
        json.dumps(BASE_INTENT).encode("utf-32"),
        b"{}" + "é".encode("latin-1"),
    ],
)
def test_non_utf8_is_an_encoding_error(raw: bytes) -> None:
    assert rejection(raw).code == "CONTRACT_ENCODING"


def test_str_input_is_an_encoding_error_but_bytearray_is_fine() -> None:
    assert rejection(intent_raw().decode()).code == "CONTRACT_ENCODING"
    assert parse(bytearray(intent_raw())).symbol == "ADAUSDT"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"{", b'{"symbol": }', b"{'symbol': 'BTCUSDT'}", b'{"a":"\\ud800"}', b"nul"],
)
def test_non_json_is_refused(raw: bytes) -> None:
    assert rejection(raw).code == "CONTRACT_NOT_JSON"


@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b'"buy"', b"42", b"null", b"true"])
def test_top_level_must_be_an_object(raw: bytes) -> None:
    assert rejection(raw).code == "CONTRACT_NOT_OBJECT"


def test_model_level_not_object_maps_too() -> None:
    with pytest.raises(ValidationError) as info:
        Intent.model_validate([1])
    from nurse.contracts import INTENT_REQUIRED_FIELDS, rejection_from_validation_error

    mapped = rejection_from_validation_error(info.value, required=INTENT_REQUIRED_FIELDS)
    assert mapped.code == "CONTRACT_NOT_OBJECT"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"action": "buy", "symbol": "BTCUSDT", "action": "sell"}',
        intent_raw()[:-1] + b', "quantity": 9000}',
        intent_raw(drop=("action",), side="buy")[:-1] + b', "\\u0073ide": "sell"}',
        intent_raw()[:-1] + b', "metadata": {"n": 1' + b"0" * 4000 + b'}, "action": "sell"}',
    ],
)
def test_duplicate_trade_keys_are_refused(raw: bytes) -> None:
    assert rejection(raw).code == "CONTRACT_DUPLICATE_KEY"


def test_repeated_key_names_in_nested_objects_or_values_are_fine() -> None:
    raw = intent_raw(metadata={"action": "x", "price": 1}, rationale="action", note="\u00e9")
    assert parse(raw).metadata == {"action": "x", "price": 1}


# ---------------------------------------------------------------- every code is reachable

CODE_EXAMPLES: dict[str, bytes] = {
    "CONTRACT_OVERSIZED": b"{" + b" " * 65536 + b"}",
    "CONTRACT_ENCODING": b'{"symbol": "\xc3\x28"}',
    "CONTRACT_NOT_JSON": b'{"symbol": ',
    "CONTRACT_NOT_OBJECT": b"[1, 2]",
    "CONTRACT_DUPLICATE_KEY": b'{"symbol": "BTCUSDT", "symbol": "ETHUSDT"}',
    "CONTRACT_MISSING_FIELD": intent_raw(drop=("symbol",)),
    "CONTRACT_UNKNOWN_SIDE": intent_raw(drop=("action",), side="sideways"),
    "CONTRACT_ACTION_CONFLICT": intent_raw(action="buy", side="short"),
    "CONTRACT_INVALID_NUMBER": intent_raw().replace(b"0.65", b"NaN"),
    "CONTRACT_NON_POSITIVE_QUANTITY": intent_raw(quantity=-1),
    "CONTRACT_NON_POSITIVE_PRICE": intent_raw(price=0),
    "CONTRACT_CONFIDENCE_RANGE": intent_raw(confidence=1.5),
    "CONTRACT_FRACTION_RANGE": intent_raw(stop_loss_pct=2.0),
    "CONTRACT_INVALID_SYMBOL": intent_raw(symbol="BTC/USDT"),
    "CONTRACT_INVALID_ENUM": intent_raw(order_type="MARKET"),
    "CONTRACT_INVALID_TIMESTAMP": intent_raw(timestamp="yesterday"),
    "CONTRACT_STALE": intent_raw(timestamp="2026-08-21T17:54:59Z"),
    "CONTRACT_FUTURE_TIMESTAMP": intent_raw(timestamp="2026-08-21T18:00:06Z"),
    "CONTRACT_INVALID_FIELD": intent_raw(client_order_id=12345),
}


def test_every_reason_code_has_an_example() -> None:
    assert set(CODE_EXAMPLES) == CONTRACT_REASON_CODES
    assert {code.value for code in ContractCode} == CONTRACT_REASON_CODES
    assert all(code.startswith("CONTRACT_") and code.isupper() for code in CONTRACT_REASON_CODES)


@pytest.mark.parametrize("code", sorted(CODE_EXAMPLES))
def test_reason_code_example_is_refused_with_that_code(code: str) -> None:
    error = rejection(CODE_EXAMPLES[code])
    assert error.code == code
    assert isinstance(error, CioError)
    assert error.http_status == 422
    assert error.as_dict()["code"] == code
    assert isinstance(error.details, dict)
    json.dumps(error.as_dict())  # details are JSON-ready for the envelope and the audit


def test_intent_rejected_refuses_unknown_codes_and_pickles() -> None:
    with pytest.raises(ValueError, match="unknown contract code"):
        IntentRejected("CONTRACT_WHATEVER", "no")
    error = IntentRejected("CONTRACT_STALE", "old", {"age_s": 400.0})
    clone = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object, round trip
    assert clone.as_dict() == error.as_dict()


# ---------------------------------------------------------------- Intent -> Signal

FULL_INTENT: dict[str, Any] = {
    "id": "id-1",
    "intent_id": "intent-7",
    "strategy_id": "ml_gbm_link",
    "signal_id": "sig-9",
    "decision_id": "sender-made-up",
    "strategy_mode": "ml_light",
    "symbol": "linkusdt",
    "signal_type": "sell",
    "side": "Short",
    "confidence": 0.55,
    "strength": "weak",
    "price": 24.2,
    "quantity": 5.0,
    "current_price": 24.1,
    "target_price": 22.0,
    "source": "ml-bot",
    "strategy": "ml_gbm",
    "metadata": {"k": [1, 2.5, None, {"z": True}]},
    "timeframe": "4h",
    "order_type": "stop_limit",
    "time_in_force": "IOC",
    "position_size_pct": 0.05,
    "quote_quantity": 120.5,
    "stop_loss": 26.0,
    "stop_loss_pct": 0.08,
    "take_profit": 21.0,
    "take_profit_pct": 0.12,
    "conditional_price": 24.5,
    "conditional_direction": "below",
    "conditional_timeout": 3600,
    "iceberg_quantity": 1.0,
    "client_order_id": "coid-1",
    "model_confidence": 0.61,
    "model_features": {"rsi_14": 71.2},
    "llm_reasoning": "none",
    "llm_alternatives": [{"action": "hold", "p": 0.2}],
    "indicators": {"atr": 0.4},
    "rationale": "because",
    "meta": {"simulate": True},
    "timestamp": "2026-08-21T17:59:58.5Z",
    "_otel_trace_context": {"traceparent": TRACEPARENT},
    "cio_policy_version": "2026.08.1",
}


def test_to_signal_passes_every_other_field_through_unchanged() -> None:
    intent = parse(raw_of(FULL_INTENT))
    at = datetime(2026, 8, 21, 20, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    signal = intent.to_signal(decision_id="dec-42", timestamp=at)
    wire = json.loads(signal_to_json_bytes(signal))
    assert "_otel_trace_context" not in wire
    assert set(wire) == SIGNAL_FIELDS  # every field set, nothing extra (intent_id, side...)
    assert wire["decision_id"] == "dec-42"
    assert wire["source"] == "petrosa-cio"
    assert wire["timestamp"] == "2026-08-21T18:00:01Z"
    assert wire["symbol"] == "LINKUSDT"
    assert wire["action"] == "sell"
    untouched = SIGNAL_FIELDS - {"decision_id", "source", "timestamp", "symbol", "action"}
    for key in untouched:
        assert canon(wire[key]) == canon(FULL_INTENT[key]), key
    assert engine_schema_violations(wire, now=at.timestamp()) == []
    assert signal.model_fields_set == SIGNAL_FIELDS


def test_to_signal_custom_source_and_strategy_fallback() -> None:
    intent = parse(intent_raw(drop=("strategy", "source")))
    assert intent.source is None
    signal = intent.to_signal(decision_id="d", source="petrosa-cio-canary", timestamp=NOMINAL)
    assert (signal.source, signal.strategy) == ("petrosa-cio-canary", "trend_ada")


def test_to_signal_does_not_share_mutable_state_with_the_intent() -> None:
    intent = parse(intent_raw(metadata={"a": {"b": 1}}))
    signal = intent.to_signal(decision_id="d", timestamp=NOMINAL)
    signal.metadata["a"]["b"] = 2  # type: ignore[index]
    assert intent.metadata == {"a": {"b": 1}}


def test_intent_accessors() -> None:
    intent = parse(raw_of(FULL_INTENT))
    assert (intent.intent_id, intent.signal_id, intent.id) == ("intent-7", "sig-9", "id-1")
    assert intent.notional == pytest.approx(5.0 * 24.1)
    assert isinstance(intent.notional, float)
    assert intent.traceparent == TRACEPARENT
    assert intent.model_extra == {
        "side": "Short",
        "_otel_trace_context": {"traceparent": TRACEPARENT},
        "cio_policy_version": "2026.08.1",
    }
    audit = intent.audit_payload()
    assert audit["cio_policy_version"] == "2026.08.1"
    assert audit["symbol"] == "LINKUSDT"
    json.dumps(audit)
    bare = parse(intent_raw(_otel_trace_context={"traceparent": "00-" + "0" * 32 + "-1-01"}))
    assert (bare.intent_id, bare.signal_id, bare.id, bare.traceparent) == (None, None, None, None)
    assert not bare.is_pct_sized


def test_intent_is_immutable() -> None:
    intent = parse(intent_raw())
    with pytest.raises(ValidationError):
        intent.quantity = 99  # type: ignore[misc]


# ---------------------------------------------------------------- Signal wire details


def test_signal_timestamp_is_always_utc_iso_on_the_wire() -> None:
    local = datetime(2026, 8, 21, 21, 0, tzinfo=timezone(timedelta(hours=3)))
    signal = Signal.model_validate({**BASE_INTENT, "timestamp": local})
    assert signal.timestamp == NOMINAL
    assert json.loads(signal_to_json_bytes(signal))["timestamp"] == "2026-08-21T18:00:00Z"
    naive = Signal.model_validate({**BASE_INTENT, "timestamp": "2026-08-21T18:00:00"})
    assert naive.timestamp == NOMINAL


@pytest.mark.parametrize("value", [1787335200, 1787335200.0, "1787335200", "2026-08-21", None, "x"])
def test_signal_timestamp_must_be_iso(value: Any) -> None:
    with pytest.raises(ValidationError):
        Signal.model_validate({**BASE_INTENT, "timestamp": value})


def test_signal_without_timestamp_defaults_to_now() -> None:
    payload = {k: v for k, v in BASE_INTENT.items() if k != "timestamp"}
    signal = Signal.model_validate(payload)
    assert abs(signal.timestamp - datetime.now(UTC)) < timedelta(seconds=5)
    assert "timestamp" not in signal.model_fields_set


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "00-abc-def-01",
        "01-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "00-" + "0" * 32 + "-" + "b" * 16 + "-01",
        TRACEPARENT.upper(),
        TRACEPARENT + '"}',
    ],
)
def test_signal_to_json_bytes_refuses_malformed_traceparent(bad: str) -> None:
    with pytest.raises(ValueError, match="traceparent"):
        signal_to_json_bytes(Signal.model_validate(BASE_INTENT), traceparent=bad)


def test_signal_to_json_bytes_leaves_out_nulls_but_keeps_nested_nulls() -> None:
    signal = Signal.model_validate(
        {**BASE_INTENT, "stop_loss": None, "conditional_direction": None, "metadata": {"a": None}}
    )
    wire = json.loads(signal_to_json_bytes(signal))
    assert "stop_loss" not in wire
    assert "conditional_direction" not in wire
    assert wire["metadata"] == {"a": None}


def test_trace_context_of() -> None:
    assert trace_context_of({"_otel_trace_context": {"traceparent": TRACEPARENT}}) == TRACEPARENT
    assert trace_context_of({"_otel_trace_context": {"traceparent": "junk"}}) is None
    assert trace_context_of({"_otel_trace_context": "junk"}) is None
    assert trace_context_of({}) is None


# ---------------------------------------------------------------- Decision and events


def _decision(**changes: Any) -> Decision:
    fields: dict[str, Any] = {
        "decision_id": "dec-1",
        "intent_id": "intent-1",
        "signal_id": "sig-1",
        "strategy_id": "momentum_pulse",
        "symbol": "BTCUSDT",
        "action": "buy",
        "quantity": 0.002,
        "price": 112000.0,
        "notional": 224.0,
        "outcome": "approved",
        "policy_version": 7,
        "latency_us": 42,
        "traceparent": TRACEPARENT,
        "received_at": "2026-08-21T18:00:00Z",
        "decided_at": "2026-08-21T18:00:00.000042Z",
        "instance": "nurse-0",
        "signal_subject": "signals.trading.momentum_pulse",
        "intent": {"symbol": "BTCUSDT"},
    }
    fields.update(changes)
    return Decision.model_validate(fields)


def test_decision_round_trips_through_json() -> None:
    decision = _decision()
    assert Decision.model_validate_json(decision.model_dump_json()) == decision
    blocked = _decision(
        outcome="blocked",
        signal_subject=None,
        reasons=[{"code": "RISK_NOTIONAL_LIMIT", "detail": "limit=100 notional=224"}],
    )
    wire = json.loads(blocked.model_dump_json())
    assert wire["reasons"] == [{"code": "RISK_NOTIONAL_LIMIT", "detail": "limit=100 notional=224"}]
    assert wire["signal_subject"] is None
    assert wire["received_at"] == "2026-08-21T18:00:00Z"
    assert Decision.model_validate_json(blocked.model_dump_json()) == blocked


@pytest.mark.parametrize(
    "changes",
    [
        {"outcome": "blocked", "reasons": [{"code": "RISK_X_Y"}]},  # blocked but published
        {"outcome": "blocked", "signal_subject": None},  # blocked without a reason
        {"signal_subject": None},  # approved but not published
        {"signal_subject": "signals.trading"},  # the engine's wildcard does not match it
        {"signal_subject": "signals.trading.a.b"},
        {"signal_subject": "signals.trading.*"},
        {"signal_subject": "cio.intent.trading.a"},
        {"outcome": "maybe"},
        {"latency_us": -1},
        {"traceparent": "nope"},
        {"reasons": [{"code": "lowercase"}], "outcome": "blocked", "signal_subject": None},
        {"unexpected": 1},
        {"notional": math.inf},
    ],
)
def test_decision_rejects_inconsistent_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _decision(**changes)


def test_reason_code_shape() -> None:
    assert ReasonCode(code="CONTRACT_STALE").detail == ""
    with pytest.raises(ValidationError):
        ReasonCode(code="STALE")


def test_heartbeat_carries_what_the_engine_reads() -> None:
    beat = Heartbeat(
        timestamp=NOW,
        version="0.1.0",
        status="GOVERNANCE_ACTIVE",
        instance="nurse-0",
        policy_version=7,
        dependencies=Dependencies(nats="ok", redis="ok", db="down"),
        uptime_s=12.5,
        decisions=DecisionCounters(approved=3, blocked=1, rejected=2),
    )
    wire = json.loads(beat.model_dump_json())
    assert wire["service"] == "petrosa-cio"
    assert isinstance(wire["timestamp"], float)
    assert {"service", "timestamp", "version", "status"} <= set(wire)
    assert wire["dependencies"] == {"nats": "ok", "redis": "ok", "db": "down"}
    assert wire["decisions"] == {"approved": 3, "blocked": 1, "rejected": 2}
    for status in ("DEGRADED", "HALTED"):
        assert beat.model_copy(update={"status": status}).status == status
    with pytest.raises(ValidationError):
        Heartbeat.model_validate({**wire, "status": "OK"})
    with pytest.raises(ValidationError):
        Heartbeat.model_validate(
            {**wire, "dependencies": {"nats": "up", "redis": "ok", "db": "ok"}}
        )


def test_policy_updated_round_trips() -> None:
    event = PolicyUpdated(
        policy_version=8,
        snapshot_key="policy:snapshot:8",
        changed_scopes=("global", "strategy:momentum_pulse"),
        at=NOMINAL,
        trace_id="d23f0824128b2f330c5c7fd0a6a3a450",
    )
    wire = event.model_dump_json()
    assert json.loads(wire)["at"] == "2026-08-21T18:00:00Z"
    assert PolicyUpdated.model_validate_json(wire) == event


# ---------------------------------------------------------------- Envelope


def test_envelope_helpers() -> None:
    ok = envelope_ok({"decision_id": "d"}, "t1")
    assert json.loads(ok.model_dump_json()) == {
        "success": True,
        "data": {"decision_id": "d"},
        "trace_id": "t1",
        "error": None,
    }
    err = envelope_error("CONTRACT_STALE", "old", {"age_s": 400.0}, "t2")
    assert json.loads(err.model_dump_json()) == {
        "success": False,
        "data": None,
        "trace_id": "t2",
        "error": {"code": "CONTRACT_STALE", "message": "old", "details": {"age_s": 400.0}},
    }
    rejected = rejection(CODE_EXAMPLES["CONTRACT_MISSING_FIELD"])
    from_exc = envelope_from_error(rejected)
    assert from_exc.error is not None
    assert from_exc.error.code == "CONTRACT_MISSING_FIELD"
    assert Envelope.model_validate_json(from_exc.model_dump_json()) == from_exc
    assert envelope_error("X_Y", "m").error is not None


@pytest.mark.parametrize(
    "fields",
    [
        {"success": True, "error": {"code": "X_Y", "message": "m"}},
        {"success": False},
        {"success": True, "data": math.nan},
    ],
)
def test_envelope_invariants(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate(fields)


def test_decision_problem_names_what_the_sink_cannot_store() -> None:
    from nurse.services import decision_problem

    good = {"decision_id": "d" * 32, "outcome": "blocked", "received_at": "2026-01-01T00:00:00Z",
            "decided_at": "2026-01-01T00:00:00.5Z", "reasons": [{"code": "X", "detail": ""}],
            "quantity": 0.1, "strategy_id": "s"}
    assert decision_problem(good) is None
    for broken, words in (([], "not an object"), ({**good, "decision_id": 5}, "decision_id"),
                          ({**good, "outcome": "maybe"}, "outcome"),
                          ({k: v for k, v in good.items() if k != "received_at"}, "received_at"),
                          ({**good, "decided_at": "yesterday"}, "decided_at"),
                          ({**good, "reasons": [{"detail": 1}]}, "reasons"),
                          ({**good, "strategy_id": 7}, "strategy_id"),
                          ({**good, "quantity": "1"}, "quantity")):
        problem = decision_problem(broken)
        assert problem is not None and words in problem, (broken, problem)
