"""The in-process ledger agrees with the Redis ledger (the real Lua on a real Redis) on the
same sequences of reservations, fills, position snapshots, releases and expiries."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from nurse.ledger import Ledger, ReserveRequest
from nurse.replay.ledger import InProcessLedger, hincrbyfloat, lua_tostring

T0 = 1_621_425_600.0  # 2021-05-19 12:00 UTC


def _req(rng: random.Random, n: int, *, strategies: list[str], epoch: int,
         limits: tuple[float, float, float]) -> ReserveRequest:
    strategy = rng.choice(strategies)
    reducing = rng.random() < 0.15
    notional = rng.choice([500.0, 123.45, 0.1, 0.2, 2500.0, 999.99,
                           round(rng.uniform(1, 3000), rng.randint(0, 6))])
    dup = rng.random() < 0.1 and n > 1
    return ReserveRequest(
        decision_id=f"d{epoch}-{n}",
        signal_id=(f"sig{epoch}-{n - 1}" if dup else f"sig{epoch}-{n}")
        if rng.random() < 0.8 else None,
        content_key=f"c{epoch}-{n - 1 if dup and rng.random() < 0.5 else n}",
        strategy_id=strategy, symbol=rng.choice(["BTCUSDT", "ETHUSDT"]), reducing=reducing,
        notional=notional, max_orders_per_minute=rng.choice([3, 5, 1_000_000]),
        max_daily_trades=rng.choice([40, 1_000_000]), symbol_limit=limits[0],
        strategy_limit=limits[1], fleet_limit=limits[2])


async def _exposures(client: aioredis.Redis, ledger: Ledger) -> dict[str, str]:
    raw = await client.hgetall(ledger.exp_key)
    return {k.decode(): v.decode() for k, v in raw.items()}


@pytest.fixture
async def redis_ledger() -> Any:
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    ns = f"{settings.CIO_NAMESPACE}:replay-agree-{uuid.uuid4().hex[:8]}"
    yield client, ns
    async for key in client.scan_iter(match=f"{ns}:*", count=1000):
        await client.delete(key)
    await client.aclose()


def _both(client: aioredis.Redis, ns: str) -> tuple[Ledger, InProcessLedger]:
    """The Redis ledger and its in-process mirror, same settings, same namespace."""
    return (Ledger(client, ns, dedup_window_s=60, reservation_ttl_s=300, positions_max_age_s=0),
            InProcessLedger(namespace=ns, dedup_window_s=60, reservation_ttl_s=300,
                            positions_max_age_s=0))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_same_sequence_same_answers(redis_ledger: Any, seed: int) -> None:
    client, ns = redis_ledger
    live, mine = _both(client, ns)
    rng = random.Random(seed)
    strategies = [f"s{i}" for i in range(3)]
    limits = (5000.0, 4000.0, float("inf")) if seed % 2 else (3000.0, float("inf"), 6000.0)
    now = T0
    reserved: list[ReserveRequest] = []
    codes: set[str] = set()
    for epoch in range(3):
        # A new epoch jumps past the reservation TTL: both expire reservations by the
        # caller's clock. Ids are fresh per epoch, since Redis expires dedup keys by its
        # own wall clock (the documented difference).
        now += 400.0
        for n in range(1, 120):
            now += rng.choice([0.0, 0.5, 3.0, 20.0])
            req = _req(rng, n, strategies=strategies, epoch=epoch, limits=limits)
            [expected] = await live.reserve_many([req], now)
            got = mine.reserve(req, now)
            assert got == expected, (seed, epoch, n, req)
            codes.add(got[0])
            if got == ("OK", "") and not req.reducing:
                reserved.append(req)
            roll = rng.random()
            if reserved and roll < 0.3:  # a fill turns a reservation into a position
                done = reserved.pop(rng.randrange(len(reserved)))
                fill = {"decision_id": done.decision_id, "strategy_id": done.strategy_id,
                        "symbol": done.symbol,
                        "notional_delta": round(done.notional * rng.uniform(0.9, 1.1), 4)}
                await live.apply_fill(**fill)
                mine.apply_fill(**fill)
            elif reserved and roll < 0.4:  # a close reduces the position
                done = reserved[rng.randrange(len(reserved))]
                fill = {"decision_id": "", "strategy_id": done.strategy_id,
                        "symbol": done.symbol, "notional_delta": -rng.uniform(10, 2000)}
                await live.apply_fill(**fill)
                mine.apply_fill(**fill)
            elif reserved and roll < 0.45:  # over budget: the gate undoes a reservation
                done = reserved.pop()
                await live.release(done, now)
                mine.release(done, now)
            assert await _exposures(client, live) == mine.exp, (seed, epoch, n)
        if epoch == 1:
            snapshot = [(s, sym, rng.uniform(-2000, 2000)) for s in strategies
                        for sym in ("BTCUSDT", "ETHUSDT")]
            await live.replace_positions(snapshot, now)
            mine.replace_positions(snapshot, now)
            # Re-adding several reservations walks Redis's hash order (see the module
            # docstring); compare the values as the scripts read them.
            live_exp = await _exposures(client, live)
            assert live_exp.keys() == mine.exp.keys()
            for key, value in live_exp.items():
                assert float(value) == pytest.approx(float(mine.exp[key]), abs=1e-9)
            mine.exp = dict(live_exp)
    # The sequences exercised the interesting answers.
    assert {"OK", "DUPLICATE_SIGNAL_ID", "DUPLICATE_CONTENT", "RATE_ORDERS_PER_MINUTE"} <= codes
    assert codes & {"EXPOSURE_SYMBOL_LIMIT", "EXPOSURE_STRATEGY_LIMIT", "EXPOSURE_FLEET_LIMIT"}


async def test_stale_position_snapshot_is_refused_by_both(redis_ledger: Any) -> None:
    client, ns = redis_ledger
    live = Ledger(client, ns, positions_max_age_s=120)
    mine = InProcessLedger(namespace=ns, positions_max_age_s=120)
    req = ReserveRequest("d1", None, "c1", "s", "BTCUSDT", False, 100.0, 10, 10, 1e9, 1e9, 1e9)
    assert await live.reserve_many([req], T0) == [mine.reserve(req, T0)] == [
        ("EXPOSURE_NO_POSITIONS", "0")]
    await live.replace_positions([("s", "BTCUSDT", 250.5)], T0)
    mine.replace_positions([("s", "BTCUSDT", 250.5)], T0)
    assert await live.reserve_many([req], T0 + 60) == [mine.reserve(req, T0 + 60)] == [
        ("OK", "")]
    late = ReserveRequest("d2", None, "c2", "s", "BTCUSDT", False, 100.0, 10, 10, 1e9, 1e9, 1e9)
    answer = mine.reserve(late, T0 + 500)
    assert await live.reserve_many([late], T0 + 500) == [answer]
    assert answer == ("EXPOSURE_NO_POSITIONS", lua_tostring(T0))


def test_redis_number_formats() -> None:
    # Values checked against Redis 7.0 (HINCRBYFLOAT from Lua, Lua tostring).
    assert hincrbyfloat(None, 0.1) == "0.10000000000000001"
    assert hincrbyfloat(hincrbyfloat(None, 0.1), 0.2) == "0.30000000000000002"
    assert hincrbyfloat(None, 5000.1) == "5000.10000000000040021"
    assert hincrbyfloat("500", -500.0) == "0"
    assert lua_tostring(5000.123456789012345) == "5000.123456789"
    assert lua_tostring(30.0) == "30"
    assert lua_tostring(float("inf")) == "inf"


@pytest.mark.parametrize("seed", [5, 6, 7])
async def test_one_batch_decides_as_its_intents_one_by_one(redis_ledger: Any, seed: int
                                                           ) -> None:
    """The script keeps counts and exposures in Lua between a batch's intents and writes
    them once: a batch must answer exactly as the same requests sent one at a time."""
    client, ns = redis_ledger
    live, mine = _both(client, ns)
    rng = random.Random(seed)
    strategies = [f"s{i}" for i in range(3)]
    # Whole-dollar notionals and limits: no sum lands within a rounding error of a limit.
    limits = (6000.0, 4000.0, 9000.0)
    now = T0
    codes: list[str] = []
    for round_no in range(6):
        now += 7.0
        reqs = []
        for n in range(1, 40):
            req = _req(rng, 100 * round_no + n, strategies=strategies, epoch=seed,
                       limits=limits)
            reqs.append(_whole(req))
        got = await live.reserve_many(reqs, now)
        expected = [mine.reserve(req, now) for req in reqs]
        assert got == expected, (seed, round_no)
        codes += [code for code, _ in got]
        live_exp = await _exposures(client, live)
        assert live_exp.keys() == mine.exp.keys()
        for key, value in live_exp.items():
            assert float(value) == pytest.approx(float(mine.exp[key]), abs=1e-6)
    assert {"OK", "RATE_ORDERS_PER_MINUTE"} <= set(codes)
    assert set(codes) & {"EXPOSURE_SYMBOL_LIMIT", "EXPOSURE_STRATEGY_LIMIT",
                         "EXPOSURE_FLEET_LIMIT"}
    assert set(codes) & {"DUPLICATE_SIGNAL_ID", "DUPLICATE_CONTENT"}
    # Counters were written once per batch, with their expiry.
    for key in await client.keys(f"{ns}:rate:*"):
        assert 0 < await client.ttl(key) <= 120


def _whole(req: ReserveRequest) -> ReserveRequest:
    from dataclasses import replace

    return replace(req, notional=float(round(req.notional)))
