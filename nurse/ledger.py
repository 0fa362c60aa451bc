"""Cross-instance state of the gate in Redis, changed only by atomic Lua scripts.

One ``EVALSHA`` per intent (pipelined per batch) does, atomically across every Nurse:
1. drop expired exposure reservations;
2. refuse a duplicate (same signal id, or same content within the window);
3. for new exposure: check the per-strategy order rate and daily trade count, then the
   symbol / strategy / fleet notional (open positions + live reservations) against limits;
4. on success record the dedup keys and counters and reserve the notional until a fill
   arrives or the reservation expires.
Position-reducing intents skip step 3 and reserve nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

RESERVE_LUA = """
local now = tonumber(ARGV[1])
local exp = KEYS[1]; local resz = KEYS[2]; local resh = KEYS[3]
-- 1. expire old reservations (bounded work per call)
local old = redis.call('ZRANGEBYSCORE', resz, '-inf', now, 'LIMIT', 0, 64)
for _, rid in ipairs(old) do
  local v = redis.call('HGET', resh, rid)
  if v then
    local sf, tf, n = string.match(v, '([^|]+)|([^|]+)|([^|]+)')
    n = tonumber(n)
    redis.call('HINCRBYFLOAT', exp, sf, -n)
    redis.call('HINCRBYFLOAT', exp, tf, -n)
    redis.call('HINCRBYFLOAT', exp, 'fleet', -n)
    redis.call('HDEL', resh, rid)
  end
  redis.call('ZREM', resz, rid)
end
-- 2. duplicates
local dup_id = KEYS[4]; local dup_content = KEYS[5]
if dup_id ~= '' and redis.call('EXISTS', dup_id) == 1 then
  return {'DUPLICATE_SIGNAL_ID', redis.call('GET', dup_id)}
end
if redis.call('EXISTS', dup_content) == 1 then
  return {'DUPLICATE_CONTENT', redis.call('GET', dup_content)}
end
local reducing = ARGV[2] == '1'
local decision_id = ARGV[3]
local window = tonumber(ARGV[4])
local rate_key = KEYS[6]; local daily_key = KEYS[7]; local synced = KEYS[8]
local notional = tonumber(ARGV[5])
local sf = ARGV[6]; local tf = ARGV[7]
if not reducing then
  -- 3. rates and exposure
  local synced_at = tonumber(redis.call('GET', synced) or '0')
  local max_age = tonumber(ARGV[14])
  if max_age > 0 and now - synced_at > max_age then
    return {'EXPOSURE_NO_POSITIONS', tostring(synced_at)}
  end
  local rate = tonumber(redis.call('GET', rate_key) or '0')
  if rate >= tonumber(ARGV[8]) then return {'RATE_ORDERS_PER_MINUTE', tostring(rate)} end
  local daily = tonumber(redis.call('GET', daily_key) or '0')
  if daily >= tonumber(ARGV[9]) then return {'RATE_DAILY_TRADES', tostring(daily)} end
  local cur = redis.call('HMGET', exp, sf, tf, 'fleet')
  local cs = tonumber(cur[1] or '0'); local ct = tonumber(cur[2] or '0')
  local cf = tonumber(cur[3] or '0')
  if cs + notional > tonumber(ARGV[10]) then
    return {'EXPOSURE_SYMBOL_LIMIT', tostring(cs)}
  end
  if ct + notional > tonumber(ARGV[11]) then
    return {'EXPOSURE_STRATEGY_LIMIT', tostring(ct)}
  end
  if cf + notional > tonumber(ARGV[12]) then
    return {'EXPOSURE_FLEET_LIMIT', tostring(cf)}
  end
end
-- 4. commit
if dup_id ~= '' then redis.call('SET', dup_id, decision_id, 'EX', window) end
redis.call('SET', dup_content, decision_id, 'EX', window)
if not reducing then
  redis.call('INCR', rate_key); redis.call('EXPIRE', rate_key, 120)
  redis.call('INCR', daily_key); redis.call('EXPIRE', daily_key, 172800)
  if notional > 0 then
    redis.call('HINCRBYFLOAT', exp, sf, notional)
    redis.call('HINCRBYFLOAT', exp, tf, notional)
    redis.call('HINCRBYFLOAT', exp, 'fleet', notional)
    redis.call('ZADD', resz, now + tonumber(ARGV[13]), decision_id)
    redis.call('HSET', resh, decision_id, sf .. '|' .. tf .. '|' .. notional)
  end
