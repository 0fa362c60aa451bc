"""nuclear_option against the loopback Binance USD-M futures simulator (real HTTP, no mocks)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any, ClassVar

import pytest

from tests.canary.binance_sim import BinanceFuturesSim, SymbolSpec, iter_orders
from tests.canary.conftest import (
    NUCLEAR_SCRIPT,
    NatsPeer,
    base_env,
    nuclear_env,
    run_nuclear,
    run_script,
    wait_for,
)

EXECUTE = ["--execute", "--confirm", "CLOSE-ALL"]


# -- dry run ----------------------------------------------------------------------------------


def test_dry_run_is_default_prints_plan_and_sends_no_mutating_request(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.set_position("ETHUSDT", "-1.500")
    sim.add_open_order("BTCUSDT")
    sim.add_algo_order("ETHUSDT")

    result = run_script(NUCLEAR_SCRIPT, ["--hibernate"], nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert sim.mutating_requests() == []
    assert result.report["status"] == "dry_run"
    plan = result.report["plan"]
    assert plan["position_mode"] == "one-way"
    assert {c["symbol"]: (c["open_orders"], c["open_algo_orders"]) for c in plan["cancel"]} == {
        "BTCUSDT": (1, 0),
        "ETHUSDT": (0, 1),
    }
    closes = {c["symbol"]: c for c in plan["close"]}
    assert closes["BTCUSDT"]["side"] == "SELL"
    assert closes["BTCUSDT"]["orders"] == ["0.009"]
    assert closes["ETHUSDT"]["side"] == "BUY"
    assert Decimal(closes["ETHUSDT"]["notional"]) == Decimal("1.5") * Decimal("3250.10")
    assert Decimal(plan["total_notional"]) == Decimal("0.009") * Decimal(
        "67502.68519858"
    ) + Decimal("1.5") * Decimal("3250.10")
    assert not (tmp_path / "canary-hibernate.json").exists()
    assert "close BTCUSDT BOTH amt 0.009" in result.stderr
    assert sim.position_amount("BTCUSDT") == Decimal("0.009")


def test_execute_without_confirm_phrase_is_a_config_error(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    for argv in (["--execute"], ["--execute", "--confirm", "close-all"]):
        result = run_nuclear(argv, nuclear_env(sim, tmp_path))
        assert result.code == 2
        assert result.report["error"]["kind"] == "config"
    assert sim.requests == []


# -- one-way and hedge mode -------------------------------------------------------------------


def test_one_way_long_and_short_closed_with_reduce_only_market_orders(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.set_position("ETHUSDT", "-2.345")

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert result.report["status"] == "flat"
    assert result.report["final"]["flat"] is True
    orders = {p["symbol"]: p for p in iter_orders(sim)}
    assert orders["BTCUSDT"]["side"] == "SELL"
    assert orders["ETHUSDT"]["side"] == "BUY"
    for params in orders.values():
        assert params["type"] == "MARKET"
        assert params["reduceOnly"] == "true"
        assert "positionSide" not in params
        assert params["newClientOrderId"].startswith("canary-")
    assert orders["ETHUSDT"]["quantity"] == "2.345"
    assert sim.is_flat()


def test_hedge_mode_names_position_side_and_never_sends_reduce_only(
    hedge_sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim = hedge_sim
    sim.set_position("BTCUSDT", "0.020", position_side="LONG")
    sim.set_position("BTCUSDT", "-0.010", position_side="SHORT")
    sim.set_position("ETHUSDT", "-3", position_side="SHORT")

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert result.report["plan"]["position_mode"] == "hedge"
    sent = sorted(
        (p["symbol"], p["positionSide"], p["side"], p["quantity"]) for p in iter_orders(sim)
    )
    assert sent == [
        ("BTCUSDT", "LONG", "SELL", "0.020"),
        ("BTCUSDT", "SHORT", "BUY", "0.010"),
        ("ETHUSDT", "SHORT", "BUY", "3.000"),
    ]
    assert all("reduceOnly" not in p for p in iter_orders(sim))
    assert sim.is_flat()


# -- lot rules --------------------------------------------------------------------------------


def test_dust_below_min_qty_is_reported_not_traded(sim: BinanceFuturesSim, tmp_path: Path) -> None:
    sim.symbols["ETHUSDT"].min_qty = Decimal("0.01")
    sim.set_position("ETHUSDT", "0.004")
    sim.set_position("BTCUSDT", "0.003")

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert [p["symbol"] for p in iter_orders(sim)] == ["BTCUSDT"]
    assert result.report["final"]["dust"] == [
        {"symbol": "ETHUSDT", "position_side": "BOTH", "position_amt": "0.004"}
    ]
    assert sim.position_amount("ETHUSDT") == Decimal("0.004")
    assert "dust" in result.stderr


def test_quantity_above_market_max_is_split_and_rounded_down_to_step(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.symbols["BTCUSDT"].market_max_qty = Decimal("10")
    sim.set_position("BTCUSDT", "-25.5")

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert [(p["side"], p["quantity"]) for p in iter_orders(sim)] == [
        ("BUY", "10.000"),
        ("BUY", "10.000"),
        ("BUY", "5.500"),
    ]
    assert sim.is_flat()


# -- rejections, partial fills, rounds --------------------------------------------------------


def test_order_rejected_once_is_retried_in_the_next_round(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.inject("reduce_only_reject", times=1)

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    rounds = result.report["rounds"]
    assert len(rounds) == 2
    assert rounds[0]["orders"][0]["status"] == "REJECTED"
    assert rounds[0]["orders"][0]["code"] == -2022
    assert rounds[1]["orders"][0]["status"] == "FILLED"
    assert sim.is_flat()


def test_order_always_rejected_exits_3_exchange_refused(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.inject("reduce_only_reject", times=100)

    result = run_nuclear([*EXECUTE, "--max-rounds", "3"], nuclear_env(sim, tmp_path))

    assert result.code == 3
    assert result.report["status"] == "refused"
    assert len(result.report["rounds"]) == 3
    assert result.report["final"]["flat"] is False
    assert sim.position_amount("BTCUSDT") == Decimal("0.009")


def test_one_symbol_refused_other_closed_exits_1_partial(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.set_position("ETHUSDT", "1")
    sim.inject("reduce_only_reject", times=100, symbol="BTCUSDT")

    result = run_nuclear([*EXECUTE, "--max-rounds", "2"], nuclear_env(sim, tmp_path))

    assert result.code == 1
    assert result.report["status"] == "partial"
    assert sim.position_amount("ETHUSDT") == 0
    assert sim.position_amount("BTCUSDT") == Decimal("0.009")
    remaining = result.report["final"]["remaining"]
    assert [r["symbol"] for r in remaining] == ["BTCUSDT"]


def test_partial_fills_are_finished_in_later_rounds(sim: BinanceFuturesSim, tmp_path: Path) -> None:
    sim.set_position("ETHUSDT", "4")
    sim.inject("partial_fill", times=2, ratio="0.5")

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert [p["quantity"] for p in iter_orders(sim)] == ["4.000", "2.000", "1.000"]
    assert [r["orders"][0]["status"] for r in result.report["rounds"]] == [
        "EXPIRED",
        "EXPIRED",
        "FILLED",
    ]
    assert sim.is_flat()


def test_partial_fill_with_rounds_exhausted_exits_1(sim: BinanceFuturesSim, tmp_path: Path) -> None:
    sim.set_position("ETHUSDT", "4")
    sim.inject("partial_fill", times=5, ratio="0.5")

    result = run_nuclear([*EXECUTE, "--max-rounds", "1"], nuclear_env(sim, tmp_path))

    assert result.code == 1
    assert sim.position_amount("ETHUSDT") == Decimal("2.000")


def test_open_and_algo_orders_cancelled_per_symbol_before_closing(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.add_open_order("BTCUSDT", side="SELL", reduce_only=True)
    sim.add_open_order("ETHUSDT", side="BUY")
    sim.add_algo_order("ETHUSDT")

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    mutating = [(r.method, r.path, r.params.get("symbol")) for r in sim.mutating_requests()]
    assert mutating == [
        ("DELETE", "/fapi/v1/allOpenOrders", "BTCUSDT"),
        ("DELETE", "/fapi/v1/allOpenOrders", "ETHUSDT"),
        ("DELETE", "/fapi/v1/algoOpenOrders", "ETHUSDT"),
        ("POST", "/fapi/v1/order", "BTCUSDT"),
    ]
    assert sim.is_flat()


def test_symbols_option_restricts_scope(sim: BinanceFuturesSim, tmp_path: Path) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.set_position("ETHUSDT", "1")
    sim.add_open_order("ETHUSDT")

    result = run_nuclear([*EXECUTE, "--symbols", "btcusdt"], nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert result.report["scope"] == ["BTCUSDT"]
    assert sim.position_amount("BTCUSDT") == 0
    assert sim.position_amount("ETHUSDT") == 1
    assert len(sim.open_orders) == 1
    assert {r.params.get("symbol") for r in sim.mutating_requests()} == {"BTCUSDT"}


def test_outcome_unknown_order_is_not_resent_blindly_and_verified(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    # The venue applies the order but the answer is a 503: execution status unknown.
    sim.inject("apply_then_503", times=1, path="/fapi/v1/order")

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert len(sim.order_requests()) == 1
    assert result.report["rounds"][0]["orders"][0]["status"] == "UNKNOWN"
    assert sim.is_flat()


# -- transport: time sync, rate limits, retries -----------------------------------------------


def test_server_clock_skew_and_one_timestamp_error_are_handled(tmp_path: Path) -> None:
    with BinanceFuturesSim(clock_skew_ms=-4000) as sim:
        sim.set_position("BTCUSDT", "0.009")
        sim.inject("timestamp", times=1, path="/fapi/v1/positionSide/dual")
        result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert any(e["event"] == "time_resync" for e in result.report["events"])
    rejected = [r for r in sim.requests if r.code == -1021]
    assert len(rejected) == 1


def test_without_time_sync_the_simulator_rejects_a_skewed_client(tmp_path: Path) -> None:
    # Guards the previous test: the skew is large enough to matter.
    import hashlib
    import hmac
    import urllib.request

    with BinanceFuturesSim(clock_skew_ms=-4000) as sim:
        query = f"timestamp={int(time.time() * 1000)}&recvWindow=5000"
        sig = hmac.new(sim.api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        url = f"{sim.base_url}/fapi/v1/positionSide/dual?{query}&signature={sig}"
        req = urllib.request.Request(url, headers={"X-MBX-APIKEY": sim.api_key})  # noqa: S310
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)  # noqa: S310 - loopback URL
        assert json.loads(info.value.read())["code"] == -1021


def test_request_weight_budget_and_429_retry_after_are_respected(tmp_path: Path) -> None:
    # 100 weight per 2-second window: the initial reads alone (1+1+30+5+40+40) exceed it.
    with BinanceFuturesSim(weight_limit=100, weight_interval=("SECOND", 2)) as sim:
        sim.set_position("BTCUSDT", "0.009")
        sim.set_position("ETHUSDT", "-1")
        sim.inject("rate_limit", times=1, path="/fapi/v1/order", retry_after=1)
        started = time.monotonic()
        result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))
        elapsed = time.monotonic() - started

    assert result.code == 0, result.stderr
    events = [e["event"] for e in result.report["events"]]
    assert "weight_wait" in events
    assert "rate_limit_wait" in events
    assert elapsed >= 1.0
    assert sim.bans == 0, "client called again during Retry-After"
    assert sim.is_flat()


def test_ban_longer_than_max_wait_gives_up_with_exit_3(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.inject("ban", times=1, path="/fapi/v1/exchangeInfo", retry_after=3600)

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 3
    assert "IP banned" in result.report["error"]["message"]
    assert sim.mutating_requests() == []


def test_5xx_and_dropped_connections_on_reads_are_retried(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    sim.inject("server_error", times=2, path="/fapi/v3/positionRisk")
    sim.inject("drop", times=1, path="/fapi/v1/openOrders")

    result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    retries = [e for e in result.report["events"] if e["event"] == "retry"]
    assert len(retries) == 3
    assert sim.is_flat()


def test_unreachable_exchange_exits_3(tmp_path: Path) -> None:
    with BinanceFuturesSim() as sim:
        env = nuclear_env(sim, tmp_path, CANARY_MAX_RETRIES="2")
    result = run_nuclear(EXECUTE, env)  # the simulator is stopped: connection refused

    assert result.code == 3
    assert "giving up after 3 attempts" in result.report["error"]["message"]


def test_position_risk_v2_fallback_when_v3_is_absent(tmp_path: Path) -> None:
    with BinanceFuturesSim(v3_position_risk=False, algo_service=False) as sim:
        sim.set_position("ETHUSDT", "-0.5")
        result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert any(r.path == "/fapi/v2/positionRisk" for r in sim.requests)
    assert {"event": "algo_orders_unavailable"} in result.report["events"]
    assert sim.position_amount("ETHUSDT") == 0


# -- keys and configuration -------------------------------------------------------------------


def test_missing_keys_exit_2_before_any_request(sim: BinanceFuturesSim, tmp_path: Path) -> None:
    env = nuclear_env(sim, tmp_path)
    del env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"]

    result = run_script(NUCLEAR_SCRIPT, EXECUTE, env)

    assert result.code == 2
    assert "BINANCE_API_KEY" in result.report["error"]["message"]
    assert sim.requests == []


def test_keys_from_files_work(sim: BinanceFuturesSim, tmp_path: Path) -> None:
    sim.set_position("BTCUSDT", "0.009")
    (tmp_path / "key").write_text(sim.api_key + "\n")
    (tmp_path / "secret").write_text(sim.api_secret + "\n")
    env = nuclear_env(sim, tmp_path)
    del env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"]
    env.update(
        BINANCE_API_KEY_FILE=str(tmp_path / "key"),
        BINANCE_API_SECRET_FILE=str(tmp_path / "secret"),
    )

    result = run_nuclear(EXECUTE, env)

    assert result.code == 0, result.stderr
    assert sim.is_flat()


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [("wrong-key", None, -2015), (None, "wrong-secret", -1022)],
)
def test_wrong_keys_exit_2_and_nothing_is_mutated(
    sim: BinanceFuturesSim, tmp_path: Path, key: str | None, secret: str | None, code: int
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    env = nuclear_env(sim, tmp_path)
    env["BINANCE_API_KEY"] = key or sim.api_key
    env["BINANCE_API_SECRET"] = secret or sim.api_secret

    result = run_nuclear(EXECUTE, env)

    assert result.code == 2
    assert result.report["error"]["kind"] == "auth"
    assert str(code) in result.report["error"]["message"]
    assert sim.mutating_requests() == []
    assert sim.position_amount("BTCUSDT") == Decimal("0.009")


def test_secrets_never_appear_in_output_marker_or_state(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    env = nuclear_env(sim, tmp_path)

    result = run_script(
        NUCLEAR_SCRIPT, [*EXECUTE, "--hibernate", "--if-drawdown-above", "0.0001"], env
    )
    # First run stores the peak; lose money, then the trigger fires.
    sim.wallet_balance -= 100
    result = run_script(
        NUCLEAR_SCRIPT, [*EXECUTE, "--hibernate", "--if-drawdown-above", "0.0001"], env
    )

    assert result.code == 0, result.stderr
    files = [tmp_path / "canary-hibernate.json", tmp_path / "canary-state.json"]
    assert all(f.exists() for f in files)
    for blob in [result.stdout, result.stderr, *(f.read_text() for f in files)]:
        assert sim.api_key not in blob
        assert sim.api_secret not in blob
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "canary-hibernate.json",
        "canary-state.json",
    ]


class _Sniffer(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def _any(self) -> None:
        _Sniffer.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"serverTime": 1}')

    do_GET = do_POST = do_DELETE = _any

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_redirect_is_refused_and_keys_never_reach_another_host(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sniffer = ThreadingHTTPServer(("127.0.0.1", 0), _Sniffer)
    Thread(target=lambda: sniffer.serve_forever(poll_interval=0.05), daemon=True).start()
    _Sniffer.seen = []
    try:
        sim.redirect_to = f"http://127.0.0.1:{sniffer.server_address[1]}"
        result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))
    finally:
        sniffer.shutdown()
        sniffer.server_close()

    assert result.code == 2
    assert "redirect refused" in result.report["error"]["message"]
    assert _Sniffer.seen == []


@pytest.mark.parametrize(
    "url",
    ["http://fapi.binance.com", "ftp://127.0.0.1/", "https://user:pw@fapi.binance.com"],
)
def test_unsafe_base_url_is_refused(tmp_path: Path, url: str) -> None:
    env = base_env()
    env.update(BINANCE_FUTURES_BASE_URL=url, BINANCE_API_KEY="k", BINANCE_API_SECRET="s")

    result = run_nuclear([], env)

    assert result.code == 2
    assert result.report["error"]["kind"] == "config"


# -- hibernate and drawdown trigger -----------------------------------------------------------


def test_hibernate_writes_marker_and_publishes_fleet_halt(
    sim: BinanceFuturesSim, tmp_path: Path, nats_url: str, nats_peer: NatsPeer
) -> None:
    received = nats_peer.collect("cio.fleet.halt")
    sim.set_position("BTCUSDT", "0.009")
    env = nuclear_env(sim, tmp_path, CANARY_NATS_URL=nats_url)

    result = run_script(NUCLEAR_SCRIPT, [*EXECUTE, "--hibernate", "--reason", "test drill"], env)

    assert result.code == 0, result.stderr
    assert result.report["hibernate"]["nats"] == "published"
    assert wait_for(lambda: len(received) == 1)
    message = json.loads(received[0])
    assert set(message) == {"source", "action", "reason", "timestamp"}
    assert message["source"] == "canary"
    assert message["action"] == "halt"
    assert message["reason"] == "test drill"
    marker = json.loads((tmp_path / "canary-hibernate.json").read_text())
    assert marker["action"] == "halt"
    assert marker["status"] == "flat"
    assert marker["exit_code"] == 0


def test_hibernate_without_nats_still_closes_and_writes_marker(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")

    result = run_nuclear([*EXECUTE, "--hibernate"], nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert result.report["hibernate"]["nats"].startswith("not published")
    assert (tmp_path / "canary-hibernate.json").exists()
    assert sim.is_flat()


def test_drawdown_trigger_tracks_peak_and_acts_only_above_threshold(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    env = nuclear_env(sim, tmp_path)
    argv = [*EXECUTE, "--if-drawdown-above", "0.20"]
    state_file = tmp_path / "canary-state.json"

    first = run_nuclear(argv, env)
    assert first.code == 0
    assert first.report["status"] == "not_triggered"
    peak = Decimal(json.loads(state_file.read_text())["peak_equity"])
    assert peak == Decimal(sim.account()["totalMarginBalance"])

    sim.wallet_balance += 1000  # new high: the peak follows
    assert run_nuclear(argv, env).report["drawdown"]["new_peak"] is True
    peak = Decimal(json.loads(state_file.read_text())["peak_equity"])

    sim.wallet_balance -= peak * Decimal("0.15")  # 15 % down: below the threshold
    below = run_nuclear(argv, env)
    assert below.report["status"] == "not_triggered"
    assert sim.mutating_requests() == []
    assert Decimal(json.loads(state_file.read_text())["peak_equity"]) == peak

    sim.wallet_balance -= peak * Decimal("0.10")  # 25 % down: act
    above = run_nuclear(argv, env)
    assert above.code == 0, above.stderr
    assert above.report["drawdown"]["triggered"] is True
    assert above.report["status"] == "flat"
    assert sim.is_flat()


def test_drawdown_trigger_in_dry_run_only_prints_plan(
    sim: BinanceFuturesSim, tmp_path: Path
) -> None:
    sim.set_position("BTCUSDT", "0.009")
    (tmp_path / "canary-state.json").write_text(json.dumps({"peak_equity": "100000"}))

    result = run_nuclear(["--if-drawdown-above", "0.5"], nuclear_env(sim, tmp_path))

    assert result.code == 0
    assert result.report["drawdown"]["triggered"] is True
    assert result.report["status"] == "dry_run"
    assert sim.mutating_requests() == []


def test_lot_filters_come_from_exchange_info(tmp_path: Path) -> None:
    # A custom symbol set proves the client reads filters from exchangeInfo, not constants.
    symbols = {
        "XRPUSDT": SymbolSpec(
            "XRPUSDT",
            Decimal("0.5"),
            step=Decimal("1"),
            min_qty=Decimal("1"),
            market_max_qty=Decimal("1000"),
        )
    }
    with BinanceFuturesSim(symbols=symbols) as sim:
        sim.set_position("XRPUSDT", "2500.7")
        result = run_nuclear(EXECUTE, nuclear_env(sim, tmp_path))

    assert result.code == 0, result.stderr
    assert [p["quantity"] for p in iter_orders(sim)] == ["1000", "1000", "500"]
    assert result.report["final"]["dust"][0]["position_amt"] == "0.7"


def test_reset_peak_rearms_the_drawdown_trigger(sim: BinanceFuturesSim, tmp_path: Path) -> None:
    sim.set_position("BTCUSDT", "0.009")
    state_file = tmp_path / "canary-state.json"
    state_file.write_text(json.dumps({"peak_equity": "100000"}))
    env = nuclear_env(sim, tmp_path)

    reset = run_nuclear(["--reset-peak"], env)
    after = run_nuclear([*EXECUTE, "--if-drawdown-above", "0.2"], env)

    assert reset.code == 0
    assert reset.report["status"] == "peak_reset"
    assert Decimal(json.loads(state_file.read_text())["peak_equity"]) == Decimal("10000")
    assert after.report["status"] == "not_triggered"
    assert sim.mutating_requests() == []
