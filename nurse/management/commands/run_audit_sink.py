"""Consume the JetStream decision stream into the database (idempotent by decision_id)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from nurse.sink import AuditSink


class Command(BaseCommand):
    help = "Write every gate decision from JetStream into DecisionRecord rows."

    def handle(self, *args: Any, **options: Any) -> None:
        sink = AuditSink(nats_url=settings.NATS_URL, stream=settings.NURSE_DECISION_STREAM,
                         subject_prefix=settings.NURSE_DECISION_SUBJECT_PREFIX,
                         replicas=settings.NURSE_DECISION_REPLICAS)
        asyncio.run(self._run(sink))

    async def _run(self, sink: AuditSink) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sink.request_stop)
        await sink.run()
