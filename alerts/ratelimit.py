"""Per-channel token buckets in Redis, so no alert storm can flood a channel.

Critical notices draw from their own bucket per channel: a storm of warnings cannot hold a
critical alert back. When Redis is unreachable the limiter lets everything through (an
alert that is not delivered is worse than one delivered twice too fast).
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings

from alerts.infra import redis_client

logger = logging.getLogger(__name__)

_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1])
local ts = tonumber(data[2])
if tokens == nil then tokens = burst; ts = now end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""

def bucket_key(channel: str, *, critical: bool) -> str:
    lane = "critical" if critical else "normal"
    return f"{settings.CIO_NAMESPACE}:alerts:ratelimit:{channel}:{lane}"


def rate_limit_take(channel: str, *, critical: bool, now: float) -> float:
    """Take one token; 0.0 when allowed, else the seconds until the next token."""
    rate = settings.ALERT_RATE_LIMIT_PER_MIN / 60.0
    try:
        wait = redis_client().eval(_BUCKET, 1, bucket_key(channel, critical=critical),
                             rate, settings.ALERT_RATE_LIMIT_BURST, now)
    except redis.RedisError as exc:
        logger.warning("alert rate limiter unavailable (%s); letting %s through",
                       type(exc).__name__, channel)
        return 0.0
    return float(wait)
