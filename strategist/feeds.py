"""The strategist's feed process (``manage.py run_strategist_feeds``): regime and ladder live.

1. Klines from NATS (``binance.websocket.data``) and/or a polled HTTP klines URL update the
   per-symbol regime; every close also marks the known positions to market.
2. Execution events (``execution.events.>``) and/or the engine's polled ``/state`` update
   equity, peak, exposure and the day's PnL.
3. After *every* update the protection ladder is evaluated in memory; a step is applied at
   once through ``governance.services.trading_state_set`` (which publishes the policy to
   every Nurse), so the ladder never waits for the 5-minute beat nor for the LLM.
4. Regime shifts are stored and announced (policy bump + ``cio.regime.changed.<symbol>``);
   shifts and breaches ask for an event-driven LLM cycle.

Events are handled one at a time (an ``asyncio.Lock``): the ladder sees them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections
from nats.aio.msg import Msg

from cio_site.nats_url import nats_servers
from strategist.ladder import Thresholds, ladder_apply, ladder_decide, thresholds_from_snapshot
from strategist.portfolio import Observation, PortfolioTracker, decimal, event_time
from strategist.regime import RegimeBook, RegimeConfig, RegimeMetrics, parse_kline, parse_rest_kline

logger = logging.getLogger("strategist.feeds")

POLICY_SUBJECT = "cio.policy.updated"
PEAK_RESET_SUBJECT = "cio.strategist.peak_reset"
_ESTIMATE_PERSIST_S = 5.0


def _enqueue_cycle(trigger: str) -> None:
    from strategist.tasks import cycle_task

    try:
        cycle_task.apply_async(kwargs={"trigger": trigger}, retry=False)
    except Exception as exc:  # the beat runs the next cycle anyway
        logger.warning("could not enqueue a %s cycle: %s", trigger, type(exc).__name__)


@dataclass(slots=True)
class FeedStats:
    """Counters for the command's status line and for tests."""

    klines: int = 0
    executions: int = 0
    ignored: int = 0
    shifts: int = 0
    ladder_steps: list[int] = field(default_factory=list)
    errors: int = 0


