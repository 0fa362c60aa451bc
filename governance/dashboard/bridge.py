"""The dashboard bridge (``manage.py run_dashboard_bridge``): NATS -> bounded channel events.

The Nurse never talks to the web process. This small consumer does:

1. decisions: a plain (non-durable) subscription to ``<NURSE_DECISION_SUBJECT_PREFIX>.>``
   (the same messages JetStream stores), folded into an ``Aggregator``;
2. every ``DASHBOARD_TICK_S`` it ``group_send``s at most one ``rows`` event (bounded by
   ``DASHBOARD_MAX_ROWS_PER_S``), and once per finished second one ``stats`` point, so a
   10,000 intents/s burst costs browsers a handful of small messages per second;
3. Nurse heartbeats: the instance registry in Redis (``<ns>:nurse:instances``, this
   deployment's instances only) re-read every 2 s, refreshed sooner by ``cio.heartbeat``;
4. ``cio.policy.updated``: the fleet state is read from the policy snapshot in Redis and
   pushed at once (not on the next tick);
5. every second the live snapshot (recent rows, series, state, instances) goes to Redis
   (``<ns>:dashboard:live``, 30 s TTL) for the polling fallback and fresh page loads.

Run one per deployment (it is stateless; a restart loses only the last minute of series).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import nats
import redis.asyncio as aioredis
from nats.aio.msg import Msg

from cio_site.nats_url import nats_servers
from governance.dashboard.aggregate import Aggregator
from governance.dashboard.events import (
    KIND_HEARTBEATS,
    KIND_ROWS,
    KIND_STATE,
    KIND_STATS,
    abroadcast,
)
from governance.dashboard.selectors import LIVE_TTL_S, fleet_state_from_snapshot, instances_view

logger = logging.getLogger("governance.dashboard.bridge")

HEARTBEAT_SUBJECT = "cio.heartbeat"
POLICY_SUBJECT = "cio.policy.updated"


@dataclass(slots=True)
class BridgeConfig:
    """Everything the bridge needs (built from settings by the command)."""

    nats_url: str
    redis_url: str
    namespace: str
    decision_prefix: str
    tick_s: float = 0.25
    max_rows_per_s: int = 40
    stale_s: float = 30.0
    instances_every_s: float = 2.0
    snapshot_every_s: float = 1.0
    recent_rows: int = 100


class DashboardBridge:
    """One asyncio loop: three subscriptions, a tick loop and an instance poller."""

    def __init__(self, config: BridgeConfig, *, layer: Any = None) -> None:
        self.cfg = config
        self.layer = layer
        self.agg = Aggregator(max_rows_per_s=config.max_rows_per_s, tick_s=config.tick_s,
                              now=time.time())
        self.recent: deque[dict[str, Any]] = deque(maxlen=config.recent_rows)
        self.state: dict[str, Any] | None = None
        self.instances: list[dict[str, Any]] = []
        self._beats: dict[str, bytes | str] = {}
        self.counters: dict[str, float] = {
            "decisions": 0, "undecodable": 0, "events": 0, "send_errors": 0, "heartbeats": 0,
            "policy_updates": 0, "tick_late_max_ms": 0.0}
        self.nc: Any = None
        self.redis: aioredis.Redis | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._rows_seq = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.cfg
        self.redis = aioredis.Redis.from_url(cfg.redis_url, socket_timeout=2,
                                             socket_connect_timeout=2)
        self.nc = await nats.connect(nats_servers(cfg.nats_url), name="cio-dashboard-bridge",
                                     max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                     error_cb=self._on_error)
        await self.nc.subscribe(f"{cfg.decision_prefix}.>", cb=self._on_decision,
                                pending_msgs_limit=500_000,
                                pending_bytes_limit=512 * 1024 * 1024)
        await self.nc.subscribe(HEARTBEAT_SUBJECT, cb=self._on_heartbeat)
        await self.nc.subscribe(POLICY_SUBJECT, cb=self._on_policy)
        await self.nc.flush()
        await self._refresh_state()
        await self._refresh_instances()
        for coro in (self._tick_loop(), self._instances_loop()):
            self._tasks.append(asyncio.create_task(coro))
        logger.info("dashboard bridge started on %s.> (tick %.2fs, %d rows/s)",
                    cfg.decision_prefix, cfg.tick_s, cfg.max_rows_per_s)

    async def run_forever(self) -> None:
        await self.start()
        await self._stop.wait()
        await self.stop()

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()

    async def _on_error(self, exc: Exception) -> None:
        # Slow-consumer drops only thin the live view; the database keeps every decision.
        logger.warning("nats: %s", exc)

    # -- intake ----------------------------------------------------------------------------
    async def _on_decision(self, msg: Msg) -> None:
        try:
            decision = json.loads(msg.data)
        except ValueError:
            self.counters["undecodable"] += 1
            return
        if isinstance(decision, dict):
            self.counters["decisions"] += 1
            self.agg.add(decision, time.time())
            if self.counters["decisions"] % 256 == 0:
                # nats-py runs callbacks back to back while its queue is full: let the tick
                # loop in, or a burst would delay the very batches that summarise it.
                await asyncio.sleep(0)

    async def _on_heartbeat(self, msg: Msg) -> None:
        if msg.reply:
            return  # a heartbeat request, not a beat
        try:
            beat = json.loads(msg.data)
        except ValueError:
            return
        instance = beat.get("instance") if isinstance(beat, dict) else None
        # cio.heartbeat is shared by every deployment on the bus: only this namespace's
        # registered instances count.
        if isinstance(instance, str) and instance in self._beats:
            self.counters["heartbeats"] += 1
            self._beats[instance] = msg.data
            await self._publish_instances()

    async def _on_policy(self, msg: Msg) -> None:
        self.counters["policy_updates"] += 1
        if await self._refresh_state():
            await self._send({"kind": KIND_STATE, **(self.state or {})})
            await self._write_snapshot()

    # -- outputs ---------------------------------------------------------------------------
    async def _send(self, event: dict[str, Any]) -> None:
        try:
            await abroadcast(event, layer=self.layer)
            self.counters["events"] += 1
        except Exception as exc:  # the channel layer (Redis) is down: the next tick retries
            self.counters["send_errors"] += 1
            logger.warning("dashboard group_send failed: %s", type(exc).__name__)

    async def tick(self, now: float) -> None:
        """One tick: the bounded rows, then any finished seconds of gate health."""
        rows, omitted = self.agg.take_rows(now)
        if rows or omitted:
            self._rows_seq += 1
            self.recent.extend(rows)
            await self._send({"kind": KIND_ROWS, "seq": self._rows_seq, "rows": rows,
                              "omitted": omitted})
        for point in self.agg.roll_seconds(now):
            await self._send({"kind": KIND_STATS, "point": point,
                              "rules": self.agg.rules_window(), "total": self.agg.total})

    async def _tick_loop(self) -> None:
        last_snapshot = 0.0
        expected = time.monotonic()
        while True:
            started = time.monotonic()
            late_ms = (started - expected) * 1000
            if late_ms > self.counters["tick_late_max_ms"]:
                self.counters["tick_late_max_ms"] = round(late_ms, 1)
            now = time.time()
            await self.tick(now)
            if now - last_snapshot >= self.cfg.snapshot_every_s:
                last_snapshot = now
                await self._write_snapshot()
            expected = started + self.cfg.tick_s
            await asyncio.sleep(max(0.0, expected - time.monotonic()))

    async def _write_snapshot(self) -> None:
        if self.redis is None:
            return
        snapshot = {"at": time.time(), "rows": list(self.recent),
                    "series": list(self.agg.history), "rules": self.agg.rules_window(),
                    "state": self.state, "instances": self.instances,
                    "counters": dict(self.counters)}
        with contextlib.suppress(aioredis.RedisError, OSError):
            await self.redis.set(f"{self.cfg.namespace}:dashboard:live",
                                 json.dumps(snapshot, default=str), ex=LIVE_TTL_S)

    # -- state and instances -----------------------------------------------------------------
    async def _refresh_state(self) -> bool:
        """Re-read the policy snapshot; True when the fleet view changed."""
        if self.redis is None:
            return False
        try:
            raw = await self.redis.get(f"{self.cfg.namespace}:policy:snapshot")
        except (aioredis.RedisError, OSError):
            return False
        if raw is None:
            return False
        try:
            state = fleet_state_from_snapshot(json.loads(raw))
        except (ValueError, TypeError, AttributeError):
            return False
        changed = state != self.state
        self.state = state
        return changed

    async def _refresh_instances(self) -> None:
        if self.redis is None:
            return
        try:
            raw = await self.redis.hgetall(f"{self.cfg.namespace}:nurse:instances")
        except (aioredis.RedisError, OSError):
            return
        self._beats = {(k.decode() if isinstance(k, bytes) else str(k)): v
                       for k, v in raw.items()}

    async def _publish_instances(self) -> None:
        self.instances = instances_view(self._beats, now=time.time(), stale_s=self.cfg.stale_s)
        await self._send({"kind": KIND_HEARTBEATS, "instances": self.instances})

    async def _instances_loop(self) -> None:
        while True:
            await self._refresh_instances()
            await self._publish_instances()
            # Also catches what no announcement reports: a state whose expiry has passed.
            if await self._refresh_state():
                await self._send({"kind": KIND_STATE, **(self.state or {})})
            await asyncio.sleep(self.cfg.instances_every_s)
