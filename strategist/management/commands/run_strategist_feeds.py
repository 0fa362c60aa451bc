"""Run the strategist's feeds: klines and execution events -> regime, portfolio, ladder."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from strategist.feeds import StrategistFeeds


class Command(BaseCommand):
    help = ("Subscribe binance.websocket.data and execution.events.> (plus the optional HTTP "
            "sources): live regime, portfolio health and the protection ladder.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbols", default="",
                            help="comma-separated symbols (default STRATEGIST_REGIME_SYMBOLS)")

    def handle(self, *args: Any, **options: Any) -> None:
        symbols = [s.strip().upper() for s in options["symbols"].split(",") if s.strip()]
        feeds = StrategistFeeds(symbols=symbols or None)
        asyncio.run(self._run(feeds))

    async def _run(self, feeds: StrategistFeeds) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, feeds.request_stop)
        await feeds.run_forever()
