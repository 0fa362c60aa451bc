"""Run one Nurse (intent gate) instance; several form the NATS queue group."""

from __future__ import annotations

import asyncio
import gc
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nurse.runner import NurseRunner
from nurse.settings_bridge import nurse_config_from_settings


class Command(BaseCommand):
    help = "Run the intent gate: NATS intents -> checks -> signals.trading.<strategy>."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--instance", help="instance id (default: host-pid)")
        parser.add_argument("--no-uvloop", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        config = nurse_config_from_settings()
        if options.get("instance"):
            config.instance = options["instance"]
        if not options["no_uvloop"]:
            try:
                import uvloop

                uvloop.install()
            except ImportError:
                pass
        asyncio.run(self._run(NurseRunner(config)))

    async def _run(self, runner: NurseRunner) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.request_stop)
        await runner.start()
        # The hot path's objects are freed by reference counting; what the cyclic collector
        # would traverse in a full collection is the long-lived heap (Django, pydantic
        # schemas, the policy). Freezing it after start-up keeps those pauses out of intent
        # latency (docs/benchmarks.md, Nurse).
        gc.collect()
        gc.freeze()
        await runner.wait_stopped()
