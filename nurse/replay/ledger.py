"""The Redis ledger's Lua scripts (``nurse.ledger``), re-implemented in process for replays.

Same keys, same steps, same order as ``RESERVE_LUA``, ``FILL_LUA``, ``POSITIONS_LUA`` and
``RELEASE_LUA``, down to Redis's number handling, so a replay decides exactly as the live
ledger would:

- a Lua number passed to ``HINCRBYFLOAT`` travels as ``%.17g`` text; Redis adds in
  ``long double`` and stores the sum as text with 17 decimals (trailing zeros trimmed); we
  do the same with ``numpy.longdouble`` (80-bit on x86-64, the same type Redis uses there);
- Lua's ``tostring`` and string concatenation print numbers as ``%.14g`` (the reservation
  record ``sym|strat|notional`` and every detail value);
- ``HMGET``/``GET`` of a missing key reads as ``'0'``.

Where it differs, on purpose:

1. Time. Redis expires dedup, rate and daily keys by its own wall clock (``EX``/``EXPIRE``);
   a replay runs on the intents' clock, so here keys expire at ``now + ttl`` of that clock.
   Reservations already use the caller's ``now`` in both.
2. Scale. One process, one dict: no pipelining, no cross-instance races (the Lua scripts are
   atomic, so the live ledger has none either).
3. ``POSITIONS_LUA`` walks ``HGETALL`` of the reservations in Redis's hash order; we walk
   insertion order. Exposure sums can differ in the last printed digit when several
   reservations are re-added; the test sequences avoid relying on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nurse.ledger import ReserveRequest

# RESERVE_LUA expires at most 64 + 4 per request reservations per call; a replay asks for
# one request at a time.
_EXPIRE_BATCH = 68


def lua_tostring(value: float) -> str:
    """Lua 5.1's number-to-string (``LUA_NUMBER_FMT`` ``%.14g``)."""
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.14g}"
    return "0" if text == "-0" else text


def _ld_text(value: np.longdouble) -> str:
    text = np.format_float_positional(value, precision=17, unique=False, fractional=True,
                                      trim="-")
    return "0" if text in ("-0", "-0.") else text


def hincrbyfloat(current: str | None, increment: float) -> str:
    """Redis ``HINCRBYFLOAT`` called from Lua with a Lua number ``increment``."""
    base = np.longdouble(current) if current is not None else np.longdouble(0)
    return _ld_text(base + np.longdouble(f"{increment:.17g}"))


@dataclass(slots=True)
class _Entry:
    value: str
    expires_at: float | None = None


