"""Every reason code of the gate, each with a test that fails if its rule breaks.

Each case changes policy through the real services, sends one intent through
``cio.nurse.audit`` on the running gate, and expects exactly that code (and, for the
companion intent that respects the rule, approval), so a rule that stops firing or fires
too eagerly is caught.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from governance.scopes import Scope
from nurse.runner import NurseRunner
from tests.nurse.conftest import Bus, PolicyFn, make_intent, unique_strategy

pytestmark = pytest.mark.django_db(transaction=True)


async def _codes(bus: Bus, **intent: Any) -> list[str]:
    reply = await bus.audit(make_intent(**intent))
    assert reply["success"], reply
    return [r["code"] for r in reply["data"]["reasons"]]


CASES: list[tuple[str, list[tuple[str, str, dict[str, Any]]], dict[str, Any], dict[str, Any]]] = [
    # (expected code, policy changes, violating intent, compliant intent)
    ("CONFIG_CONFIDENCE_LOW", [], {"confidence": 0.3}, {"confidence": 0.9}),
    ("CONFIG_DISABLED", [("patch", "strategy", {"patch": {"enabled": False}})], {}, None),
    ("CONFIG_LONGS_DISABLED", [("patch", "strategy", {"patch": {"enable_longs": False}})],
     {}, {"action": "sell", "stop_loss": 51000.0, "take_profit": 48000.0}),
    ("CONFIG_SHORTS_DISABLED", [("patch", "strategy", {"patch": {"enable_shorts": False}})],
     {"action": "sell", "stop_loss": 51000.0, "take_profit": 48000.0}, {}),
    ("CONFIG_SYMBOL_NOT_ALLOWED",
     [("patch", "strategy", {"patch": {"allowed_symbols": ["ETHUSDT"]}})], {},
     {"symbol": "ETHUSDT", "price": 3000.0, "current_price": 3000.0, "quantity": 0.1,
      "stop_loss": 2900.0, "take_profit": 3200.0}),
    ("CONFIG_SIGNAL_STALE", [("patch", "strategy", {"patch": {"max_signal_age_seconds": 5}})],
     {"timestamp": "-30"}, {"timestamp": "-1"}),
    ("CONFIG_SIZE_ABOVE_MAX", [("patch", "strategy", {"patch": {"max_position_size_usd": 400.0}})],
     {}, {"quantity": 0.007}),
    ("CONFIG_SIZE_BELOW_MIN", [("patch", "strategy", {"patch": {"min_position_size_usd": 600.0,
                                                                "max_position_size_usd": 900.0}})],
     {}, {"quantity": 0.015}),
    ("CONFIG_POSITION_SIZE_PCT_ABOVE_MAX",
     [("patch", "strategy", {"patch": {"position_size_pct": 0.05}})],
     {"position_size_pct": 0.08}, {"position_size_pct": 0.04}),
    ("CONFIG_LEVERAGE_OUT_OF_BOUNDS", [("patch", "strategy", {"patch": {"leverage": 5}})],
     {"metadata": {"leverage": 8}}, {"metadata": {"leverage": 5}}),
    ("CONFIG_STOP_LOSS_MISSING", [], {"stop_loss": None}, {"stop_loss_pct": 0.02,
                                                           "stop_loss": None}),
    ("CONFIG_TAKE_PROFIT_MISSING", [], {"take_profit": None}, {"take_profit_pct": 0.05,
                                                               "take_profit": None}),
    ("CONFIG_STOP_LOSS_WRONG_SIDE", [], {"stop_loss": 50500.0}, {}),
    ("CONFIG_TAKE_PROFIT_WRONG_SIDE", [], {"take_profit": 49500.0}, {}),
    ("HARD_ORDER_NOTIONAL", [("gate", "", {"key": "max_order_notional_usd", "value": 400.0})],
     {}, {"quantity": 0.007}),
    ("HARD_LEVERAGE", [("gate", "", {"key": "max_leverage", "value": 5})],
     {"metadata": {"leverage": 10}}, {"metadata": {"leverage": 3}}),
    ("HARD_POSITION_SIZE_PCT", [("gate", "", {"key": "max_position_size_pct", "value": 0.05})],
     {"position_size_pct": 0.07}, {"position_size_pct": 0.01}),
    ("HARD_MIN_CONFIDENCE", [("gate", "", {"key": "min_confidence", "value": 0.9})],
     {"confidence": 0.85}, {"confidence": 0.95}),
    ("HARD_SYMBOL_NOT_ALLOWED", [("gate", "", {"key": "allowed_symbols", "value": ["ETHUSDT"]})],
     {}, None),
    ("STATE_HALTED", [("state", "strategy", {"state": "HALTED"})], {}, {"action": "close"}),
    ("STATE_REDUCING", [("state", "symbol", {"state": "REDUCING"})], {}, {"action": "close"}),
    ("EXCHANGE_LOT_STEP", [], {"quantity": 0.0105}, {"quantity": 0.011}),
    ("EXCHANGE_MIN_NOTIONAL", [("patch", "strategy", {"patch": {"min_position_size_usd": 1.0}})],
     {"quantity": 0.001, "price": 5000.0, "current_price": 5000.0, "stop_loss": 4900.0,
      "take_profit": 5200.0}, {"quantity": 0.002, "price": 5000.0, "current_price": 5000.0,
                               "stop_loss": 4900.0, "take_profit": 5200.0}),
    ("EXCHANGE_MAX_QTY", [("patch", "strategy", {"patch": {"max_position_size_usd": 20000.0}})],
     {"quantity": 1001.0, "price": 10.0, "current_price": 10.0, "stop_loss": 9.0,
      "take_profit": 12.0}, None),
    ("EXCHANGE_TICK_SIZE", [], {"order_type": "limit", "price": 50000.05},
     {"order_type": "limit", "price": 50000.1}),
    ("EXCHANGE_UNKNOWN_SYMBOL", [], {"symbol": "DOGEUSDT", "price": 0.1, "current_price": 0.1,
                                     "quantity": 200.0, "stop_loss": 0.09, "take_profit": 0.12},
     None),
    ("EXPOSURE_UNKNOWN_SIZE", [], {"quantity": 0, "position_size_pct": 0.01}, None),
]


def _resolve(intent: dict[str, Any]) -> dict[str, Any]:
    if isinstance(intent.get("timestamp"), str) and intent["timestamp"].startswith("-"):
        ago = float(intent["timestamp"][1:])
        intent["timestamp"] = (datetime.now(UTC) - timedelta(seconds=ago)).isoformat()
    return intent


@pytest.mark.parametrize(("code", "changes", "bad", "good"), CASES, ids=[c[0] for c in CASES])
async def test_rule_fires_exactly(code: str, changes: list[tuple[str, str, dict[str, Any]]],
                                  bad: dict[str, Any], good: dict[str, Any] | None,
                                  nurse: NurseRunner, bus: Bus, apply_policy: PolicyFn) -> None:
    sid = unique_strategy()
    for kind, scope_kind, kwargs in changes:
        scope = {"strategy": Scope.strategy(sid), "symbol": Scope.symbol("BTCUSDT"),
                 "": Scope.global_()}[scope_kind]
        await apply_policy(kind, scope, **kwargs)
    codes = await _codes(bus, **_resolve({"strategy_id": sid, **bad}))
    assert code in codes, codes
    if good is not None:
        assert await _codes(bus, **_resolve({"strategy_id": sid, **good})) == []


async def test_contract_rejections_are_decided_and_counted(nurse: NurseRunner, bus: Bus) -> None:
    before = nurse.counters["rejected"]
    cases = {
        b"\xff\xfe garbage": {"CONTRACT_ENCODING", "CONTRACT_NOT_JSON"},
        b"[1, 2]": {"CONTRACT_NOT_OBJECT"},
        b'{"symbol": "BTCUSDT"}': {"CONTRACT_MISSING_FIELD"},
        b"x" * 70000: {"CONTRACT_OVERSIZED"},
    }
    for raw, expected in cases.items():
        reply = await bus.audit(raw)
        assert reply["data"]["outcome"] == "blocked"
        assert reply["data"]["reasons"][0]["code"] in expected
    for field, value, code in (("side", "up", "CONTRACT_UNKNOWN_SIDE"),
                               ("quantity", -1, "CONTRACT_NON_POSITIVE_QUANTITY"),
                               ("confidence", 1.5, "CONTRACT_CONFIDENCE_RANGE")):
        intent = make_intent(**{field: value})
        if field == "side":
            intent.pop("action")
        assert (await _codes_raw(bus, intent))[0] == code
    assert nurse.counters["rejected"] - before == 7


async def _codes_raw(bus: Bus, intent: dict[str, Any]) -> list[str]:
    reply = await bus.audit(intent)
    return [r["code"] for r in reply["data"]["reasons"]]


async def test_duplicates_by_signal_id_and_by_content(nurse: NurseRunner, bus: Bus) -> None:
    sid = unique_strategy()
    first = make_intent(strategy_id=sid)
    assert await _codes_raw(bus, first) == []
    assert await _codes_raw(bus, first) == ["DUPLICATE_SIGNAL_ID"]
    again = dict(first, signal_id="another-id")
    assert await _codes_raw(bus, again) == ["DUPLICATE_CONTENT"]


async def test_rate_and_daily_limits(nurse: NurseRunner, bus: Bus, apply_policy: PolicyFn
                                     ) -> None:
    sid = unique_strategy()
    await apply_policy("patch", Scope.strategy(sid), patch={"max_orders_per_minute": 2})
    results = [await _codes_raw(bus, make_intent(strategy_id=sid, quantity=0.001 * (i + 10)))
               for i in range(3)]
    assert results == [[], [], ["RATE_ORDERS_PER_MINUTE"]]
    sid2 = unique_strategy()
    await apply_policy("patch", Scope.strategy(sid2), patch={"max_daily_trades": 1})
    assert await _codes_raw(bus, make_intent(strategy_id=sid2)) == []
    assert await _codes_raw(bus, make_intent(strategy_id=sid2, quantity=0.02)) == [
        "RATE_DAILY_TRADES"]


async def test_exposure_limits_with_reservations(nurse: NurseRunner, bus: Bus,
                                                 apply_policy: PolicyFn) -> None:
    sid = unique_strategy()
    await apply_policy("patch", Scope.strategy(sid), patch={"max_strategy_exposure_usd": 1200.0})
    assert await _codes_raw(bus, make_intent(strategy_id=sid)) == []  # 500 reserved
    assert await _codes_raw(bus, make_intent(strategy_id=sid, quantity=0.011)) == []  # 1050
    codes = await _codes_raw(bus, make_intent(strategy_id=sid, quantity=0.005))
    assert codes == ["EXPOSURE_STRATEGY_LIMIT"]
    # Closing is never blocked by an exposure limit.
    assert await _codes_raw(bus, make_intent(strategy_id=sid, action="close")) == []


async def test_positions_snapshot_missing_blocks_new_exposure_only(
        nurse: NurseRunner, bus: Bus, redis_client: Any) -> None:
    assert nurse.ledger is not None
    redis_client.set(nurse.ledger.synced_key, time.time() - 3600)
    sid = unique_strategy()
    assert await _codes_raw(bus, make_intent(strategy_id=sid)) == ["EXPOSURE_NO_POSITIONS"]
    assert await _codes_raw(bus, make_intent(strategy_id=sid, action="close")) == []
