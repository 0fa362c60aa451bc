"""Sending the outbox: claim due deliveries, respect the rate limit, send, record the outcome.

Each attempt:
1. claims its row with ``SELECT ... FOR UPDATE SKIP LOCKED`` and pushes ``next_attempt_at``
   one lease ahead, so concurrent workers never send the same row and a worker that dies
   mid-send only delays it by the lease (``ALERT_CLAIM_LEASE_S``);
2. skips channels that are not configured (recorded, never a confirmation);
3. takes a token from the channel's bucket, or defers the row until the next token;
4. sends; success records ``confirmed`` (a receiver outside this process acknowledged) or
   ``emitted`` (in-process only); failure records the redacted error and the next attempt,
   exponential with jitter and capped, or the receiver's own Retry-After. Nothing gives up:
   a failing channel keeps retrying until it succeeds or a person acknowledges the alert.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from alerts.channels import AlertMessage, ChannelError
from alerts.channels import channel_get as _channel_get
from alerts.infra import ns_key, redis_client
from alerts.models import DUE_STATUSES, Alert, AlertDelivery, DeliveryPurpose, DeliveryStatus
from alerts.ratelimit import rate_limit_take
from alerts.redact import redact
from alerts.selectors import alerts_health

logger = logging.getLogger(__name__)
_rng = secrets.SystemRandom()
_BATCH = 50


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one attempt did to one delivery row (for commands, tasks and tests)."""

    delivery_id: int
    alert_id: int
    channel: str
    purpose: str
    status: str
    attempts: int
    detail: str = ""
    error: str = ""
    deferred: bool = False
    next_attempt_at: dt.datetime | None = None


def backoff_seconds(attempts: int) -> float:
    """Exponential (base * 2^(n-1)), capped at ``ALERT_BACKOFF_MAX_S``, jittered to 50-100 %."""
    ceiling = min(float(settings.ALERT_BACKOFF_MAX_S),
                  settings.ALERT_BACKOFF_BASE_S * 2 ** min(max(attempts - 1, 0), 30))
    return float(ceiling * _rng.uniform(0.5, 1.0))


def message_for(alert: Alert, purpose: str) -> AlertMessage:
    return AlertMessage(
        alert_id=str(alert.public_id), purpose=purpose, severity=alert.severity,
        category=alert.category, source=alert.source, message=alert.message,
        last_message=alert.last_message, dedup_key=alert.dedup_key, count=alert.count,
        first_seen=alert.first_seen_at, last_seen=alert.last_seen_at, status=alert.status,
        context=dict(alert.context), trace_id=alert.trace_id,
        note=alert.resolution_note if purpose == DeliveryPurpose.RESOLVED else "",
    )


def _claim(queryset: QuerySet[AlertDelivery], now: dt.datetime, limit: int) -> list[AlertDelivery]:
    lease = now + dt.timedelta(seconds=settings.ALERT_CLAIM_LEASE_S)
    with transaction.atomic():
        rows = list(
            queryset.select_for_update(skip_locked=True, of=("self",))
            .select_related("alert")
            .filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .order_by("-alert__rank", "next_attempt_at", "pk")[:limit]
        )
        if rows:
            AlertDelivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                next_attempt_at=lease)
    return rows


def _outcome(row: AlertDelivery, **changes: Any) -> AttemptOutcome:
    AlertDelivery.objects.filter(pk=row.pk).update(**changes)
    for name, value in changes.items():
        setattr(row, name, value)
    return AttemptOutcome(
        delivery_id=row.pk, alert_id=row.alert_id, channel=row.channel, purpose=row.purpose,
        status=row.status, attempts=row.attempts, detail=row.detail, error=row.last_error,
        deferred="deferrals" in changes, next_attempt_at=row.next_attempt_at,
    )


