"""Property tests for nurse.contracts; value strategies are generated from signal_schema.json."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from nurse.contracts import (
    CONTRACT_REASON_CODES,
    SIDE_ALIASES,
    SIGNAL_FIELDS,
    Decision,
    Envelope,
    Heartbeat,
    Intent,
    IntentRejected,
    PolicyUpdated,
    Signal,
    envelope_error,
    envelope_ok,
    parse_intent,
    signal_to_json_bytes,
)
from tests.nurse.test_contracts import (
    NOMINAL,
    NOW,
    SCHEMA,
    TRACEPARENT,
    canon,
    engine_schema_violations,
    iso_instant,
    raw_of,
)

FINITE = st.floats(allow_nan=False, allow_infinity=False)
JSON_LEAF = st.none() | st.booleans() | st.integers() | FINITE | st.text(max_size=12)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
JSON_OBJECT = st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=5)
UTC_DATETIMES = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2099, 12, 31),  # noqa: DTZ001 - and attaches `timezones` itself
    timezones=st.just(UTC),
)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def canonical_iso(moment: datetime) -> str:
    """How pydantic writes an aware UTC datetime: isoformat with ``Z`` for ``+00:00``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@st.composite
def iso_strings(draw: st.DrawFn, moments: st.SearchStrategy[datetime] = UTC_DATETIMES) -> str:
    moment = draw(moments)
    form = draw(st.sampled_from(["Z", "naive", "offset"]))
    if form == "Z":
        return canonical_iso(moment)
    if form == "naive":
        return moment.replace(tzinfo=None).isoformat()
    return moment.astimezone(draw(OFFSETS)).isoformat()


def schema_value(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any value the engine's schema allows for one field (``spec`` from signal_schema.json)."""
    types = spec["json_type"] if isinstance(spec["json_type"], list) else [spec["json_type"]]
    types = [t for t in types if t != "null"]
    assert len(types) == 1, spec
    kind = types[0]
    constraints = spec["constraints"] or {}
    base: st.SearchStrategy[Any]
    if spec["enum_values"] is not None:
        base = st.sampled_from(spec["enum_values"])
    elif kind.startswith("string (ISO-8601)"):
        base = iso_strings()
    elif kind == "number":
        base = st.floats(
            min_value=constraints.get("ge"),
            max_value=constraints.get("le"),
            allow_nan=False,
            allow_infinity=False,
        )
    elif kind == "integer":
        base = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    elif kind == "string":
        base = st.text(max_size=20)
    elif kind == "object":
        base = JSON_OBJECT
    elif kind == "array":
        base = st.lists(JSON_OBJECT, max_size=3)
    else:
        raise AssertionError(f"unhandled json_type {kind!r}")
    return st.none() | base if spec["nullable"] else base


FIELD_VALUES = {spec["name"]: schema_value(spec) for spec in SCHEMA["fields"]}


@st.composite
def signal_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A payload the engine's schema accepts: every required field, any subset of the rest."""
    payload: dict[str, Any] = {}
    for spec in SCHEMA["fields"]:
        if spec["required"] or draw(st.booleans()):
            payload[spec["name"]] = draw(FIELD_VALUES[spec["name"]])
    return payload


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(signal_payloads())
def test_random_valid_signal_survives_parse_and_serialize_unchanged(
    payload: dict[str, Any],
) -> None:
    """Random schema-valid payloads: the dump (exclude_unset) has the same JSON text per key,
    the timestamp is the same instant (same string when it was canonical ``...Z``), and the
    published wire form parses back to an equal Signal that the schema oracle accepts."""
    signal = Signal.model_validate_json(raw_of(payload))
    dumped = json.loads(signal.model_dump_json(exclude_unset=True))
    assert set(dumped) == set(payload)
    for key in set(payload) - {"timestamp"}:
        assert canon(dumped[key]) == canon(payload[key]), key
    if "timestamp" in payload:
        assert iso_instant(dumped["timestamp"]) == iso_instant(payload["timestamp"])
        assert dumped["timestamp"] == canonical_iso(iso_instant(payload["timestamp"]))
    wire = signal_to_json_bytes(signal, traceparent=TRACEPARENT)
    again = Signal.model_validate_json(wire)
    assert again == signal
    decoded = json.loads(wire)
    assert engine_schema_violations(decoded) == []
    assert decoded["_otel_trace_context"] == {"traceparent": TRACEPARENT}
    assert set(decoded) - {"_otel_trace_context"} <= SIGNAL_FIELDS


# ---------------------------------------------------------------- valid intents

INTENT_RULED = {
    "strategy_id",
    "symbol",
    "action",
    "signal_type",
    "confidence",
    "price",
    "current_price",
    "quantity",
    "position_size_pct",
    "source",
    "strategy",
    "decision_id",
    "timestamp",
}
PASS_THROUGH_SPECS = [spec for spec in SCHEMA["fields"] if spec["name"] not in INTENT_RULED]
POSITIVE = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False)
SYMBOLS = st.text(alphabet=string.ascii_letters + string.digits, min_size=2, max_size=30)
STRATEGY_IDS = st.text(
    alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=128
)
WINDOW = st.floats(min_value=-299.0, max_value=4.0)  # seconds relative to NOW, inside the gate


