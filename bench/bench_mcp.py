#!/usr/bin/env python3
"""Latency of an MCP read tool call (``get_trading_config``) over Streamable HTTP.

1. Create a throw-away database (Django's test-database machinery, on the server that
   ``DATABASE_URL`` names), migrate it, write a few config scopes and an agent token.
2. Serve ``cio_site.asgi:application`` with uvicorn in a thread on a free loopback port
   (the production settings: JSON responses, stateless sessions).
3. With the official ``mcp`` client, warm up, then time sequential calls; repeat the run and
   report the median p50/p90/p99 of the runs. The same tool called in-process (no HTTP, no
   MCP framing) shows what the transport costs.
4. Write the figures, the machine and the date to ``docs/benchmarks.md`` between
   ``<!-- mcp:start -->`` and ``<!-- mcp:end -->`` (``bench.benchdoc``; other sections are
   left alone).

Usage: ``python bench/bench_mcp.py [--calls 500] [--runs 3]`` (``make bench`` runs it with
PostgreSQL, Redis and NATS up).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cio_site.settings")
os.environ.setdefault("CIO_NAMESPACE", f"bench{os.getpid()}")
os.environ.setdefault("CIO_FLEET_SYNC_DISPATCH", "none")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from benchdoc import machine_facts, update_section  # noqa: E402  (needs sys.path)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99),
            "mean": statistics.fmean(ordered)}


def _median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed() -> str:
    from governance import services
    from governance.auth import api_token_create
    from governance.models import ActorKind
    from governance.scopes import Scope

    user = {"actor": "bench", "actor_kind": ActorKind.USER, "reason": "bench data"}
    services.config_patch(scope=Scope.global_(), patch={"leverage": 8}, base_version=0, **user)
    services.config_patch(scope=Scope.symbol("BTCUSDT"), patch={"max_position_size_usd": 800.0},
                          base_version=0, **user)
    services.config_patch(scope=Scope.symbol_side("BTCUSDT", "LONG"), patch={"leverage": 5},
                          base_version=0, **user)
    _, token = api_token_create(principal="bench-agent", scopes=["agent", "read"],
                                created_by="bench")
    return token


async def _http_run(url: str, token: str, calls: int, warmup: int) -> dict[str, float]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    args = {"symbol": "BTCUSDT", "side": "LONG"}
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        for _ in range(warmup):
            await client.call_tool("get_trading_config", args)
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            result = await client.call_tool("get_trading_config", args)
            samples.append((time.perf_counter() - started) * 1000)
            if result.is_error:
                raise RuntimeError(result.content[0].text)  # type: ignore[union-attr]
    return _percentiles(samples)


def _inprocess_run(token: str, calls: int, warmup: int) -> dict[str, float]:
    from governance.auth import api_token_authenticate
    from governance.mcp.tools import call_tool

    principal = api_token_authenticate(token)
    args = {"symbol": "BTCUSDT", "side": "LONG"}
    for _ in range(warmup):
        call_tool("get_trading_config", args, principal=principal, trace_id="0" * 32)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call_tool("get_trading_config", args, principal=principal, trace_id="0" * 32)
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def _serve(port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    from cio_site.asgi import application

    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread


def _body(results: dict[str, dict[str, float]], args: argparse.Namespace, db: str,
          loop: str) -> str:
    facts = machine_facts()
    rows = "\n".join(
        f"| {name} | {r['p50']:.2f} ms | {r['p90']:.2f} ms | {r['p99']:.2f} ms | "
        f"{r['mean']:.2f} ms |" for name, r in results.items())
    return f"""## MCP read tool latency (`bench/bench_mcp.py`)

Run {facts['date_utc']} on {facts['nproc']} CPUs (nproc), {facts['cpu_model']}, {facts['memory']}
RAM, Python {facts['python']}, load average at start {facts['loadavg_at_start']}; database:
{db}; event loop: {loop}.

`get_trading_config` for BTCUSDT LONG (resolves three written scopes): {args.calls} sequential
calls after {args.warmup} warm-up calls, median of {args.runs} runs. "Over HTTP" is the
official `mcp` client (`streamable_http_client`, which also validates each result against
the tool's output schema) against uvicorn serving `cio_site.asgi:application` on loopback,
in the same process: JSON responses, stateless sessions, bearer token checked on every
request. "In-process" calls the same tool function without transport.

| path | p50 | p90 | p99 | mean |
|---|---|---|---|---|
{rows}

The gap between the rows is the transport: HTTP, MCP framing and validation on both sides,
the token lookup and the hops to Django's sync thread. Reproduce with
`python bench/bench_mcp.py --calls {args.calls} --runs {args.runs}`.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    # run_all passes its extra arguments to every benchmark: ignore those for others.
    args, _ = parser.parse_known_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    server = thread = None
    try:
        token = _seed()
        port = _free_port()
        server, thread = _serve(port)
        url = f"http://127.0.0.1:{port}"
        http_runs = [asyncio.run(_http_run(url, token, args.calls, args.warmup))
                     for _ in range(args.runs)]
        local_runs = [_inprocess_run(token, args.calls, args.warmup) for _ in range(args.runs)]
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10)
        from asgiref.sync import SyncToAsync
        from django.db import connections

        SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)
        connection.creation.destroy_test_db(old_name, verbosity=0)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop (uvicorn auto)"
    except ImportError:
        loop = "asyncio"
    results = {
        "MCP tool call over HTTP (uvicorn)": _median_of(http_runs),
        "same tool in-process (no transport)": _median_of(local_runs),
    }
    body = _body(results, args, f"{connection.vendor} (a throw-away {db_name.rsplit('/', 1)[-1]})",
                 loop)
    print(body)
    if not args.no_write:
        update_section("mcp", body)
        print("written to docs/benchmarks.md (section mcp)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
