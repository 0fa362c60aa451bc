"""``manage.py mark_shadow``: the shadow ROI steps by hand, or the price/fill listener.

    python manage.py mark_shadow            # scan new blocked decisions, mark due horizons
    python manage.py mark_shadow --scan     # only the scan
    python manage.py mark_shadow --mark     # only the marking
    python manage.py mark_shadow --listen   # run the NATS feed (prices -> Redis, fills -> DB)
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nurse.shadow.feed import ShadowFeed
from nurse.shadow.services import shadow_positions_mark, shadow_positions_scan


class Command(BaseCommand):
    help = "Create and mark shadow positions, or run the shadow price/fill listener."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--scan", action="store_true", help="only create new shadows")
        group.add_argument("--mark", action="store_true", help="only mark due horizons")
        group.add_argument("--listen", action="store_true",
                           help="subscribe to market data and execution events until stopped")
        parser.add_argument("--sources", default="",
                            help="price sources to use, comma-separated (default: settings)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["listen"]:
            asyncio.run(self._listen())
            return
        if not opts["mark"]:
            created = shadow_positions_scan()
            self.stdout.write(f"shadow positions created: {created}")
        if not opts["scan"]:
            from nurse.shadow.prices import price_sources

            names = [n.strip() for n in opts["sources"].split(",") if n.strip()] or None
            stats = shadow_positions_mark(sources=price_sources(names))
            self.stdout.write(
                f"marked {stats.marks} horizons on {stats.positions} positions "
                f"(complete {stats.completed}, waiting {stats.waiting}, gave up "
                f"{stats.gave_up}) by source {stats.by_source}")

    async def _listen(self) -> None:
        feed = ShadowFeed()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, feed.request_stop)
        self.stdout.write(f"listening on {feed.price_subject} and {feed.execution_subject}")
        await feed.run()
        self.stdout.write(f"stopped: {feed.counters}")
