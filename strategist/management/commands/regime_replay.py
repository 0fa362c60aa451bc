"""Replay recorded candles through the regime and the protection ladder.

``--via local`` drives an in-process feed (database writes, policy publishes and alerts are
real); ``--via nats`` publishes the klines and the simulated book's execution events on the
bus for a running ``run_strategist_feeds`` (and any Nurse) to react to.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from cio_site.nats_url import nats_servers
from strategist.regime import RegimeConfig
from strategist.replay import DATA_DIR, ReplayBook, load_series, replay_steps, step_messages


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Replay candle CSVs (default: the 2021-05-19 crash) through regime and ladder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
        parser.add_argument("--interval", default="5m")
        parser.add_argument("--data-dir", default=str(DATA_DIR))
        parser.add_argument("--warmup-start", default="2021-05-11T00:00:00+00:00",
                            help="candles from here only warm the regime up (no writes)")
        parser.add_argument("--start", default="2021-05-19T00:00:00+00:00")
        parser.add_argument("--end", default="2021-05-19T16:00:00+00:00")
        parser.add_argument("--book", default="BTCUSDT=0.5,ETHUSDT=0.5",
                            help="SYMBOL=weight,...; negative weights are shorts; '' = none")
        parser.add_argument("--leverage", type=float, default=1.0)
        parser.add_argument("--equity", type=float, default=100_000.0)
        parser.add_argument("--via", choices=["local", "nats"], default="local")
        parser.add_argument("--pace-ms", type=float, default=0.0,
                            help="pause between steps when publishing on NATS")

    def handle(self, *args: Any, **options: Any) -> None:
        symbols = [s.strip().upper() for s in options["symbols"].split(",") if s.strip()]
        weights: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in options["book"].split(","))):
            name, _, weight = part.partition("=")
            try:
                weights[name.strip().upper()] = float(weight)
            except ValueError as exc:
                raise CommandError(f"bad --book entry {part!r}") from exc
        start = _when(options["start"])
        book = ReplayBook(equity0=options["equity"], weights=weights,
                          leverage=options["leverage"], start=None) if weights else None
        config = RegimeConfig(interval=options["interval"])
        data_dir = Path(options["data_dir"])
        warm = load_series(data_dir, symbols, options["interval"],
                           start=_when(options["warmup_start"]), end=start)
        live = load_series(data_dir, symbols, options["interval"], start=start,
                           end=_when(options["end"]))
        if options["via"] == "local":
            summary = asyncio.run(self._local(config, warm, live, book))
        else:
            summary = asyncio.run(self._nats(live, book, options["pace_ms"]))
        self.stdout.write(json.dumps(summary, indent=2, default=str))

    async def _local(self, config: RegimeConfig, warm: list[Any], live: list[Any],
                     book: ReplayBook | None) -> dict[str, Any]:
        from strategist.feeds import StrategistFeeds

        feeds = StrategistFeeds(regime_config=config, on_trigger=None)
        await feeds._seed()
        for step in replay_steps(warm):
            for candle in step.candles:
                feeds.book.update(candle)
        crossings: list[dict[str, Any]] = []
        started = time.perf_counter()
        for step in replay_steps(live):
            before = feeds.global_state
            for kind, payload in step_messages(step, book):
                received = datetime.now(UTC)
                if kind == "kline":
                    candle = next(c for c in step.candles if c.symbol == payload["s"])
                    await feeds.handle_candle_metrics(feeds.book.update(candle), candle.symbol,
                                                      candle.close, True, received, received)
                else:
                    await feeds.handle_execution(payload, "replay", received)
            if feeds.global_state != before:
                crossings.append({"candle_at": step.at.isoformat(), "state": feeds.global_state,
                                  "drawdown": round(feeds.tracker.drawdown, 4)})
        await feeds.idle()
        await sync_to_async(connections.close_all)()
        return {"steps_s": round(time.perf_counter() - started, 3), "crossings": crossings,
                "shifts": feeds.stats.shifts, "ladder_steps": feeds.stats.ladder_steps,
                "final_state": feeds.global_state,
                "final_drawdown": round(feeds.tracker.drawdown, 4),
                "regime": {s: r.last.as_dict() for s, r in feeds.book.symbols.items()
                           if r.last is not None}}

    async def _nats(self, live: list[Any], book: ReplayBook | None, pace_ms: float
                    ) -> dict[str, Any]:
        import nats

        nc = await nats.connect(nats_servers(settings.NATS_URL))
        sent = 0
        try:
            for step in replay_steps(live):
                for kind, payload in step_messages(step, book):
                    subject = settings.STRATEGIST_KLINE_SUBJECT if kind == "kline" else \
                        "execution.events.replay"
                    await nc.publish(subject, json.dumps(payload).encode())
                    sent += 1
                await nc.flush()
                if pace_ms:
                    await asyncio.sleep(pace_ms / 1000.0)
        finally:
            await nc.close()
        return {"published": sent}
