"""Fleet sync: push every new config version to the bots' config APIs (the trade engine's).

1. A committed ``ConfigVersion`` enqueues one ``FleetDelivery`` per enabled endpoint, with
   the body the engine expects; older undelivered pushes of the same scope to the same
   endpoint are superseded (the engine replaces a whole scope, so only the newest matters).
2. ``fleet_sync_run_due`` sends due deliveries: 2xx with ``success`` true is delivered; 429
   waits as long as the engine asks (``Retry-After`` or a ``retry_after`` in the body);
   network errors and 5xx back off exponentially (with jitter); other 4xx, and 200 with
   ``success: false``, fail at once (a retry would get the same answer).
3. Sending runs in a background thread of the writing process (default), in Celery, or only
   by the periodic sweep (``CIO_FLEET_SYNC_DISPATCH`` = thread | celery | none).

What is pushed: the engine resolves symbol+side > strategy > symbol > global > defaults and
replaces a scope's dict on every write, so the global scope gets its *resolved* parameters
(defaults <- global overrides) and the narrower scopes get their own overrides; pushing
inherited values into a narrow scope would pin them there. Only engine-schema parameters
with a value are sent: the engine rejects unknown keys and nulls.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import threading
from dataclasses import dataclass
from typing import Any, Final

import httpx
from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models.signals import post_save
from django.utils import timezone

from governance.catalog import CATALOG, catalog_defaults
from governance.models import ConfigVersion, FleetDelivery, FleetEndpoint
from governance.scopes import ScopeKind

logger = logging.getLogger(__name__)

CHANGED_BY: Final = "petrosa-cio"
_PENDING: Final = (FleetDelivery.Status.PENDING, FleetDelivery.Status.RETRYING)


def engine_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters the engine's schema knows, without nulls (the engine refuses both)."""
    return {
        name: value for name, value in sorted(params.items())
        if value is not None and name in CATALOG and CATALOG[name].engine_schema
    }


def engine_request(version: ConfigVersion) -> tuple[str, str, dict[str, Any]]:
    """``(method, path, body)`` of the engine route that holds ``version``'s scope."""
    scope = version.scope
    reason = (f"CIO config {scope} v{version.version} (policy {version.policy_version}) by "
              f"{version.actor}: {version.reason}")[:500]
    if scope.kind is ScopeKind.GLOBAL:
        resolved = catalog_defaults()
        resolved.update(version.params)
        body = {"parameters": engine_parameters(resolved), "changed_by": CHANGED_BY,
                "reason": reason}
        return "POST", "/api/v1/config/trading", body
    own = engine_parameters(dict(version.params))
    if scope.kind is ScopeKind.SYMBOL:
        return "POST", f"/api/v1/config/trading/{scope.key}", {
            "parameters": own, "changed_by": CHANGED_BY, "reason": reason}
    if scope.kind is ScopeKind.SYMBOL_SIDE:
        symbol, side = scope.key.split(":")
        return "POST", f"/api/v1/config/trading/{symbol}/{side}", {
            "parameters": own, "changed_by": CHANGED_BY, "reason": reason}
    # The engine writes the strategy scope only through its filter route.
    return "PUT", f"/api/v1/config/filters/strategy/{scope.key}", {
        "filters": own, "changed_by": CHANGED_BY, "reason": reason}


def fleet_sync_enqueue(*, version: ConfigVersion) -> list[FleetDelivery]:
    """Create the deliveries of a committed version and supersede older undelivered ones."""
    endpoints = list(FleetEndpoint.objects.filter(enabled=True))
    if not endpoints:
        return []
    method, path, body = engine_request(version)
    now = timezone.now()
    created = []
    with transaction.atomic():
        for endpoint in endpoints:
            FleetDelivery.objects.filter(
                endpoint=endpoint, scope=str(version.scope), status__in=_PENDING,
                config_version__lt=version.version,
            ).update(status=FleetDelivery.Status.SUPERSEDED, updated_at=now)
            created.append(FleetDelivery.objects.create(
                endpoint=endpoint, scope=str(version.scope), config_version=version.version,
                policy_version=version.policy_version, method=method, path=path, body=body,
                trace_id=version.trace_id, next_attempt_at=now,
            ))
    return created


# --- sending ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended and, when it should be retried, after how long."""

    delivered: bool
    retry_after: float | None
    status_code: int | None
    error: str


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return float(max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds()))
    try:
        data = response.json()
    except ValueError:
        return None
    candidates = []
    if isinstance(data, dict):
        candidates.append(data.get("retry_after"))
        for key in ("detail", "error", "metadata"):
            inner = data.get(key)
            if isinstance(inner, dict):
                candidates.append(inner.get("retry_after"))
                details = inner.get("details")
                if isinstance(details, dict):
                    candidates.append(details.get("retry_after"))
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def _backoff(attempt: int) -> float:
    base = settings.CIO_FLEET_SYNC_BACKOFF_BASE_S
    cap = settings.CIO_FLEET_SYNC_BACKOFF_MAX_S
    delay: float = min(cap, base * (2 ** max(0, attempt - 1)))
    # Full jitter keeps a fleet of retries from arriving together.
    return delay * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not security)


