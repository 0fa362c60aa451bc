"""The latency floor: a bare NATS republisher with no checks (uvloop, nats-py).

Subscribes to ``<intent prefix>.>`` and republishes every body unchanged on
``<signal prefix>.<last subject token>``: the same client library, event loop, connection
settings and subjects shape as the gate, minus everything the gate does in between.

Usage: nurse_floor.py --nats URL --intents bench.floor.intent.trading --signals signals.trading
Prints "ready" once subscribed; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import nats


async def main(args: argparse.Namespace) -> None:
    nc = await nats.connect(args.nats, name="bench-floor", pending_size=64 * 1024 * 1024)
    prefix = args.signals + "."
    publish = nc.publish

    async def on_intent(msg: nats.aio.msg.Msg) -> None:
        await publish(prefix + msg.subject.rsplit(".", 1)[-1], msg.data)

    await nc.subscribe(args.intents + ".>", cb=on_intent, pending_msgs_limit=1_000_000,
                       pending_bytes_limit=512 * 1024 * 1024)
    await nc.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await nc.drain()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--intents", default="bench.floor.intent.trading")
    parser.add_argument("--signals", default="signals.trading")
    parser.add_argument("--no-uvloop", action="store_true")
    ns = parser.parse_args()
    if not ns.no_uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(main(ns))
