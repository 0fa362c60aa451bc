"""EXPERIMENT, not product code: the gate with the overload fixes suggested in the Nurse
benchmark findings, to measure their effect with the same harness
(``bench_nurse.py --gate-variant``). Nothing in nurse/ is changed; this subclasses the runner.

Differences from ``nurse.runner.NurseRunner``:
1. An intent already over its budget when the batch reaches the ledger step is blocked with
   GATE_TIMEOUT *before* the Redis reservation, so nothing has to be undone.
2. Reservations that still need undoing (ledger said OK, budget overran afterwards) are
   released in one pipelined call per batch, in one task, instead of one task and one pooled
   Redis connection per intent (which exhausted redis-py's 100-connection pool and turned
   every later batch into EXPOSURE_STATE_UNAVAILABLE).
3. ``max_batch`` defaults to 64 (about 10 ms of work) instead of 256 (about 45 ms, most of
   the 50 ms budget).
4. With ``--pipeline``: two stages instead of one serial loop. Stage 1 decides a batch
   (prepare, ledger round trip, finish) and hands it to stage 2, which publishes the
   decisions, waits for the JetStream acks and publishes the signals, in FIFO order (so
   signals keep their order and still follow their durable decision). Stage 1 works on the
   next batch while stage 2 waits for acks.

Usage: nurse_gate_variant.py --instance ID [--max-batch 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")

import django  # noqa: E402

django.setup()

from nurse.gate import Pending  # noqa: E402
from nurse.ledger import ReserveRequest  # noqa: E402
from nurse.runner import NurseRunner, _Item, logger  # noqa: E402
from nurse.settings_bridge import nurse_config_from_settings  # noqa: E402


class VariantRunner(NurseRunner):
    pipeline = False
    _releasing: set[asyncio.Task[None]] = set()  # one runner per process

    async def _batch_loop(self) -> None:
        if not self.pipeline:
            await super()._batch_loop()
            return
        handoff: asyncio.Queue[list[Any]] = asyncio.Queue(maxsize=2)

        async def emitter() -> None:
            while True:
                verdicts = await handoff.get()
                try:
                    await self._emit(verdicts)
                except Exception:
                    logger.exception("emit of %d failed", len(verdicts))
                    await self._fail_batch([v[0] for v in verdicts])

        self._tasks.append(asyncio.create_task(emitter()))
        while True:
            if not self.queue:
                self.wakeup.clear()
                await self.wakeup.wait()
            batch: list[_Item] = []
            while self.queue and len(batch) < self.cfg.max_batch:
                batch.append(self.queue.popleft())
            try:
                verdicts = await self._decide(batch)
            except Exception:
                logger.exception("batch of %d failed; deciding them blocked", len(batch))
                await self._fail_batch(batch)
                continue
            await handoff.put(verdicts)

    async def _process(self, batch: list[_Item]) -> None:
        await self._emit(await self._decide(batch))

    async def _decide(self, batch: list[_Item]) -> list[Any]:
        gate = self.gate
        budget = self.cfg.budget_ms / 1000.0
        overloaded = len(self.queue) >= self.cfg.max_queue
        pendings: list[Pending] = []
        for item in batch:
            pending = gate.prepare(item.raw, header_traceparent=item.traceparent,
                                   received=item.received, started=item.started)
            if overloaded and pending.reserve is not None and not pending.reducing:
                pending.reasons.append(("GATE_OVERLOAD", "intake queue full"))
                pending.reserve = None
            pendings.append(pending)
        now_pc = time.perf_counter()
        for pending in pendings:  # (1) late already: decide without reserving
            if pending.reserve is not None and now_pc - pending.started > budget:
                pending.reasons.append(("GATE_TIMEOUT", f"budget_ms={budget * 1000:.0f}"))
                pending.reserve = None
        asks = [p for p in pendings if p.reserve is not None]
        answers: dict[str, tuple[str, str] | None] = {}
        if asks:
            answers = await self._ask_ledger(asks)
        now = time.time()
        verdicts = []
        undo: list[ReserveRequest] = []
        for item, pending in zip(batch, pendings, strict=True):
            verdict = gate.finish(pending, answers.get(pending.decision_id), now=now)
            if pending.reserve is not None and answers.get(pending.decision_id) == ("OK", "") \
                    and verdict.outcome == "blocked":
                self.counters["timeouts"] += 1
                undo.append(pending.reserve)
            verdicts.append((item, pending, verdict))
        if undo:  # (2) one pipelined release per batch
            task = asyncio.create_task(self._release_many(undo))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
        return verdicts

    async def _release_many(self, reqs: list[ReserveRequest]) -> None:
        ledger = self.ledger
        if ledger is None:
            return
        with contextlib.suppress(Exception):
            pipe = ledger.client.pipeline(transaction=False)
            now = time.time()
            for req in reqs:
                await ledger._release(keys=ledger._keys(req, now)[:7],
                                      args=[req.decision_id, "1" if req.reducing else "0"],
                                      client=pipe)
            await pipe.execute()


async def run(runner: NurseRunner) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.request_stop)
    await runner.run_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instance", required=True)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--pipeline", action="store_true")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    config = nurse_config_from_settings()
    config.instance = args.instance
    config.max_batch = args.max_batch
    runner: Any = VariantRunner(config)
    runner.pipeline = args.pipeline
    asyncio.run(run(runner))


if __name__ == "__main__":
    main()
