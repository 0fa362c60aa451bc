"""The decision core: parse, run the in-memory rules, then the atomic cross-instance step.

``Gate.prepare`` is synchronous and touches no network: contract, trading state, hard
gates, resolved config, regime and exchange filters. Intents that survive it carry a
``ReserveRequest`` for the ledger (duplicates, rates, exposure), which the runner sends for
a whole batch in one Redis round trip before ``Gate.finish`` builds the outgoing messages.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from pydantic_core import from_json, to_json

from nurse.contracts import (
    SIDE_ALIASES,
    IntentRejected,
    is_valid_traceparent,
    trace_context_of,
)
from nurse.contracts.fast import IntentView, parse_intent_fast
from nurse.ledger import ReserveRequest
from nurse.policy import CompiledPolicy, ExchangeFilter
from nurse.rules import RULES, GateContext, Reason

if TYPE_CHECKING:
    from cio_site.telemetry import IntentTracer

_TOKEN_RE = re.compile(r"[^A-Za-z0-9_-]")
_encode = msgspec.json.Encoder().encode  # the decision's own fields: str, int, float, None
_SIDES = {"buy": "LONG", "sell": "SHORT"}
_REDUCING = ("close", "hold")
_INF = float("inf")


def subject_token(strategy_id: str) -> str:
    """A strategy id made into one NATS subject token (no dots, wildcards or spaces)."""
    token = _TOKEN_RE.sub("_", strategy_id)[:128]
    return token or "unknown"


# Ids need uniqueness, not secrecy: a PRNG seeded from the OS (per process, like
# OpenTelemetry's id generator) instead of one urandom syscall per id on the hot path.
_ids = random.Random(secrets.randbits(128))  # noqa: S311


def new_id() -> str:
    """128 random bits as 32 hex digits (decision ids, trace ids); never all zeros."""
    return f"{_ids.getrandbits(128) | 1:032x}"


def new_traceparent(parent: str | None) -> tuple[str, str]:
    """Continue ``parent``'s trace with a new span id, or start a new trace."""
    span = f"{_ids.getrandbits(64) | 1:016x}"
    if parent and is_valid_traceparent(parent):
        trace_id = parent[3:35]
        flags = parent[-2:]
    else:
        trace_id, flags = new_id(), "01"
    return f"00-{trace_id}-{span}-{flags}", trace_id


@dataclass(slots=True)
class Pending:
    """One intent between the in-memory rules and the ledger step."""

    decision_id: str
    received: float
    started: float
    raw_payload: dict[str, Any] | None
    intent: IntentView | None
    reasons: list[Reason]
    traceparent: str
    trace_id: str
    policy_version: int
    reserve: ReserveRequest | None = None
    reducing: bool = False
    notional: float = 0.0
    strategy_id: str = "unknown"
    symbol: str = "UNKNOWN"
    action: str = "hold"
    span: Any = None  # the intent's OTel span, only while tracing is on


@dataclass(slots=True)
class Verdict:
    """The decision and the bytes to publish for it."""

    decision_id: str
    outcome: str
    reasons: list[Reason]
    strategy_id: str
    symbol: str
    token: str
    trace_id: str
    traceparent: str
    policy_version: int
    latency_us: int
    decision_body: bytes
    signal_subject: str | None = None
    signal_body: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LocalDedup:
    """Per-instance memory of recent signal ids and content keys (works with Redis down)."""

    def __init__(self, window_s: float, capacity: int = 200_000) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen(self, key: str, now: float) -> bool:
        ts = self._seen.get(key)
        return ts is not None and now - ts < self.window_s

    def add(self, key: str, now: float) -> None:
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