class StrategistFeeds:
    """Regime, portfolio and ladder bound to NATS (and optional HTTP sources)."""

    def __init__(
        self,
        *,
        nats_url: str | None = None,
        kline_subject: str | None = None,
        execution_subject: str | None = None,
        regime_config: RegimeConfig | None = None,
        symbols: list[str] | None = None,
        on_trigger: Callable[[str], None] | None = _enqueue_cycle,
    ) -> None:
        self.nats_url = nats_url or settings.NATS_URL
        self.kline_subject = kline_subject or settings.STRATEGIST_KLINE_SUBJECT
        self.execution_subject = execution_subject or settings.STRATEGIST_EXECUTION_SUBJECT
        self.book = RegimeBook(regime_config or RegimeConfig(
            interval=settings.STRATEGIST_REGIME_INTERVAL),
            symbols if symbols is not None else settings.STRATEGIST_REGIME_SYMBOLS)
        self.tracker = PortfolioTracker()
        self.thresholds = Thresholds()
        self.global_state = "ACTIVE"
        self.on_trigger = on_trigger
        self.stats = FeedStats()
        self.nc: Any = None
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_persist = 0.0
        self._stopping = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self._seed()
        self.nc = await nats.connect(nats_servers(self.nats_url), name="cio-strategist-feeds",
                                     max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        await self.nc.subscribe(self.kline_subject, cb=self._on_kline)
        await self.nc.subscribe(self.execution_subject, cb=self._on_execution)
        await self.nc.subscribe(POLICY_SUBJECT, cb=self._on_policy)
        await self.nc.subscribe(PEAK_RESET_SUBJECT, cb=self._on_peak_reset)
        await self.nc.flush()
        if settings.STRATEGIST_KLINE_HTTP_URL:
            self._tasks.append(asyncio.create_task(self._poll_klines(), name="poll"))
        if settings.STRATEGIST_ENGINE_STATE_URL:
            self._tasks.append(asyncio.create_task(self._poll_engine_state(), name="poll"))
        logger.info("strategist feeds started: %s, %s", self.kline_subject,
                    self.execution_subject)

    async def run_forever(self) -> None:
        await self.start()
        await self._stopping.wait()
        await self.stop()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), timeout=30)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        await sync_to_async(connections.close_all)()  # the ORM thread's connection

    async def _seed(self) -> None:
        from strategist.models import PortfolioState

        row = await sync_to_async(PortfolioState.objects.filter(pk=1).first)()
        if row is not None and row.peak_equity > 0:
            self.tracker.peak = float(row.peak_equity)
            self.tracker.equity = float(row.equity)
        await self._reload_policy()

    async def _reload_policy(self) -> None:
        from governance import policy

        def read() -> dict[str, Any] | None:
            raw = policy._redis().get(policy.snapshot_key())
            if raw is None:
                return policy.policy_snapshot_build()
            data: dict[str, Any] = json.loads(raw)
            return data

        try:
            snapshot = await sync_to_async(read)()
        except Exception as exc:
            logger.warning("policy snapshot unavailable (%s); keeping thresholds %s",
                           type(exc).__name__, self.thresholds)
            return
        if snapshot is None:
            return
        self.thresholds = thresholds_from_snapshot(snapshot)
        row = (snapshot.get("states") or {}).get("global") or {}
        expires = row.get("expires_at")
        in_force = expires is None or expires > time.time()
        self.global_state = str(row.get("state", "ACTIVE")) if in_force else "ACTIVE"

    # -- handlers --------------------------------------------------------------------------
    async def _on_policy(self, msg: Msg) -> None:
        async with self._lock:
            await self._reload_policy()

    async def _on_peak_reset(self, msg: Msg) -> None:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            peak = float(json.loads(msg.data)["peak_equity"])
            async with self._lock:
                self.tracker.peak = peak

    async def _on_kline(self, msg: Msg) -> None:
        received = datetime.now(UTC)
        try:
            payload = json.loads(msg.data)
        except ValueError:
            self.stats.ignored += 1
            return
        candle = parse_kline(payload) if isinstance(payload, dict) else None
        if candle is None:
            self.stats.ignored += 1
            return
        event_at = event_time(payload.get("data") or payload, received) if isinstance(
            payload, dict) else received
        async with self._lock:
            await self.handle_candle_metrics(self.book.update(candle), candle.symbol,
                                             candle.close, candle.closed, event_at, received)

    async def handle_candle_metrics(self, metrics: RegimeMetrics | None, symbol: str,
                                    close: float, closed: bool, event_at: datetime,
                                    received: datetime) -> None:
        """Mark to market, evaluate the ladder, then store the regime (under the lock)."""
        self.stats.klines += 1
        observation = self.tracker.on_price(symbol, close)
        if observation is not None:
            await self._after_observation(observation, "kline", event_at, received)
        if metrics is None:
            return
        await self._store_regime(metrics, event_at)

    async def _on_execution(self, msg: Msg) -> None:
        received = datetime.now(UTC)
        try:
            payload = json.loads(msg.data)
        except ValueError:
            self.stats.ignored += 1
            return
        if not isinstance(payload, dict):
            self.stats.ignored += 1
            return
        async with self._lock:
            await self.handle_execution(payload, "execution", received)

    async def handle_execution(self, payload: dict[str, Any], source: str,
                               received: datetime) -> None:
        self.stats.executions += 1
        observation = self.tracker.on_execution(payload)
        if observation is None:
            self.stats.ignored += 1
            return
        await self._after_observation(observation, source, event_time(payload, received),
                                      received)

    async def _after_observation(self, observation: Observation, source: str,
                                 event_at: datetime, received: datetime) -> None:
        tracker = self.tracker
        if tracker.equity is None:
            return
        step = ladder_decide(tracker.drawdown, self.global_state, self.thresholds)
        acted = False
        if step is not None:
            try:
                record = await sync_to_async(ladder_apply)(
                    step=step, drawdown=tracker.drawdown, thresholds=self.thresholds,
                    equity=decimal(tracker.equity), peak_equity=decimal(tracker.peak),
                    event_at=event_at, received_at=received, follow_up=False)
            except Exception:
                self.stats.errors += 1
                logger.exception("ladder step %s failed; retrying on the next event", step)
                record = None
            if record is not None:
                acted = True
                self.global_state = record.state_after
                self.stats.ladder_steps.append(record.pk)
                # Alerts, canary, stops and post-mortem run beside the feed, not in its way.
                task = asyncio.create_task(self._follow_up(record))
                self._tasks.append(task)
                self._trigger("breach")
            else:
                await self._reload_policy()  # a tighter state holds already
        now = time.monotonic()
        if observation.estimated and not acted and now - self._last_persist < \
                _ESTIMATE_PERSIST_S:
            return
        self._last_persist = now
        from strategist.services import portfolio_observe

        try:
            await sync_to_async(portfolio_observe)(
                equity=decimal(tracker.equity), at=event_at,
                source=f"{source}{'~' if observation.estimated else ''}",
                exposure=decimal(observation.exposure) if observation.exposure is not None
                else None,
                daily_pnl=decimal(observation.daily_pnl) if observation.daily_pnl is not None
                else None)
        except Exception:
            self.stats.errors += 1
            logger.exception("could not store the portfolio observation")

    async def _follow_up(self, record: Any) -> None:
        from strategist.ladder import ladder_follow_up

        def run() -> None:
            try:
                ladder_follow_up(record)
            finally:
                connection.close()  # this worker thread's own connection

        try:
            await sync_to_async(run, thread_sensitive=False)()
        except Exception:
            self.stats.errors += 1
            logger.exception("follow-up of ladder step %s failed", record.pk)

    async def idle(self) -> None:
        """Wait for the follow-ups started so far (tests, clean shutdown)."""
        pending = [t for t in self._tasks if not t.done() and t.get_name() != "poll"]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _store_regime(self, metrics: RegimeMetrics, event_at: datetime) -> None:
        from strategist.ladder import ladder_volatility_step
        from strategist.services import regime_status_update

        try:
            shift = await sync_to_async(regime_status_update)(
                metrics=metrics, fleet=self.book.fleet(), source="feed")
        except Exception:
            self.stats.errors += 1
            logger.exception("could not store the regime of %s", metrics.symbol)
            return
        if shift is None:
            return
        self.stats.shifts += 1
        if shift.to_volatility == "extreme" and shift.from_volatility != "extreme":
            with contextlib.suppress(Exception):
                await sync_to_async(ladder_volatility_step)(
                    symbol=metrics.symbol, metrics=metrics.as_dict(), event_at=event_at)
        self._trigger("regime_shift")

    def _trigger(self, trigger: str) -> None:
        if self.on_trigger is not None:
            hook = self.on_trigger
            asyncio.get_running_loop().run_in_executor(None, hook, trigger)

    # -- HTTP sources ----------------------------------------------------------------------
    async def _poll_klines(self) -> None:
        url = str(settings.STRATEGIST_KLINE_HTTP_URL)
        interval = self.book.config.interval
        symbols = sorted(self.book.only)
        if not symbols:
            logger.warning("STRATEGIST_KLINE_HTTP_URL needs STRATEGIST_REGIME_SYMBOLS")
            return
        first = True
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                for symbol in symbols:
                    limit = 1500 if first else 3
                    try:
                        resp = await client.get(url, params={"symbol": symbol,
                                                             "interval": interval,
                                                             "limit": limit})
                        resp.raise_for_status()
                        rows = resp.json()
                    except (httpx.HTTPError, ValueError) as exc:
                        logger.warning("kline poll of %s failed: %s", symbol,
                                       type(exc).__name__)
                        continue
                    now = time.time()
                    for row in rows if isinstance(rows, list) else []:
                        candle = parse_rest_kline(symbol, interval, row, now=now)
                        if candle is None or not candle.closed:
                            continue
                        received = datetime.now(UTC)
                        async with self._lock:
                            await self.handle_candle_metrics(
                                self.book.update(candle), symbol, candle.close, True,
                                candle.at, received)
                first = False
                await asyncio.sleep(settings.STRATEGIST_KLINE_HTTP_POLL_S)

    async def _poll_engine_state(self) -> None:
        url = str(settings.STRATEGIST_ENGINE_STATE_URL)
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                try:
                    resp = await client.get(url)
                    resp.raise_for_status()
                    body = resp.json()
                except (httpx.HTTPError, ValueError) as exc:
                    logger.warning("engine /state poll failed: %s", type(exc).__name__)
                else:
                    if isinstance(body, dict):
                        async with self._lock:
                            await self.handle_execution(body, "engine_state",
                                                        datetime.now(UTC))
                await asyncio.sleep(settings.STRATEGIST_ENGINE_STATE_POLL_S)
