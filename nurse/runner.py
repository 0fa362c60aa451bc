"""The Nurse process: NATS in, decisions out, one asyncio loop.

1. Intents (queue group ``cio-nurse``) and audit requests land in one in-memory queue;
   whatever arrived in one burst of deliveries is decided as one batch.
2. Deciding is synchronous: the in-memory rules per intent, then one Lua script call for
   the whole batch (duplicates, rates, exposure) written to a pipelined Redis connection
   (``nurse.redis_wire``); its answer finishes the batch in a callback.
3. The emitter publishes every decision to JetStream with this instance's ack inbox and
   goes on; when all of a batch's acks are in, the batch's approved signals are published:
   a signal is never on the bus without a durable decision (zero phantom trades).
4. Side loops: heartbeat (request-reply and periodic publish), policy swaps (on
   ``cio.policy.updated`` and a periodic Redis re-read), exchange filters, dependency
   checks, fills from ``execution.events.>`` into the exposure ledger, instance registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import nats
import redis.asyncio as aioredis
from nats.aio.msg import Msg
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cio_site.metrics import nurse_observer
from cio_site.nats_url import nats_servers
from nurse.gate import Gate, Pending, Verdict, default_instance_id, subject_token
from nurse.ledger import Ledger, ReserveRequest
from nurse.nats_out import BatchPublisher, header_block
from nurse.policy import CompiledPolicy, exchange_filters_from_info
from nurse.redis_wire import RedisWire
from nurse.streams import ensure_decision_stream

logger = logging.getLogger("nurse")

HEARTBEAT_SUBJECT = "cio.heartbeat"
AUDIT_SUBJECT = "cio.nurse.audit"
POLICY_SUBJECT = "cio.policy.updated"
BLOCKED_PREFIX = "cio.nurse.blocked"
EXECUTION_SUBJECT = "execution.events.>"


@dataclass(slots=True)
class NurseConfig:
    """Everything the runner needs, resolved from Django settings by the command."""

    nats_url: str
    redis_url: str
    namespace: str
    intent_subjects: list[str]
    queue_group: str = "cio-nurse"
    signal_prefix: str = "signals.trading"
    decision_stream: str = "CIO_DECISIONS"
    decision_prefix: str = "cio.decision"
    decision_replicas: int = 1
    heartbeat_interval_s: float = 10.0
    policy_refresh_s: float = 5.0
    budget_ms: float = 50.0
    dedup_window_s: int = 60
    max_payload_bytes: int = 65536
    version: str = "0.1.0"
    service: str = "petrosa-cio"
    instance: str = field(default_factory=default_instance_id)
    max_batch: int = 64
    max_ledger_inflight: int = 4
    max_queue: int = 50_000
    ack_timeout_s: float = 2.0
    redis_timeout_s: float = 0.02
    # Age after which the engine's position snapshot is too old to size exposure against;
    # 0 trusts fill-by-fill accounting alone (an operator's explicit choice).
    positions_max_age_s: float = 120.0
    db_check: Any = None  # a sync callable returning True when the database answers


@dataclass(slots=True)
class _AckBatch:
    """One decided batch whose decisions are on their way to JetStream."""

    verdicts: list[tuple[_Item, Pending, Verdict]]
    remaining: int
    stored: set[str] = field(default_factory=set)
    completed: bool = False
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Item:
    raw: bytes
    traceparent: str | None
    received: float
    started: float
    reply: str | None  # set for request-reply audits


class NurseRunner:
    """One gate instance bound to NATS and Redis."""

    def __init__(self, config: NurseConfig) -> None:
        self.cfg = config
        self.gate = Gate(instance=config.instance, signal_prefix=config.signal_prefix,
                         budget_ms=config.budget_ms, max_bytes=config.max_payload_bytes,
                         dedup_window_s=config.dedup_window_s, source=config.service)
        self.nc: Any = None
        self.js: Any = None
        self.redis: aioredis.Redis | None = None
        self.ledger: Ledger | None = None
        self.wire: RedisWire | None = None
        self.queue: deque[_Item] = deque()
        self._drain_scheduled = False
        self._ledger_inflight = 0
        self._ledger_timeout_s = min(config.budget_ms / 1000.0,
                                     max(config.redis_timeout_s, 0.001) * 50)
        self.emit_ready: deque[list[tuple[_Item, Pending, Verdict]]] = deque()
        self.emit_wakeup = asyncio.Event()
        self._loop: Any = None  # the running loop, set by start()
        self.acks: dict[str, _AckBatch] = {}
        self.ack_inbox = ""
        self.deps = {"nats": "down", "redis": "down", "db": "down"}
        self.alerts_degraded = False
        self.started_at = time.time()
        self.counters = {"approved": 0, "blocked": 0, "rejected": 0, "timeouts": 0,
                         "overload": 0}
        self.batch_stats: dict[str, float] = {"batches": 0, "max_size": 0, "max_ms": 0.0,
                                              "last_ms": 0.0}
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        # Tracing / metrics / ops-port hook: None (and no work at all) unless one is on.
        self.observer = nurse_observer(self)
        self.gate.tracer = self.observer.tracer if self.observer is not None else None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.cfg
        self._loop = asyncio.get_running_loop()
        # A small, blocking pool: a burst must queue for connections, never open hundreds.
        # One retry on a fresh connection: after a Redis restart the pooled connections are
        # dead, and a fill or snapshot must not be lost to the first stale one.
        pool = aioredis.BlockingConnectionPool.from_url(
            cfg.redis_url, max_connections=16, timeout=1, socket_timeout=1,
            socket_connect_timeout=1, retry=Retry(NoBackoff(), 1))
        self.redis = aioredis.Redis(connection_pool=pool)
        self.ledger = Ledger(self.redis, cfg.namespace, dedup_window_s=cfg.dedup_window_s,
                             positions_max_age_s=cfg.positions_max_age_s)
        self.wire = RedisWire(cfg.redis_url)
        with contextlib.suppress(OSError, TimeoutError, ConnectionError):
            await self.wire.connect()  # else: reconnects on first use; exposure fails closed
        self.nc = await nats.connect(
            nats_servers(cfg.nats_url), name=f"cio-nurse-{cfg.instance}", max_reconnect_attempts=-1,
            reconnect_time_wait=0.5, pending_size=64 * 1024 * 1024,
            disconnected_cb=self._on_disconnect, reconnected_cb=self._on_reconnect)
        self.deps["nats"] = "ok"
        self.js = self.nc.jetstream()
        await self._ensure_stream()
        await self._refresh_policy()
        await self._refresh_exchange()
        self.ack_inbox = f"_INBOX.cio-nurse.{subject_token(cfg.instance)}.{id(self)}"
        await self.nc.subscribe(f"{self.ack_inbox}.*", cb=self._on_ack)
        for subject in cfg.intent_subjects:
            await self.nc.subscribe(subject, queue=cfg.queue_group, cb=self._on_intent,
                                    pending_msgs_limit=cfg.max_queue * 2,
                                    pending_bytes_limit=512 * 1024 * 1024)
        await self.nc.subscribe(AUDIT_SUBJECT, queue=cfg.queue_group, cb=self._on_intent)
        await self.nc.subscribe(HEARTBEAT_SUBJECT, queue=f"{cfg.queue_group}-hb",
                                cb=self._on_heartbeat_request)
        await self.nc.subscribe(POLICY_SUBJECT, cb=self._on_policy_updated)
        await self.nc.subscribe(EXECUTION_SUBJECT, queue=f"{cfg.queue_group}-positions",
                                cb=self._on_execution)
        await self.nc.flush()
        if self.observer is not None:
            await self.observer.start()
        for coro in (self._emit_loop(), self._heartbeat_loop(),
                     self._refresh_loop(), self._dependency_loop()):
            self._tasks.append(asyncio.create_task(coro))
        logger.info("nurse %s started: policy v%s, subjects %s", cfg.instance,
                    self.gate.policy.version if self.gate.policy else None,
                    cfg.intent_subjects)

    async def run_forever(self) -> None:
        await self.start()
        await self.wait_stopped()

    async def wait_stopped(self) -> None:
        """After ``start``: run until ``request_stop``, then stop."""
        await self._stopping.wait()
        await self.stop()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        if self.observer is not None:
            await self.observer.stop()
        pending = [*self._tasks, *self._background]
        for task in pending:
            task.cancel()
        if pending:
            # Bounded: a task stuck in a library call must not hold the stop forever.
            _, stuck = await asyncio.wait(pending, timeout=5)
            if stuck:
                logger.warning("%d gate tasks did not stop within 5 s", len(stuck))
        # Every step is bounded: a stop must finish even with NATS or Redis gone.
        if self.nc is not None and not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.drain(), timeout=5)
            except Exception:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.nc.close(), timeout=2)
        if self.redis is not None:
            # Leave a "stopped" entry so the watchdog tells a clean stop from a silent death.
            entry = {**self.heartbeat(), "status": "stopped", "last_seen": time.time()}
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.redis.hset(
                    self._instances_key(), self.cfg.instance, json.dumps(entry)), timeout=2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.redis.aclose(), timeout=2)
        if self.wire is not None:
            self.wire.close()

    async def _ensure_stream(self) -> None:
        await ensure_decision_stream(self.js, name=self.cfg.decision_stream,
                                     subject_prefix=self.cfg.decision_prefix,
                                     replicas=self.cfg.decision_replicas)

    async def _on_disconnect(self) -> None:
        self.deps["nats"] = "down"

    async def _on_reconnect(self) -> None:
        self.deps["nats"] = "ok"

    # -- intake ----------------------------------------------------------------------------
    async def _on_intent(self, msg: Msg) -> None:
        started = time.perf_counter()
        headers = msg.headers
        item = _Item(msg.data, headers.get("traceparent") if headers else None, time.time(),
                     started, msg.reply or None)
        if len(self.queue) >= self.cfg.max_queue:
            self.counters["overload"] += 1
            if item.reply:
                await self._reply_error(item.reply, "RETRY_SAFE", "the gate is overloaded")
                return
            # Pub-sub intents are still decided (blocked) so nothing is silently lost.
        self.queue.append(item)
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        # After the current burst of deliveries: whatever arrived meanwhile is one batch.
        if self.queue and not self._drain_scheduled:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        """Stage 1 (synchronous, no awaits): decide queued intents batch by batch.

        Each batch runs the in-memory rules and sends one ledger script call; the ledger's
        answer (a callback from the Redis connection) finishes the batch and hands it to
        the emitter. Up to ``max_ledger_inflight`` batches are on their way to Redis at once,
        so deciding batch N+1 overlaps with batch N's round trip and JetStream acks."""
        self._drain_scheduled = False
        while self.queue and self._ledger_inflight < self.cfg.max_ledger_inflight:
            queue = self.queue
            n = min(len(queue), self.cfg.max_batch)
            batch = [queue.popleft() for _ in range(n)]
            try:
                self._decide(batch)
            except Exception as exc:
                logger.exception("deciding a batch of %d failed; blocking it with GATE_ERROR",
                                 len(batch))
                self._decide_failed(batch, exc)

    def _decide(self, batch: list[_Item]) -> None:
        gate = self.gate
        overloaded = len(self.queue) >= self.cfg.max_queue
        budget = self.cfg.budget_ms / 1000.0
        t0 = time.perf_counter()
        pendings: list[Pending] = []
        asks: list[Pending] = []
        for item in batch:
            # Overloaded, or already late: blocked before any work or reservation.
            if overloaded or t0 - item.started > budget:
                code, detail = (("GATE_OVERLOAD", "intake queue full") if overloaded else
                                ("GATE_TIMEOUT", f"budget_ms={self.cfg.budget_ms:.0f}"))
                shed = gate.shed(item.raw, header_traceparent=item.traceparent,
                                 received=item.received, started=item.started,
                                 code=code, detail=detail)
                if shed is not None:  # (a position reduction is never shed)
                    self.counters["overload" if overloaded else "timeouts"] += 1
                    pendings.append(shed)
                    continue
            pending = gate.prepare(item.raw, header_traceparent=item.traceparent,
                                   received=item.received, started=item.started)
            if pending.reserve is not None:
                asks.append(pending)
            pendings.append(pending)
        if not asks:
            self._finished(batch, pendings, None, t0)
            return
        if self.ledger is None or self.wire is None:
            raise RuntimeError("the runner has not been started")
        reqs = [p.reserve for p in asks if p.reserve is not None]
        self._ledger_inflight += 1

        def answered(results: list[tuple[str, str]] | None) -> None:
            self._ledger_inflight -= 1
            if results is None:
                self.deps["redis"] = "down"
                answers: dict[str, tuple[str, str] | None] = {p.decision_id: None for p in asks}
            else:
                self.deps["redis"] = "ok"
                answers = {p.decision_id: r for p, r in zip(asks, results, strict=True)}
            self._finished(batch, pendings, answers, t0)
            self._schedule_drain()

        self.ledger.reserve_wire(self.wire, reqs, time.time(), answered,
                                 timeout=self._ledger_timeout_s,
                                 on_late=lambda results: self._undo_late(reqs, results))

    def _decide_failed(self, batch: list[_Item], exc: Exception) -> None:
        """A bug or a broken state while deciding: every intent of the batch still gets a
        durable, blocked decision (GATE_ERROR; request-reply: RETRY_SAFE). Nothing was
        reserved for them (the ledger call is the last step of deciding)."""
        t0 = time.perf_counter()
        detail = f"internal error {type(exc).__name__}"
        try:
            pendings = [self.gate.shed(item.raw, header_traceparent=item.traceparent,
                                       received=item.received, started=item.started,
                                       code="GATE_ERROR", detail=detail,
                                       spare_reductions=False) for item in batch]
            self._finished(batch, [p for p in pendings if p is not None], None, t0)
        except Exception:
            logger.exception("could not even block the failed batch; replying RETRY_SAFE")
            self._spawn(self._fail_batch(batch))

    def _undo_late(self, reqs: list[ReserveRequest], results: list[tuple[str, str]]) -> None:
        """A ledger answer that came after its batch was decided without it: undo it."""
        undo = [req for req, res in zip(reqs, results, strict=False) if res[0] == "OK"]
        if undo:
            self._spawn(self._release_many(undo))

    def _finished(self, batch: list[_Item], pendings: list[Pending],
                  answers: dict[str, tuple[str, str] | None] | None, t0: float) -> None:
        """Turn a decided batch into verdicts and hand it to the emitter."""
        gate = self.gate
        now = time.time()
        verdicts = []
        undo: list[ReserveRequest] = []
        for item, pending in zip(batch, pendings, strict=True):
            answer = answers.get(pending.decision_id) if answers is not None else None
            verdict = gate.finish(pending, answer, now=now, decided_at=now)
            if pending.reserve is not None and answer == ("OK", "") \
                    and verdict.outcome == "blocked":
                # Approved by the ledger, then over budget: undo so a retry is safe.
                self.counters["timeouts"] += 1
                undo.append(pending.reserve)
            verdicts.append((item, pending, verdict))
        if undo:
            self._spawn(self._release_many(undo))
        self._note_batch(len(batch), time.perf_counter() - t0)
        self.emit_ready.append(verdicts)
        self.emit_wakeup.set()

    def _note_batch(self, size: int, seconds: float) -> None:
        stats = self.batch_stats
        stats["batches"] += 1
        stats["max_size"] = max(stats["max_size"], size)
        stats["max_ms"] = max(stats["max_ms"], seconds * 1000)
        stats["last_ms"] = seconds * 1000

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _release_many(self, reqs: list[ReserveRequest]) -> None:
        if self.ledger is not None:
            try:
                await self.ledger.release_many(reqs, time.time())
            except (aioredis.RedisError, OSError) as exc:
                # The reservations expire by themselves (reservation TTL).
                logger.warning("could not release %d reservations: %s", len(reqs),
                               type(exc).__name__)

    # -- emit --------------------------------------------------------------------------------
    async def _emit_loop(self) -> None:
        """Stage 2: publish decided batches' decisions to JetStream, in order, without waiting.

        The acks come back on this instance's inbox (``_on_ack``); a batch whose decisions
        are all stored (or whose ack deadline passed) is completed there: signals, blocked
        events and request replies go out only then."""
        while True:
            if not self.emit_ready:
                self.emit_wakeup.clear()
                await self.emit_wakeup.wait()
            out = BatchPublisher(self.nc)
            started: list[_AckBatch] = []
            while self.emit_ready:
                verdicts = self.emit_ready.popleft()
                batch = _AckBatch(verdicts, len(verdicts))
                for _, _, verdict in verdicts:
                    self.acks[verdict.decision_id] = batch
                    out.add(f"{self.cfg.decision_prefix}.{verdict.outcome}.{verdict.token}",
                            verdict.decision_body,
                            reply=f"{self.ack_inbox}.{verdict.decision_id}",
                            headers=header_block((("Nats-Msg-Id", verdict.decision_id),
                                                  ("traceparent", verdict.traceparent))))
                started.append(batch)
            try:
                await out.flush()
            except Exception as exc:
                logger.warning("could not publish %d decisions: %s", len(out),
                               type(exc).__name__)
                for batch in started:
                    await self._complete(batch)  # nothing stored: blocked, AUDIT_UNAVAILABLE
                continue
            for batch in started:
                if not batch.completed:
                    batch.timer = self._loop.call_later(self.cfg.ack_timeout_s,
                                                        self._ack_expired, batch)

    def _ack_expired(self, batch: _AckBatch) -> None:
        if not batch.completed:
            self._spawn(self._complete(batch))

    async def _on_ack(self, msg: Msg) -> None:
        decision_id = msg.subject.rsplit(".", 1)[-1]
        batch = self.acks.pop(decision_id, None)
        if batch is None:
            return
        data = msg.data
        # A JetStream PubAck is {"stream", "seq", ["duplicate"]}; an error carries "error".
        if b'"seq"' in data and b'"error"' not in data:
            batch.stored.add(decision_id)
        batch.remaining -= 1
        if batch.remaining <= 0:
            await self._complete(batch)

    async def _complete(self, batch: _AckBatch) -> None:
        """Publish what follows a batch's durable decisions (exactly once per batch)."""
        if batch.completed:
            return
        batch.completed = True
        if batch.timer is not None:
            batch.timer.cancel()
        out = BatchPublisher(self.nc)
        replies: list[tuple[str, Verdict]] = []
        for item, pending, verdict in batch.verdicts:
            self.acks.pop(verdict.decision_id, None)
            stored = verdict.decision_id in batch.stored
            if verdict.outcome == "approved" and verdict.signal_subject and verdict.signal_body:
                if stored or pending.reducing:
                    out.add(verdict.signal_subject, verdict.signal_body,
                            headers=header_block((("traceparent", verdict.traceparent),
                                                  ("Nats-Msg-Id", verdict.decision_id))))
                    self.counters["approved"] += 1
                else:
                    # No durable record: publishing would make a phantom trade.
                    _unstored(verdict)
                    if pending.reserve is not None:
                        self._spawn(self._release_many([pending.reserve]))
            if verdict.outcome == "blocked":
                self.counters["blocked"] += 1
                if pending.intent is None and verdict.reasons and \
                        verdict.reasons[0][0].startswith("CONTRACT_"):
                    self.counters["rejected"] += 1
                out.add(f"{BLOCKED_PREFIX}.{verdict.token}", verdict.decision_body,
                        headers=header_block((("traceparent", verdict.traceparent),)))
            if item.reply:
                replies.append((item.reply, verdict))
        for reply, verdict in replies:
            out.add(reply, self._verdict_reply(verdict))
        try:
            await out.flush()
        except Exception as exc:
            logger.warning("could not publish the outcome of %d decisions: %s",
                           len(batch.verdicts), type(exc).__name__)
        if self.observer is not None:
            self.observer.after_emit(batch.verdicts)  # spans end with the outcome; metrics

    def _verdict_reply(self, verdict: Verdict) -> bytes:
        codes = [c for c, _ in verdict.reasons]
        if "GATE_TIMEOUT" in codes or "GATE_OVERLOAD" in codes or "GATE_ERROR" in codes:
            return _error_body("RETRY_SAFE", "budget overrun or overload; retry",
                               trace_id=verdict.trace_id,
                               details={"decision_id": verdict.decision_id})
        body = {
            "success": True,
            "data": {"decision_id": verdict.decision_id, "outcome": verdict.outcome,
                     "reasons": [{"code": c, "detail": d} for c, d in verdict.reasons],
                     "policy_version": verdict.policy_version,
                     "signal_subject": verdict.signal_subject},
            "trace_id": verdict.trace_id,
            "error": None,
        }
        return json.dumps(body).encode()

    async def _reply_error(self, reply: str, code: str, message: str) -> None:
        await self.nc.publish(reply, _error_body(code, message))

    async def _fail_batch(self, batch: list[_Item]) -> None:
        for item in batch:
            if item.reply:
                with contextlib.suppress(Exception):
                    await self._reply_error(item.reply, "RETRY_SAFE", "internal gate error")

    # -- heartbeat ---------------------------------------------------------------------------
    def heartbeat(self) -> dict[str, Any]:
        policy = self.gate.policy
        status = "GOVERNANCE_ACTIVE"
        if policy is not None and policy.state_for("", "", time.time())[0] == "HALTED":
            status = "HALTED"
        elif policy is None or "down" in self.deps.values() or self.alerts_degraded:
            status = "DEGRADED"
        return {
            "service": self.cfg.service,
            "status": status,
            "timestamp": time.time(),
            "version": self.cfg.version,
            "instance": self.cfg.instance,
            "policy_version": policy.version if policy else 0,
            "dependencies": dict(self.deps),
            "uptime_s": round(time.time() - self.started_at, 3),
            "decisions": dict(self.counters),
            "queue_depth": len(self.queue),
        }

    async def _on_heartbeat_request(self, msg: Msg) -> None:
        if msg.reply:
            await self.nc.publish(msg.reply, json.dumps(self.heartbeat()).encode())

    def _instances_key(self) -> str:
        return f"{self.cfg.namespace}:nurse:instances"

    async def _heartbeat_loop(self) -> None:
        while True:
            beat = self.heartbeat()
            body = json.dumps(beat).encode()
            with contextlib.suppress(Exception):
                await self.nc.publish(HEARTBEAT_SUBJECT, body)
            if self.redis is not None:
                entry = json.dumps({**beat, "last_seen": beat["timestamp"]}).encode()
                with contextlib.suppress(Exception):
                    await self.redis.hset(self._instances_key(), self.cfg.instance, entry)
            await asyncio.sleep(self.cfg.heartbeat_interval_s)

    # -- policy, exchange filters, dependencies ---------------------------------------------
    async def _on_policy_updated(self, msg: Msg) -> None:
        try:
            event = json.loads(msg.data)
            version = int(event.get("policy_version", 0))
        except (ValueError, TypeError, AttributeError):
            return
        current = self.gate.policy.version if self.gate.policy else -1
        if version > current:
            await self._refresh_policy()

    async def _refresh_policy(self) -> None:
        assert self.redis is not None  # noqa: S101
        try:
            raw = await self.redis.get(f"{self.cfg.namespace}:policy:snapshot")
            self.deps["redis"] = "ok"
        except (aioredis.RedisError, OSError):
            self.deps["redis"] = "down"
            return  # keep deciding on the last known good snapshot
        if raw is None:
            return
        try:
            compiled = CompiledPolicy.from_json(raw)
        except (ValueError, KeyError, TypeError):
            logger.error("policy snapshot in Redis is malformed; keeping the current one")
            return
        if self.gate.set_policy(compiled):
            logger.info("policy v%s active", compiled.version)

    async def _refresh_exchange(self) -> None:
        assert self.redis is not None  # noqa: S101
        with contextlib.suppress(aioredis.RedisError, OSError, ValueError):
            raw = await self.redis.get(f"{self.cfg.namespace}:exchange_info")
            if raw is not None:
                self.gate.set_exchange(exchange_filters_from_info(json.loads(raw)))
            equity = await self.redis.get(f"{self.cfg.namespace}:exp:equity")
            self.gate.equity = float(equity) if equity is not None else None
            alerts = await self.redis.get(f"{self.cfg.namespace}:alerts:degraded")
            self.alerts_degraded = alerts in (b"1", b"true")

    async def _refresh_loop(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(self.cfg.policy_refresh_s)
            tick += 1
            await self._refresh_policy()
            await self._refresh_exchange()

    async def _dependency_loop(self) -> None:
        while True:
            if self.redis is not None and self.ledger is not None:
                try:
                    await asyncio.wait_for(self.redis.ping(), timeout=1)
                    self.deps["redis"] = "ok"
                except (TimeoutError, aioredis.RedisError, OSError):
                    self.deps["redis"] = "down"
            if self.cfg.db_check is not None:
                try:
                    ok = await asyncio.wait_for(asyncio.to_thread(self.cfg.db_check), timeout=3)
                except Exception:
                    ok = False
                self.deps["db"] = "ok" if ok else "down"
            else:
                self.deps["db"] = "ok"
            self.deps["nats"] = "ok" if self.nc is not None and self.nc.is_connected else "down"
            await asyncio.sleep(2.0)

    # -- fills -----------------------------------------------------------------------------
    async def _on_execution(self, msg: Msg) -> None:
        """Fold an engine execution event into the exposure ledger (see docs/nurse.md)."""
        if self.ledger is None:
            return
        try:
            event = json.loads(msg.data)
            if not isinstance(event, dict):
                return
            if event.get("event_type") == "positions_snapshot":
                positions = [(str(p["strategy_id"]), str(p["symbol"]).upper(),
                              float(p["notional"])) for p in event.get("positions", [])]
                await self.ledger.replace_positions(positions)
                fill = None
            else:
                fill = _fill_from_event(event)
        except (ValueError, TypeError, KeyError, AttributeError):
            return
        except (aioredis.RedisError, OSError):
            self.deps["redis"] = "down"
            return
        if fill is None:
            equity = event.get("equity")
            if isinstance(equity, int | float) and equity > 0:
                with contextlib.suppress(aioredis.RedisError, OSError):
                    await self.ledger.set_equity(float(equity))
                self.gate.equity = float(equity)
            return
        with contextlib.suppress(aioredis.RedisError, OSError):
            await self.ledger.apply_fill(**fill)
            equity = event.get("equity")
            if isinstance(equity, int | float) and equity > 0:
                await self.ledger.set_equity(float(equity))
                self.gate.equity = float(equity)


def _unstored(verdict: Verdict) -> None:
    """Turn an approval whose decision JetStream did not store into a block (the blocked
    event then carries the decision as it finally is)."""
    verdict.outcome = "blocked"
    verdict.reasons.append(("AUDIT_UNAVAILABLE", "decision not stored"))
    verdict.signal_subject = verdict.signal_body = None
    body = json.loads(verdict.decision_body)
    body.update(outcome="blocked", signal_subject=None,
                reasons=[{"code": c, "detail": d} for c, d in verdict.reasons])
    verdict.decision_body = json.dumps(body).encode()


def _error_body(code: str, message: str, *, trace_id: str = "",
                details: dict[str, Any] | None = None) -> bytes:
    body = {"success": False, "data": None, "trace_id": trace_id,
            "error": {"code": code, "message": message, "details": details or {}}}
    return json.dumps(body).encode()


_FILLED = {"filled", "partially_filled", "FILLED", "PARTIALLY_FILLED", "fill", "executed"}


def _fill_from_event(event: dict[str, Any]) -> dict[str, Any] | None:
    status = event.get("status") or event.get("event_type")
    if status not in _FILLED:
        return None
    raw_meta = event.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    decision_id = str(event.get("decision_id") or meta.get("decision_id") or "")
    qty = float(event.get("filled_quantity") or event.get("quantity") or 0)
    price = float(event.get("avg_price") or event.get("price") or 0)
    if qty <= 0 or price <= 0:
        return None
    reducing = event.get("action") == "close" or bool(event.get("reduce_only"))
    notional = qty * price
    return {"decision_id": decision_id, "strategy_id": str(event["strategy_id"]),
            "symbol": str(event["symbol"]).upper(),
            "notional_delta": -notional if reducing else notional}
