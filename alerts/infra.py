"""Shared connections to Redis (one client per URL, so a changed setting takes effect)."""

from __future__ import annotations

import threading

import redis
from django.conf import settings

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    url = settings.REDIS_URL
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            _clients[url] = client
    return client


def ns_key(*parts: str) -> str:
    return ":".join((settings.CIO_NAMESPACE, *parts))