def random_case(word: str, flips: list[bool]) -> str:
    return "".join(
        c.upper() if flip else c for c, flip in zip(word, flips + [False] * len(word), strict=False)
    )


@st.composite
def intent_payloads(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload a strategy might send, what the published signal must say for the ruled fields)."""
    payload: dict[str, Any] = {}
    expect: dict[str, Any] = {}
    payload["strategy_id"] = expect["strategy_id"] = draw(STRATEGY_IDS)
    symbol = draw(SYMBOLS)
    payload["symbol"], expect["symbol"] = symbol, symbol.upper()
    alias = draw(st.sampled_from(sorted(SIDE_ALIASES)))
    action = SIDE_ALIASES[alias]
    expect["action"] = action
    how = draw(st.sampled_from(["action", "side", "both"]))
    if how in ("action", "both"):
        payload["action"] = action
    if how in ("side", "both"):
        payload["side"] = random_case(alias, draw(st.lists(st.booleans(), max_size=5)))
    if draw(st.booleans()):
        payload["signal_type"] = expect["signal_type"] = action
    payload["confidence"] = expect["confidence"] = draw(st.floats(min_value=0, max_value=1))
    price, current = draw(POSITIVE), draw(POSITIVE)
    prices = draw(st.sampled_from(["both", "price", "current_price"]))
    if prices == "both":
        payload["price"], payload["current_price"] = price, current
        expect["price"], expect["current_price"] = price, current
    else:
        payload[prices] = expect["price"] = expect["current_price"] = price
    pct = draw(st.none() | st.floats(min_value=0, max_value=1))
    if pct is not None or draw(st.booleans()):
        payload["position_size_pct"] = expect["position_size_pct"] = pct
    zero_ok = action == "hold" or (pct is not None and pct > 0)
    quantity = draw(st.just(0.0) | POSITIVE) if zero_ok else draw(POSITIVE)
    payload["quantity"] = expect["quantity"] = quantity
    for name in ("source", "strategy"):
        if draw(st.booleans()):
            payload[name] = draw(st.text(max_size=20))
    expect["strategy"] = payload.get("strategy", payload["strategy_id"])
    offset = draw(WINDOW)
    moment = NOMINAL + timedelta(seconds=offset)
    form = draw(
        st.sampled_from(["absent", "null", "iso", "naive", "offset", "epoch_s", "epoch_ms"])
    )
    if form == "null":
        payload["timestamp"] = None
    elif form == "iso":
        payload["timestamp"] = canonical_iso(moment)
    elif form == "naive":
        payload["timestamp"] = moment.replace(tzinfo=None).isoformat()
    elif form == "offset":
        payload["timestamp"] = moment.astimezone(draw(OFFSETS)).isoformat()
    elif form == "epoch_s":
        payload["timestamp"] = moment.timestamp()
    elif form == "epoch_ms":
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        payload["timestamp"] = round(moment.timestamp() * 1000)
    expect["timestamp"] = NOMINAL if form in ("absent", "null") else moment
    for spec in PASS_THROUGH_SPECS:
        if draw(st.booleans()):
            payload[spec["name"]] = expect[spec["name"]] = draw(FIELD_VALUES[spec["name"]])
    extras = draw(
        st.dictionaries(
            st.text(max_size=10).filter(lambda k: k not in Intent.model_fields and k != "side"),
            JSON_VALUE,
            max_size=3,
        )
    )
    payload.update(extras)
    return payload, expect


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(intent_payloads())
def test_random_valid_intent_is_accepted_and_published_faithfully(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    payload, expect = case
    intent = parse_intent(raw_of(payload), now=NOW)
    assert intent.action == expect["action"]
    assert intent.symbol == expect["symbol"]
    assert abs(intent.timestamp - expect["timestamp"]) <= timedelta(microseconds=1)
    published_at = NOMINAL + timedelta(seconds=1)
    signal = intent.to_signal(decision_id="dec", timestamp=published_at)
    wire = json.loads(signal_to_json_bytes(signal, traceparent=TRACEPARENT))
    assert engine_schema_violations(wire, now=published_at.timestamp()) == []
    assert wire["timestamp"] == canonical_iso(published_at)
    assert (wire["source"], wire["decision_id"]) == ("petrosa-cio", "dec")
    for key, value in expect.items():
        if key == "timestamp":
            continue
        if value is None:
            assert key not in wire, key  # None is the engine's default: left out
        else:
            assert canon(wire[key]) == canon(value), key
    assert set(wire) - {"_otel_trace_context"} <= SIGNAL_FIELDS


# ---------------------------------------------------------------- junk never escapes


def _outcome(raw: Any, **kwargs: Any) -> str:
    """ "ok" or the rejection code; anything else raised fails the test."""
    try:
        intent = parse_intent(raw, now=NOW, **kwargs)
    except IntentRejected as error:
        rejected = error
    else:
        rejected = None
    if rejected is not None:
        assert rejected.code in CONTRACT_REASON_CODES
        json.dumps(rejected.as_dict())
        return rejected.code
    # Whatever is accepted must also convert and serialize into an engine-valid signal.
    signal = intent.to_signal(decision_id="d", timestamp=NOMINAL)
    assert engine_schema_violations(json.loads(signal_to_json_bytes(signal))) == []
    return "ok"


@settings(max_examples=500)
@given(st.binary(max_size=512))
@example(b"\xff\xfe{\x00}\x00")
@example(b'{"a":' * 5000)
@example(b"[" * 100_000)
def test_random_bytes_only_ever_raise_intent_rejected(raw: bytes) -> None:
    _outcome(raw)


@settings(max_examples=300)
@given(JSON_VALUE)
def test_random_json_values_only_ever_raise_intent_rejected(value: Any) -> None:
    _outcome(raw_of(value))


KEYS = st.sampled_from([*sorted(Intent.model_fields), "side", "_otel_trace_context"]) | st.text(
    max_size=8
)
NASTY = (
    JSON_VALUE
    | st.sampled_from(["NaN", "BUY", "long", "", " ", "2026-08-21T18:00:00Z", 1787335200000])
    | st.floats()
    | st.integers(min_value=-(10**400), max_value=10**400)
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(intent_payloads(), st.dictionaries(KEYS, NASTY, min_size=1, max_size=4))
def test_corrupted_intents_only_ever_raise_intent_rejected(
    case: tuple[dict[str, Any], dict[str, Any]], corruption: dict[str, Any]
) -> None:
    payload = {**case[0], **corruption}
    first = _outcome(raw_of(payload))
    assert _outcome(raw_of(payload)) == first  # the verdict is a function of the bytes


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(intent_payloads(), st.data())
def test_byte_level_damage_only_ever_raises_intent_rejected(
    case: tuple[dict[str, Any], dict[str, Any]], data: st.DataObject
) -> None:
    raw = bytearray(raw_of(case[0]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[at] = data.draw(st.integers(min_value=0, max_value=255))
    _outcome(bytes(raw))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    intent_payloads(),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-2e308"]),
    st.sampled_from(["confidence", "quantity", "price", "metadata", "extra"]),
)
def test_non_finite_numbers_are_refused_wherever_they_are(
    case: tuple[dict[str, Any], dict[str, Any]], literal: str, where: str
) -> None:
    payload = {k: v for k, v in case[0].items() if k not in ("metadata", "score")}
    head = raw_of(payload)[:-1].decode()
    if where == "metadata":
        tail = f', "metadata": {{"x": [{literal}]}}}}'
    elif where == "extra":
        tail = f', "score": {literal}}}'
    else:
        payload.pop(where, None)
        head = raw_of(payload)[:-1].decode()
        tail = f', "{where}": {literal}}}'
    assert _outcome((head + tail).encode()) == "CONTRACT_INVALID_NUMBER"


@settings(max_examples=50)
@given(st.integers(min_value=1, max_value=4096), st.binary(min_size=1, max_size=64))
def test_anything_over_max_bytes_is_oversized(limit: int, chunk: bytes) -> None:
    raw = (chunk * (limit // len(chunk) + 2))[: limit + 1]
    assert _outcome(raw, max_bytes=limit) == "CONTRACT_OVERSIZED"


# ---------------------------------------------------------------- aliases and timestamps


@given(st.sampled_from(sorted(SIDE_ALIASES)), st.lists(st.booleans(), max_size=5))
def test_every_side_alias_in_any_case_maps_exactly(alias: str, flips: list[bool]) -> None:
    side = random_case(alias, flips)
    payload = {
        "strategy_id": "s",
        "symbol": "BTCUSDT",
        "side": side,
        "confidence": 0.7,
        "price": 100.0,
        "quantity": 1.0,
    }
    assert parse_intent(raw_of(payload), now=NOW).action == SIDE_ALIASES[alias]


@given(st.text(max_size=12) | st.integers() | st.booleans() | st.lists(st.text(), max_size=2))
@example("\uff22\uff35\uff39")
@example("\u212a")
def test_any_other_side_is_unknown(side: Any) -> None:
    assume(not (isinstance(side, str) and side.isascii() and side.lower() in SIDE_ALIASES))
    payload = {
        "strategy_id": "s",
        "symbol": "BTCUSDT",
        "side": side,
        "confidence": 0.7,
        "price": 100.0,
        "quantity": 1.0,
    }
    assert _outcome(raw_of(payload)) == "CONTRACT_UNKNOWN_SIDE"


@given(st.floats(min_value=-299.0, max_value=4.0), OFFSETS)
def test_epoch_seconds_milliseconds_and_iso_name_the_same_instant(
    offset: float, zone: timezone
) -> None:
    moment = (NOMINAL + timedelta(seconds=offset)).replace(microsecond=0)
    forms = [
        moment.timestamp(),
        int(moment.timestamp()) * 1000,
        moment.astimezone(zone).isoformat(),
        moment.replace(tzinfo=None).isoformat(),
    ]
    base = {"strategy_id": "s", "symbol": "ETHUSDT", "action": "hold", "confidence": 0.5}
    base.update(price=1.0, quantity=0.0)
    for form in forms:
        intent = parse_intent(raw_of({**base, "timestamp": form}), now=NOW)
        assert intent.timestamp == moment, form


@given(st.floats(min_value=0.001, max_value=1e6), st.booleans())
def test_outside_the_window_is_stale_or_future(beyond: float, past: bool) -> None:
    ts = NOW - 300 - beyond if past else NOW + 5 + beyond
    payload = {"strategy_id": "s", "symbol": "ETHUSDT", "action": "hold", "confidence": 0.5}
    payload.update(price=1.0, quantity=0.0, timestamp=ts)
    expected = "CONTRACT_STALE" if past else "CONTRACT_FUTURE_TIMESTAMP"
    assert _outcome(raw_of(payload)) == expected


# ---------------------------------------------------------------- our own event models

MOMENTS = UTC_DATETIMES
REASON_CODES = st.from_regex(r"[A-Z][A-Z0-9]{0,8}(_[A-Z0-9]{1,8}){1,3}", fullmatch=True)


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    blocked = draw(st.booleans())
    reasons = draw(
        st.lists(
            st.fixed_dictionaries({"code": REASON_CODES, "detail": st.text(max_size=30)}),
            min_size=1 if blocked else 0,
            max_size=3,
        )
    )
    return Decision.model_validate(
        {
            "decision_id": draw(st.text(min_size=1, max_size=40)),
            "intent_id": draw(st.none() | st.text(max_size=20)),
            "signal_id": draw(st.none() | st.text(max_size=20)),
            "strategy_id": draw(STRATEGY_IDS),
            "symbol": draw(SYMBOLS).upper(),
            "action": draw(st.sampled_from(["buy", "sell", "hold", "close"])),
            "quantity": draw(FINITE),
            "price": draw(FINITE),
            "notional": draw(FINITE),
            "outcome": "blocked" if blocked else "approved",
            "reasons": reasons,
            "policy_version": draw(st.integers(min_value=0, max_value=2**40)),
            "latency_us": draw(st.integers(min_value=0, max_value=10**9)),
            "traceparent": draw(st.none() | st.just(TRACEPARENT)),
            "received_at": draw(MOMENTS),
            "decided_at": draw(MOMENTS),
            "instance": draw(st.text(min_size=1, max_size=20)),
            "signal_subject": None
            if blocked
            else "signals.trading." + draw(st.from_regex(r"[a-z0-9_\-]{1,20}", fullmatch=True)),
            "intent": draw(JSON_OBJECT),
        }
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(decisions())
def test_decisions_round_trip_through_json(decision: Decision) -> None:
    assert Decision.model_validate_json(decision.model_dump_json()) == decision


@given(
    st.builds(
        Heartbeat,
        timestamp=st.floats(min_value=0, max_value=4e9),
        version=st.text(min_size=1, max_size=10),
        status=st.sampled_from(["GOVERNANCE_ACTIVE", "DEGRADED", "HALTED"]),
        instance=st.text(min_size=1, max_size=10),
        policy_version=st.integers(min_value=0, max_value=2**31),
        dependencies=st.fixed_dictionaries(
            {k: st.sampled_from(["ok", "down"]) for k in ("nats", "redis", "db")}
        ),
        uptime_s=st.floats(min_value=0, max_value=1e9),
    )
)
def test_heartbeats_round_trip_and_carry_the_engine_keys(beat: Heartbeat) -> None:
    wire = json.loads(beat.model_dump_json())
    assert {"service", "timestamp", "version", "status"} <= set(wire)
    assert Heartbeat.model_validate(wire) == beat


@given(
    st.integers(min_value=0, max_value=2**40),
    st.text(min_size=1, max_size=30),
    st.lists(st.text(min_size=1, max_size=20), max_size=4).map(tuple),
    MOMENTS,
    st.none() | st.text(max_size=32),
)
def test_policy_updated_round_trips(
    version: int, key: str, scopes: tuple[str, ...], at: datetime, trace_id: str | None
) -> None:
    event = PolicyUpdated(
        policy_version=version, snapshot_key=key, changed_scopes=scopes, at=at, trace_id=trace_id
    )
    assert PolicyUpdated.model_validate_json(event.model_dump_json()) == event


@given(
    JSON_VALUE, st.none() | st.text(max_size=32), REASON_CODES, st.text(max_size=20), JSON_OBJECT
)
def test_envelopes_round_trip(
    data: Any, trace_id: str | None, code: str, message: str, details: dict[str, Any]
) -> None:
    for envelope in (envelope_ok(data, trace_id), envelope_error(code, message, details, trace_id)):
        assert Envelope.model_validate_json(envelope.model_dump_json()) == envelope


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(intent_payloads(), st.sampled_from(["petrosa-cio", 'cio "quoted" \u00e9']))
def test_gate_signal_json_equals_the_signal_model_path(
    case: tuple[dict[str, Any], dict[str, Any]], source: str,
) -> None:
    """The gate's direct serialisation (``Intent.signal_json``) is the Signal path, exactly."""
    payload, _ = case
    intent = parse_intent(raw_of(payload), now=NOW)
    published_at = NOMINAL + timedelta(seconds=1, microseconds=123)
    slow = signal_to_json_bytes(
        intent.to_signal(decision_id="d" * 32, source=source, timestamp=published_at),
        traceparent=TRACEPARENT)
    fast = intent.signal_json(decision_id="d" * 32, source=source,
                              timestamp=canonical_iso(published_at), traceparent=TRACEPARENT)
    assert json.loads(fast) == json.loads(slow)
    assert json.loads(intent.audit_json()) == intent.audit_payload()
