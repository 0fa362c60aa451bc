"""Property tests of the gate: for random intents and policies, no approved signal breaks
an active limit, and no position-reducing intent is blocked by an exposure rule."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from governance.catalog import catalog_defaults
from governance.hard_gates import hard_gate_defaults
from nurse.contracts import CONTRACT_REASON_CODES
from nurse.gate import Gate
from nurse.policy import CompiledPolicy, exchange_filters_from_info
from nurse.services import DEFAULT_EXCHANGE_INFO

FILTERS = exchange_filters_from_info(json.loads(DEFAULT_EXCHANGE_INFO.read_text()))
NON_EXPOSURE_CODES = set(CONTRACT_REASON_CODES) | {"DUPLICATE_SIGNAL_ID", "DUPLICATE_CONTENT"}

policies = st.fixed_dictionaries({
    "max_position_size_usd": st.floats(50, 5000),
    "min_position_size_usd": st.floats(1, 50),
    "min_confidence_threshold": st.floats(0, 0.9),
    "enable_longs": st.sampled_from([True, True, True, False]),
    "enable_shorts": st.sampled_from([True, True, True, False]),
    "allowed_symbols": st.sampled_from([[], ["BTCUSDT"], ["ETHUSDT"], ["BTCUSDT", "ETHUSDT"]]),
    "position_size_pct": st.floats(0.001, 0.25),
})
states = st.sampled_from([None, "ACTIVE", "ACTIVE", "ACTIVE", "REDUCING", "HALTED"])
gates = st.fixed_dictionaries({
    "max_order_notional_usd": st.floats(100, 25000),
    "min_confidence": st.floats(0, 0.6),
})


@st.composite
def intents(draw: st.DrawFn) -> dict[str, Any]:
    symbol = draw(st.sampled_from(["BTCUSDT", "ETHUSDT", "XRPUSDT"]))
    price = draw(st.floats(100, 100000))
    action = draw(st.sampled_from(["buy", "sell", "close", "hold"]))
    # Aim most intents near the limits so approvals and blocks both occur often.
    notional = draw(st.floats(5, 6000))
    qty = max(0.001, round(notional / price, 3))
    below, above = price * draw(st.floats(0.8, 0.999)), price * draw(st.floats(1.001, 1.2))
    if draw(st.integers(0, 9)) == 0:  # sometimes on the wrong side
        below, above = above, below
    sl, tp = (below, above) if action != "sell" else (above, below)
    intent = {"strategy_id": "p1", "symbol": symbol, "action": action,
              "confidence": draw(st.floats(0, 1)), "price": price, "current_price": price,
              "quantity": qty, "stop_loss": sl, "take_profit": tp,
              "signal_id": draw(st.uuids()).hex}
    if draw(st.integers(0, 4)) == 0:
        intent["position_size_pct"] = draw(st.floats(0.001, 0.5))
    return intent


def _gate(params: dict[str, Any], state: str | None, gate_values: dict[str, Any]) -> Gate:
    gate = Gate(instance="prop")
    snapshot = {"policy_version": 1, "defaults": catalog_defaults(),
                "scopes": {"global": params},
                "states": {"global": {"state": state}} if state else {},
                "hard_gates": {**hard_gate_defaults(), **gate_values}}
    gate.set_policy(CompiledPolicy.from_snapshot(snapshot))
    gate.set_exchange(FILTERS)
    return gate


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=policies, state=states, gate_values=gates, intent=intents())
def test_no_approved_signal_breaks_an_active_limit(params: dict[str, Any], state: str | None,
                                                   gate_values: dict[str, Any],
                                                   intent: dict[str, Any]) -> None:
    gate = _gate(params, state, gate_values)
    verdict = gate.decide_local(json.dumps(intent).encode(), received=time.time())
    codes = {c for c, _ in verdict.reasons}
    reducing = intent["action"] in ("close", "hold")
    if reducing:
        # Reduction passes every exposure-type rule, whatever the state or limits.
        assert codes <= NON_EXPOSURE_CODES, codes
        return
    if verdict.outcome != "approved":
        return
    event("approved entry")
    notional = intent["quantity"] * intent["price"]
    price = intent["price"]
    f = FILTERS.get(intent["symbol"])
    assert f is not None
    assert state in (None, "ACTIVE")
    assert notional <= params["max_position_size_usd"] + 1e-6
    assert notional <= gate_values["max_order_notional_usd"] + 1e-6
    assert notional >= params["min_position_size_usd"] - 1e-6
    assert notional >= f.min_notional - 1e-6
    assert intent["confidence"] >= params["min_confidence_threshold"]
    assert intent["confidence"] >= gate_values["min_confidence"]
    assert not params["allowed_symbols"] or intent["symbol"] in params["allowed_symbols"]
    assert intent.get("position_size_pct", 0) <= params["position_size_pct"]
    if intent["action"] == "buy":
        assert params["enable_longs"]
        assert intent["stop_loss"] < price < intent["take_profit"]
    else:
        assert params["enable_shorts"]
        assert intent["take_profit"] < price < intent["stop_loss"]
    assert verdict.signal_body is not None
