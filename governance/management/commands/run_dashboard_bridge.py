"""Run the dashboard bridge: gate decisions and heartbeats -> bounded channel-layer events."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from governance.dashboard.bridge import BridgeConfig, DashboardBridge


class Command(BaseCommand):
    help = "Fan gate decisions, Nurse heartbeats and policy changes out to the dashboard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tick", type=float, default=settings.DASHBOARD_TICK_S,
                            help="seconds between batches (default DASHBOARD_TICK_S)")
        parser.add_argument("--max-rows-per-s", type=int,
                            default=settings.DASHBOARD_MAX_ROWS_PER_S,
                            help="decision rows per second sent to browsers at most")
        parser.add_argument("--no-uvloop", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        config = BridgeConfig(
            nats_url=settings.NATS_URL, redis_url=settings.REDIS_URL,
            namespace=settings.CIO_NAMESPACE,
            decision_prefix=settings.NURSE_DECISION_SUBJECT_PREFIX,
            tick_s=max(0.05, options["tick"]), max_rows_per_s=max(1, options["max_rows_per_s"]),
            stale_s=settings.DASHBOARD_HEARTBEAT_STALE_S)
        if not options["no_uvloop"]:
            try:
                import uvloop

                uvloop.install()
            except ImportError:
                pass
        asyncio.run(self._run(DashboardBridge(config)))

    async def _run(self, bridge: DashboardBridge) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, bridge.request_stop)
        await bridge.run_forever()
