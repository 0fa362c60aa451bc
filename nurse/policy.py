"""The gate's in-memory policy: an immutable snapshot compiled for per-intent lookups.

A ``CompiledPolicy`` is built once per policy version from the JSON snapshot in Redis and
then only read; the runner swaps the reference atomically (one assignment) on update, so a
decision always sees one consistent version. Resolved parameter sets are memoised per
(strategy, symbol, side) inside the snapshot, which is safe because the snapshot never
changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from governance.catalog import catalog_defaults

_STATE_RANK = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
_MEMO_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class ExchangeFilter:
    """The exchange's order filters for one symbol (from exchangeInfo)."""

    symbol: str
    status: str
    tick_size: float
    min_price: float
    max_price: float
    step_size: float
    min_qty: float
    max_qty: float
    market_step_size: float
    market_min_qty: float
    market_max_qty: float
    min_notional: float


def exchange_filters_from_info(info: Mapping[str, Any]) -> dict[str, ExchangeFilter]:
    """Parse a Binance USD-M ``/fapi/v1/exchangeInfo`` body into per-symbol filters."""
    result: dict[str, ExchangeFilter] = {}
    for sym in info.get("symbols", []):
        filters = {f["filterType"]: f for f in sym.get("filters", [])}
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
        market = filters.get("MARKET_LOT_SIZE", lot)
        notional = filters.get("MIN_NOTIONAL", {})
        result[sym["symbol"]] = ExchangeFilter(
            symbol=sym["symbol"],
            status=sym.get("status", "UNKNOWN"),
            tick_size=float(price.get("tickSize", 0) or 0),
            min_price=float(price.get("minPrice", 0) or 0),
            max_price=float(price.get("maxPrice", 0) or 0),
            step_size=float(lot.get("stepSize", 0) or 0),
            min_qty=float(lot.get("minQty", 0) or 0),
            max_qty=float(lot.get("maxQty", 0) or 0),
            market_step_size=float(market.get("stepSize", 0) or 0),
            market_min_qty=float(market.get("minQty", 0) or 0),
            market_max_qty=float(market.get("maxQty", 0) or 0),
            min_notional=float(notional.get("notional", notional.get("minNotional", 0)) or 0),
        )
    return result


@dataclass(slots=True)
class CompiledPolicy:
    """Everything one decision reads, for one policy version."""

    version: int
    defaults: dict[str, Any]
    scopes: dict[str, dict[str, Any]]
    states: dict[str, dict[str, Any]]
    hard_gates: dict[str, Any]
    regime: dict[str, Any]
    built_at: str = ""
    hard_allowed_symbols: frozenset[str] = frozenset()
    _memo: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _allowed_memo: dict[int, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> CompiledPolicy:
        gates = dict(snapshot.get("hard_gates") or {})
        return cls(
            version=int(snapshot["policy_version"]),
            defaults={**catalog_defaults(), **(snapshot.get("defaults") or {})},
            scopes={k: dict(v) for k, v in (snapshot.get("scopes") or {}).items()},
            states=dict(snapshot.get("states") or {}),
            hard_gates=gates,
            regime=dict(snapshot.get("regime") or {}),
            built_at=str(snapshot.get("built_at", "")),
            hard_allowed_symbols=frozenset(gates.get("allowed_symbols") or ()),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> CompiledPolicy:
        return cls.from_snapshot(json.loads(raw))

    def params_for(self, strategy_id: str, symbol: str, side: str) -> dict[str, Any]:
        """Resolved parameters: symbol+side > strategy > symbol > global > defaults."""
        key = (strategy_id, symbol, side)
        found = self._memo.get(key)
        if found is not None:
            return found
        merged = dict(self.defaults)
        scopes = self.scopes
        for scope_key in ("global", f"symbol:{symbol}", f"strategy:{strategy_id}",
                          f"symbol_side:{symbol}:{side}"):
            overrides = scopes.get(scope_key)
            if overrides:
                merged.update(overrides)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()  # bounded memory under strategy-id churn
        self._memo[key] = merged
        return merged

    def allowed_symbols(self, params: Mapping[str, Any]) -> frozenset[str]:
        symbols = params.get("allowed_symbols") or ()
        memo_key = id(symbols)
        found = self._allowed_memo.get(memo_key)
        if found is None:
            found = frozenset(symbols)
            self._allowed_memo[memo_key] = found
        return found

    def state_for(self, strategy_id: str, symbol: str, now: float) -> tuple[str, str]:
        """The most restrictive unexpired state among global, strategy and symbol."""
        best, source = "ACTIVE", "global"
        states = self.states
        if not states:
            return best, source
        for scope_key in ("global", f"strategy:{strategy_id}", f"symbol:{symbol}"):
            row = states.get(scope_key)
            if row is None:
                continue
            expires = row.get("expires_at")
            if expires is not None and expires <= now:
                continue
            state = row.get("state", "ACTIVE")
            if _STATE_RANK.get(state, 2) > _STATE_RANK[best]:
                best, source = state, scope_key
        return best, source

    def regime_for(self, symbol: str) -> Mapping[str, Any] | None:
        symbols = self.regime.get("symbols")
        if isinstance(symbols, dict):
            found = symbols.get(symbol)
            if isinstance(found, dict):
                return found
        return None
