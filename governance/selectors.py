"""Read-side queries of governance state (no writes here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from governance.catalog import catalog_defaults
from governance.errors import NotFound
from governance.hard_gates import hard_gate_defaults
from governance.models import (
    ConfigHead,
    ConfigVersion,
    HardGate,
    PolicyHead,
    TradingState,
    TradingStateValue,
)
from governance.scopes import Scope, ScopeKind, resolution_chain

_STATE_RANK = {
    TradingStateValue.ACTIVE: 0,
    TradingStateValue.REDUCING: 1,
    TradingStateValue.HALTED: 2,
}


def config_head(*, scope: Scope) -> tuple[int, dict[str, Any]]:
    """The scope's current version number (0 when never written) and its overrides."""
    head = ConfigHead.objects.filter(scope_kind=scope.kind, scope_key=scope.key).first()
    if head is None:
        return 0, {}
    return head.version, dict(head.params)


def config_heads_all() -> dict[Scope, tuple[int, dict[str, Any]]]:
    return {
        Scope(ScopeKind(h.scope_kind), h.scope_key): (h.version, dict(h.params))
        for h in ConfigHead.objects.all()
    }


@dataclass(frozen=True, slots=True)
class ResolvedConfig:
    """Effective parameters for one (symbol, side, strategy), with each value's source."""

    params: dict[str, Any]
    sources: dict[str, str]
    versions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "sources": self.sources,
            "versions": self.versions,
            "parameters": [
                {"name": name, "value": self.params[name], "source": self.sources[name]}
                for name in sorted(self.params)
            ],
        }


def resolve_from_heads(
    heads: dict[Scope, tuple[int, dict[str, Any]]],
    chain: Iterable[Scope],
    defaults: dict[str, Any] | None = None,
) -> ResolvedConfig:
    """Merge overrides shallowly: the first scope in ``chain`` that sets a parameter wins."""
    params = dict(catalog_defaults() if defaults is None else defaults)
    sources = dict.fromkeys(params, "default")
    versions: dict[str, int] = {}
    for scope in reversed(list(chain)):
        version, overrides = heads.get(scope, (0, {}))
        if version:
            versions[str(scope)] = version
        for name, value in overrides.items():
            params[name] = value
            sources[name] = str(scope)
    return ResolvedConfig(params=params, sources=sources, versions=versions)


def config_resolve(
    *, symbol: str | None = None, side: str | None = None, strategy_id: str | None = None
) -> ResolvedConfig:
    chain = resolution_chain(symbol=symbol, side=side, strategy_id=strategy_id)
    heads = {
        Scope(ScopeKind(h.scope_kind), h.scope_key): (h.version, dict(h.params))
        for h in ConfigHead.objects.filter(
            scope_kind__in=[s.kind for s in chain], scope_key__in=[s.key for s in chain]
        )
    }
    return resolve_from_heads(heads, chain)


def config_history(*, scope: Scope, limit: int = 50, offset: int = 0) -> list[ConfigVersion]:
    qs = ConfigVersion.objects.filter(scope_kind=scope.kind, scope_key=scope.key)
    return list(qs.order_by("-version")[offset : offset + limit])


def config_version_get(*, scope: Scope, version: int) -> ConfigVersion:
    found = ConfigVersion.objects.filter(
        scope_kind=scope.kind, scope_key=scope.key, version=version
    ).first()
    if found is None:
        raise NotFound(f"{scope} has no version {version}", code="VERSION_NOT_FOUND")
    return found


def config_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Parameter-level differences between two override sets, sorted by name."""
    missing = object()
    rows = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, missing), after.get(name, missing)
        if old != new:
            rows.append(
                {
                    "parameter": name,
                    "before": None if old is missing else old,
                    "after": None if new is missing else new,
                    "change": "added" if old is missing else "removed" if new is missing
                    else "changed",
                }
            )
    return rows


def hard_gates_current() -> dict[str, Any]:
    values = hard_gate_defaults()
    values.update({g.key: g.value for g in HardGate.objects.all()})
    return values


def policy_version_current() -> int:
    head = PolicyHead.objects.filter(pk=1).first()
    return head.version if head else 0


def trading_states_all(*, now: dt.datetime | None = None) -> dict[Scope, TradingState]:
    """Every scope's state that is in force now (expired ones are left out)."""
    now = now or timezone.now()
    return {
        Scope(ScopeKind(s.scope_kind), s.scope_key): s
        for s in TradingState.objects.all()
        if s.expires_at is None or s.expires_at > now
    }


def trading_state_get(*, scope: Scope) -> TradingState | None:
    return TradingState.objects.filter(scope_kind=scope.kind, scope_key=scope.key).first()


def trading_state_effective(
    *, strategy_id: str | None = None, symbol: str | None = None, now: dt.datetime | None = None
) -> tuple[str, str]:
    """The most restrictive state among global, strategy and symbol, and the scope it came from."""
    states = trading_states_all(now=now)
    best = (TradingStateValue.ACTIVE.value, "global")
    candidates = [Scope.global_()]
    if strategy_id:
        candidates.append(Scope.strategy(strategy_id))
    if symbol:
        candidates.append(Scope.symbol(symbol))
    for scope in candidates:
        row = states.get(scope)
        if row and _STATE_RANK[TradingStateValue(row.state)] > _STATE_RANK[
            TradingStateValue(best[0])
        ]:
            best = (row.state, str(scope))
    return best
