"""Seed the Nurse benchmark's policy through the real governance services, then publish it.

Run by ``bench_nurse.py`` as a subprocess with the bench environment (CIO_NAMESPACE=bench,
DATABASE_URL=.../cio_bench, ...). Prints one JSON line: {"policy_version": N, ...}.

What it writes (all through ``governance.services`` / ``nurse.services``):
1. hard gates: fleet exposure at its code ceiling (1,000,000 USD), the 20 symbols as the hard
   whitelist, a non-zero confidence floor;
2. the global scope: the 20 allowed symbols, generous exposure/rate limits, a 5 USD minimum;
3. 50 strategy scopes (leverage, confidence threshold, size cap vary per strategy), 20 symbol
   scopes and 20 symbol+side scopes (10 symbols x LONG/SHORT);
4. trading states: global ACTIVE plus 10 strategies and 5 symbols ACTIVE (so the state rule
   walks real rows);
5. a regime section for the 20 symbols (a provider registered through the public
   ``register_snapshot_section``; no strategist provider exists yet) with a few symbols in
   the "high" volatility phase, so the regime rule does its size check;
6. exchange filters: the real BTCUSDT/ETHUSDT entries of nurse/data/exchange_info_usdm.json
   and 18 SYNTHETIC symbols built with the same filter shapes (PRICE_FILTER, LOT_SIZE,
   MARKET_LOT_SIZE, MIN_NOTIONAL) and plausible values, stored with exchange_info_store;
7. ``policy_publish`` (Redis snapshot + cio.policy.updated).

Idempotent: scopes whose overrides already equal the wanted ones are not written again.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from nurse_workload import HIGH_VOL_SYMBOLS, STRATEGIES, SYMBOLS  # noqa: E402

from governance import policy as gov_policy  # noqa: E402
from governance import services  # noqa: E402
from governance.models import ActorKind  # noqa: E402
from governance.scopes import Scope  # noqa: E402
from governance.selectors import (  # noqa: E402
    config_head,
    hard_gates_current,
    trading_states_all,
)
from nurse.services import DEFAULT_EXCHANGE_INFO, exchange_info_store  # noqa: E402

ACTOR = "bench"
REASON = "nurse benchmark seed"

GLOBAL = {
    "allowed_symbols": [s.symbol for s in SYMBOLS],
    "max_fleet_exposure_usd": 1_000_000.0,
    "max_symbol_exposure_usd": 1_000_000.0,
    "max_strategy_exposure_usd": 1_000_000.0,
    "max_orders_per_minute": 10_000,
    "max_daily_trades": 10_000,
    "min_position_size_usd": 5.0,
    "max_position_size_usd": 2_000.0,
    "min_confidence_threshold": 0.5,
    "max_signal_age_seconds": 120,
    "require_stop_loss": True,
    "require_take_profit": True,
    "volatility_high_size_scale": 0.5,
    "volatility_extreme_action": "block",
}


def strategy_params(i: int) -> dict[str, Any]:
    return {
        "leverage": 5 + i % 6,
        "min_confidence_threshold": round(0.3 + 0.05 * (i % 5), 2),
        "max_position_size_usd": 1_000.0 + 100.0 * (i % 10),
        "enable_shorts": True,
        "enable_longs": True,
    }


def symbol_params(i: int) -> dict[str, Any]:
    return {"max_symbol_exposure_usd": 900_000.0 + 1_000.0 * i, "slippage_tolerance_pct": 0.1}


def side_params(i: int, side: str) -> dict[str, Any]:
    return {"leverage": 5 if side == "LONG" else 4, "stop_loss_pct": 2.0 + 0.1 * (i % 3)}


def _patch(scope: Scope, wanted: dict[str, Any]) -> bool:
    base, current = config_head(scope=scope)
    if all(current.get(k) == v for k, v in wanted.items()):
        return False
    services.config_patch(scope=scope, patch=wanted, base_version=base, actor=ACTOR,
                          actor_kind=ActorKind.USER, reason=REASON)
    return True


def _gate(key: str, value: Any) -> bool:
    if hard_gates_current().get(key) == value:
        return False
    services.hard_gate_set(key=key, value=value, actor=ACTOR, reason=REASON,
                           is_superuser=True, mfa_verified=True)
    return True


def _state(scope: Scope) -> bool:
    row = trading_states_all().get(scope)
    if row is not None and row.state == "ACTIVE":
        return False
    services.trading_state_set(scope=scope, state="ACTIVE", actor=ACTOR,
                               actor_kind=ActorKind.USER, reason=REASON)
    return True


def regime_section() -> dict[str, Any]:
    return {"symbols": {s.symbol: {"volatility_phase": "high" if s.symbol in HIGH_VOL_SYMBOLS
                                   else "normal", "trend": "sideways"} for s in SYMBOLS}}


def exchange_info() -> dict[str, Any]:
    """Real BTCUSDT/ETHUSDT entries + synthetic ones of the same shape for the other 18."""
    real = json.loads(DEFAULT_EXCHANGE_INFO.read_text())
    by_symbol = {s["symbol"]: s for s in real["symbols"]}
    template = by_symbol["ETHUSDT"]
    out = dict(real)
    symbols = []
    for spec in SYMBOLS:
        if spec.symbol in by_symbol:
            symbols.append(by_symbol[spec.symbol])
            continue
        entry = copy.deepcopy(template)
        entry["symbol"] = entry["pair"] = spec.symbol
        entry["baseAsset"] = spec.symbol.removesuffix("USDT")
        entry["synthetic"] = True
        for f in entry["filters"]:
            kind = f["filterType"]
            if kind == "PRICE_FILTER":
                f.update(tickSize=spec.tick, minPrice=spec.tick,
                         maxPrice=str(float(spec.price) * 20))
            elif kind in ("LOT_SIZE", "MARKET_LOT_SIZE"):
                f.update(stepSize=spec.step, minQty=spec.step, maxQty="10000000")
            elif kind == "MIN_NOTIONAL":
                f.update(notional="5")
        symbols.append(entry)
    out["symbols"] = symbols
    return out


def main() -> None:
    gov_policy.register_snapshot_section("regime", regime_section)
    writes = 0
    writes += _gate("max_fleet_exposure_usd", 1_000_000.0)
    writes += _gate("allowed_symbols", sorted(s.symbol for s in SYMBOLS))
    writes += _gate("min_confidence", 0.1)
    writes += _patch(Scope.global_(), GLOBAL)
    for i, strategy in enumerate(STRATEGIES):
        writes += _patch(Scope.strategy(strategy), strategy_params(i))
    for i, spec in enumerate(SYMBOLS):
        writes += _patch(Scope.symbol(spec.symbol), symbol_params(i))
    for i, spec in enumerate(SYMBOLS[:10]):
        for side in ("LONG", "SHORT"):
            writes += _patch(Scope.symbol_side(spec.symbol, side), side_params(i, side))
    writes += _state(Scope.global_())
    for strategy in STRATEGIES[:10]:
        writes += _state(Scope.strategy(strategy))
    for spec in SYMBOLS[:5]:
        writes += _state(Scope.symbol(spec.symbol))
    n_symbols = exchange_info_store(info=exchange_info())
    event = gov_policy.policy_publish(scopes=["bench"])
    snapshot = gov_policy.policy_snapshot_build()
    print(json.dumps({
        "policy_version": event["policy_version"],
        "writes": writes,
        "scopes": len(snapshot["scopes"]),
        "states": len(snapshot["states"]),
        "exchange_symbols": n_symbols,
        "namespace": settings.CIO_NAMESPACE,
        "snapshot_bytes": len(json.dumps(snapshot, default=str)),
    }))


if __name__ == "__main__":
    main()
