"""End to end: the 2021-05-19 crash replayed from the candles over NATS drives the regime
and the ladder, and a running Nurse enforces REDUCING, then HALTED, within the target.

Reaction time = from publishing the market event whose processing crosses a threshold to
the moment the running Nurse's in-memory policy enforces the new state (measured here, and
by the feed itself as ``LadderStep.reaction_ms``: event timestamp -> policy committed and
published). Target < 2 s (the product documents ask < 60 s)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from nurse.runner import NurseRunner
from strategist.feeds import StrategistFeeds
from strategist.models import LadderStep, RegimeShift
from strategist.replay import PACKAGED_DATA_DIR as DATA_DIR
from strategist.replay import ReplayBook, load_series, replay_steps, step_messages
from tests.nurse.conftest import Bus, bus, make_intent, nurse  # noqa: F401  (fixtures)

TARGET_S = 2.0
pytestmark = pytest.mark.timeout(300)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def _until(check: Any, timeout: float = 5.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if check():
            return time.perf_counter()
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached in time")


async def test_crash_replay_reaches_every_nurse_within_target(
        nurse: NurseRunner, bus: Bus, redis_client: Any) -> None:  # noqa: F811
    ns = settings.CIO_NAMESPACE
    triggers: list[str] = []
    feeds = StrategistFeeds(kline_subject=f"{ns}.binance.websocket.data",
                            execution_subject=f"{ns}.execution.events.>",
                            symbols=["BTCUSDT", "ETHUSDT"], on_trigger=triggers.append)
    await feeds.start()
    try:
        symbols = ["BTCUSDT", "ETHUSDT"]
        for step in replay_steps(load_series(DATA_DIR, symbols, "5m",
                                             start=_at("2021-05-11T00:00:00"),
                                             end=_at("2021-05-19T00:00:00"))):
            for candle in step.candles:
                feeds.book.update(candle)  # warm-up only: a week of history, no writes
        book = ReplayBook(equity0=100_000.0, weights={"BTCUSDT": 0.5, "ETHUSDT": 0.5})
        live = load_series(DATA_DIR, symbols, "5m", start=_at("2021-05-19T00:00:00"),
                           end=_at("2021-05-19T14:00:00"))
        crossings: list[dict[str, Any]] = []
        for step in replay_steps(live):
            for kind, payload in step_messages(step, book):
                counter = "klines" if kind == "kline" else "executions"
                seen = getattr(feeds.stats, counter)
                state_before = feeds.global_state
                subject = f"{ns}.binance.websocket.data" if kind == "kline" else \
                    f"{ns}.execution.events.replay"
                published = time.perf_counter()
                await bus.publish(subject, payload)
                await _until(lambda c=counter, s=seen: getattr(feeds.stats, c) > s)
                if feeds.global_state == state_before:
                    continue
                new_state = feeds.global_state
                enforced = await _until(lambda s=new_state: nurse.gate.policy is not None and
                                        nurse.gate.policy.state_for(
                                            "any", "BTCUSDT", time.time())[0] == s)
                crossings.append({"candle_at": step.at.isoformat(), "state": new_state,
                                  "event": kind, "drawdown": round(feeds.tracker.drawdown, 4),
                                  "reaction_s": round(enforced - published, 4)})
        assert [c["state"] for c in crossings] == ["REDUCING", "HALTED"], crossings
        for crossing in crossings:
            assert crossing["reaction_s"] < TARGET_S, crossing
        steps = await sync_to_async(list)(LadderStep.objects.order_by("created_at").values(
            "step", "reaction_ms", "drawdown", "state_after"))
        drawdown_steps = [s for s in steps if s["step"] != "volatility"]
        assert [s["state_after"] for s in drawdown_steps] == ["REDUCING", "HALTED"]
        assert all(s["reaction_ms"] is not None and s["reaction_ms"] < TARGET_S * 1000
                   for s in drawdown_steps)
        assert any(s["step"] == "volatility" for s in steps)  # BTC/ETH went extreme
        # The regime reached the Nurse's snapshot too, and a shift bumped the policy.
        regime = nurse.gate.policy.regime_for("BTCUSDT")  # type: ignore[union-attr]
        assert regime is not None and regime["volatility_phase"] == "extreme"
        assert await sync_to_async(RegimeShift.objects.filter(
            symbol="BTCUSDT", to_volatility="extreme").exists)()
        # Ask this run's gate itself (cio.nurse.audit is shared by every run on the server).
        verdict = nurse.gate.decide_local(json.dumps(make_intent(strategy_id="s-crash")).encode())
        codes = {code for code, _ in verdict.reasons}
        assert {"STATE_HALTED", "REGIME_VOLATILITY_EXTREME"} <= codes
        assert "breach" in triggers and "regime_shift" in triggers
        await feeds.idle()  # alerts, canary, stops and post-mortems of both steps
        record = {"measured_at": datetime.now(UTC).isoformat(), "crossings": crossings,
                  "ladder_steps": [dict(s.items()) for s in steps],
                  "machine": os.uname().nodename}
        out = Path(os.environ.get("CIO_VAR_DIR", "/tmp")) / "strategist-reaction.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2, default=str))
    finally:
        await feeds.stop()
