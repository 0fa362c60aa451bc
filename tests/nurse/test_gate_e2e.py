"""Black-box: intents in over NATS, signals / blocks / replies out, as the engine sees them."""

from __future__ import annotations

import asyncio
import json

import pytest

from nurse.contracts import Signal
from nurse.runner import NurseRunner
from tests.nurse.conftest import Bus, PolicyFn, make_intent, unique_strategy

pytestmark = pytest.mark.django_db(transaction=True)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_approved_intent_becomes_an_engine_signal(nurse: NurseRunner, bus: Bus) -> None:
    sid = unique_strategy()
    signals = await bus.watch(f"signals.trading.{sid}")
    blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
    intent = make_intent(strategy_id=sid, indicators={"rsi": 28.5}, timeframe="15m")
    await bus.publish(f"cio.intent.trading.{sid}", intent, headers={"traceparent": TRACEPARENT})
    msg = await asyncio.wait_for(signals.get(), timeout=5)
    body = json.loads(msg.data)
    signal = Signal.model_validate(body)
    assert signal.source == "petrosa-cio"
    assert signal.decision_id and msg.headers["Nats-Msg-Id"] == signal.decision_id
    # The trace continues: same trace id, a new span, in the payload and the header.
    carrier = body["_otel_trace_context"]["traceparent"]
    assert carrier == msg.headers["traceparent"]
    assert carrier[3:35] == TRACEPARENT[3:35] and carrier != TRACEPARENT
    assert body["timestamp"].endswith("Z")
    for key in ("strategy_id", "symbol", "action", "quantity", "stop_loss", "take_profit",
                "indicators", "timeframe", "signal_id", "confidence", "strategy"):
        assert body[key] == intent[key], key
    assert blocked.empty()


async def test_side_and_price_aliases_pass_through(nurse: NurseRunner, bus: Bus) -> None:
    sid = unique_strategy()
    signals = await bus.watch(f"signals.trading.{sid}")
    intent = make_intent(strategy_id=sid, action=None, current_price=None, side="SHORT",
                         stop_loss=51000.0, take_profit=48000.0)
    await bus.publish(f"intent.trading.BTCUSDT.{sid}", intent)
    body = json.loads((await asyncio.wait_for(signals.get(), timeout=5)).data)
    assert (body["action"], body["current_price"]) == ("sell", 50000.0)


async def test_blocked_intent_never_reaches_the_engine(nurse: NurseRunner, bus: Bus) -> None:
    sid = unique_strategy()
    signals = await bus.watch("signals.trading.>")
    blocked = await bus.watch(f"cio.nurse.blocked.{sid}")
    await bus.publish(f"cio.intent.trading.{sid}", make_intent(strategy_id=sid, confidence=0.1))
    event = json.loads((await asyncio.wait_for(blocked.get(), timeout=5)).data)
    assert event["outcome"] == "blocked"
    assert [r["code"] for r in event["reasons"]] == ["CONFIG_CONFIDENCE_LOW"]
    assert event["signal_subject"] is None
    await asyncio.sleep(0.3)
    while not signals.empty():
        assert json.loads(signals.get_nowait().data)["strategy_id"] != sid


async def test_request_reply_envelope(nurse: NurseRunner, bus: Bus) -> None:
    sid = unique_strategy()
    ok = await bus.audit(make_intent(strategy_id=sid))
    assert ok["success"] is True and ok["error"] is None
    assert ok["data"]["outcome"] == "approved"
    assert ok["data"]["signal_subject"] == f"signals.trading.{sid}"
    assert ok["data"]["policy_version"] == nurse.gate.policy.version  # type: ignore[union-attr]
    assert len(ok["trace_id"]) == 32
    bad = await bus.audit(b"{not json")
    assert bad["success"] is True  # a decision was made: blocked with the contract code
    assert bad["data"]["outcome"] == "blocked"
    assert bad["data"]["reasons"][0]["code"] == "CONTRACT_NOT_JSON"


async def test_strategy_id_with_dots_becomes_one_subject_token(nurse: NurseRunner, bus: Bus
                                                               ) -> None:
    sid = unique_strategy()
    signals = await bus.watch(f"signals.trading.{sid}_v2_eu")
    await bus.publish(f"cio.intent.trading.{sid}", make_intent(strategy_id=f"{sid}.v2 eu"))
    body = json.loads((await asyncio.wait_for(signals.get(), timeout=5)).data)
    assert body["strategy_id"] == f"{sid}.v2 eu"


async def test_heartbeat_reply_and_periodic_publish(bus: Bus, redis_client: object,
                                                    transactional_db: None) -> None:
    from tests.nurse.conftest import start_nurse

    beats = await bus.watch("cio.heartbeat")
    runner = await start_nurse(heartbeat_interval_s=0.2)
    try:
        reply = await bus.nc.request("cio.heartbeat", b"", timeout=2)
        body = json.loads(reply.data)
        assert body["service"] == "petrosa-cio"
        assert body["status"] in ("GOVERNANCE_ACTIVE", "DEGRADED", "HALTED")
        assert isinstance(body["timestamp"], float)
        assert set(body["dependencies"]) == {"nats", "redis", "db"}
        assert {"version", "instance", "policy_version"} <= set(body)
        seen = 0
        deadline = asyncio.get_running_loop().time() + 8
        while seen < 3 and asyncio.get_running_loop().time() < deadline:
            msg = await asyncio.wait_for(beats.get(), timeout=8)
            if msg.data and json.loads(msg.data).get("instance") == runner.cfg.instance:
                seen += 1
        assert seen >= 3
    finally:
        await runner.stop()


async def test_policy_update_reaches_running_gate_fast(nurse: NurseRunner, bus: Bus,
                                                       apply_policy: PolicyFn) -> None:
    from governance.scopes import Scope

    sid = unique_strategy()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await apply_policy("state", Scope.strategy(sid), state="HALTED")
    elapsed = loop.time() - start
    assert elapsed < 1.0, elapsed
    reply = await bus.audit(make_intent(strategy_id=sid))
    assert reply["data"]["outcome"] == "blocked"
    assert reply["data"]["reasons"][0]["code"] == "STATE_HALTED"
