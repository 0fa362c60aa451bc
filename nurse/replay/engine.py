"""The replay loop: every intent through the exact gate, positions on candles, the ladder.

``replay_run``:
1. compiles the snapshot with ``CompiledPolicy.from_snapshot`` (one copy per ladder state)
   and loads the exchange filters into a ``nurse.gate.Gate`` whose time budget cannot run
   out (a replay must not depend on the machine's speed);
2. walks one merged timeline of candle closes, position exits and intents (intents in
   ``(ts, input order)``; at equal times exits come first, then the candle close, then
   intents);
3. per intent: ``Gate.prepare`` with ``received=ts``, the in-process ledger
   (``nurse.replay.ledger``) for what survives, ``Gate.finish``; an approved entry opens a
   position at the open of the first bar at or after ``ts`` (the ledger's reservation
   becomes a position, as a fill does live); a blocked entry that counts
   (``nurse.shadow.codes``) opens a shadow position the same way; a ``close`` closes the
   strategy's open positions on that symbol at the next open (approved ones only if the
   gate approved the close; shadow ones always: the strategy would have sent it anyway);
4. positions exit at the first touch of their stop-loss / take-profit, at a close intent,
   or after ``hold_hours`` (``nurse.replay.sim``); exits release the entry notional in the
   ledger (an engine position snapshot would, live);
5. at every candle close, equity = starting equity + realised PnL + open positions marked
   at the close, for the gated world (approved trades) and the ungated one (approved +
   shadow); the gated drawdown from peak drives the ladder: >= ``drawdown_reduce_pct`` ->
   REDUCING, >= ``drawdown_halt_pct`` -> HALTED. Steps only go up: live, a ladder state
   carries ``requires_staff_rearm`` and a replay has no staff to re-arm it. The state reaches
   later intents through the snapshot's global trading state, so the exact trading-state
   rule blocks them;
6. at every candle close the strategist's deterministic regime (``strategist.regime``, the
   same arithmetic as live) folds the closed bar in; when a symbol's volatility phase
   changes in a way the gate reads (``high`` / ``extreme`` vs the rest), the snapshot's
   ``regime`` section changes, so the gate's own ``regime`` rule scales down or blocks
   later entries. Both kinds of step are listed in ``ladder_events``.

Money runs in floats inside the loop; the report rounds quote amounts to 2 decimals and
fractions to 6, once, at the end. Same inputs, same report (no wall-clock value in it).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nurse.gate import Gate
from nurse.policy import CompiledPolicy, ExchangeFilter, exchange_filters_from_info
from nurse.replay import sim
from nurse.replay.candles import SymbolCandles
from nurse.replay.intents import ReplayIntent, digest
from nurse.replay.ledger import InProcessLedger
from nurse.shadow.codes import ENTRY_ACTIONS, counts_as_shadow, rule_of

DEFAULT_EXCHANGE_INFO = Path(__file__).resolve().parent.parent / "data" / \
    "exchange_info_usdm.json"
LADDER_STATES = ("ACTIVE", "REDUCING", "HALTED")
_INF = math.inf


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """Knobs of one replay (defaults match the live shadow settings)."""

    equity: float = 10_000.0
    fee_rate: float = 0.0004
    slippage_bps: float = 2.0
    hold_hours: float = 48.0
    horizons_h: tuple[int, ...] = (1, 4, 24, 48)
    dedup_window_s: int = 60
    reservation_ttl_s: int = 300
    exposure_step_s: int = 3600
    ladder: bool = True
    regime: bool = True
    max_payload_bytes: int = 65536

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 10_000.0


def exchange_filters_load(extra: Sequence[str | Path] = ()) -> dict[str, ExchangeFilter]:
    """The shipped USD-M filters, then each ``--exchange-info`` file on top."""
    filters = exchange_filters_from_info(json.loads(DEFAULT_EXCHANGE_INFO.read_text()))
    for path in extra:
        filters.update(exchange_filters_from_info(json.loads(Path(path).read_text())))
    return filters


@dataclass(slots=True)
class _Pos:
    pid: int
    world: str  # "gated" (approved) or "shadow" (blocked)
    strategy_id: str
    symbol: str
    side: int
    qty: float
    entry: float
    entry_fill: float
    opened_ms: int
    entry_idx: int
    notional: float
    reasons: tuple[str, ...]
    exit_idx: int | None = None  # bar of the natural exit (touch or hold end)
    exit_natural: tuple[str, float] = ("", 0.0)  # its reason and price
    closed: bool = False
    pnl: float = 0.0
    exit_reason: str = ""


@dataclass(slots=True)
class _World:
    """Equity bookkeeping of the gated or the ungated world."""

    start: float
    realized: float = 0.0
    sq: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    se: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    open_notional: float = 0.0
    peak: float = 0.0
    max_dd: float = 0.0
    max_dd_abs: float = 0.0
    equity: float = 0.0

    def __post_init__(self) -> None:
        self.peak = self.equity = self.start

    def open(self, p: _Pos, fee_rate: float) -> None:
        self.realized -= fee_rate * p.entry_fill * p.qty
        self.sq[p.symbol] += p.side * p.qty
        self.se[p.symbol] += p.side * p.qty * p.entry_fill
        self.open_notional += p.notional

    def close(self, p: _Pos, exit_fill: float, fee_rate: float) -> None:
        self.realized += p.side * p.qty * (exit_fill - p.entry_fill) - fee_rate * exit_fill * p.qty
        self.sq[p.symbol] -= p.side * p.qty
        self.se[p.symbol] -= p.side * p.qty * p.entry_fill
        self.open_notional -= p.notional

    def mark(self, prices: Mapping[str, float]) -> float:
        value = self.start + self.realized
        for symbol, q in self.sq.items():
            if q != 0.0:
                px = prices.get(symbol, math.nan)
                if px == px:
                    value += q * px - self.se[symbol]
        self.equity = value
        if value > self.peak:
            self.peak = value
        if self.peak > 0:
            dd = (self.peak - value) / self.peak
            if dd > self.max_dd:
                self.max_dd = dd
            self.max_dd_abs = max(self.max_dd_abs, self.peak - value)
        return value

    @property
    def drawdown(self) -> float:
        return (self.peak - self.equity) / self.peak if self.peak > 0 else 0.0


def _bucket() -> dict[str, float]:
    return {"positions": 0, "avoided": 0.0, "foregone": 0.0, "net": 0.0}


def _add(bucket: dict[str, float], pnl: float) -> None:
    bucket["positions"] += 1
    bucket["net"] += pnl
    if pnl < 0:
        bucket["avoided"] -= pnl
    else:
        bucket["foregone"] += pnl


def _iso(ms: float) -> str:
    return dt.datetime.fromtimestamp(ms / 1000.0, dt.UTC).isoformat().replace("+00:00", "Z")


def _money(x: float) -> float:
    value = round(x, 2)
    return 0.0 if value == 0 else value


def _frac(x: float) -> float:
    value = round(x, 6)
    return 0.0 if value == 0 else value


class _Replay:
    def __init__(self, *, snapshot: Mapping[str, Any], candles: Mapping[str, SymbolCandles],
                 exchange: Mapping[str, ExchangeFilter], config: ReplayConfig) -> None:
        self.cfg = config
        self.candles = dict(candles)
        base = CompiledPolicy.from_snapshot(snapshot)
        self.snapshot = dict(snapshot)
        self.policies: dict[tuple[str, tuple[tuple[str, str], ...]], CompiledPolicy] = {}
        self.phases: dict[str, str] = {}
        self.regime: _RegimeFeed | None = None
        params = base.params_for("", "", "")
        gates = base.hard_gates
        self.reduce_pct = min(float(params.get("drawdown_reduce_pct") or 0.15),
                              float(gates.get("drawdown_reduce_pct") or 0.15))
        self.halt_pct = min(float(params.get("drawdown_halt_pct") or 0.20),
                            float(gates.get("drawdown_halt_pct") or 0.20))
        self.gate = Gate(instance="replay", budget_ms=1e12,
                         max_bytes=config.max_payload_bytes,
                         dedup_window_s=config.dedup_window_s)
        self.state = "ACTIVE"
        self.gate.policy = self._policy()
        self.gate.set_exchange(dict(exchange))
        self.gate.equity = config.equity
        self.ledger = InProcessLedger(dedup_window_s=config.dedup_window_s,
                                      reservation_ttl_s=config.reservation_ttl_s)
        self.gated = _World(config.equity)
        self.ungated = _World(config.equity)
        self.positions: list[_Pos] = []
        self.open_by_key: dict[tuple[str, str], list[_Pos]] = defaultdict(list)
        self.heap: list[tuple[int, int, int]] = []  # (effective ms, seq, pid)
        # Candle-close clock and each symbol's latest close at every tick.
        closes = [c.close_ms for c in self.candles.values() if len(c)]
        self.clock: list[int] = np.unique(np.concatenate(closes)).tolist() if closes else []
        self.tick_px: dict[str, list[float]] = {}
        clock_arr = np.asarray(self.clock, dtype=np.int64)
        for sym, c in self.candles.items():
            idx = np.searchsorted(c.close_ms, clock_arr, side="right") - 1
            px = np.where(idx >= 0, c.close[np.clip(idx, 0, None)], np.nan)
            self.tick_px[sym] = px.tolist()
        self.regime = _RegimeFeed(self.candles, clock_arr) if config.regime else None
        self.gate.policy = self._policy()
        self.k = 0
        self.prices: dict[str, float] = {}
        self.next_sample: float = -_INF
        self.exposure: list[list[Any]] = []
        self.ladder_events: list[dict[str, Any]] = []
        # Counters.
        self.approved = 0
        self.blocked = 0
        self.rejected = 0
        self.by_reason: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.by_action: dict[str, Counter[str]] = defaultdict(Counter)
        self.by_strategy: dict[str, dict[str, float]] = defaultdict(
            lambda: {"approved": 0, "blocked": 0, "realized_pnl": 0.0, "shadow_pnl": 0.0})
        self.approved_unpriced = 0
        self.shadow_unpriced = 0
        self.horizon_marks: dict[int, dict[str, float]] = {
            h: {"marked": 0, "unmarked": 0, "avoided": 0.0, "foregone": 0.0, "net": 0.0}
            for h in config.horizons_h}
        self.last_ms = 0

    # -- timeline --------------------------------------------------------------------------
    def advance(self, t_ms: float) -> None:
        clock, heap = self.clock, self.heap
        while True:
            tick = clock[self.k] if self.k < len(clock) else _INF
            exit_at = heap[0][0] if heap else _INF
            if min(tick, exit_at) > t_ms or (not heap and self.k >= len(clock)):
                return
            if exit_at <= tick:
                _, _, pid = heapq.heappop(heap)
                pos = self.positions[pid]
                if not pos.closed and pos.exit_idx is not None:
                    self._natural_exit(pos, exit_at)
            else:
                self._tick(self.k)
                self.k += 1

    def _tick(self, k: int) -> None:
        t = self.clock[k]
        prices = self.prices
        for sym, series in self.tick_px.items():
            prices[sym] = series[k]
        equity = self.gated.mark(prices)
        self.ungated.mark(prices)
        self.gate.equity = equity if equity > 0 else None
        if self.regime is not None:
            self._regime(k, t)
        if self.cfg.ladder:
            self._ladder(t)
        if t >= self.next_sample:
            step = self.cfg.exposure_step_s * 1000
            self.exposure.append([_iso(t), _money(self.ledger.exposure("fleet")),
                                  _money(self.ungated.open_notional)])
            self.next_sample = (t // step + 1) * step

    def _ladder(self, t: int) -> None:
        dd = self.gated.drawdown
        state = self.state
        if dd >= self.halt_pct:
            new = "HALTED"
        elif dd >= self.reduce_pct:
            new = "REDUCING"
        else:
            return
        if LADDER_STATES.index(new) <= LADDER_STATES.index(state):
            return
        self.state = new
        self.gate.policy = self._policy()
        self.ladder_events.append({
            "at": _iso(t), "kind": "drawdown", "state": new, "from": state,
            "drawdown": _frac(dd),
            "equity": _money(self.gated.equity), "peak": _money(self.gated.peak),
            "threshold": self.halt_pct if new == "HALTED" else self.reduce_pct})

    def _regime(self, k: int, t: int) -> None:
        assert self.regime is not None  # noqa: S101  (called only when it exists)
        changed = False
        for symbol, metrics in self.regime.update(k):
            phase = _GATE_PHASE.get(metrics.volatility_phase, "normal")
            before = self.phases.get(symbol, "normal")
            if phase == before:
                continue
            self.phases[symbol] = phase
            changed = True
            self.ladder_events.append({
                "at": _iso(t), "kind": "regime", "symbol": symbol,
                "volatility_phase": metrics.volatility_phase, "from": before,
                "vol_ratio": metrics.vol_ratio, "move_1h": metrics.move_1h})
        if changed:
            self.gate.policy = self._policy()

    def _policy(self) -> CompiledPolicy:
        """The compiled snapshot for the current ladder state and regime phases (cached)."""
        phases = tuple(sorted((s, p) for s, p in self.phases.items() if p != "normal"))
        key = (self.state, phases)
        found = self.policies.get(key)
        if found is None:
            snap = dict(self.snapshot)
            states = dict(snap.get("states") or {})
            if self.state != "ACTIVE":
                states["global"] = {"state": self.state, "reason": "replay drawdown ladder",
                                    "set_by": "replay", "expires_at": None}
            snap["states"] = states
            if self.regime is not None:
                snap["regime"] = {"symbols": {s: {"volatility_phase": p} for s, p in phases}}
            found = self.policies[key] = CompiledPolicy.from_snapshot(snap)
        return found

    # -- positions -------------------------------------------------------------------------
    def _open(self, world: str, strategy_id: str, symbol: str, side: int, qty: float,
              ts_ms: int, intent: Any, reasons: tuple[str, ...]) -> _Pos | None:
        c = self.candles.get(symbol)
        i = c.entry_index(ts_ms) if c is not None else None
        if c is None or i is None or qty <= 0:
            return None
        entry = float(c.open[i])
        cfg = self.cfg
        sl, tp = sim.levels(side, entry, intent.stop_loss, intent.take_profit,
                            intent.stop_loss_pct, intent.take_profit_pct)
        stop = c.last_closed_by(ts_ms + int(cfg.hold_hours * sim.HOUR_MS))
        touch = sim.first_touch(c, i, stop, side, sl, tp)
        pos = _Pos(pid=len(self.positions), world=world, strategy_id=strategy_id,
                   symbol=symbol, side=side, qty=qty, entry=entry,
                   entry_fill=entry * (1.0 + side * cfg.slippage), opened_ms=ts_ms,
                   entry_idx=i, notional=qty * entry, reasons=reasons)
        self.positions.append(pos)
        natural = sim.horizon_exit(c, i, ts_ms, cfg.hold_hours, touch)
        if natural is not None:
            pos.exit_idx = c.last_closed_by(natural[2])
            pos.exit_natural = (natural[0], natural[1])
            heapq.heappush(self.heap, (natural[2], pos.pid, pos.pid))
        self.open_by_key[(strategy_id, symbol)].append(pos)
        if world == "gated":
            self.gated.open(pos, cfg.fee_rate)
        else:
            self._horizons(pos, c, touch)
        self.ungated.open(pos, cfg.fee_rate)
        return pos

    def _horizons(self, pos: _Pos, c: SymbolCandles, touch: sim.Touch | None) -> None:
        """Fixed-horizon marks of a shadow (SL/TP and horizon only, as marked live)."""
        cfg = self.cfg
        for h, bucket in self.horizon_marks.items():
            found = sim.horizon_exit(c, pos.entry_idx, pos.opened_ms, h, touch)
            if found is None:
                bucket["unmarked"] += 1
                continue
            *_, pnl = sim.settle(pos.side, pos.qty, pos.entry, found[1], cfg.fee_rate,
                                 cfg.slippage)
            bucket["marked"] += 1
            bucket["net"] += pnl
            if pnl < 0:
                bucket["avoided"] -= pnl
            else:
                bucket["foregone"] += pnl

    def _close(self, pos: _Pos, price: float, reason: str) -> None:
        cfg = self.cfg
        pos.closed = True
        pos.exit_reason = reason
        _, exit_fill, _, pnl = sim.settle(pos.side, pos.qty, pos.entry, price, cfg.fee_rate,
                                          cfg.slippage)
        pos.pnl = pnl
        if pos.world == "gated":
            self.gated.close(pos, exit_fill, cfg.fee_rate)
            self.ledger.apply_fill(decision_id="", strategy_id=pos.strategy_id,
                                   symbol=pos.symbol, notional_delta=-pos.notional)
            self.by_strategy[pos.strategy_id]["realized_pnl"] += pnl
        else:
            self.by_strategy[pos.strategy_id]["shadow_pnl"] += pnl
        self.ungated.close(pos, exit_fill, cfg.fee_rate)
        bucket = self.open_by_key.get((pos.strategy_id, pos.symbol))
        if bucket is not None and pos in bucket:
            bucket.remove(pos)

    def _natural_exit(self, pos: _Pos, at_ms: float) -> None:
        reason, price = pos.exit_natural
        self._close(pos, price, reason)

    # -- intents ---------------------------------------------------------------------------
    def step(self, item: ReplayIntent) -> None:
        ts_ms = round(item.ts * 1000)
        self.advance(ts_ms)
        self.last_ms = max(self.last_ms, ts_ms)
        gate = self.gate
        pending = gate.prepare(item.raw, header_traceparent=None, received=item.ts,
                               started=time.perf_counter())
        answer = self.ledger.reserve(pending.reserve, item.ts) if pending.reserve else None
        verdict = gate.finish(pending, answer, now=item.ts)
        if answer == ("OK", "") and verdict.outcome == "blocked" and pending.reserve:
            self.ledger.release(pending.reserve, item.ts)
        intent = pending.intent
        action = pending.action
        stats = self.by_strategy[pending.strategy_id]
        self.by_action[action][verdict.outcome] += 1
        if verdict.outcome == "approved":
            self.approved += 1
            stats["approved"] += 1
        else:
            self.blocked += 1
            stats["blocked"] += 1
            if intent is None:
                self.rejected += 1
            codes = tuple(dict.fromkeys(code for code, _ in verdict.reasons))
            self.by_reason.update(codes)
            self.by_rule.update(list(dict.fromkeys(rule_of(c) for c in codes)))
        if intent is None:
            return
        key = (intent.strategy_id, intent.symbol)
        if action == "close":
            self._close_key(key, ts_ms, approved=verdict.outcome == "approved")
            return
        side_name = ENTRY_ACTIONS.get(action)
        if side_name is None:
            return
        side = 1 if side_name == "LONG" else -1
        qty = float(intent.quantity)
        if qty <= 0 and pending.notional > 0:
            qty = pending.notional / float(intent.current_price)
        if verdict.outcome == "approved":
            pos = self._open("gated", intent.strategy_id, intent.symbol, side, qty, ts_ms,
                             intent, ())
            if pos is None:
                self.approved_unpriced += 1
                return
            self.ledger.apply_fill(decision_id=verdict.decision_id,
                                   strategy_id=intent.strategy_id, symbol=intent.symbol,
                                   notional_delta=pos.notional)
            return
        blocked_codes = [code for code, _ in verdict.reasons]
        if counts_as_shadow(action, blocked_codes):
            pos = self._open("shadow", intent.strategy_id, intent.symbol, side, qty, ts_ms,
                             intent, tuple(dict.fromkeys(blocked_codes)))
            if pos is None:
                self.shadow_unpriced += 1

    def _close_key(self, key: tuple[str, str], ts_ms: int, *, approved: bool) -> None:
        c = self.candles.get(key[1])
        f = c.entry_index(ts_ms) if c is not None else None
        if c is None or f is None:
            return
        price = float(c.open[f])
        for pos in list(self.open_by_key.get(key, ())):
            if pos.world == "gated" and not approved:
                continue
            if pos.exit_idx is not None and pos.exit_idx < f:
                continue  # its stop/target/hold end came first; it exits on its own
            self._close(pos, price, "close_intent")

    # -- report ----------------------------------------------------------------------------
    def finish(self) -> None:
        self.advance(_INF)

    def report(self, *, inputs: Mapping[str, Any]) -> dict[str, Any]:
        shadow_by_reason: dict[str, dict[str, float]] = defaultdict(_bucket)
        shadow_by_rule: dict[str, dict[str, float]] = defaultdict(_bucket)
        shadow_total = _bucket()
        realized = 0.0
        closed = open_gated = open_shadow = 0
        unrealized = shadow_unrealized = 0.0
        exits: Counter[str] = Counter()
        for pos in self.positions:
            if not pos.closed:
                c = self.candles[pos.symbol]
                *_, pnl = sim.settle(pos.side, pos.qty, pos.entry, float(c.close[-1]),
                                     self.cfg.fee_rate, self.cfg.slippage)
                if pos.world == "gated":
                    open_gated += 1
                    unrealized += pnl
                else:
                    open_shadow += 1
                    shadow_unrealized += pnl
                continue
            exits[f"{pos.world}:{pos.exit_reason}"] += 1
            if pos.world == "gated":
                closed += 1
                realized += pos.pnl
                continue
            _add(shadow_total, pos.pnl)
            for code in pos.reasons:
                _add(shadow_by_reason[code], pos.pnl)
            for rule in dict.fromkeys(rule_of(code) for code in pos.reasons):
                _add(shadow_by_rule[rule], pos.pnl)

        def buckets(table: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, Any]]:
            return {k: {"positions": int(v["positions"]), "avoided": _money(v["avoided"]),
                        "foregone": _money(v["foregone"]), "net": _money(v["net"])}
                    for k, v in sorted(table.items())}

        fatigue = shadow_total["foregone"] / realized if realized > 0 else None
        return {
            "inputs": dict(inputs),
            "approved": self.approved,
            "blocked": self.blocked,
            "rejected": self.rejected,
            "decisions_by_action": {a: dict(sorted(c.items()))
                                    for a, c in sorted(self.by_action.items())},
            "blocked_by_reason": dict(sorted(self.by_reason.items())),
            "blocked_by_rule": dict(sorted(self.by_rule.items())),
            "realized_pnl": _money(realized),
            "trades_closed": closed,
            "trades_open_at_end": open_gated,
            "unrealized_pnl_at_end": _money(unrealized),
            "approved_unpriced": self.approved_unpriced,
            "shadow_positions": int(shadow_total["positions"]) + open_shadow,
            "shadow_pnl": _money(shadow_total["net"]),
            "shadow_pnl_avoided": _money(shadow_total["avoided"]),
            "shadow_pnl_foregone": _money(shadow_total["foregone"]),
            "shadow_open_at_end": open_shadow,
            "shadow_unrealized_at_end": _money(shadow_unrealized),
            "shadow_unpriced": self.shadow_unpriced,
            "shadow_by_reason": buckets(shadow_by_reason),
            "shadow_by_rule": buckets(shadow_by_rule),
            "shadow_by_horizon": {
                f"{h}h": {"marked": int(b["marked"]), "unmarked": int(b["unmarked"]),
                          "avoided": _money(b["avoided"]), "foregone": _money(b["foregone"]),
                          "net": _money(b["net"])}
                for h, b in sorted(self.horizon_marks.items())},
            "fatigue_ratio": _frac(fatigue) if fatigue is not None else None,
            "exits": dict(sorted(exits.items())),
            "by_strategy": {s: {"approved": int(v["approved"]), "blocked": int(v["blocked"]),
                                "realized_pnl": _money(v["realized_pnl"]),
                                "shadow_pnl": _money(v["shadow_pnl"])}
                            for s, v in sorted(self.by_strategy.items())},
            "final_equity_gated": _money(self.gated.equity),
            "final_equity_ungated": _money(self.ungated.equity),
            "max_drawdown_gated": _frac(self.gated.max_dd),
            "max_drawdown_ungated": _frac(self.ungated.max_dd),
            "max_drawdown_gated_usd": _money(self.gated.max_dd_abs),
            "max_drawdown_ungated_usd": _money(self.ungated.max_dd_abs),
            "ladder": {"enabled": self.cfg.ladder, "reduce_pct": self.reduce_pct,
                       "halt_pct": self.halt_pct, "final_state": self.state,
                       "regime": (self.regime.describe() if self.regime is not None
                                  else "off"),
                       "final_phases": dict(sorted(self.phases.items()))},
            "ladder_events": self.ladder_events,
            "exposure": {"step_s": self.cfg.exposure_step_s,
                         "columns": ["at", "gated_ledger_fleet", "ungated_open_notional"],
                         "series": self.exposure,
                         "max_gated": max((row[1] for row in self.exposure), default=0.0),
                         "max_ungated": max((row[2] for row in self.exposure), default=0.0)},
        }


# What the gate's regime rule distinguishes: calm and normal are the same to it.
_GATE_PHASE = {"calm": "normal", "normal": "normal", "high": "high", "extreme": "extreme"}


class _RegimeFeed:
    """The strategist's regime (``strategist.regime.RegimeBook``) fed with each closed bar."""

    def __init__(self, candles: Mapping[str, SymbolCandles], clock: Any) -> None:
        from strategist.regime import Candle, RegimeBook, RegimeConfig

        self._candle = Candle
        self.closing: dict[str, list[int]] = {}
        self.books: dict[str, Any] = {}
        self.candles = candles
        self.labels: dict[str, str] = {}
        for symbol, c in candles.items():
            label = _interval_label(c.interval_ms)
            self.labels[symbol] = label
            self.books[symbol] = RegimeBook(RegimeConfig(interval=label))
            idx = np.searchsorted(c.close_ms, clock, side="right") - 1
            hit = (idx >= 0) & (c.close_ms[np.clip(idx, 0, None)] == clock)
            self.closing[symbol] = np.where(hit, idx, -1).tolist()

    def update(self, k: int) -> list[tuple[str, Any]]:
        out = []
        for symbol, closing in self.closing.items():
            i = closing[k]
            if i < 0:
                continue
            c = self.candles[symbol]
            bar = self._candle(symbol, int(c.open_ms[i]) / 1000.0,
                               int(c.close_ms[i]) / 1000.0, float(c.open[i]),
                               float(c.high[i]), float(c.low[i]), float(c.close[i]), 0.0,
                               self.labels[symbol])
            metrics = self.books[symbol].update(bar)
            if metrics is not None:
                out.append((symbol, metrics))
        return out

    def describe(self) -> str:
        return ("strategist.regime (RegimeConfig defaults) on the replay candles; the gate "
                "reads the high/extreme volatility phases")


