"""The living demo: strategies' intents are valid, the stand-in engine speaks the fill format
the Nurse (and shadow ROI, and the strategist) read, and the whole loop runs on real NATS."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management import CommandError, call_command

from governance import services
from governance.catalog import catalog_defaults
from governance.dashboard.demo.engine import StandInEngine
from governance.dashboard.demo.fleet import DemoFleet, FleetConfig
from governance.dashboard.demo.market import BAR_MS, Candle, LiveBar, load_candles
from governance.management.commands.seed_demo import DEMO_CONFIG
from governance.models import ActorKind
from governance.selectors import policy_version_current
from nurse.contracts import parse_intent
from nurse.gate import Gate
from nurse.policy import CompiledPolicy, exchange_filters_from_info
from nurse.runner import _fill_from_event
from nurse.services import DEFAULT_EXCHANGE_INFO, exchange_info_store
from tests.nurse.conftest import start_nurse, wait_for_version

FILTERS = exchange_filters_from_info(json.loads(DEFAULT_EXCHANGE_INFO.read_text()))


def _demo_policy() -> CompiledPolicy:
    return CompiledPolicy.from_snapshot({
        "policy_version": 1, "defaults": catalog_defaults(), "hard_gates": {}, "states": {},
        "scopes": {str(scope): patch for scope, patch, _ in DEMO_CONFIG}})


def test_the_candle_slices_load() -> None:
    candles = load_candles()
    assert set(candles) == {"BTCUSDT", "ETHUSDT"}
    assert all(len(rows) == 288 for rows in candles.values())


def test_strategy_intents_are_valid_and_some_are_meant_to_be_blocked() -> None:
    fleet = DemoFleet(FleetConfig(nats_url="nats://unused", exchange=FILTERS))
    gate = Gate(instance="demo-test")
    gate.set_policy(_demo_policy())
    gate.set_exchange(FILTERS)
    codes: list[str] = []
    outcomes: list[str] = []
    for _ in range(288):
        fleet.advance()
        for intent in fleet.think():
            raw = json.dumps(intent).encode()
            parse_intent(raw, now=time.time())  # the Nurse's own contract parser
            verdict = gate.decide_local(raw)
            outcomes.append(verdict.outcome)
            codes.extend(code for code, _ in verdict.reasons)
    assert len(outcomes) > 20
    assert "approved" in outcomes
    assert not [c for c in codes if c.startswith(("CONTRACT_", "EXCHANGE_"))], set(codes)
    assert "CONFIG_SIZE_ABOVE_MAX" in codes  # the oversized breakout entries


def test_the_engine_fills_in_the_format_the_nurse_understands() -> None:
    marks = {"BTCUSDT": 50_000.0}
    engine = StandInEngine(None, signal_subject="signals.trading.*", marks=marks)
    signal = {"strategy_id": "demo-momentum", "symbol": "BTCUSDT", "action": "buy",
              "quantity": 0.02, "current_price": 50_000.0, "price": 50_000.0,
              "decision_id": "d-open", "source": "petrosa-cio"}
    [fill] = engine.apply(signal)
    assert (fill["status"], fill["decision_id"], fill["position_side"]) == ("filled", "d-open",
                                                                           "LONG")
    parsed = _fill_from_event(fill)
    assert parsed is not None and parsed["decision_id"] == "d-open"
    assert parsed["notional_delta"] == pytest.approx(1000.0)
    assert engine.side_of("demo-momentum", "BTCUSDT") == "LONG"

    marks["BTCUSDT"] = 51_000.0
    assert engine.equity() == pytest.approx(10_000 + 20 - 1000 * 0.0004)
    [row] = engine.positions()
    assert row["notional"] == pytest.approx(1020.0) and row["quantity"] == pytest.approx(0.02)

    [close] = engine.apply({**signal, "action": "close", "current_price": 51_000.0,
                            "decision_id": "d-close"})
    assert close["reduce_only"] and close["side"] == "SELL"
    assert close["realized_pnl"] == pytest.approx(20 - 51_000 * 0.02 * 0.0004)
    parsed = _fill_from_event(close)
    assert parsed is not None and parsed["notional_delta"] == pytest.approx(-1020.0)
    assert engine.positions() == [] and engine.side_of("demo-momentum", "BTCUSDT") is None


def test_the_strategist_reads_the_engine_equity() -> None:
    portfolio = pytest.importorskip("strategist.portfolio")
    engine = StandInEngine(None, signal_subject="signals.trading.*", marks={"ETHUSDT": 3000.0})
    engine.apply({"strategy_id": "s", "symbol": "ETHUSDT", "action": "sell", "quantity": 1.0,
                  "current_price": 3000.0, "decision_id": "d", "source": "petrosa-cio"})
    snapshot = {"event_type": "positions_snapshot", "positions": engine.positions(),
                "equity": engine.equity()}
    observed = portfolio.PortfolioTracker().on_execution(snapshot)
    assert observed is not None and observed.equity == pytest.approx(engine.equity())


def test_live_klines_are_stamped_with_the_wall_clock() -> None:
    bar = LiveBar("BTCUSDT")
    t0 = 1_700_000_100_000
    first = bar.update(Candle(0, 10.0, 12.0, 9.0, 11.0, 1.0), t0)
    second = bar.update(Candle(1, 11.0, 15.0, 10.0, 14.0, 1.0), t0 + 1000)
    assert [e["k"]["x"] for e in first + second] == [False, False]
    assert second[0]["k"]["t"] == t0 - t0 % BAR_MS
    assert (second[0]["k"]["h"], second[0]["k"]["l"], second[0]["k"]["c"]) == ("15.0", "9.0",
                                                                               "14.0")
    rolled = bar.update(Candle(2, 14.0, 14.0, 13.0, 13.5, 1.0), t0 + BAR_MS)
    assert [e["k"]["x"] for e in rolled] == [True, False]
    assert rolled[1]["k"]["o"] == "14.0"


@pytest.mark.django_db(transaction=True)
def test_the_command_refuses_where_the_demo_is_not_allowed(settings: Any) -> None:
    settings.DASHBOARD_DEMO_FLEET_ALLOWED = False
    with pytest.raises(CommandError, match="demo machines only"):
        call_command("demo_fleet", "--duration", "0.1")


async def test_the_fleet_trades_through_a_real_gate(redis_client: Any, transactional_db: None
                                                    ) -> None:
    """demo_fleet -> NATS intents -> the Nurse -> signals -> stand-in engine -> fills and
    positions snapshots -> the Nurse's exposure ledger and equity."""
    ns = settings.CIO_NAMESPACE
    await sync_to_async(exchange_info_store)(info=json.loads(DEFAULT_EXCHANGE_INFO.read_text()))
    for scope, patch, reason in DEMO_CONFIG:
        await sync_to_async(services.config_patch)(scope=scope, patch=patch, base_version=0,
                                                   actor="test", actor_kind=ActorKind.SYSTEM,
                                                   reason=reason)
    intent_prefix = f"{ns}.demo.intent"
    runner = await start_nurse(intent_subjects=[f"{intent_prefix}.>"])
    try:
        await wait_for_version(runner, await sync_to_async(policy_version_current)())
        fleet = DemoFleet(FleetConfig(
            nats_url=settings.NATS_URL, intent_prefix=intent_prefix,
            signal_subject=f"{settings.NURSE_SIGNAL_PREFIX}.*",
            engine_queue=f"{ns}-engine-{uuid.uuid4().hex[:6]}", speed=25.0, rate=60.0,
            duration_s=6.0, market_data=False, snapshot_every_s=1.0, exchange=FILTERS,
            start_equity=25_000.0))
        stats = await fleet.run()
        assert fleet.engine is not None
        assert stats.intents > 10, stats
        assert runner.counters["approved"] > 0, runner.counters
        assert fleet.engine.counters["fills"] > 0, fleet.engine.counters
        # The snapshot's equity reached the gate (pct-sized intents are sized against it).
        assert runner.gate.equity is not None
        assert abs(runner.gate.equity - 25_000.0) < 2_500
        assert datetime.now(UTC)  # the run stamped everything with the present
    finally:
        await runner.stop()
