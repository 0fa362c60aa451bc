"""Read-side queries of alerts: open alerts, delivery health, the DEGRADED flag, the banner."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from alerts import spool
from alerts.infra import ns_key, redis_client
from alerts.models import Alert, AlertDelivery, AlertStatus, DeliveryPurpose, DeliveryStatus

logger = logging.getLogger(__name__)


def alerts_open(*, limit: int = 100) -> list[Alert]:
    """Unresolved alerts, most severe and most recent first."""
    qs = Alert.objects.exclude(status=AlertStatus.RESOLVED).order_by("-rank", "-last_seen_at")
    return list(qs[:limit])


def alerts_undelivered() -> QuerySet[Alert]:
    """Alerts no channel has confirmed and no person has acknowledged: still "silent"."""
    return Alert.objects.filter(delivered_at__isnull=True, acknowledged_at__isnull=True)


def alerts_health(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Delivery health from the database.

    ``degraded`` is true when an undelivered alert is *stuck*: every channel it was routed
    to has been tried (or skipped) without a confirmation, or it is older than
    ``ALERT_DEGRADED_GRACE_S``; or when raises wait in the disk spool (database down).
    A freshly raised alert whose channels are not tried yet is pending, not degraded.
    """
    now = now or timezone.now()
    undelivered = alerts_undelivered()
    untried = AlertDelivery.objects.filter(
        alert=OuterRef("pk"), purpose=DeliveryPurpose.RAISE, status=DeliveryStatus.PENDING,
        attempts=0,
    )
    grace = now - dt.timedelta(seconds=settings.ALERT_DEGRADED_GRACE_S)
    stuck = undelivered.filter(Q(first_seen_at__lte=grace) | ~Exists(untried)).count()
    pending = undelivered.count()
    oldest = undelivered.aggregate(oldest=Min("first_seen_at"))["oldest"]
    failing = {
        row["channel"]: row["n"]
        for row in AlertDelivery.objects.filter(status=DeliveryStatus.RETRYING)
        .values("channel").annotate(n=Count("id")).order_by("channel")
    }
    spooled = spool.spool_count()
    return {
        "degraded": stuck > 0 or spooled > 0,
        "pending_undelivered": pending,
        "stuck_undelivered": stuck,
        "oldest_undelivered_s": round((now - oldest).total_seconds(), 1) if oldest else None,
        "failing_channels": failing,
        "spooled": spooled,
        "open": Alert.objects.exclude(status=AlertStatus.RESOLVED).count(),
        "checked_at": now.isoformat(),
    }


def alerts_degraded() -> bool:
    """Cheap: the flag the delivery path caches in Redis (``<ns>:alerts:degraded``).

    Falls back to the database when the key is missing or Redis is down, and answers
    True when neither can be read (an alert pipeline we cannot see is not healthy)."""
    try:
        value = redis_client().get(ns_key("alerts", "degraded"))
    except redis.RedisError:
        value = None
    if value is not None:
        return value in (b"1", "1")
    try:
        return bool(alerts_health()["degraded"])
    except DatabaseError:
        return True


def alerts_banner() -> dict[str, Any]:
    """What the admin banner shows: the cached health, or a fresh one when none is cached."""
    try:
        raw = redis_client().get(ns_key("alerts", "health"))
    except redis.RedisError:
        raw = None
    if raw is not None:
        try:
            cached: dict[str, Any] = json.loads(raw)
            return cached
        except ValueError:
            pass
    try:
        return alerts_health()
    except DatabaseError:
        return {"degraded": True, "database": "unreachable", "pending_undelivered": None,
                "failing_channels": {}, "spooled": None}
