"""Kubernetes probes: liveness (the process answers) and readiness (db, redis, nats)."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from ninja import Router, Status

from governance.api.responses import ok
from governance.api.schemas import Envelope, LiveOut, ReadyOut
from governance.api.tracing import request_trace_id

router = Router(tags=["health"])


@router.get("/live", auth=None, response={200: Envelope[LiveOut]},
            summary="Liveness: 200 while the process serves requests")
def live(request: HttpRequest) -> Any:
    return Status(200, ok(LiveOut(), request_trace_id(request)))


def _db() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any failure means "down"; the probe itself never fails
        return False


def _redis() -> bool:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1,
                                      socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure means "down"
        return False


def _nats() -> bool:
    # A TCP connect and the server's INFO line: enough to know NATS answers, without a client.
    first = settings.NATS_URL.split(",")[0].strip()
    url = urlparse(first if "://" in first else f"nats://{first}")
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 4222),
                                      timeout=1) as sock:
            sock.settimeout(1)
            return sock.recv(4).startswith(b"INFO")
    except OSError:
        return False


@router.get("/ready", auth=None, response={200: Envelope[ReadyOut], 503: Envelope[ReadyOut]},
            summary="Readiness: 200 when the database, Redis and NATS answer, else 503")
def ready(request: HttpRequest) -> Any:
    checks = {"db": _db(), "redis": _redis(), "nats": _nats()}
    data = ReadyOut(ready=all(checks.values()),
                    checks={k: "ok" if v else "down" for k, v in checks.items()})
    return Status(200 if data.ready else 503, ok(data, request_trace_id(request)))


