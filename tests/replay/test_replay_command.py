"""``manage.py replay``: the fixed interface, determinism, policies, input formats."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance import services
from governance.models import ActorKind
from governance.scopes import Scope
from nurse.replay.policy import policy_snapshot_as_of
from tests.replay.conftest import CANDLE_ARG, DATA, intent_line

pytestmark = pytest.mark.django_db

REQUIRED = {"approved", "blocked", "blocked_by_reason", "realized_pnl", "shadow_pnl_avoided",
            "shadow_pnl_foregone", "max_drawdown_gated", "max_drawdown_ungated",
            "ladder_events"}


def replay(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("replay", *args, "--json", stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_same_inputs_same_report(scenario_file: Path) -> None:
    first = io.StringIO()
    second = io.StringIO()
    args = ("--intents", str(scenario_file), "--candles", CANDLE_ARG, "--equity", "1500",
            "--json")
    call_command("replay", *args, stdout=first)
    call_command("replay", *args, stdout=second)
    assert first.getvalue() == second.getvalue()
    report = json.loads(first.getvalue())
    assert report.keys() >= REQUIRED


def test_crash_week_scenario_result(scenario_file: Path) -> None:
    """The documented scenario (docs/replay.md): a 1,500 USDT fleet through 16-23 May 2021."""
    r = replay("--intents", str(scenario_file), "--candles", CANDLE_ARG, "--equity", "1500")
    assert r["inputs"]["intents"] == 843
    assert (r["approved"], r["blocked"], r["rejected"]) == (581, 262, 0)
    assert r["blocked_by_reason"] == {
        "CONFIG_CONFIDENCE_LOW": 37, "CONFIG_SIZE_ABOVE_MAX": 15,
        "CONFIG_TAKE_PROFIT_MISSING": 10, "DUPLICATE_SIGNAL_ID": 12,
        "REGIME_SIZE_SCALED_DOWN": 10, "REGIME_VOLATILITY_EXTREME": 14, "STATE_REDUCING": 197}
    # The drawdown ladder stepped to REDUCING late on the crash day and stayed there.
    drawdown = [e for e in r["ladder_events"] if e["kind"] == "drawdown"]
    assert drawdown == [{
        "at": "2021-05-19T23:15:00Z", "kind": "drawdown", "state": "REDUCING",
        "from": "ACTIVE", "drawdown": 0.151562, "equity": 1424.61, "peak": 1679.1,
        "threshold": 0.15}]
    # The strategist's regime saw the crash: BTC went extreme at 12:55 (-15 % in an hour).
    regime = [e for e in r["ladder_events"] if e["kind"] == "regime"]
    assert {"at": "2021-05-19T12:55:00Z", "kind": "regime", "symbol": "BTCUSDT",
            "volatility_phase": "extreme", "from": "high", "vol_ratio": 2.803039,
            "move_1h": -0.151583} in regime
    assert r["max_drawdown_gated"] < 0.16 < 0.4 < r["max_drawdown_ungated"]
    assert (r["final_equity_gated"], r["final_equity_ungated"]) == (1424.61, 951.92)
    assert (r["shadow_pnl_avoided"], r["shadow_pnl_foregone"]) == (1746.76, 1274.07)
    assert r["shadow_pnl"] == pytest.approx(
        r["shadow_pnl_foregone"] - r["shadow_pnl_avoided"], abs=0.011)
    assert r["exposure"]["series"][0][0] == "2021-05-16T00:00:00Z"
    assert all(v["marked"] + v["unmarked"] == r["shadow_positions"]
               for v in r["shadow_by_horizon"].values())


def test_without_the_regime_no_regime_blocks(scenario_file: Path) -> None:
    r = replay("--intents", str(scenario_file), "--candles", CANDLE_ARG, "--no-regime")
    assert not any(code.startswith("REGIME_") for code in r["blocked_by_reason"])
    assert [e for e in r["ladder_events"] if e["kind"] == "regime"] == []
    assert r["ladder"]["regime"] == "off"


def test_without_the_ladder_nothing_is_reduced(scenario_file: Path) -> None:
    r = replay("--intents", str(scenario_file), "--candles", CANDLE_ARG, "--equity", "1500",
               "--no-ladder")
    assert "STATE_REDUCING" not in r["blocked_by_reason"]
    assert [e for e in r["ladder_events"] if e["kind"] == "drawdown"] == []


def test_policy_patch_and_version(scenario_file: Path, tmp_path: Path) -> None:
    base = replay("--intents", str(scenario_file), "--candles", CANDLE_ARG)
    assert base["blocked_by_reason"]["CONFIG_SIZE_ABOVE_MAX"] == 15
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps([
        {"scope": "global", "patch": {"max_position_size_usd": 1500.0}},
        {"scope": "symbol:ETHUSDT", "patch": {"max_symbol_exposure_usd": 700.0}}]))
    patched = replay("--intents", str(scenario_file), "--candles", CANDLE_ARG,
                     "--policy-patch", str(patch))
    assert "CONFIG_SIZE_ABOVE_MAX" not in patched["blocked_by_reason"]
    assert patched["blocked_by_reason"]["EXPOSURE_SYMBOL_LIMIT"] > 0
    assert patched["inputs"]["policy"]["source"] == "patch"
    # The same change made for real: version N replays as the patch did, N-1 as before.
    v1 = services.config_patch(scope=Scope.global_(), patch={"max_position_size_usd": 1500.0},
                               base_version=0, actor="t", actor_kind=ActorKind.USER,
                               reason="test").policy_version
    v2 = services.config_patch(scope=Scope.symbol("ETHUSDT"),
                               patch={"max_symbol_exposure_usd": 700.0}, base_version=0,
                               actor="t", actor_kind=ActorKind.USER, reason="test"
                               ).policy_version
    services.config_patch(scope=Scope.global_(), patch={"max_position_size_usd": 100.0},
                          base_version=1, actor="t", actor_kind=ActorKind.USER, reason="test")
    as_v2 = replay("--intents", str(scenario_file), "--candles", CANDLE_ARG,
                   "--policy-version", str(v2))
    assert as_v2["blocked_by_reason"] == patched["blocked_by_reason"]
    assert as_v2["approved"] == patched["approved"]
    before = policy_snapshot_as_of(v1 - 1)
    assert before["scopes"] == {}
    assert policy_snapshot_as_of(v1)["scopes"] == {"global": {"max_position_size_usd": 1500.0}}
    active = replay("--intents", str(scenario_file), "--candles", CANDLE_ARG)
    assert active["blocked_by_reason"]["CONFIG_SIZE_ABOVE_MAX"] > 100


def test_version_reconstructs_states_and_hard_gates(tmp_path: Path) -> None:
    services.trading_state_set(scope=Scope.global_(), state="HALTED", actor="t",
                               actor_kind=ActorKind.USER, reason="drill")
    halted_at = policy_snapshot_as_of(1)
    assert halted_at["states"]["global"]["state"] == "HALTED"
    services.hard_gate_set(key="max_order_notional_usd", value=5000.0, actor="root",
                           reason="test", is_superuser=True, mfa_verified=True)
    assert policy_snapshot_as_of(1)["hard_gates"]["max_order_notional_usd"] == 25_000.0
    assert policy_snapshot_as_of(2)["hard_gates"]["max_order_notional_usd"] == 5000.0
    with pytest.raises(CommandError, match="POLICY_VERSION_NOT_FOUND"):
        call_command("replay", "--intents", str(DATA / "freqtrade_derived_intents_head.csv"),
                     "--candles", CANDLE_ARG, "--policy-version", "99", stdout=io.StringIO())


def test_invalid_patch_is_refused_with_its_code(scenario_file: Path, tmp_path: Path) -> None:
    patch = tmp_path / "bad.json"
    patch.write_text(json.dumps({"scope": "global", "patch": {"leverage": 500}}))
    with pytest.raises(CommandError, match=r"CONFIG_INVALID|HARD_GATE"):
        call_command("replay", "--intents", str(scenario_file), "--candles", CANDLE_ARG,
                     "--policy-patch", str(patch), stdout=io.StringIO())


def test_freqtrade_csv_layout(tmp_path: Path) -> None:
    csv_path = DATA / "freqtrade_derived_intents_head.csv"
    r = replay("--intents", str(csv_path), "--candles", CANDLE_ARG)
    assert r["inputs"]["intents"] == 40
    # BTC-quoted alts: unknown to the shipped USD-M filters, and freqtrade sends no
    # take-profit; closes reduce nothing and pass.
    assert r["blocked_by_reason"]["EXCHANGE_UNKNOWN_SYMBOL"] == r["decisions_by_action"][
        "buy"]["blocked"]
    assert r["blocked_by_reason"]["CONFIG_TAKE_PROFIT_MISSING"] > 0
    assert r["decisions_by_action"]["close"] == {"approved": 19}
    # No candles for these pairs: the blocked entries are counted, never priced.
    assert r["shadow_positions"] == 0
    assert r["shadow_unpriced"] == r["decisions_by_action"]["buy"]["blocked"]
    info = tmp_path / "alts.json"
    info.write_text(json.dumps({"symbols": [
        {"symbol": s, "status": "TRADING", "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": "0.00000001"},
            {"filterType": "LOT_SIZE", "stepSize": "0.00000001", "minQty": "0.00000001",
             "maxQty": "100000000"}]}
        for s in ("TRXBTC", "ADABTC", "XLMBTC", "ETHBTC", "XMRBTC", "ZECBTC", "NXTBTC",
                  "LTCBTC", "ETCBTC", "DASHBTC")]}))
    with_info = replay("--intents", str(csv_path), "--candles", CANDLE_ARG,
                       "--exchange-info", str(info))
    assert "EXCHANGE_UNKNOWN_SYMBOL" not in with_info["blocked_by_reason"]


def test_jsonl_with_contract_errors(tmp_path: Path) -> None:
    lines = [
        intent_line(ts="2021-05-19T12:00:00Z", strategy_id="s1", symbol="BTCUSDT",
                    action="buy", confidence=0.9, price=38700.0, quantity=0.02,
                    stop_loss=38000.0, take_profit=40000.0, signal_id="a"),
        intent_line(ts=1621425660, strategy_id="s1", symbol="BTCUSDT", action="buy",
                    confidence=0.9, price=38700.0, quantity=-1),
        intent_line(ts=1621425720000, strategy_id="s1", symbol="BTCUSDT", action="close",
                    confidence=0.9, price=39000.0, quantity=0.02),
    ]
    path = tmp_path / "i.jsonl"
    path.write_text("\n".join(lines) + "\n")
    r = replay("--intents", str(path), "--candles", CANDLE_ARG)
    assert (r["approved"], r["blocked"], r["rejected"]) == (2, 1, 1)
    assert list(r["blocked_by_reason"]) == ["CONTRACT_NON_POSITIVE_QUANTITY"]
    # The close at 12:02 fills at the 12:05 open 39063.2; entry was the 12:00 open 38700.0.
    assert r["exits"] == {"gated:close_intent": 1}
    assert r["realized_pnl"] == pytest.approx(
        0.02 * (39063.2 * 0.9998 - 38700.0 * 1.0002)
        - 0.0004 * 0.02 * (38700.0 * 1.0002 + 39063.2 * 0.9998), abs=0.006)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"no_ts": 1}\n')
    with pytest.raises(CommandError, match="REPLAY_INPUT_INVALID"):
        call_command("replay", "--intents", str(bad), "--candles", CANDLE_ARG,
                     stdout=io.StringIO())


def test_text_summary_and_out_file(scenario_file: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    target = tmp_path / "report.json"
    call_command("replay", "--intents", str(scenario_file), "--candles", CANDLE_ARG,
                 "--equity", "1500", "--out", str(target), stdout=out)
    text = out.getvalue()
    assert "approved 581  blocked 262" in text
    assert "2021-05-19T23:15:00Z REDUCING" in text
    assert "59 volatility phase changes" in text
    assert json.loads(target.read_text())["approved"] == 581


def test_make_scenario_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    call_command("replay", "--make-scenario", str(a), "--candles", CANDLE_ARG,
                 stdout=io.StringIO())
    call_command("replay", "--make-scenario", str(b), "--candles", CANDLE_ARG,
                 stdout=io.StringIO())
    assert a.read_bytes() == b.read_bytes()
    assert len(a.read_text().splitlines()) == 843


def test_recorded_decisions_replay_like_the_file(scenario_file: Path) -> None:
    """Decisions stored by the audit sink (here: the gate's own decision bodies) replay from
    the database as the intents they carry."""
    from nurse.gate import Gate
    from nurse.policy import CompiledPolicy
    from nurse.replay.intents import load_jsonl
    from nurse.replay.policy import policy_snapshot_for
    from nurse.services import decision_records_store

    gate = Gate(instance="recorder", budget_ms=1e9)
    gate.policy = CompiledPolicy.from_snapshot(policy_snapshot_for())
    items = load_jsonl(scenario_file)[:200]
    bodies = [json.loads(gate.decide_local(i.raw, received=i.ts).decision_body) for i in items]
    assert decision_records_store(decisions=bodies) == 200
    from_db = replay("--intents", "db:2021-05-16T00:00:00Z..2021-05-30T00:00:00Z",
                     "--candles", CANDLE_ARG)
    subset = Path(str(scenario_file) + ".head")
    subset.write_bytes(b"\n".join(i.raw for i in items) + b"\n")
    from_file = replay("--intents", str(subset), "--candles", CANDLE_ARG)
    assert from_db["inputs"]["intents"] == 200
    for key in ("approved", "blocked", "blocked_by_reason", "realized_pnl",
                "shadow_pnl_avoided", "shadow_pnl_foregone"):
        assert from_db[key] == from_file[key], key