end
return {'OK', ''}
"""

# A fill converts a reservation into a position: release the reservation, add the fill.
FILL_LUA = """
local exp = KEYS[1]; local resz = KEYS[2]; local resh = KEYS[3]
local rid = ARGV[1]; local sf = ARGV[2]; local tf = ARGV[3]; local delta = tonumber(ARGV[4])
if rid ~= '' then
  local v = redis.call('HGET', resh, rid)
  if v then
    local rsf, rtf, n = string.match(v, '([^|]+)|([^|]+)|([^|]+)')
    n = tonumber(n)
    redis.call('HINCRBYFLOAT', exp, rsf, -n)
    redis.call('HINCRBYFLOAT', exp, rtf, -n)
    redis.call('HINCRBYFLOAT', exp, 'fleet', -n)
    redis.call('HDEL', resh, rid)
    redis.call('ZREM', resz, rid)
  end
end
for _, f in ipairs({sf, tf, 'fleet'}) do
  local v = tonumber(redis.call('HINCRBYFLOAT', exp, f, delta))
  if v < 0 then redis.call('HSET', exp, f, 0) end
end
return 1
"""

# An engine position snapshot replaces the open positions; live reservations are kept.
POSITIONS_LUA = """
local exp = KEYS[1]; local resh = KEYS[3]; local synced = KEYS[4]
redis.call('DEL', exp)
local res = redis.call('HGETALL', resh)
for i = 2, #res, 2 do
  local sf, tf, n = string.match(res[i], '([^|]+)|([^|]+)|([^|]+)')
  n = tonumber(n)
  redis.call('HINCRBYFLOAT', exp, sf, n)
  redis.call('HINCRBYFLOAT', exp, tf, n)
  redis.call('HINCRBYFLOAT', exp, 'fleet', n)
end
for i = 2, #ARGV, 3 do
  local n = math.abs(tonumber(ARGV[i + 2]))
  redis.call('HINCRBYFLOAT', exp, 'sym:' .. ARGV[i + 1], n)
  redis.call('HINCRBYFLOAT', exp, 'strat:' .. ARGV[i], n)
  redis.call('HINCRBYFLOAT', exp, 'fleet', n)
end
redis.call('SET', synced, ARGV[1])
return 1
"""

# Undo a decision that the ledger approved but the gate then blocked (budget overrun), so
# a retry is safe: release the reservation, forget the dedup keys, give back the counts.
RELEASE_LUA = """
local exp = KEYS[1]; local resz = KEYS[2]; local resh = KEYS[3]
local rid = ARGV[1]
local v = redis.call('HGET', resh, rid)
if v then
  local sf, tf, n = string.match(v, '([^|]+)|([^|]+)|([^|]+)')
  n = tonumber(n)
  redis.call('HINCRBYFLOAT', exp, sf, -n)
  redis.call('HINCRBYFLOAT', exp, tf, -n)
  redis.call('HINCRBYFLOAT', exp, 'fleet', -n)
  redis.call('HDEL', resh, rid)
  redis.call('ZREM', resz, rid)
end
if KEYS[4] ~= '' and redis.call('GET', KEYS[4]) == rid then redis.call('DEL', KEYS[4]) end
if redis.call('GET', KEYS[5]) == rid then redis.call('DEL', KEYS[5]) end
if ARGV[2] == '0' then
  for i = 6, 7 do
    if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
  end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    """One intent's cross-instance check, built by the gate from in-memory data."""

    decision_id: str
    signal_id: str | None
    content_key: str
    strategy_id: str
    symbol: str
    reducing: bool
    notional: float
    max_orders_per_minute: int
    max_daily_trades: int
    symbol_limit: float
    strategy_limit: float
    fleet_limit: float


