"""Latency floors for the Nurse benchmark: what the gate costs minus its checks.

Two modes, each one process (uvloop, nats-py, the gate's connection settings):

- ``bare`` (default): subscribes to ``<intent prefix>.>`` and republishes every body
  unchanged on ``<signal prefix>.<last subject token>``. The floor of one NATS hop.
- ``design``: the round trips the gate's safety design requires, with no checks: per
  batch of whatever arrived together, one Redis script call (an atomic ``SET NX`` per
  intent, the least a cross-instance duplicate check does), then every body published to
  JetStream (``--decisions``, with ``Nats-Msg-Id`` and an ack inbox, through the gate's own
  ``nurse.nats_out.BatchPublisher`` and ``nurse.redis_wire.RedisWire``), and only once all
  of the batch's acks are back, the signals. The floor of "no signal before its decision
  is durable and its ledger step is done".

Usage: nurse_floor.py --nats URL --intents PREFIX --signals PREFIX
                      [--mode design --redis URL --decisions PREFIX]
Prints "ready" once subscribed; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from pathlib import Path
from typing import Any

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nurse.nats_out import BatchPublisher, header_block
from nurse.redis_wire import RedisWire, encode_command

# One atomic SET NX per intent (key = ARGV[i]), 60 s expiry; answers how many were new.
_DEDUP_LUA = """local n = 0
for i = 1, #ARGV do
  if redis.call('SET', 'bench:dfloor:' .. ARGV[i], '1', 'NX', 'EX', 60) then n = n + 1 end
end
return n"""


class DesignFloor:
    """Batch -> one Redis round trip -> JetStream publish, acks -> signals. No checks."""

    def __init__(self, nc: Any, wire: RedisWire, sha: str, args: argparse.Namespace) -> None:
        self.nc, self.wire, self.sha = nc, wire, sha
        self.signals = args.signals + "."
        self.decisions = args.decisions + "."
        self.inbox = f"_INBOX.bench-design-floor.{id(self)}"
        self.queue: list[tuple[str, bytes]] = []
        self.scheduled = False
        self.ids = itertools.count()
        self.waiting: dict[str, list[Any]] = {}  # msg id -> [remaining, batch]
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self, intents: str) -> None:
        await self.nc.subscribe(self.inbox + ".*", cb=self.on_ack)
        await self.nc.subscribe(intents + ".>", cb=self.on_intent,
                                pending_msgs_limit=1_000_000,
                                pending_bytes_limit=512 * 1024 * 1024)

    async def on_intent(self, msg: Any) -> None:
        self.queue.append((msg.subject.rsplit(".", 1)[-1], msg.data))
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.drain)

    def drain(self) -> None:
        self.scheduled = False
        batch, self.queue = self.queue, []
        ids = [f"design-{next(self.ids)}" for _ in batch]
        cmd = encode_command(["EVALSHA", self.sha, 0, *ids])
        self.wire.send_raw(cmd, lambda reply: self.spawn(self.publish(batch, ids, reply)),
                           timeout=1.0)

    def spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def publish(self, batch: list[tuple[str, bytes]], ids: list[str],
                      reply: Any) -> None:
        if isinstance(reply, BaseException):
            print(f"redis failed: {reply!r}", file=sys.stderr, flush=True)
            return
        out = BatchPublisher(self.nc)
        state = [len(batch), batch]
        for (token, body), mid in zip(batch, ids, strict=True):
            self.waiting[mid] = state
            out.add(self.decisions + token, body, reply=f"{self.inbox}.{mid}",
                    headers=header_block((("Nats-Msg-Id", mid),)))
        await out.flush()

    async def on_ack(self, msg: Any) -> None:
        state = self.waiting.pop(msg.subject.rsplit(".", 1)[-1], None)
        if state is None:
            return
        state[0] -= 1
        if state[0] == 0:
            out = BatchPublisher(self.nc)
            for token, body in state[1]:
                out.add(self.signals + token, body)
            await out.flush()


async def main(args: argparse.Namespace) -> None:
    nc = await nats.connect(args.nats, name=f"bench-floor-{args.mode}",
                            pending_size=64 * 1024 * 1024)
    keep: Any = None
    if args.mode == "design":
        wire = RedisWire(args.redis)
        await wire.connect()
        sha = await _load_script(wire)
        keep = DesignFloor(nc, wire, sha, args)
        await keep.start(args.intents)
    else:
        prefix = args.signals + "."
        publish = nc.publish

        async def on_intent(msg: Any) -> None:
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
    if keep is not None:
        keep.wire.close()


async def _load_script(wire: RedisWire) -> str:
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    wire.call(["SCRIPT", "LOAD", _DEDUP_LUA], answer.set_result, timeout=5.0)
    sha = await answer
    if isinstance(sha, BaseException):
        raise sha
    return sha.decode() if isinstance(sha, bytes) else str(sha)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--intents", default="bench.floor.intent.trading")
    parser.add_argument("--signals", default="signals.trading")
    parser.add_argument("--mode", choices=("bare", "design"), default="bare")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--decisions", default="bench.cio.decision.design")
    parser.add_argument("--no-uvloop", action="store_true")
    ns = parser.parse_args()
    if not ns.no_uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(main(ns))
