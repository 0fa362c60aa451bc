"""Per-principal rate limit on writes: a Redis fixed window shared by every web process."""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings

from governance.errors import CioError

logger = logging.getLogger(__name__)
_client: redis.Redis | None = None
_client_lock = threading.Lock()


class RateLimited(CioError):
    """Too many writes by one principal in the current window."""

    code = "RATE_LIMITED"
    http_status = 429


def _redis() -> redis.Redis:
    global _client
    with _client_lock:
        if _client is None:
            _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5,
                                           socket_connect_timeout=0.5)
        return _client


def rate_limit_write(principal: str, *, now: float | None = None) -> None:
    """Count one write of ``principal``; raise ``RateLimited`` (with ``retry_after``) when over.

    Fails open when Redis is unreachable: a halt must never wait for the rate limiter.
    """
    limit = settings.CIO_API_WRITE_RATE_PER_MIN
    window = 60
    now = time.time() if now is None else now
    slot = int(now // window)
    key = f"{settings.CIO_NAMESPACE}:ratelimit:write:{principal}:{slot}"
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window + 5)
        count = int(pipe.execute()[0])
    except redis.RedisError as exc:
        logger.warning("rate limiter unavailable, allowing the write: %s", type(exc).__name__)
        return
    if count > limit:
        retry_after = max(1, int((slot + 1) * window - now))
        raise RateLimited(
            f"more than {limit} writes per minute by {principal}",
            details={"limit": limit, "window_s": window, "retry_after": retry_after},
        )
