"""CPU cost per intent of each stage of the gate's hot path (supports the Nurse findings).

Not part of ``make bench`` (the name does not start with ``bench_``): run it after
``bench_nurse.py`` has seeded the bench namespace:

    .venv/bin/python bench/nurse_micro.py

Measures ``time.process_time`` (CPU, not wall) per intent, on uvloop, against the real
Redis and NATS, for batch sizes 1 / 16 / 64 / 256 (the runner batches whatever is queued):
1. ``Gate.prepare`` and ``Gate.finish`` (parse, rules, decision JSON, signal);
2. the ledger step as the runner does it (``Ledger.reserve_many``: redis-py ``Script`` on a
   pipeline), and the same EVALSHAs sent without the ``Script`` helper (no ``SCRIPT EXISTS``
   round trip per batch) for comparison;
3. the emit step: decision publish with headers + JetStream ack wait + signal publish;
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
from nurse.ledger import RESERVE_LUA, Ledger  # noqa: E402
from nurse.policy import CompiledPolicy, exchange_filters_from_info  # noqa: E402
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
    raw_sha = await r.script_load(RESERVE_LUA)

    for batch in (1, 16, 64, 256):
        gate = fresh_gate()
        pend = [gate.prepare(b, header_traceparent=None, received=time.time())
                for b in [wl.build(100_000 * batch + i, ts)[1] for i in range(N)]]
        reqs = [p.reserve for p in pend]
        await r.delete(*[k async for k in r.scan_iter(f"{NS}:*")] or ["x"])
        await ledger.replace_positions([])
        t0, w0 = time.process_time(), time.perf_counter()
        for i in range(0, N, batch):
            await ledger.reserve_many(reqs[i:i + batch], time.time())
        out[f"ledger_b{batch}_us"] = cpu_us(t0, N)
        out[f"ledger_b{batch}_wall_per_batch_ms"] = (time.perf_counter() - w0) / (N / batch) * 1e3
        await r.delete(*[k async for k in r.scan_iter(f"{NS}:*")] or ["x"])
        await ledger.replace_positions([])
        t0 = time.process_time()
        for i in range(0, N, batch):
            # The same single script call, without redis-py's command helpers.
            await r.execute_command("EVALSHA", raw_sha, 0,
                                    *ledger._batch_args(reqs[i:i + batch], time.time()))
        out[f"ledger_raw_b{batch}_us"] = cpu_us(t0, N)

    # emit: the runner's own _emit against a scratch JetStream stream
    cfg = NurseConfig(nats_url="nats://127.0.0.1:4222", redis_url="redis://127.0.0.1:6379/0",
                      namespace=NS, intent_subjects=["benchmicro.intent.>"],
                      queue_group="benchmicro", decision_stream="BENCHMICRO",
                      decision_prefix="benchmicro.decision", signal_prefix="benchmicro.sig",
                      instance="micro")
    runner = NurseRunner(cfg)
    await runner.start()
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
                await runner._emit(items[i:i + batch])
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