@dataclass(slots=True)
class InProcessLedger:
    """One namespace of the ledger in process memory; see the module docstring."""

    namespace: str = "replay"
    dedup_window_s: int = 60
    reservation_ttl_s: int = 300
    positions_max_age_s: float = 0.0
    exp: dict[str, str] = field(default_factory=dict)
    resz: dict[str, float] = field(default_factory=dict)
    resh: dict[str, str] = field(default_factory=dict)
    kv: dict[str, _Entry] = field(default_factory=dict)
    _ops: int = 0

    # -- key/value with expiry -------------------------------------------------------------
    def _get(self, key: str, now: float) -> str | None:
        entry = self.kv.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            del self.kv[key]
            return None
        return entry.value

    def _set(self, key: str, value: str, now: float, ttl: float | None) -> None:
        self.kv[key] = _Entry(value, now + ttl if ttl is not None else None)

    def _incr(self, key: str, now: float, ttl: float) -> None:
        """INCR; the key gets its expiry when the increment creates it (as in the script)."""
        current = self._get(key, now)
        if current is None:
            self.kv[key] = _Entry("1", now + ttl)
        else:
            self.kv[key].value = str(int(current) + 1)

    def _prune(self, now: float) -> None:
        self._ops += 1
        if self._ops % 4096 == 0:
            dead = [k for k, e in self.kv.items() if e.expires_at is not None
                    and e.expires_at <= now]
            for k in dead:
                del self.kv[k]

    def _hincr(self, name: str, delta: float) -> float:
        text = hincrbyfloat(self.exp.get(name), delta)
        self.exp[name] = text
        return float(text)

    def _release_reservation(self, rid: str) -> None:
        record = self.resh.pop(rid, None)
        if record is not None:
            sf, tf, n_text = record.split("|")
            n = float(n_text)
            self._hincr(sf, -n)
            self._hincr(tf, -n)
            self._hincr("fleet", -n)
        self.resz.pop(rid, None)

    # -- keys as nurse.ledger.Ledger._keys builds them ---------------------------------------
    def keys(self, req: ReserveRequest, now: float) -> tuple[str, str, str, str]:
        ns = self.namespace
        return (f"{ns}:dedup:id:{req.strategy_id}:{req.signal_id}" if req.signal_id else "",
                f"{ns}:dedup:c:{req.content_key}",
                f"{ns}:rate:{req.strategy_id}:{int(now // 60)}",
                f"{ns}:daily:{req.strategy_id}:{int(now // 86400)}")

    # -- RESERVE_LUA -----------------------------------------------------------------------
    def reserve(self, req: ReserveRequest, now: float) -> tuple[str, str]:
        self._prune(now)
        # 1. expire old reservations (score <= now, ascending score then member, 64 at most)
        if self.resz:
            old = sorted((score, rid) for rid, score in self.resz.items() if score <= now)
            for _, rid in old[:_EXPIRE_BATCH]:
                self._release_reservation(rid)
        # 2. duplicates
        dup_id, dup_content, rate_key, daily_key = self.keys(req, now)
        if dup_id:
            first = self._get(dup_id, now)
            if first is not None:
                return "DUPLICATE_SIGNAL_ID", first
        first = self._get(dup_content, now)
        if first is not None:
            return "DUPLICATE_CONTENT", first
        sf, tf = f"sym:{req.symbol}", f"strat:{req.strategy_id}"
        notional = float(req.notional)
        if not req.reducing:
            # 3. rates and exposure
            synced_at = float(self._get(f"{self.namespace}:exp:synced_at", now) or "0")
            if self.positions_max_age_s > 0 and now - synced_at > self.positions_max_age_s:
                return "EXPOSURE_NO_POSITIONS", lua_tostring(synced_at)
            rate = float(self._get(rate_key, now) or "0")
            if rate >= float(req.max_orders_per_minute):
                return "RATE_ORDERS_PER_MINUTE", lua_tostring(rate)
            daily = float(self._get(daily_key, now) or "0")
            if daily >= float(req.max_daily_trades):
                return "RATE_DAILY_TRADES", lua_tostring(daily)
            cs = float(self.exp.get(sf, "0"))
            ct = float(self.exp.get(tf, "0"))
            cf = float(self.exp.get("fleet", "0"))
            if cs + notional > req.symbol_limit:
                return "EXPOSURE_SYMBOL_LIMIT", lua_tostring(cs)
            if ct + notional > req.strategy_limit:
                return "EXPOSURE_STRATEGY_LIMIT", lua_tostring(ct)
            if cf + notional > req.fleet_limit:
                return "EXPOSURE_FLEET_LIMIT", lua_tostring(cf)
        # 4. commit
        if dup_id:
            self._set(dup_id, req.decision_id, now, self.dedup_window_s)
        self._set(dup_content, req.decision_id, now, self.dedup_window_s)
        if not req.reducing:
            self._incr(rate_key, now, 120)
            self._incr(daily_key, now, 172800)
            if notional > 0:
                self._hincr(sf, notional)
                self._hincr(tf, notional)
                self._hincr("fleet", notional)
                self.resz[req.decision_id] = now + self.reservation_ttl_s
                self.resh[req.decision_id] = f"{sf}|{tf}|{lua_tostring(notional)}"
        return "OK", ""

    # -- FILL_LUA --------------------------------------------------------------------------
    def apply_fill(self, *, decision_id: str, strategy_id: str, symbol: str,
                   notional_delta: float) -> None:
        if decision_id:
            self._release_reservation(decision_id)
        for name in (f"sym:{symbol}", f"strat:{strategy_id}", "fleet"):
            if self._hincr(name, notional_delta) < 0:
                self.exp[name] = "0"

    # -- POSITIONS_LUA ---------------------------------------------------------------------
    def replace_positions(self, positions: Sequence[tuple[str, str, float]], now: float
                          ) -> None:
        self.exp = {}
        for record in self.resh.values():
            sf, tf, n_text = record.split("|")
            n = float(n_text)
            self._hincr(sf, n)
            self._hincr(tf, n)
            self._hincr("fleet", n)
        for strategy_id, symbol, notional in positions:
            n = abs(float(repr(float(notional))))
            self._hincr(f"sym:{symbol}", n)
            self._hincr(f"strat:{strategy_id}", n)
            self._hincr("fleet", n)
        self._set(f"{self.namespace}:exp:synced_at", repr(float(now)), now, None)

    # -- RELEASE_LUA -----------------------------------------------------------------------
    def release(self, req: ReserveRequest, now: float) -> None:
        self._release_reservation(req.decision_id)
        dup_id, dup_content, rate_key, daily_key = self.keys(req, now)
        if dup_id and self._get(dup_id, now) == req.decision_id:
            self.kv.pop(dup_id, None)
        if self._get(dup_content, now) == req.decision_id:
            self.kv.pop(dup_content, None)
        if not req.reducing:
            for key in (rate_key, daily_key):
                entry = self.kv.get(key)
                if entry is not None and int(entry.value) > 0:
                    entry.value = str(int(entry.value) - 1)

    def exposures(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.exp.items()}

    def exposure(self, name: str) -> float:
        return float(self.exp.get(name, "0"))
