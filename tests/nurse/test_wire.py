"""The hot path's own I/O: the pipelined Redis connection and the batched NATS publisher."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import hiredis
import nats
import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from nats.errors import MaxPayloadError

from nurse.ledger import Ledger, ReserveRequest, _request_args, _resp_head, _resp_requests
from nurse.nats_out import BatchPublisher, header_block
from nurse.redis_wire import RedisWire, ReplyError, encode_command
from tests.support.servers import redis_server

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


def _parse_command(raw: bytes) -> list[bytes]:
    """Read an encoded command back with hiredis (a command is a RESP array of bulks)."""
    reader = hiredis.Reader()
    reader.feed(raw)
    parsed = reader.gets()
    assert reader.gets() is False  # exactly one array, nothing left over
    return list(parsed)


@hyp_settings(max_examples=200)
@given(st.lists(st.one_of(TEXT, st.integers(), st.floats(allow_nan=False)), max_size=20))
def test_encode_command_is_valid_resp_of_the_arguments(args: list[Any]) -> None:
    expected = [a.encode() if isinstance(a, str) else
                (repr(a) if isinstance(a, float) else str(a)).encode() for a in args]
    assert _parse_command(encode_command(["CMD", *args])) == [b"CMD", *expected]


REQUESTS = st.builds(
    ReserveRequest, decision_id=st.text("0123456789abcdef", min_size=32, max_size=32),
    signal_id=st.none() | TEXT, content_key=st.text("0123456789abcdef", min_size=24,
                                                    max_size=24),
    strategy_id=TEXT.filter(bool), symbol=st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    reducing=st.booleans(), notional=st.floats(0, 1e7),
    max_orders_per_minute=st.integers(0, 10**6), max_daily_trades=st.integers(0, 10**6),
    symbol_limit=st.floats(0, 1e9) | st.just(float("inf")),
    strategy_limit=st.floats(0, 1e9), fleet_limit=st.just(float("inf")))


@hyp_settings(max_examples=200)
@given(st.lists(REQUESTS, min_size=1, max_size=8))
def test_ledger_request_encoding_matches_the_argument_list(reqs: list[ReserveRequest]) -> None:
    head = ["EVALSHA", "a" * 40, 0, "1700000000.5", "ns", 60, 300, 120.0]
    flat: list[Any] = []
    for req in reqs:
        flat.extend(_request_args(req))
    fast = _resp_head(head, len(reqs)) + _resp_requests(reqs)
    assert fast == encode_command(head + flat)
    assert len(_parse_command(fast)) == len(head) + 12 * len(reqs)


async def _call(wire: RedisWire, args: list[Any], timeout: float | None = 2.0,
                on_late: Any = None) -> Any:
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    wire.call(args, answer.set_result, timeout, on_late)
    return await answer


async def test_wire_answers_in_order_with_typed_errors() -> None:
    wire = RedisWire(settings.REDIS_URL)
    await wire.connect()
    key = f"{settings.CIO_NAMESPACE}:wiretest"
    try:
        assert await _call(wire, ["SET", key, "text"]) == b"OK"
        futures = []
        for args in (["INCR", key], ["GET", key], ["PING"]):
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            wire.call(args, fut.set_result, 2.0)
            futures.append(fut)
        error, value, pong = await asyncio.gather(*futures)
        assert isinstance(error, ReplyError) and "not an integer" in str(error)
        assert (value, pong) == (b"text", b"PONG")
    finally:
        await _call(wire, ["DEL", key])
        wire.close()


async def test_wire_times_out_then_hands_the_late_reply_over() -> None:
    wire = RedisWire(settings.REDIS_URL)
    await wire.connect()
    late: list[Any] = []
    try:
        # BLPOP on an empty list holds the connection for 0.3 s, then answers nil.
        key = f"{settings.CIO_NAMESPACE}:wiretest:empty"
        answer = await _call(wire, ["BLPOP", key, "0.3"], timeout=0.05, on_late=late.append)
        assert isinstance(answer, TimeoutError)
        assert await _call(wire, ["PING"]) == b"PONG"  # queued behind it, matched in order
        assert late == [None]
    finally:
        wire.close()


async def test_wire_fails_fast_while_redis_is_down_and_reconnects() -> None:
    server = redis_server().start()
    wire = RedisWire(f"redis://127.0.0.1:{server.port}/0")
    try:
        await wire.connect()
        assert await _call(wire, ["PING"]) == b"PONG"
        server.kill()
        deadline = asyncio.get_running_loop().time() + 5
        answer = await _call(wire, ["PING"])
        while not isinstance(answer, ConnectionError):
            assert asyncio.get_running_loop().time() < deadline, answer
            await asyncio.sleep(0.05)
            answer = await _call(wire, ["PING"])
        started = asyncio.get_running_loop().time()
        assert isinstance(await _call(wire, ["PING"]), ConnectionError)
        assert asyncio.get_running_loop().time() - started < 0.05  # never waits for Redis
        server.start()
        while (answer := await _call(wire, ["PING"])) != b"PONG":
            assert asyncio.get_running_loop().time() < deadline + 10, answer
            await asyncio.sleep(0.1)
    finally:
        wire.close()
        server.stop()


async def test_reserve_wire_reloads_a_flushed_script(redis_client: Any) -> None:
    wire = RedisWire(settings.REDIS_URL)
    await wire.connect()
    ledger = Ledger(redis_client, f"{settings.CIO_NAMESPACE}:wire", positions_max_age_s=0)
    req = ReserveRequest("f" * 32, None, "c" * 24, "wire-strategy", "BTCUSDT", True, 0.0,
                         10, 10, 1e6, 1e6, 1e6)
    try:
        redis_client.script_flush()  # the server forgets every script: NOSCRIPT first
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        ledger.reserve_wire(wire, [req], 1_700_000_000.0, answer.set_result, timeout=2.0)
        assert await answer == [("OK", "")]
    finally:
        wire.close()


async def test_batch_publisher_delivers_subject_reply_headers_and_order() -> None:
    nc = await nats.connect(settings.NATS_URL)
    got: list[Any] = []
    done = asyncio.Event()
    subject = f"{settings.CIO_NAMESPACE}.wiretest"

    async def on_msg(msg: Any) -> None:
        got.append(msg)
        if len(got) == 100:
            done.set()

    await nc.subscribe(f"{subject}.>", cb=on_msg)
    await nc.flush()
    try:
        out = BatchPublisher(nc)
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        for i in range(100):
            out.add(f"{subject}.{i % 3}", json.dumps({"n": i}).encode(),
                    reply="_INBOX.x" if i % 2 else "",
                    headers=header_block((("Nats-Msg-Id", f"id{i}"), ("traceparent", tp)))
                    if i % 5 else None)
        await out.flush()
        await asyncio.wait_for(done.wait(), 5)
        assert [json.loads(m.data)["n"] for m in got] == list(range(100))
        for i, msg in enumerate(got):
            assert msg.subject == f"{subject}.{i % 3}"
            assert msg.reply == ("_INBOX.x" if i % 2 else "")
            assert msg.headers == ({"Nats-Msg-Id": f"id{i}", "traceparent": tp}
                                   if i % 5 else None)
        with pytest.raises(MaxPayloadError):
            out.add(subject, b"x" * (nc.max_payload + 1))
    finally:
        await nc.close()


@hyp_settings(max_examples=2000)
@given(st.floats(min_value=0, max_value=4e9) | st.integers(0, 4 * 10**9).map(float)
       | st.integers(0, 4 * 10**15).map(lambda us: us / 1e6))
def test_gate_iso_timestamps_equal_datetime_isoformat(epoch: float) -> None:
    """The gate formats received/decided times with a per-second cache; same text as
    ``datetime.fromtimestamp(...).isoformat()`` with ``Z`` (what pydantic writes)."""
    from datetime import UTC, datetime

    from nurse.gate import _iso

    expected = datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
    assert _iso(epoch) == expected
    assert _iso(epoch) == expected  # second call: from the cache
