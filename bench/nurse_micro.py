"""CPU cost per intent of each stage of the gate's hot path (supports the Nurse findings).

Not part of ``make bench`` (the name does not start with ``bench_``): run it after
``bench_nurse.py`` has seeded the bench namespace:

    .venv/bin/python bench/nurse_micro.py

Measures ``time.process_time`` (CPU, not wall) per intent, on uvloop, against the real
Redis and NATS, for batch sizes 1 / 16 / 64 / 256 (the runner batches whatever is queued):
1. ``Gate.prepare`` and ``Gate.finish`` (parse, rules, decision JSON, signal);
2. the ledger step as the runner does it (``Ledger.reserve_wire``: one ``EVALSHA`` per batch
   on the pipelined ``nurse.redis_wire`` connection), and the same call through redis-py
   (``Ledger.reserve_many``) for comparison;
3. the emit step as the runner does it: decisions to JetStream with the instance's ack
   inbox, acks, then the signals (``emit_ready`` -> ``_emit_loop`` -> ``_on_ack`` ->
   ``_complete``), one batch at a time;
4. the bare NATS hop (publish + receive of one message) for scale.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")
os.environ.setdefault("CIO_NAMESPACE", "bench")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cio_bench")

import django  # noqa: E402

django.setup()

import redis.asyncio as aioredis  # noqa: E402
from nurse_workload import Workload  # noqa: E402

from nurse.gate import Gate  # noqa: E402
from nurse.ledger import Ledger  # noqa: E402
from nurse.policy import CompiledPolicy, exchange_filters_from_info  # noqa: E402
from nurse.redis_wire import RedisWire  # noqa: E402
from nurse.runner import NurseConfig, NurseRunner, _Item  # noqa: E402

NS = "benchmicro"
N = 4096


def cpu_us(t0: float, n: int) -> float:
    return (time.process_time() - t0) / n * 1e6


async def main() -> None:
    r = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    snap = await r.get("bench:policy:snapshot")
    info = await r.get("bench:exchange_info")
    if snap is None or info is None:
        sys.exit("run bench/bench_nurse.py first (it seeds the bench namespace)")
    filters = exchange_filters_from_info(json.loads(info))
    wl = Workload("m", 1)
    out: dict[str, Any] = {}

    def fresh_gate() -> Gate:
        g = Gate(instance="micro")
        g.budget_s = 1e9  # stages are timed separately here, not against the budget
        g.set_policy(CompiledPolicy.from_json(snap))
        g.set_exchange(filters)
        return g

    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    bodies = [wl.build(i, ts)[1] for i in range(N)]
    gate = fresh_gate()
    now = time.time()  # (fresh_gate: budget off)
    t0 = time.process_time()
    pendings = [gate.prepare(b, header_traceparent=None, received=now) for b in bodies]
    out["prepare_us"] = cpu_us(t0, N)
    t0 = time.process_time()
    verdicts = [gate.finish(p, ("OK", ""), now=now) for p in pendings]
    out["finish_us"] = cpu_us(t0, N)
    assert all(v.outcome == "approved" for v in verdicts), verdicts[0].reasons

    ledger = Ledger(r, NS, positions_max_age_s=3600)
    await ledger.replace_positions([])
    wire = RedisWire("redis://127.0.0.1:6379/0")
    await wire.connect()

    async def via_wire(reqs: list[Any]) -> None:
        answered = asyncio.get_running_loop().create_future()
        ledger.reserve_wire(wire, reqs, time.time(), answered.set_result, timeout=1.0)
        if await answered is None:
            raise RuntimeError("ledger call failed")

    for batch in (1, 16, 64, 256):
        gate = fresh_gate()
        pend = [gate.prepare(b, header_traceparent=None, received=time.time())
                for b in [wl.build(100_000 * batch + i, ts)[1] for i in range(N)]]
        reqs = [p.reserve for p in pend]
        await r.delete(*[k async for k in r.scan_iter(f"{NS}:*")] or ["x"])
        await ledger.replace_positions([])
        t0, w0 = time.process_time(), time.perf_counter()
        for i in range(0, N, batch):
            await via_wire(reqs[i:i + batch])
        out[f"ledger_b{batch}_us"] = cpu_us(t0, N)
        out[f"ledger_b{batch}_wall_per_batch_ms"] = (time.perf_counter() - w0) / (N / batch) * 1e3
        await r.delete(*[k async for k in r.scan_iter(f"{NS}:*")] or ["x"])
        await ledger.replace_positions([])
        t0 = time.process_time()
        for i in range(0, N, batch):
            await ledger.reserve_many(reqs[i:i + batch], time.time())  # redis-py
        out[f"ledger_redispy_b{batch}_us"] = cpu_us(t0, N)
    wire.close()

    # emit: the runner's own _emit against a scratch JetStream stream
    cfg = NurseConfig(nats_url="nats://127.0.0.1:4222", redis_url="redis://127.0.0.1:6379/0",
                      namespace=NS, intent_subjects=["benchmicro.intent.>"],
                      queue_group="benchmicro", decision_stream="BENCHMICRO",
                      decision_prefix="benchmicro.decision", signal_prefix="benchmicro.sig",
                      instance="micro")
    runner = NurseRunner(cfg)
    await runner.start()
    completed: asyncio.Queue[int] = asyncio.Queue()
    complete = runner._complete

    async def counting_complete(batch: Any) -> None:
        await complete(batch)
        completed.put_nowait(len(batch.verdicts))

    runner._complete = counting_complete  # type: ignore[method-assign]
    try:
        for batch in (1, 16, 64, 256):
            gate = fresh_gate()
            items = []
            for i in range(N):
                raw = wl.build(200_000 * batch + i, ts)[1]
                p = gate.prepare(raw, header_traceparent=None, received=time.time())
                v = gate.finish(p, ("OK", ""), now=time.time())
                items.append((_Item(raw, None, time.time(), time.perf_counter(), None), p, v))
            t0, w0 = time.process_time(), time.perf_counter()
            for i in range(0, N, batch):
                runner.emit_ready.append(items[i:i + batch])
                runner.emit_wakeup.set()
                await completed.get()
            out[f"emit_b{batch}_us"] = cpu_us(t0, N)
            out[f"emit_b{batch}_wall_per_batch_ms"] = (time.perf_counter() - w0) / (N / batch) * 1e3
        # bare NATS hop: publish one message and receive it (same connection)
        got = asyncio.Event()
        count = 0

        async def cb(msg: Any) -> None:
            nonlocal count
            count += 1
            if count == N:
                got.set()

        nc = runner.nc
        await nc.subscribe("benchmicro.hop", cb=cb)
        body = bodies[0]
        t0 = time.process_time()
        for _ in range(N):
            await nc.publish("benchmicro.hop", body)
        await asyncio.wait_for(got.wait(), 10)
        out["nats_pub_plus_sub_us"] = cpu_us(t0, N)
    finally:
        await runner.js.delete_stream("BENCHMICRO")
        await runner.stop()
        await r.delete(*[k async for k in r.scan_iter(f"{NS}:*")] or ["x"])
        await r.aclose()
    for k, v in out.items():
        print(f"{k:34s} {v:8.1f}")
    (HERE.parent / "var" / "bench").mkdir(parents=True, exist_ok=True)
    (HERE.parent / "var" / "bench" / "nurse-micro.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(main())
