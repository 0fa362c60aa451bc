"""Run the living demo: strategies replaying candles as live intents, and a stand-in engine.

Started by ``scripts/run_all.py`` (``make run``) unless ``--no-demo``; refused wherever
``DASHBOARD_DEMO_FLEET_ALLOWED`` is false (by default: whenever a real secret key is set).
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.dashboard.demo.fleet import DemoFleet, FleetConfig
from governance.dashboard.demo.market import DATA_DIR, load_candles
from nurse.policy import ExchangeFilter, exchange_filters_from_info
from nurse.services import DEFAULT_EXCHANGE_INFO


def _exchange_filters() -> dict[str, ExchangeFilter]:
    """The filters the Nurse uses (Redis), else the shipped fixture: intents stay on-grid."""
    try:
        raw = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).get(
            f"{settings.CIO_NAMESPACE}:exchange_info")
    except redis.RedisError:
        raw = None
    info = json.loads(raw) if raw else json.loads(DEFAULT_EXCHANGE_INFO.read_text())
    return exchange_filters_from_info(info)


def _intent_prefix() -> str:
    subjects = [s for s in settings.NURSE_INTENT_SUBJECTS if s.endswith(".>")]
    return subjects[0][:-2] if subjects else "cio.intent.trading"


class Command(BaseCommand):
    help = "Demo only: a small strategy fleet on replayed candles plus a stand-in trade engine."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=20.0,
                            help="intents per second at most (default 20)")
        parser.add_argument("--speed", type=float, default=1.0,
                            help="replayed 5-minute candles per second (default 1 = 300x)")
        parser.add_argument("--duration", type=float, default=0.0,
                            help="stop after this many seconds (default: run until stopped)")
        parser.add_argument("--candles", default=str(DATA_DIR),
                            help="directory of SYMBOL_*.csv candle slices")
        # Small on purpose: the replayed crash then takes the demo book past the ladder's
        # 15% line within about a minute, so a newcomer sees the protection ladder act.
        parser.add_argument("--equity", type=float, default=2_500.0,
                            help="the stand-in engine's starting equity (USDT, default 2500)")
        parser.add_argument("--no-engine", action="store_true",
                            help="do not run the stand-in trade engine")
        parser.add_argument("--no-market-data", action="store_true",
                            help="do not publish klines on the market-data subject")
        parser.add_argument("--engine-queue", default="tradeengine-workers",
                            help="the engine's NATS queue group")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DASHBOARD_DEMO_FLEET_ALLOWED:
            raise CommandError("demo_fleet is for demo machines only "
                               "(DASHBOARD_DEMO_FLEET_ALLOWED is false here)")
        if options["speed"] <= 0 or options["rate"] <= 0:
            raise CommandError("--speed and --rate must be positive")
        candles = load_candles(Path(options["candles"]))
        if not candles:
            raise CommandError(f"no SYMBOL_*.csv candle files in {options['candles']}")
        config = FleetConfig(
            nats_url=settings.NATS_URL, intent_prefix=_intent_prefix(),
            signal_subject=f"{settings.NURSE_SIGNAL_PREFIX}.*",
            market_subject=getattr(settings, "STRATEGIST_KLINE_SUBJECT",
                                   "binance.websocket.data"),
            engine_queue=options["engine_queue"], speed=options["speed"],
            rate=options["rate"], duration_s=options["duration"],
            engine=not options["no_engine"], market_data=not options["no_market_data"],
            start_equity=options["equity"], exchange=_exchange_filters())
        fleet = DemoFleet(config, candles=candles)
        self.stdout.write(f"demo_fleet: {len(fleet.strategies)} strategies x "
                          f"{', '.join(candles)} at {config.speed} candles/s, <= {config.rate} "
                          f"intents/s on {config.intent_prefix}.<strategy>")
        stats = asyncio.run(self._run(fleet))
        self.stdout.write(f"demo_fleet: {stats.candles} candles, {stats.intents} intents, "
                          f"{fleet.engine.counters if fleet.engine else 'no engine'}")

    async def _run(self, fleet: DemoFleet) -> Any:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, fleet.request_stop)
        return await fleet.run()
