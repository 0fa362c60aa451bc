"""The gate's fast path (msgspec) against ``parse_intent`` (pydantic): one contract, two paths.

For any bytes, ``parse_intent_fast`` must give what ``parse_intent`` gives: the same refusal
(code, message, details) or an intent with the same values for everything the gate reads,
the same audit copy (as JSON) and the same signal (as JSON). And canonical intents must
really take the fast path, or the equivalence would hold trivially.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nurse.contracts import Intent, IntentRejected, parse_intent
from nurse.contracts.fast import FastIntent, IntentView, parse_intent_fast
from tests.nurse.test_contracts import NOW, TRACEPARENT
from tests.nurse.test_contracts_properties import (
    KEYS,
    NASTY,
    canonical_iso,
    intent_payloads,
)

# Every attribute of IntentView (the protocol the rules and the gate are written against).
VIEW_ATTRIBUTES = sorted(
    name for name in IntentView.__dict__
    if not name.startswith("_") and name not in ("audit_json", "signal_json")
)
SIGNAL_ARGS = {"decision_id": "d" * 32, "source": "petrosa-cio",
               "timestamp": "2026-08-21T18:00:01.5Z", "traceparent": TRACEPARENT}
CANONICAL = {
    "strategy_id": "momentum-1", "signal_id": "s-1", "symbol": "BTCUSDT", "action": "buy",
    "confidence": 0.7, "price": 50000.0, "current_price": 50000.0, "quantity": 0.002,
    "stop_loss": 49000.0, "take_profit": 52000.0, "order_type": "limit",
    "timestamp": "2026-08-21T17:59:59.250Z", "metadata": {"leverage": 3},
    "_otel_trace_context": {"traceparent": TRACEPARENT},
}


def _parse(fn: Any, raw: bytes) -> Any:
    try:
        return fn(raw, now=NOW)
    except IntentRejected as exc:
        return exc


def _timestamps_as_instants(payload: dict[str, Any]) -> dict[str, Any]:
    ts = payload.get("timestamp")
    if isinstance(ts, str):
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        payload["timestamp"] = moment.timestamp()
    return payload


def assert_same(raw: bytes) -> Any:
    """Both paths on ``raw``; returns the fast path's answer."""
    slow, fast = _parse(parse_intent, raw), _parse(parse_intent_fast, raw)
    if isinstance(slow, IntentRejected) or isinstance(fast, IntentRejected):
        assert isinstance(slow, IntentRejected) and isinstance(fast, IntentRejected), (slow, fast)
        assert (fast.code, fast.message, fast.details) == (slow.code, slow.message, slow.details)
        return fast
    assert isinstance(slow, Intent)
    for name in VIEW_ATTRIBUTES:
        assert getattr(fast, name) == getattr(slow, name), name
    assert _timestamps_as_instants(json.loads(fast.audit_json())) == \
        _timestamps_as_instants(slow.audit_payload())
    assert json.loads(fast.signal_json(**SIGNAL_ARGS)) == \
        json.loads(slow.signal_json(**SIGNAL_ARGS))
    return fast


def test_a_canonical_intent_takes_the_fast_path_with_the_same_signal_bytes() -> None:
    raw = json.dumps(CANONICAL, separators=(",", ":")).encode()
    fast = assert_same(raw)
    assert isinstance(fast, FastIntent)
    assert fast.audit_json() is raw  # the received bytes, not a copy
    slow = parse_intent(raw, now=NOW)
    assert fast.signal_json(**SIGNAL_ARGS) == slow.signal_json(**SIGNAL_ARGS)


@pytest.mark.parametrize(("change", "why"), [
    ({"side": "long"}, "alias"),
    ({"symbol": "btcusdt"}, "lower-case symbol"),
    ({"price": None}, "missing price"),
    ({"timestamp": 1787335199.25}, "epoch timestamp"),
    ({"note": "hi"}, "unknown key"),
    ({"strategy_id": "m\u00e9"}, "escaped text"),
    ({"confidence": True}, "bool for a number"),
    ({"signal_type": "sell"}, "conflicting signal_type"),
    ({"quantity": 0}, "no size"),
])
def test_anything_else_is_decided_by_parse_intent(change: dict[str, Any], why: str) -> None:
    payload = {**CANONICAL, **change}
    answer = assert_same(json.dumps({k: v for k, v in payload.items() if v is not None}).encode())
    assert not isinstance(answer, FastIntent), why


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(intent_payloads(), st.booleans(), st.booleans())
def test_random_intents_same_answer_on_both_paths(
    case: tuple[dict[str, Any], dict[str, Any]], ascii_only: bool, upper: bool
) -> None:
    payload = dict(case[0])
    if upper and isinstance(payload.get("symbol"), str):
        payload["symbol"] = payload["symbol"].upper()  # more of them canonical
    assert_same(json.dumps(payload, ensure_ascii=ascii_only).encode())


@st.composite
def canonical_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Random intents in the canonical form (any values, any optional fields)."""
    payload, expect = draw(intent_payloads())
    payload = {k: v for k, v in payload.items()
               if k in Intent.model_fields or k == "_otel_trace_context"}
    for name in ("action", "symbol", "price", "current_price"):
        payload[name] = expect[name]
    if "signal_type" in payload:
        payload["signal_type"] = expect["action"]
    payload["timestamp"] = canonical_iso(expect["timestamp"])
    if draw(st.booleans()):
        payload["_otel_trace_context"] = {"traceparent": TRACEPARENT}
    return payload


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(canonical_payloads())
def test_random_canonical_intents_take_the_fast_path_with_the_same_answer(
    payload: dict[str, Any],
) -> None:
    raw = json.dumps(payload, ensure_ascii=False).encode()
    answer = assert_same(raw)
    if b"\\u" not in raw:  # (json.dumps escapes control characters)
        assert isinstance(answer, FastIntent), payload


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(canonical_payloads() | intent_payloads().map(lambda case: case[0]),
       st.dictionaries(KEYS, NASTY, min_size=1, max_size=4), st.booleans())
@example(CANONICAL, {"conditional_timeout": 10**30}, True)
@example(CANONICAL, {"metadata": {"x": 10**30}}, True)
@example(CANONICAL, {"symbol": "BTCUSDT\n"}, True)
@example(CANONICAL, {"timestamp": "2026-08-21 17:59:59"}, True)
@example(CANONICAL, {"timestamp": "2026-08-21T17:59:60Z"}, True)
@example(CANONICAL, {"timestamp": "2026-08-21T17:59:59.1234567+00:00"}, True)
def test_corrupted_intents_same_answer_on_both_paths(
    base: dict[str, Any], corruption: dict[str, Any], ascii_only: bool
) -> None:
    payload = {**base, **corruption}
    assert_same(json.dumps(payload, ensure_ascii=ascii_only).encode())


@settings(max_examples=300)
@given(st.binary(max_size=256))
@example(b'{"action":"buy","action":"sell"}')
@example(json.dumps({**CANONICAL, "x": 1}).encode()[:-1] + b',"action":"sell"}')
def test_random_bytes_same_answer_on_both_paths(raw: bytes) -> None:
    assert_same(raw)


def test_a_repeated_trade_key_is_refused_on_the_fast_path_too() -> None:
    raw = json.dumps(CANONICAL).encode()[:-1] + b', "action": "sell"}'
    answer = assert_same(raw)
    assert isinstance(answer, IntentRejected) and answer.code == "CONTRACT_DUPLICATE_KEY"
