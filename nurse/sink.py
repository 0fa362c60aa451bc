"""The audit sink: JetStream ``CIO_DECISIONS`` -> ``DecisionRecord`` rows, idempotently.

A durable pull consumer fetches batches, stores them in one transaction (duplicates by
decision_id are ignored) and acks only after the commit; if the database is down nothing
is acked, JetStream keeps the messages and the sink catches up when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import nats
from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction
from nats.js.api import AckPolicy, ConsumerConfig

from cio_site.nats_url import nats_servers
from nurse.services import decision_problem, decision_records_store
from nurse.streams import ensure_decision_stream

logger = logging.getLogger("nurse.sink")


def _store(decisions: list[dict[str, Any]]) -> int:
    close_old_connections()
    with transaction.atomic():
        return decision_records_store(decisions=decisions)


def _seq(msg: Any) -> str:
    try:
        return str(msg.metadata.sequence.stream)
    except Exception:  # not a JetStream message: no metadata
        return "?"


class AuditSink:
    """Consumes the decision stream into the database."""

    def __init__(self, *, nats_url: str, stream: str, subject_prefix: str,
                 durable: str = "cio-audit-sink", batch: int = 500, replicas: int = 1) -> None:
        self.nats_url = nats_url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.replicas = replicas
        self.durable = durable
        self.batch = batch
        self.stored = 0
        self.rejected = 0
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        nc = await nats.connect(nats_servers(self.nats_url), max_reconnect_attempts=-1,
                                reconnect_time_wait=0.5, name="cio-audit-sink")
        js = nc.jetstream()
        await ensure_decision_stream(js, name=self.stream, subject_prefix=self.subject_prefix,
                                     replicas=self.replicas)
        sub = await js.pull_subscribe(
            f"{self.subject_prefix}.>", durable=self.durable, stream=self.stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20_000,
                                  ack_wait=30))
        backoff = 0.5
        try:
            while not self._stop.is_set():
                try:
                    msgs = await sub.fetch(self.batch, timeout=1)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                decisions: list[dict[str, Any]] = []
                bad: list[tuple[Any, str]] = []
                for m in msgs:
                    problem: str | None
                    try:
                        decision = json.loads(m.data)
                    except ValueError:
                        decision, problem = None, "not JSON"
                    else:
                        problem = decision_problem(decision)
                    if problem is None:
                        decisions.append(decision)
                    else:
                        bad.append((m, problem))
                # Set aside, never redelivered forever: a poison message must not hold back
                # the decisions behind it. It stays in the stream for inspection
                # (``nats stream get``; the sequence is logged).
                for m, problem in bad:
                    self.rejected += 1
                    logger.error("decision message on %s (stream seq %s) not stored: %s",
                                 m.subject, _seq(m), problem)
                    await m.term()
                bad_msgs = {id(m) for m, _ in bad}
                try:
                    self.stored += await sync_to_async(_store, thread_sensitive=True)(decisions)
                except Exception as exc:
                    logger.warning("database unavailable (%s); retrying in %.1fs",
                                   type(exc).__name__, backoff)
                    for m in msgs:
                        if id(m) not in bad_msgs:
                            await m.nak(delay=backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.5
                for m in msgs:
                    if id(m) not in bad_msgs:
                        await m.ack()
        finally:
            # No drain: draining a pull subscription waits on its pending fetch and, cut
            # short, leaves a cancelled future that asyncio logs as an error on every stop.
            # Nothing is lost: only committed batches were acked; the rest is redelivered.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.unsubscribe(), timeout=2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), timeout=2)
