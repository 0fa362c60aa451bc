"""Alert writes: raise (fold or persist with its outbox rows), acknowledge, resolve, distil.

``alert_raise``:
1. validates the request (``AlertIn``); a bad request is ``ValidationFailed(ALERT_INVALID)``;
2. serialises raisers of one dedup key (PostgreSQL advisory lock) and folds the raise into
   the newest alert of that key whose fold window is open and whose severity is at least as
   high: only the count, the last message and the window move;
3. otherwise stores a new alert and one pending ``AlertDelivery`` per routed channel in the
   same transaction: the database is the outbox;
4. after commit asks a Celery worker to deliver at once; the beat task ``alerts.deliver_due``
   re-sends whatever is still due, so a lost task or a dead worker loses nothing.

It joins the caller's transaction: an alert raised in a transaction that rolls back is rolled
back too, so raise alerts about a failure after leaving the failed atomic block. When the
database itself is unreachable the raise is spooled to disk (``alerts.spool``), delivered
directly from there and stored once the database is back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from functools import partial
from typing import Any

import pydantic
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from alerts import spool
from alerts.channels import channel_names
from alerts.contracts import AlertIn
from alerts.delivery import (
    alert_deliver,
    alert_deliver_pending,
    alerts_health_publish,
)
from alerts.models import (
    DUE_STATUSES,
    SEVERITY_RANK,
    Alert,
    AlertDelivery,
    AlertRoute,
    AlertStatus,
    DeliveryPurpose,
    DeliveryStatus,
    Severity,
)
from governance.audit import audit_record
from governance.errors import NotFound, ValidationFailed
from governance.models import ActorKind

logger = logging.getLogger(__name__)

_LOCK_CLASS = 0x414C5254  # "ALRT": advisory-lock namespace for dedup keys

__all__ = [
    "alert_acknowledge",
    "alert_deliver",
    "alert_deliver_due",
    "alert_deliver_pending",
    "alert_distill_due",
    "alert_raise",
    "alert_resolve",
    "alert_resolve_key",
    "alert_route_channels",
    "alert_spool_replay",
    "alert_test_send",
    "alerts_health_publish",
]


def _validated(**fields: Any) -> AlertIn:
    try:
        return AlertIn(**fields)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(
            "the alert is not valid",
            code="ALERT_INVALID",
            details={"errors": exc.errors(include_url=False, include_context=False,
                                          include_input=False)},
        ) from None


def _default_dedup_key(data: AlertIn) -> str:
    digest = hashlib.sha256(data.message.encode()).hexdigest()[:16]
    return f"{data.category}:{data.source}:{digest}"[:200]


def alert_route_channels(*, severity: str, category: str) -> list[str]:
    """Critical: every registered channel. Info/warning: the union of the enabled matching
    routes, in registry order; no matching route (or only unknown names) means every channel,
    so a missing rule can never make an alert silent."""
    names = channel_names()
    if severity == Severity.CRITICAL:
        return names
    chosen: set[str] = set()
    for route in AlertRoute.objects.filter(enabled=True):
        if route.severity in ("", severity) and fnmatchcase(category, route.category_pattern
                                                             or "*"):
            chosen.update(str(name) for name in route.channels)
    picked = [name for name in names if name in chosen]
    return picked or names


def _deliveries_create(alert: Alert, *, purpose: str, channels: Sequence[str],
                       now: dt.datetime) -> None:
    AlertDelivery.objects.bulk_create(
        [AlertDelivery(alert=alert, channel=name, purpose=purpose, next_attempt_at=now)
         for name in channels],
        ignore_conflicts=True,
    )


def _enqueue(alert_id: int) -> None:
    from alerts.tasks import deliver_alert_task

    try:
        deliver_alert_task.apply_async(args=[alert_id], retry=False)
    except Exception as exc:
        # The rows are committed; alerts.deliver_due sends them when the broker is back.
        logger.warning("could not enqueue delivery of alert %s (%s); beat will send it",
                       alert_id, type(exc).__name__)


def _fold_until(first_seen: dt.datetime, last_seen: dt.datetime) -> dt.datetime:
    return min(last_seen + dt.timedelta(seconds=settings.ALERT_DEDUP_WINDOW_S),
               first_seen + dt.timedelta(seconds=settings.ALERT_DEDUP_MAX_S))


def alert_store(
    data: AlertIn,
    *,
    dedup_key: str,
    channels: Sequence[str] | None,
    now: dt.datetime,
    occurrences: int = 1,
    last_seen: dt.datetime | None = None,
    public_id: uuid.UUID | None = None,
) -> Alert:
    """Steps 2-4 of ``alert_raise`` (no spooling): fold or insert, then enqueue after commit."""
    last_seen = last_seen or now
    rank = SEVERITY_RANK[Severity(data.severity)]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                               [_LOCK_CLASS, dedup_key])
        current = (
            Alert.objects.select_for_update()
            .filter(dedup_key=dedup_key, fold_until__gt=now)
            .exclude(status=AlertStatus.RESOLVED)
            .order_by("-first_seen_at")
            .first()
        )
        if current is not None and current.rank >= rank and channels is None:
            current.count += occurrences
            current.last_seen_at = max(current.last_seen_at, last_seen)
            current.last_message = data.message
            current.fold_until = _fold_until(current.first_seen_at, current.last_seen_at)
            current.save(update_fields=["count", "last_seen_at", "last_message", "fold_until"])
            return current
        targets = list(channels) if channels is not None else alert_route_channels(
            severity=data.severity, category=data.category)
        alert = Alert.objects.create(
            public_id=public_id or uuid.uuid4(),
            severity=data.severity, rank=rank, category=data.category, source=data.source,
            message=data.message, last_message=data.message if occurrences > 1 else "",
            dedup_key=dedup_key, context=data.context, trace_id=data.trace_id,
            count=occurrences, notified_count=occurrences, first_seen_at=now,
            last_seen_at=last_seen, fold_until=_fold_until(now, last_seen),
        )
        _deliveries_create(alert, purpose=DeliveryPurpose.RAISE, channels=targets, now=now)
        transaction.on_commit(partial(_enqueue, alert.pk))
    return alert


def alert_raise(
    *,
    severity: str,
    category: str,
    source: str,
    message: str,
    dedup_key: str = "",
    context: Mapping[str, Any] | None = None,
    trace_id: str = "",
    channels: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> Alert:
    """Raise an alert (see the module docstring). ``channels`` overrides routing and never
    folds (used by ``alert_test``). Returns the stored alert, or an unsaved one (``pk`` None)
    when the database was unreachable and the raise went to the disk spool."""
    data = _validated(severity=severity, category=category, source=source, message=message,
                      dedup_key=dedup_key, context=dict(context or {}), trace_id=trace_id)
    key = data.dedup_key or _default_dedup_key(data)
    if channels is not None:
        unknown = sorted(set(channels) - set(channel_names()))
        if unknown:
            raise ValidationFailed("unknown alert channels", code="ALERT_CHANNEL_UNKNOWN",
                                   details={"channels": unknown})
    now = now or timezone.now()
    try:
        return alert_store(data, dedup_key=key, channels=channels, now=now)
    except (OperationalError, InterfaceError) as exc:
        logger.error("database unreachable (%s); alert %s spooled to disk",
                     type(exc).__name__, key)
        public_id = spool.spool_write(data, dedup_key=key, now=now)
        _enqueue_spool()
        return Alert(public_id=public_id, severity=data.severity, category=data.category,
                     source=data.source, message=data.message, dedup_key=key,
                     context=data.context, trace_id=data.trace_id, first_seen_at=now,
                     last_seen_at=now, fold_until=now,
                     rank=SEVERITY_RANK[Severity(data.severity)])


def _enqueue_spool() -> None:
    from alerts.tasks import deliver_due_task

    try:
        deliver_due_task.apply_async(retry=False)
    except Exception as exc:
        logger.warning("could not enqueue the spool delivery (%s)", type(exc).__name__)


def alert_spool_replay() -> int:
    """Store spooled raises now that the database answers; returns how many were stored.

    Channels that confirmed a spooled alert directly are recorded as confirmed, so it is not
    sent twice to them."""
    stored = 0
    for entry in spool.spool_entries():
        alert = alert_store(
            entry.request, dedup_key=entry.dedup_key, channels=None, now=entry.first_seen,
            occurrences=entry.count, last_seen=entry.last_seen, public_id=entry.public_id,
        )
        confirmed = [name for name, status in entry.direct.items() if status == "confirmed"]
        if confirmed and alert.public_id == entry.public_id:
            AlertDelivery.objects.filter(
                alert=alert, channel__in=confirmed, purpose=DeliveryPurpose.RAISE
            ).update(status=DeliveryStatus.CONFIRMED, confirmed_at=entry.last_seen,
                     attempts=1, detail="delivered from the spool while the database was down")
            Alert.objects.filter(pk=alert.pk, delivered_at__isnull=True).update(
                delivered_at=entry.last_seen)
        spool.spool_remove(entry)
        stored += 1
    return stored


def _cancel_unconfirmed(alert: Alert, reason: str) -> int:
    return AlertDelivery.objects.filter(alert=alert, status__in=DUE_STATUSES).update(
        status=DeliveryStatus.CANCELLED, last_error=reason)


def _locked(alert_id: int) -> Alert:
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"no alert {alert_id}", code="ALERT_NOT_FOUND")
    return alert


def alert_acknowledge(*, alert_id: int, actor: str, note: str = "",
                      now: dt.datetime | None = None) -> Alert:
    """A person has seen the alert: stop retrying its undelivered notices, and audit it."""
    now = now or timezone.now()
    with transaction.atomic():
        alert = _locked(alert_id)
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
            alert.acknowledged_by = actor
            if alert.status == AlertStatus.OPEN:
                alert.status = AlertStatus.ACKNOWLEDGED
            alert.save(update_fields=["acknowledged_at", "acknowledged_by", "status"])
            cancelled = _cancel_unconfirmed(alert, f"cancelled: acknowledged by {actor}")
            audit_record(
                event_type="alert.acknowledge", actor=actor, actor_kind=ActorKind.USER,
                scope=f"alert:{alert.public_id}",
                summary=f"acknowledged {alert.severity} alert {alert.category}@{alert.source}",
                payload={"alert_id": alert.pk, "count": alert.count,
                         "cancelled_deliveries": cancelled},
                reason=note,
            )
    return alert


def alert_resolve(*, alert_id: int, actor: str, actor_kind: str = ActorKind.USER,
                  note: str = "", now: dt.datetime | None = None) -> Alert:
    """Close an alert. A person resolving also acknowledges it; a watchdog resolving sends a
    "resolved" notice to the channels that confirmed the raise."""
    now = now or timezone.now()
    with transaction.atomic():
        alert = _locked(alert_id)
        if alert.status == AlertStatus.RESOLVED:
            return alert
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        alert.resolved_by = actor
        alert.resolution_note = note
        alert.fold_until = min(alert.fold_until, now)
        if actor_kind == ActorKind.USER:
            if alert.acknowledged_at is None:
                alert.acknowledged_at, alert.acknowledged_by = now, actor
            _cancel_unconfirmed(alert, f"cancelled: resolved by {actor}")
            audit_record(
                event_type="alert.resolve", actor=actor, actor_kind=ActorKind.USER,
                scope=f"alert:{alert.public_id}",
                summary=f"resolved {alert.severity} alert {alert.category}@{alert.source}",
                payload={"alert_id": alert.pk, "count": alert.count}, reason=note,
            )
        else:
            confirmed = list(AlertDelivery.objects.filter(
                alert=alert, purpose=DeliveryPurpose.RAISE, status=DeliveryStatus.CONFIRMED
            ).values_list("channel", flat=True))
            if confirmed:
                _deliveries_create(alert, purpose=DeliveryPurpose.RESOLVED, channels=confirmed,
                                   now=now)
                transaction.on_commit(partial(_enqueue, alert.pk))
        alert.save()
    return alert


def alert_resolve_key(*, dedup_key: str, actor: str, note: str = "",
                      now: dt.datetime | None = None) -> int:
    """Resolve (as the system) every unresolved alert of one dedup key; returns how many."""
    ids = list(Alert.objects.filter(dedup_key=dedup_key).exclude(
        status=AlertStatus.RESOLVED).values_list("pk", flat=True))
    for alert_id in ids:
        alert_resolve(alert_id=alert_id, actor=actor, actor_kind=ActorKind.SYSTEM, note=note,
                      now=now)
    return len(ids)


def alert_distill_due(*, now: dt.datetime | None = None) -> int:
    """Queue one summary per storm that has gone quiet (fold window over, more occurrences
    than were notified) to the channels that were asked to carry the raise."""
    now = now or timezone.now()
    queued = 0
    with transaction.atomic():
        storms = list(
            Alert.objects.select_for_update(skip_locked=True)
            .filter(fold_until__lte=now, summary_at__isnull=True,
                    count__gt=F("notified_count"))
        )
        for alert in storms:
            channels = list(AlertDelivery.objects.filter(
                alert=alert, purpose=DeliveryPurpose.RAISE
            ).exclude(status=DeliveryStatus.SKIPPED).values_list("channel", flat=True))
            _deliveries_create(alert, purpose=DeliveryPurpose.SUMMARY, channels=channels,
                               now=now)
            alert.summary_at = now
            alert.notified_count = alert.count
            alert.save(update_fields=["summary_at", "notified_count"])
            transaction.on_commit(partial(_enqueue, alert.pk))
            queued += 1
    return queued


def alert_deliver_due(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The beat task's work: replay the spool, queue storm summaries, send everything due,
    publish the health (and the DEGRADED flag) to Redis."""
    now = now or timezone.now()
    result: dict[str, Any] = {}
    try:
        result["spool_replayed"] = alert_spool_replay() if spool.spool_count() else 0
        result["summaries"] = alert_distill_due(now=now)
        outcomes = alert_deliver_pending(now=now)
        result["attempts"] = len(outcomes)
    except (OperationalError, InterfaceError) as exc:
        logger.error("database unreachable (%s); delivering spooled alerts directly",
                     type(exc).__name__)
        result["direct"] = spool.spool_deliver_direct(now=now)
    except DatabaseError:
        logger.exception("alert delivery sweep failed")
        raise
    result["health"] = alerts_health_publish(now=now)
    return result


def alert_test_send(*, severity: str = Severity.CRITICAL, actor: str = "alert_test",
                    message: str = "") -> Alert:
    """Store a test alert addressed to every registered channel (routing and folding off)."""
    return alert_raise(
        severity=severity, category="test", source=f"alert_test:{actor}"[:128],
        message=message or "Test alert from Petrosa CIO: if you read this, this channel works.",
        dedup_key=f"test:{uuid.uuid4().hex}", channels=channel_names(),
    )