def _attempt(row: AlertDelivery, now: dt.datetime, *, bypass_rate_limit: bool) -> AttemptOutcome:
    try:
        channel = _channel_get(row.channel)
    except Exception:
        return _outcome(row, status=DeliveryStatus.SKIPPED,
                        last_error="channel is not registered in this process")
    if not channel.configured():
        return _outcome(row, status=DeliveryStatus.SKIPPED, last_error="not configured")
    if not bypass_rate_limit:
        wait = rate_limit_take(row.channel, critical=row.alert.rank >= 2, now=now.timestamp())
        if wait > 0:
            return _outcome(row, deferrals=row.deferrals + 1,
                            next_attempt_at=now + dt.timedelta(seconds=wait),
                            last_error=f"rate limited: next token in {wait:.1f} s")
    attempts = row.attempts + 1
    try:
        result = channel.send(message_for(row.alert, row.purpose))
    except Exception as exc:
        hint = exc.retry_after if isinstance(exc, ChannelError) else None
        delay = backoff_seconds(attempts) if hint is None else min(
            max(hint, 1.0), float(settings.ALERT_BACKOFF_MAX_S))
        error = redact(str(exc) if isinstance(exc, ChannelError)
                       else f"unexpected {type(exc).__name__}: {exc}")
        logger.warning("alert %s: %s delivery attempt %d failed: %s", row.alert_id,
                       row.channel, attempts, error)
        return _outcome(row, status=DeliveryStatus.RETRYING, attempts=attempts,
                        last_error=error, last_attempt_at=now,
                        next_attempt_at=now + dt.timedelta(seconds=delay))
    if result.confirmed:
        if row.purpose == DeliveryPurpose.RAISE:
            Alert.objects.filter(pk=row.alert_id, delivered_at__isnull=True).update(
                delivered_at=now)
        return _outcome(row, status=DeliveryStatus.CONFIRMED, attempts=attempts,
                        confirmed_at=now, last_attempt_at=now, detail=result.detail[:200],
                        last_error="")
    return _outcome(row, status=DeliveryStatus.EMITTED, attempts=attempts,
                    last_attempt_at=now, detail=result.detail[:200], last_error="")


def alert_deliver(*, alert_id: int, now: dt.datetime | None = None,
                  bypass_rate_limit: bool = False) -> list[AttemptOutcome]:
    """Attempt every due delivery of one alert now (the on-commit task; ``alert_test``)."""
    now = now or timezone.now()
    rows = _claim(AlertDelivery.objects.filter(alert_id=alert_id), now, limit=100)
    outcomes = [_attempt(row, now, bypass_rate_limit=bypass_rate_limit) for row in rows]
    if outcomes:
        alerts_health_publish(now=now)
    return outcomes


def alert_deliver_pending(*, now: dt.datetime | None = None,
                          limit: int | None = None) -> list[AttemptOutcome]:
    """Attempt every due delivery of every alert, most severe first, in claimed batches."""
    now = now or timezone.now()
    budget = limit if limit is not None else settings.ALERT_SWEEP_MAX
    outcomes: list[AttemptOutcome] = []
    while budget > 0:
        rows = _claim(AlertDelivery.objects.all(), now, limit=min(_BATCH, budget))
        if not rows:
            break
        budget -= len(rows)
        outcomes.extend(_attempt(row, now, bypass_rate_limit=False) for row in rows)
    return outcomes


def degraded_key() -> str:
    return ns_key("alerts", "degraded")


def health_key() -> str:
    return ns_key("alerts", "health")


def alerts_health_publish(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Compute the health and cache it in Redis for the Nurse heartbeat and the banner.

    ``<ns>:alerts:degraded`` is "1" or "0" with a TTL of ``ALERT_HEALTH_TTL_S``: a missing
    key means the delivery path has not reported lately (treat it as unknown/degraded)."""
    now = now or timezone.now()
    try:
        health = alerts_health(now=now)
    except DatabaseError as exc:
        health = {"degraded": True, "database": f"unreachable ({type(exc).__name__})",
                  "pending_undelivered": None, "failing_channels": {}, "spooled": None,
                  "checked_at": now.isoformat()}
    ttl = settings.ALERT_HEALTH_TTL_S
    try:
        pipe = redis_client().pipeline(transaction=True)
        pipe.set(degraded_key(), "1" if health["degraded"] else "0", ex=ttl)
        pipe.set(health_key(), json.dumps(health, default=str), ex=ttl)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("cannot publish alerts health to Redis (%s)", type(exc).__name__)
    return health


__all__ = [
    "AttemptOutcome",
    "alert_deliver",
    "alert_deliver_pending",
    "alerts_health_publish",
    "backoff_seconds",
    "message_for",
]
