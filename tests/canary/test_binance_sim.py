"""The simulator itself enforces the venue's rules, so the canary tests can actually fail."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

from tests.canary.binance_sim import BinanceFuturesSim


def call(
    sim: BinanceFuturesSim,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    *,
    secret: str | None = None,
    timestamp_ms: int | None = None,
) -> tuple[int, Any]:
    """A deliberately independent, minimal signed client."""
    items = dict(params or {})
    items["timestamp"] = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    query = urllib.parse.urlencode(items)
    key = (secret or sim.api_secret).encode()
    query += "&signature=" + hmac.new(key, query.encode(), hashlib.sha256).hexdigest()
    url = f"{sim.base_url}{path}"
    data = None
    if method == "POST":
        data = query.encode()
    else:
        url += "?" + query
    req = urllib.request.Request(  # noqa: S310 - loopback URL
        url, data=data, method=method, headers={"X-MBX-APIKEY": sim.api_key}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback URL
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_signature_secret_and_recv_window_are_verified(sim: BinanceFuturesSim) -> None:
    assert call(sim, "GET", "/fapi/v1/positionSide/dual")[0] == 200
    assert call(sim, "GET", "/fapi/v1/positionSide/dual", secret="nope")[1]["code"] == -1022
    stale = int(time.time() * 1000) - 10_000
    assert call(sim, "GET", "/fapi/v1/positionSide/dual", timestamp_ms=stale)[1]["code"] == -1021
    future = int(time.time() * 1000) + 5_000
    assert call(sim, "GET", "/fapi/v1/positionSide/dual", timestamp_ms=future)[1]["code"] == -1021
    too_wide = {"recvWindow": "70000"}
    assert call(sim, "GET", "/fapi/v1/positionSide/dual", too_wide)[1]["code"] == -1131


def test_one_way_reduce_only_cannot_increase_or_flip(sim: BinanceFuturesSim) -> None:
    sim.set_position("BTCUSDT", "0.010")
    base = {"symbol": "BTCUSDT", "type": "MARKET", "reduceOnly": "true"}

    increase = call(sim, "POST", "/fapi/v1/order", {**base, "side": "BUY", "quantity": "0.001"})
    flip = call(sim, "POST", "/fapi/v1/order", {**base, "side": "SELL", "quantity": "0.011"})
    ok = call(sim, "POST", "/fapi/v1/order", {**base, "side": "SELL", "quantity": "0.004"})

    assert increase[1]["code"] == -2022
    assert flip[1]["code"] == -2022
    assert ok[0] == 200
    assert ok[1]["status"] == "FILLED"
    assert sim.position_amount("BTCUSDT") == Decimal("0.006")


def test_lot_step_min_and_max_quantity_are_enforced(sim: BinanceFuturesSim) -> None:
    sim.symbols["BTCUSDT"].market_max_qty = Decimal(5)
    sim.set_position("BTCUSDT", "-10")
    base = {"symbol": "BTCUSDT", "type": "MARKET", "side": "BUY", "reduceOnly": "true"}

    codes = [
        call(sim, "POST", "/fapi/v1/order", {**base, "quantity": q})[1].get("code")
        for q in ("0.0015", "0.0001", "6")
    ]

    assert codes == [-1111, -1111, -4005]


def test_hedge_mode_refuses_reduce_only_and_over_closing() -> None:
    with BinanceFuturesSim(hedge_mode=True) as sim:
        sim.set_position("ETHUSDT", "1", position_side="LONG")
        base = {"symbol": "ETHUSDT", "type": "MARKET", "side": "SELL", "quantity": "0.5"}

        with_reduce_only = call(sim, "POST", "/fapi/v1/order", {**base, "reduceOnly": "true"})
        no_side = call(sim, "POST", "/fapi/v1/order", base)
        too_much = call(
            sim, "POST", "/fapi/v1/order", {**base, "positionSide": "LONG", "quantity": "2"}
        )
        ok = call(sim, "POST", "/fapi/v1/order", {**base, "positionSide": "LONG"})

    assert with_reduce_only[1]["code"] == -1106
    assert no_side[1]["code"] == -4061
    assert too_much[1]["code"] == -2022
    assert ok[0] == 200
    assert sim.position_amount("ETHUSDT", "LONG") == Decimal("0.5")


def test_exchange_info_and_positions_keep_the_recorded_shapes(sim: BinanceFuturesSim) -> None:
    sim.set_position("BTCUSDT", "0.009")
    with urllib.request.urlopen(f"{sim.base_url}/fapi/v1/exchangeInfo", timeout=5) as resp:  # noqa: S310
        info = json.loads(resp.read())
        used = resp.headers["X-MBX-USED-WEIGHT-1M"]
    status, rows = call(sim, "GET", "/fapi/v3/positionRisk")

    filters = {f["filterType"] for f in info["symbols"][0]["filters"]}
    assert {"LOT_SIZE", "MARKET_LOT_SIZE", "MIN_NOTIONAL"} <= filters
    assert int(used) >= 1
    assert status == 200
    assert set(rows[0]) >= {"symbol", "positionSide", "positionAmt", "markPrice", "breakEvenPrice"}