def fleet_send(delivery: FleetDelivery, *, client: httpx.Client) -> Outcome:
    """One HTTP attempt; never raises for network or protocol trouble."""
    url = delivery.endpoint.base_url.rstrip("/") + delivery.path
    headers = {"content-type": "application/json"}
    if len(delivery.trace_id) == 32:
        headers["x-cio-trace-id"] = delivery.trace_id
        headers["traceparent"] = f"00-{delivery.trace_id}-{random.getrandbits(64):016x}-01"
    try:
        response = client.request(delivery.method, url, json=delivery.body, headers=headers,
                                  timeout=delivery.endpoint.timeout_s)
    except httpx.HTTPError as exc:
        return Outcome(False, _backoff(delivery.attempts + 1), None,
                       f"{type(exc).__name__}: {exc}"[:500])
    code = response.status_code
    if code == 429:
        wait = _retry_after(response)
        return Outcome(False, wait if wait is not None else _backoff(delivery.attempts + 1),
                       code, "429 rate limited by the endpoint")
    if code >= 500 or code == 408:
        return Outcome(False, _backoff(delivery.attempts + 1), code, response.text[:500])
    if code >= 400:
        return Outcome(False, None, code, response.text[:500])
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("success") is False:
        return Outcome(False, None, code, json.dumps(data.get("error"))[:500])
    return Outcome(True, None, code, "")


def fleet_sync_run_due(*, now: dt.datetime | None = None, limit: int = 50,
                       client: httpx.Client | None = None) -> int:
    """Send every due delivery once (oldest first); returns how many attempts were made.

    Each delivery is claimed with ``SKIP LOCKED``, so several processes can sweep at once
    without sending the same push twice.
    """
    own_client = client is None
    http = client or httpx.Client()
    attempts = 0
    sent: list[int] = []  # once per sweep, even when a retry falls due again within it
    try:
        for _ in range(limit):
            with transaction.atomic():
                delivery = (
                    FleetDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("endpoint")
                    .filter(status__in=_PENDING, next_attempt_at__lte=now or timezone.now())
                    .exclude(pk__in=sent)
                    .order_by("next_attempt_at", "pk")
                    .first()
                )
                if delivery is None:
                    break
                sent.append(delivery.pk)
                outcome = fleet_send(delivery, client=http)
                attempts += 1
                _record(delivery, outcome)
    finally:
        if own_client:
            http.close()
    return attempts


def _record(delivery: FleetDelivery, outcome: Outcome) -> None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.delivered:
        delivery.status = FleetDelivery.Status.DELIVERED
        delivery.delivered_at = now
    elif outcome.retry_after is None or delivery.attempts >= delivery.endpoint.max_attempts:
        delivery.status = FleetDelivery.Status.FAILED
        logger.warning("fleet sync to %s failed for good: %s", delivery.endpoint.name,
                       outcome.error)
    else:
        delivery.status = FleetDelivery.Status.RETRYING
        wait = min(outcome.retry_after, settings.CIO_FLEET_SYNC_MAX_RETRY_AFTER_S)
        delivery.next_attempt_at = now + dt.timedelta(seconds=wait)
    delivery.save()


def fleet_sync_next_due() -> dt.datetime | None:
    row = (FleetDelivery.objects.filter(status__in=_PENDING)
           .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())
    return row


def fleet_delivery_retry(*, delivery_id: int) -> FleetDelivery:
    """Send a failed delivery again (admin action): reset its attempts and schedule it now."""
    delivery = FleetDelivery.objects.get(pk=delivery_id)
    if delivery.status in (FleetDelivery.Status.FAILED, FleetDelivery.Status.RETRYING):
        delivery.status = FleetDelivery.Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
        fleet_sync_dispatch()
    return delivery


# --- dispatch -------------------------------------------------------------------------------

_drain_lock = threading.Lock()
_drain_thread: threading.Thread | None = None
_drain_wakeup = threading.Event()


def _drain() -> None:
    """Send until nothing is pending; sleep until the next retry is due in between."""
    global _drain_thread
    try:
        while True:
            close_old_connections()
            fleet_sync_run_due()
            due = fleet_sync_next_due()
            if due is None:
                return
            wait = max(0.05, (due - timezone.now()).total_seconds())
            _drain_wakeup.wait(timeout=min(wait, 60.0))
            _drain_wakeup.clear()
    except Exception:  # a background thread has nobody to raise to
        logger.exception("fleet sync thread stopped")
    finally:
        from django.db import connection

        connection.close()
        with _drain_lock:
            _drain_thread = None


def fleet_sync_dispatch() -> None:
    """Start sending due deliveries the way ``CIO_FLEET_SYNC_DISPATCH`` says."""
    global _drain_thread
    mode = settings.CIO_FLEET_SYNC_DISPATCH
    if mode == "celery":
        fleet_sync_due_task.delay()
    elif mode == "thread":
        with _drain_lock:
            if _drain_thread is not None and _drain_thread.is_alive():
                _drain_wakeup.set()
                return
            _drain_thread = threading.Thread(target=_drain, name="cio-fleet-sync", daemon=True)
            _drain_thread.start()


def fleet_sync_wait_idle(timeout: float = 10.0) -> bool:
    """Wait for the background sender to finish (tests and shutdown); True when idle."""
    thread = _drain_thread
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def _run_due_task() -> int:
    return fleet_sync_run_due()


# Celery's decorator is untyped; the task object is only ever used for ``.delay()``.
fleet_sync_due_task: Any = shared_task(name="governance.fleet_sync_due",
                                       ignore_result=True)(_run_due_task)


def _on_version(sender: Any, instance: ConfigVersion, created: bool, **kwargs: Any) -> None:
    if not created:
        return

    def enqueue() -> None:
        try:
            if fleet_sync_enqueue(version=instance):
                fleet_sync_dispatch()
        except Exception:  # the version is committed; the sweep picks it up later
            logger.exception("fleet sync enqueue failed for %s v%s", instance.scope,
                             instance.version)

    transaction.on_commit(enqueue)


def connect() -> None:
    """Hook fleet sync to every new config version (idempotent)."""
    post_save.connect(_on_version, sender=ConfigVersion, dispatch_uid="governance.fleet_sync")


connect()