class Gate:
    """Holds the current compiled policy and exchange filters; decides intents."""

    def __init__(self, *, instance: str, signal_prefix: str = "signals.trading",
                 budget_ms: float = 50.0, max_bytes: int = 65536, dedup_window_s: float = 60,
                 source: str = "petrosa-cio") -> None:
        self.instance = instance
        self.signal_prefix = signal_prefix
        self.budget_s = budget_ms / 1000.0
        self.max_bytes = max_bytes
        self.source = source
        self.policy: CompiledPolicy | None = None
        self.exchange: dict[str, ExchangeFilter] = {}
        self.exchange_loaded = False
        self.equity: float | None = None
        self.local_dedup = LocalDedup(dedup_window_s)
        self._tokens: dict[str, str] = {}
        # Set by the runner when OpenTelemetry tracing is on; None = no span work at all.
        self.tracer: IntentTracer | None = None

    # -- state swaps (atomic reference assignments) ----------------------------------------
    def set_policy(self, policy: CompiledPolicy) -> bool:
        if self.policy is not None and policy.version <= self.policy.version:
            return False  # never go back to an older snapshot; same version: nothing new
        self.policy = policy
        return True

    def set_exchange(self, filters: dict[str, ExchangeFilter]) -> None:
        self.exchange = filters
        self.exchange_loaded = bool(filters)

    def token(self, strategy_id: str) -> str:
        found = self._tokens.get(strategy_id)
        if found is None:
            if len(self._tokens) > 100_000:
                self._tokens.clear()
            found = self._tokens[strategy_id] = subject_token(strategy_id)
        return found

    # -- step 1: in-memory -----------------------------------------------------------------
    def prepare(self, raw: bytes, *, header_traceparent: str | None, received: float,
                started: float | None = None) -> Pending:
        """In-memory checks; ``started`` is the perf_counter at receipt (budget clock)."""
        started = started if started is not None else time.perf_counter()
        decision_id = new_id()
        policy = self.policy
        version = policy.version if policy else 0
        try:
            intent = parse_intent_fast(raw, now=received, max_bytes=self.max_bytes)
        except IntentRejected as exc:
            tp, trace_id = new_traceparent(header_traceparent)
            pending = Pending(decision_id, received, started, None, None,
                              [(exc.code, exc.message[:300])], tp, trace_id, version)
            _identify_rejected(pending, raw)
            if self.tracer is not None:
                self.tracer.begin(pending, header_traceparent)
            return pending
        parent = header_traceparent or intent.traceparent
        tp, trace_id = new_traceparent(parent)
        pending = Pending(decision_id, received, started, None, intent, [], tp, trace_id,
                          version, strategy_id=intent.strategy_id, symbol=intent.symbol,
                          action=intent.action)
        if self.tracer is not None:
            # The span takes the ids of ``tp``: what is published equals the span context.
            self.tracer.begin(pending, parent)
        reducing = intent.action in ("close", "hold")
        pending.reducing = reducing
        content_key = _content_key(intent)
        signal_key = f"id:{intent.strategy_id}:{intent.signal_id}" if intent.signal_id else ""
        if (signal_key and self.local_dedup.seen(signal_key, received)) or \
                self.local_dedup.seen(content_key, received):
            pending.reasons.append(("DUPLICATE_SIGNAL_ID" if signal_key and
                                    self.local_dedup.seen(signal_key, received)
                                    else "DUPLICATE_CONTENT", "seen by this instance"))
            return pending
        if policy is None:
            if not reducing:
                pending.reasons.append(("POLICY_MISSING", "no policy loaded yet"))
                return pending
            params: dict[str, Any] = {}
        else:
            params = policy.params_for(intent.strategy_id, intent.symbol,
                                       _SIDES.get(intent.action, ""))
        notional = intent.notional
        if notional <= 0 and intent.is_pct_sized and self.equity:
            notional = float(intent.position_size_pct or 0) * self.equity * float(
                params.get("leverage") or 1)
        pending.notional = notional
        if policy is not None and not reducing:
            ctx = GateContext(intent=intent, policy=policy, params=params,
                              side=_SIDES.get(intent.action, ""), reducing=reducing,
                              now=received, notional=notional,
                              exchange=self.exchange.get(intent.symbol),
                              exchange_loaded=self.exchange_loaded, equity=self.equity,
                              reasons=pending.reasons)
            if self.tracer is not None and pending.span is not None:
                self.tracer.run_rules(pending.span, RULES, ctx)  # child span per rule
            else:
                for rule in RULES:
                    rule.fn(ctx)
        if pending.reasons:
            return pending
        gates = policy.hard_gates if policy else {}
        pending.reserve = ReserveRequest(
            decision_id=decision_id,
            signal_id=intent.signal_id,
            content_key=content_key,
            strategy_id=intent.strategy_id,
            symbol=intent.symbol,
            reducing=reducing,
            notional=notional,
            max_orders_per_minute=int(params.get("max_orders_per_minute") or 1_000_000),
            max_daily_trades=int(params.get("max_daily_trades") or 1_000_000),
            symbol_limit=_limit(params.get("max_symbol_exposure_usd")),
            strategy_limit=_limit(params.get("max_strategy_exposure_usd")),
            fleet_limit=min(_limit(params.get("max_fleet_exposure_usd")),
                            _limit(gates.get("max_fleet_exposure_usd"))),
        )
        return pending

    def shed(self, raw: bytes, *, header_traceparent: str | None, received: float,
             started: float, code: str, detail: str, spare_reductions: bool = True
             ) -> Pending | None:
        """Block an intent without deciding it (over budget or overload), cheaply.

        Returns None when the payload says it reduces a position (``close``/``hold``, also
        by a ``side`` alias): those always go through the full checks, since blocking a
        reduction is never the safe side. Anything else is blocked with ``code`` after a
        bare JSON read (for the strategy, symbol and trace): no validation, no rules, no
        ledger, so a backlog drains several times faster than it is decided.
        ``spare_reductions=False`` blocks reductions too: for an intent the gate failed to
        decide at all (an internal error), where nothing about it has been checked."""
        try:
            data = from_json(raw[:self.max_bytes])
        except ValueError:
            data = None
        parent = header_traceparent
        if type(data) is dict:
            action = data.get("action")
            side = data.get("side")
            if spare_reductions and (action in _REDUCING or (
                    type(side) is str and SIDE_ALIASES.get(side.lower()) in _REDUCING)):
                return None
            parent = parent or trace_context_of(data)
        tp, trace_id = new_traceparent(parent)
        policy = self.policy
        pending = Pending(new_id(), received, started, None, None, [(code, detail)], tp,
                          trace_id, policy.version if policy else 0)
        if type(data) is dict:
            _identify(pending, data)
        if self.tracer is not None:
            self.tracer.begin(pending, parent)
        return pending

    # -- step 2: after the ledger ----------------------------------------------------------
    def finish(self, pending: Pending, ledger: tuple[str, str] | None, *, now: float,
               decided_at: float | None = None) -> Verdict:
        """Turn the pending decision and the ledger's answer into the messages to publish.

        ``ledger`` is None when the ledger could not be asked (Redis down or timed out):
        then only position-reducing intents pass. ``decided_at`` (epoch, default: the wall
        clock now) stamps the decision and the signal; the runner reads the clock once per
        batch."""
        reasons = pending.reasons
        if pending.reserve is not None and not reasons:
            if ledger is None:
                if not pending.reducing:
                    reasons.append(("EXPOSURE_STATE_UNAVAILABLE",
                                    "shared exposure ledger unreachable"))
            elif ledger[0] != "OK":
                reasons.append((ledger[0], _ledger_detail(ledger, pending.reserve)))
        if not reasons and not pending.reducing and \
                (time.perf_counter() - pending.started) > self.budget_s:
            reasons.append(("GATE_TIMEOUT", f"budget_ms={self.budget_s * 1000:.0f}"))
        intent = pending.intent
        if intent is not None and not reasons and pending.reserve is not None:
            if pending.reserve.signal_id:
                self.local_dedup.add(f"id:{intent.strategy_id}:{intent.signal_id}", now)
            self.local_dedup.add(pending.reserve.content_key, now)
        outcome = "blocked" if reasons else "approved"
        token = self.token(pending.strategy_id)
        signal_subject = signal_body = None
        decided_iso = _iso(decided_at if decided_at is not None else time.time())
        if outcome == "approved" and intent is not None:
            signal_subject = f"{self.signal_prefix}.{token}"
            signal_body = intent.signal_json(decision_id=pending.decision_id,
                                             source=self.source, timestamp=decided_iso,
                                             traceparent=pending.traceparent)
        latency_us = int((time.perf_counter() - pending.started) * 1e6)
        decision = {
            "decision_id": pending.decision_id,
            "intent_id": (intent.intent_id or intent.id) if intent else None,
            "signal_id": intent.signal_id if intent else None,
            "strategy_id": pending.strategy_id,
            "symbol": pending.symbol,
            "action": pending.action,
            "quantity": float(intent.quantity) if intent else 0.0,
            "price": float(intent.current_price) if intent else 0.0,
            "notional": pending.notional,
            "outcome": outcome,
            "reasons": [{"code": c, "detail": d} for c, d in reasons],
            "policy_version": pending.policy_version,
            "latency_us": latency_us,
            "traceparent": pending.traceparent,
            "received_at": _iso(pending.received),
            "decided_at": decided_iso,
            "instance": self.instance,
            "signal_subject": signal_subject,
        }
        # The intent goes last: the received bytes (fast path) or the model's JSON.
        payload = intent.audit_json() if intent else to_json(pending.raw_payload or {})
        decision_body = _encode(decision)[:-1] + b',"intent":' + payload + b"}"
        return Verdict(
            decision_id=pending.decision_id, outcome=outcome, reasons=list(reasons),
            strategy_id=pending.strategy_id, symbol=pending.symbol, token=token,
            trace_id=pending.trace_id, traceparent=pending.traceparent,
            policy_version=pending.policy_version, latency_us=latency_us,
            decision_body=decision_body,
            signal_subject=signal_subject, signal_body=signal_body,
        )

    def decide_local(self, raw: bytes, *, header_traceparent: str | None = None,
                     received: float | None = None, ledger: tuple[str, str] | None = ("OK", "")
                     ) -> Verdict:
        """Both steps with a given ledger answer: for replays and explain (no Redis)."""
        now = received if received is not None else time.time()
        pending = self.prepare(raw, header_traceparent=header_traceparent, received=now)
        return self.finish(pending, ledger if pending.reserve is not None else None, now=now)