class Ledger:
    """Redis keys and scripts of the exposure/dedup ledger for one namespace."""

    def __init__(self, client: aioredis.Redis, namespace: str, *, dedup_window_s: int = 60,
                 reservation_ttl_s: int = 300, positions_max_age_s: float = 120) -> None:
        self.client = client
        self.ns = namespace
        self.dedup_window_s = dedup_window_s
        self.reservation_ttl_s = reservation_ttl_s
        self.positions_max_age_s = positions_max_age_s
        self.exp_key = f"{namespace}:exp:open"
        self.resz_key = f"{namespace}:exp:resz"
        self.resh_key = f"{namespace}:exp:resh"
        self.synced_key = f"{namespace}:exp:synced_at"
        self.equity_key = f"{namespace}:exp:equity"
        self._reserve = client.register_script(RESERVE_LUA)
        self._fill = client.register_script(FILL_LUA)
        self._release = client.register_script(RELEASE_LUA)
        self._positions = client.register_script(POSITIONS_LUA)

    def _keys(self, req: ReserveRequest, now: float) -> list[str]:
        minute = int(now // 60)
        day = int(now // 86400)
        return [
            self.exp_key, self.resz_key, self.resh_key,
            f"{self.ns}:dedup:id:{req.strategy_id}:{req.signal_id}" if req.signal_id else "",
            f"{self.ns}:dedup:c:{req.content_key}",
            f"{self.ns}:rate:{req.strategy_id}:{minute}",
            f"{self.ns}:daily:{req.strategy_id}:{day}",
            self.synced_key,
        ]

    def _args(self, req: ReserveRequest, now: float) -> list[Any]:
        return [now, "1" if req.reducing else "0", req.decision_id, self.dedup_window_s,
                req.notional, f"sym:{req.symbol}", f"strat:{req.strategy_id}",
                req.max_orders_per_minute, req.max_daily_trades, req.symbol_limit,
                req.strategy_limit, req.fleet_limit, self.reservation_ttl_s,
                self.positions_max_age_s]

    async def reserve_many(self, reqs: Sequence[ReserveRequest], now: float
                           ) -> list[tuple[str, str]]:
        """Run the reservation script for a batch in one round trip (pipelined)."""
        if len(reqs) == 1:
            req = reqs[0]
            res = await self._reserve(keys=self._keys(req, now), args=self._args(req, now))
            return [_decode(res)]
        pipe = self.client.pipeline(transaction=False)
        for req in reqs:
            await self._reserve(keys=self._keys(req, now), args=self._args(req, now),
                                client=pipe)
        results = await pipe.execute()
        return [_decode(r) for r in results]

    async def release(self, req: ReserveRequest, now: float) -> None:
        await self._release(keys=self._keys(req, now)[:7],
                            args=[req.decision_id, "1" if req.reducing else "0"])

    async def apply_fill(self, *, decision_id: str, strategy_id: str, symbol: str,
                         notional_delta: float) -> None:
        await self._fill(keys=[self.exp_key, self.resz_key, self.resh_key],
                         args=[decision_id, f"sym:{symbol}", f"strat:{strategy_id}",
                               notional_delta])

    async def replace_positions(self, positions: Sequence[tuple[str, str, float]],
                                now: float | None = None) -> None:
        """Load an engine position snapshot: (strategy_id, symbol, notional) per position."""
        args: list[Any] = [now if now is not None else time.time()]
        for strategy_id, symbol, notional in positions:
            args.extend([strategy_id, symbol, notional])
        await self._positions(keys=[self.exp_key, self.resz_key, self.resh_key,
                                    self.synced_key], args=args)

    async def exposures(self) -> dict[str, float]:
        raw = await self.client.hgetall(self.exp_key)
        return {(k.decode() if isinstance(k, bytes) else str(k)): float(v)
                for k, v in raw.items()}

    async def equity(self) -> float | None:
        raw = await self.client.get(self.equity_key)
        return float(raw) if raw is not None else None

    async def set_equity(self, equity: float) -> None:
        await self.client.set(self.equity_key, equity)


def _decode(res: Any) -> tuple[str, str]:
    code, detail = res[0], res[1]
    return (code.decode() if isinstance(code, bytes) else str(code),
            detail.decode() if isinstance(detail, bytes) else str(detail or ""))