def _interval_label(interval_ms: int) -> str:
    seconds = interval_ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def replay_run(*, intents: Sequence[ReplayIntent], candles: Mapping[str, SymbolCandles],
               snapshot: Mapping[str, Any], exchange: Mapping[str, ExchangeFilter] | None = None,
               config: ReplayConfig | None = None, inputs: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """Replay ``intents`` (sorted by ``(ts, seq)``) and return the report (module docstring)."""
    config = config or ReplayConfig()
    replay = _Replay(snapshot=snapshot, candles=candles,
                     exchange=exchange if exchange is not None else exchange_filters_load(),
                     config=config)
    ordered = sorted(intents, key=lambda i: (i.ts, i.seq))
    if ordered:
        step = config.exposure_step_s * 1000
        replay.next_sample = (int(ordered[0].ts * 1000) // step) * step
    for item in ordered:
        replay.step(item)
    replay.finish()
    described = {
        "intents": len(intents),
        "intents_sha256": digest(intents),
        "first_intent": _iso(intents[0].ts * 1000) if intents else None,
        "last_intent": _iso(intents[-1].ts * 1000) if intents else None,
        "candles": {s: {"rows": len(c), "interval_ms": c.interval_ms,
                        "from": _iso(int(c.open_ms[0])) if len(c) else None,
                        "to": _iso(int(c.close_ms[-1])) if len(c) else None}
                    for s, c in sorted(candles.items())},
        "policy_version": int(snapshot.get("policy_version", 0)),
        "equity": config.equity, "fee_rate": config.fee_rate,
        "slippage_bps": config.slippage_bps, "hold_hours": config.hold_hours,
        **dict(inputs or {}),
    }
    return replay.report(inputs=described)


def sorted_intents(items: Iterable[ReplayIntent]) -> list[ReplayIntent]:
    return sorted(items, key=lambda i: (i.ts, i.seq))