def default_instance_id() -> str:
    host = os.environ.get("HOSTNAME") or os.uname().nodename
    return f"{host}-{os.getpid()}"


def _limit(value: Any) -> float:
    return float(value) if value is not None else _INF


_iso_seconds: dict[int, str] = {}  # whole epoch second -> its "YYYY-MM-DDTHH:MM:SS" text


def _iso(epoch: float) -> str:
    """ISO-8601 UTC with a ``Z``, as pydantic writes datetimes (no fraction when it is 0).

    The date-and-time part is formatted once per second (a few seconds are kept: the
    received and decided times of a batch can straddle a second)."""
    # As datetime.fromtimestamp rounds: the fraction alone, half to even, with carry.
    frac, whole = math.modf(epoch)
    second, fraction = int(whole), round(frac * 1e6)
    if fraction >= 1_000_000:
        second, fraction = second + 1, fraction - 1_000_000
    head = _iso_seconds.get(second)
    if head is None:
        if len(_iso_seconds) >= 8:
            _iso_seconds.clear()
        head = _iso_seconds[second] = datetime.fromtimestamp(second, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S")
    return f"{head}.{fraction:06d}Z" if fraction else f"{head}Z"


def _content_key(intent: IntentView) -> str:
    material = (f"{intent.strategy_id}|{intent.symbol}|{intent.action}|{intent.quantity!r}|"
                f"{intent.position_size_pct!r}|{intent.quote_quantity!r}|{intent.price!r}|"
                f"{intent.current_price!r}|{intent.stop_loss!r}|{intent.take_profit!r}|"
                f"{intent.order_type}|{int(intent.epoch)}")
    return hashlib.blake2b(material.encode(), digest_size=12).hexdigest()


def _ledger_detail(ledger: tuple[str, str], req: ReserveRequest) -> str:
    code, value = ledger
    if code.startswith("DUPLICATE"):
        return f"first_decision_id={value}"
    if code == "RATE_ORDERS_PER_MINUTE":
        return f"orders_this_minute={value} limit={req.max_orders_per_minute}"
    if code == "RATE_DAILY_TRADES":
        return f"trades_today={value} limit={req.max_daily_trades}"
    limits = {"EXPOSURE_SYMBOL_LIMIT": req.symbol_limit,
              "EXPOSURE_STRATEGY_LIMIT": req.strategy_limit,
              "EXPOSURE_FLEET_LIMIT": req.fleet_limit}
    if code in limits:
        return f"open={value} notional={req.notional:.10g} limit={limits[code]:.10g}"
    if code == "EXPOSURE_NO_POSITIONS":
        return f"positions_synced_at={value}"
    return value


def _identify_rejected(pending: Pending, raw: bytes) -> None:
    """Best effort: name the strategy and symbol of a rejected payload for routing/audit."""
    try:
        data = json.loads(raw[:65536])
    except (ValueError, UnicodeDecodeError):
        return
    if isinstance(data, dict):
        _identify(pending, data)


def _identify(pending: Pending, data: dict[str, Any]) -> None:
    """Strategy, symbol and action of an unvalidated payload, and the payload for the audit."""
    pending.raw_payload = dict(list(data.items())[:64])
    sid = data.get("strategy_id")
    sym = data.get("symbol")
    if isinstance(sid, str) and sid.strip():
        pending.strategy_id = sid.strip()[:128]
    if isinstance(sym, str) and sym.strip():
        pending.symbol = sym.strip().upper()[:32]
    act = data.get("action")
    if act in ("buy", "sell", "hold", "close"):
        pending.action = act
