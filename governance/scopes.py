"""Configuration and trading-state scopes, and their resolution order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from governance.errors import ValidationFailed

_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")
_STRATEGY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


class ScopeKind(StrEnum):
    GLOBAL = "global"
    SYMBOL = "symbol"
    STRATEGY = "strategy"
    SYMBOL_SIDE = "symbol_side"


class Side(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"


# Highest precedence first (the engine's rule): symbol+side > strategy > symbol > global.
RESOLUTION_ORDER: tuple[ScopeKind, ...] = (
    ScopeKind.SYMBOL_SIDE,
    ScopeKind.STRATEGY,
    ScopeKind.SYMBOL,
    ScopeKind.GLOBAL,
)

# Trading state is kept per global, strategy and symbol (not per side).
STATE_KINDS: frozenset[ScopeKind] = frozenset(
    {ScopeKind.GLOBAL, ScopeKind.STRATEGY, ScopeKind.SYMBOL}
)


@dataclass(frozen=True, slots=True)
class Scope:
    """One configuration scope, e.g. ``symbol:BTCUSDT`` or ``symbol_side:BTCUSDT:LONG``."""

    kind: ScopeKind
    key: str = ""

    def __str__(self) -> str:
        return self.kind.value if self.kind is ScopeKind.GLOBAL else f"{self.kind.value}:{self.key}"

    @classmethod
    def global_(cls) -> Scope:
        return cls(ScopeKind.GLOBAL, "")

    @classmethod
    def symbol(cls, symbol: str) -> Scope:
        return cls.build(ScopeKind.SYMBOL, symbol)

    @classmethod
    def strategy(cls, strategy_id: str) -> Scope:
        return cls.build(ScopeKind.STRATEGY, strategy_id)

    @classmethod
    def symbol_side(cls, symbol: str, side: str) -> Scope:
        return cls.build(ScopeKind.SYMBOL_SIDE, f"{symbol}:{side}")

    @classmethod
    def build(cls, kind: ScopeKind | str, key: str = "") -> Scope:
        """Validate and normalise a scope; raises ``ValidationFailed`` (INVALID_SCOPE)."""
        try:
            kind = ScopeKind(kind)
        except ValueError as exc:
            raise _invalid(f"unknown scope kind {kind!r}") from exc
        key = (key or "").strip()
        if kind is ScopeKind.GLOBAL:
            if key:
                raise _invalid("the global scope takes no key")
            return cls(kind, "")
        if kind is ScopeKind.SYMBOL:
            key = key.upper()
            if not _SYMBOL_RE.match(key):
                raise _invalid(f"invalid symbol {key!r}")
            return cls(kind, key)
        if kind is ScopeKind.STRATEGY:
            if not _STRATEGY_RE.match(key):
                raise _invalid(f"invalid strategy id {key!r}")
            return cls(kind, key)
        symbol, _, side = key.upper().partition(":")
        if not _SYMBOL_RE.match(symbol) or side not in Side.__members__:
            raise _invalid(f"symbol_side scope needs SYMBOL:LONG or SYMBOL:SHORT, got {key!r}")
        return cls(kind, f"{symbol}:{side}")

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse ``global``, ``symbol:X``, ``strategy:X`` or ``symbol_side:X:LONG``."""
        kind, _, key = text.strip().partition(":")
        return cls.build(kind, key)


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, code="INVALID_SCOPE")


def resolution_chain(
    *, symbol: str | None = None, side: str | None = None, strategy_id: str | None = None
) -> list[Scope]:
    """The scopes that apply to an intent, highest precedence first."""
    chain: list[Scope] = []
    if symbol and side:
        chain.append(Scope.symbol_side(symbol, side))
    if strategy_id:
        chain.append(Scope.strategy(strategy_id))
    if symbol:
        chain.append(Scope.symbol(symbol))
    chain.append(Scope.global_())
    return chain
