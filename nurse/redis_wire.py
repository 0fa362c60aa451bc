"""A pipelined Redis connection for the gate's hot path: one script call per batch.

redis-py's asyncio client costs ~70 µs of CPU per call on this machine (connection pool
lock, command helpers, a timeout task), the largest fixed cost of a batch of one intent.
The gate makes exactly one kind of hot call (the ledger's ``EVALSHA``), so it talks to
Redis through this thin protocol instead: commands are written straight to the socket,
replies are parsed by ``hiredis`` (the C parser redis-py itself uses) and delivered to a
plain callback in arrival order. Everything else (fills, snapshots, heartbeats) keeps
using redis-py.

1. ``call(args, callback, timeout)`` never waits: when the connection is down it answers
   the callback at once with ``ConnectionError`` and starts reconnecting in the background
   (the gate then blocks new exposure, never position reduction).
2. A call not answered within ``timeout`` is answered with ``TimeoutError``; its reply,
   when it comes later, goes to the call's ``on_late`` (so the caller can undo what the
   script did). A connection that answers nothing for ``stall_s`` is closed and reopened.
3. Replies are matched to calls by order (Redis answers a connection's commands in
   order), so a late reply can never be mistaken for another call's answer.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.connection import SSLConnection, parse_url

logger = logging.getLogger("nurse.redis_wire")

Reply = Any
Callback = Callable[[Reply | BaseException], None]


def encode_command(args: list[Any] | tuple[Any, ...]) -> bytes:
    """RESP encoding of one command (bytes, str, int and float arguments).

    Text is assembled as one string and encoded once; that is exact while every argument
    is ASCII (byte length = character length), which the ledger's ids and numbers are.
    Anything else takes the general path."""
    parts = [f"*{len(args)}\r\n"]
    append = parts.append
    for arg in args:
        kind = type(arg)
        if kind is str:
            text = arg
        elif kind is int:
            text = str(arg)
        elif kind is float:
            text = repr(arg)
        else:
            return _encode_general(args)
        append(f"${len(text)}\r\n{text}\r\n")
    joined = "".join(parts)
    if not joined.isascii():
        return _encode_general(args)
    return joined.encode()


def _encode_general(args: list[Any] | tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    append = parts.append
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            data = str(arg).encode()
        append(b"$%d\r\n" % len(data))
        append(data)
        append(b"\r\n")
    return b"".join(parts)


class _Call:
    __slots__ = ("callback", "done", "on_late", "timer")

    def __init__(self, callback: Callback, on_late: Callable[[Reply], None] | None) -> None:
        self.callback = callback
        self.on_late = on_late
        self.timer: asyncio.TimerHandle | None = None
        self.done = False


class RedisWire(asyncio.Protocol):
    """One pipelined connection; reconnects by itself after a failure."""

    def __init__(self, url: str, *, connect_timeout_s: float = 1.0,
                 stall_s: float = 3.0) -> None:
        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        self.host = str(options.get("host") or "127.0.0.1")
        self.port = int(options.get("port") or 6379)
        self.db = int(options.get("db") or 0)
        self.username: str | None = options.get("username")
        self.password: str | None = options.get("password")
        self.use_ssl = options.get("connection_class") is SSLConnection
        self.connect_timeout_s = connect_timeout_s
        self.stall_s = stall_s
        self._stalled_since: float | None = None
        self.connected = False
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._calls: deque[_Call] = deque()
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False

    # -- connection ------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the connection (AUTH and SELECT included); raises on failure."""
        loop = asyncio.get_running_loop()
        ctx = ssl_module.create_default_context() if self.use_ssl else None
        transport, _ = await asyncio.wait_for(
            loop.create_connection(lambda: self, self.host, self.port, ssl=ctx),
            self.connect_timeout_s)
        setup: list[list[Any]] = []
        if self.password:
            setup.append(["AUTH", *([self.username] if self.username else []), self.password])
        if self.db:
            setup.append(["SELECT", self.db])
        for args in setup:
            answer: asyncio.Future[Reply] = loop.create_future()

            def settle(reply: Reply, fut: asyncio.Future[Reply] = answer) -> None:
                if not fut.done():
                    fut.set_result(reply)

            self._write(encode_command(args), settle, None, None)
            reply = await asyncio.wait_for(answer, self.connect_timeout_s)
            if isinstance(reply, BaseException):
                transport.close()
                raise ConnectionError(f"redis {args[0]} failed: {reply}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (asyncio's or uvloop's, which does not subclass asyncio's).
        self._transport = cast(asyncio.Transport, transport)
        self._reader = hiredis.Reader()
        self.connected = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.connected = False
        self._transport = None
        calls, self._calls = self._calls, deque()
        error = ConnectionError(f"redis connection lost: {type(exc).__name__ if exc else 'closed'}")
        for call in calls:
            self._answer(call, error)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        self._stalled_since = None
        calls = self._calls
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if not calls:
                logger.warning("redis reply without a pending call; resetting the connection")
                if self._transport is not None:
                    self._transport.close()
                return
            call = calls.popleft()
            if isinstance(reply, hiredis.ReplyError):
                reply = ReplyError(str(reply))
            if call.done:
                if call.on_late is not None and not isinstance(reply, BaseException):
                    _safely(call.on_late, reply)
                continue
            self._answer(call, reply)

    def _reconnect_soon(self) -> None:
        if self._closed or (self._connecting is not None and not self._connecting.done()):
            return
        self._connecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self.connect()
        except (OSError, TimeoutError, ConnectionError) as exc:
            logger.warning("redis reconnect failed: %s", type(exc).__name__)
            await asyncio.sleep(0.5)  # the next call tries again

    def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
        if self._transport is not None:
            self._transport.close()

    # -- calls -----------------------------------------------------------------------------
    def call(self, args: list[Any], callback: Callback, timeout: float | None,
             on_late: Callable[[Reply], None] | None = None) -> None:
        """Send one command; ``callback`` gets the reply or an exception, exactly once."""
        self.send_raw(encode_command(args), callback, timeout, on_late)

    def send_raw(self, command: bytes, callback: Callback, timeout: float | None,
                 on_late: Callable[[Reply], None] | None = None) -> None:
        """``call`` for a command already encoded as one RESP array."""
        transport = self._transport
        if transport is not None and self._stalled_since is not None and \
                asyncio.get_running_loop().time() - self._stalled_since > self.stall_s:
            logger.warning("redis answered nothing for %.1f s; reconnecting", self.stall_s)
            transport.close()  # connection_lost answers every pending call
        if not self.connected or self._transport is None:
            self._reconnect_soon()
            _safely(callback, ConnectionError("redis is not connected"))
            return
        self._write(command, callback, timeout, on_late)

    def _write(self, command: bytes, callback: Callback, timeout: float | None,
               on_late: Callable[[Reply], None] | None) -> None:
        assert self._transport is not None  # noqa: S101  (checked by the caller)
        call = _Call(callback, on_late)
        if timeout is not None:
            call.timer = asyncio.get_running_loop().call_later(timeout, self._expire, call)
        self._calls.append(call)
        self._transport.write(command)

    def _expire(self, call: _Call) -> None:
        if not call.done:
            if self._stalled_since is None:
                self._stalled_since = asyncio.get_running_loop().time()
            self._answer(call, TimeoutError("redis call timed out"))

    @staticmethod
    def _answer(call: _Call, reply: Reply | BaseException) -> None:
        if call.done:
            return
        call.done = True
        if call.timer is not None:
            call.timer.cancel()
        _safely(call.callback, reply)


def _safely(fn: Callable[[Any], None], value: Any) -> None:
    try:
        fn(value)
    except Exception:
        logger.exception("redis reply handler failed")


class ReplyError(Exception):
    """An error reply from Redis (e.g. ``NOSCRIPT``)."""
