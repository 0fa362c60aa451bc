"""Celery tasks of the alerts app: thin adapters over ``alerts.services`` and the watchdogs."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from alerts import services, watchdogs


@shared_task(name="alerts.deliver_alert", ignore_result=True)  # type: ignore[untyped-decorator]  # celery has no stubs
def deliver_alert_task(alert_id: int) -> int:
    """Enqueued on commit of a raise: try its channels at once."""
    return len(services.alert_deliver(alert_id=alert_id))


@shared_task(name="alerts.deliver_due", ignore_result=True)  # type: ignore[untyped-decorator]  # celery has no stubs
def deliver_due_task() -> dict[str, Any]:
    """Beat, every ALERT_DELIVER_INTERVAL_S: the outbox sweep that makes delivery survive
    lost tasks and dead workers."""
    return services.alert_deliver_due()


@shared_task(name="alerts.run_watchdogs", ignore_result=True)  # type: ignore[untyped-decorator]  # celery has no stubs
def run_watchdogs_task() -> dict[str, str]:
    return watchdogs.watchdogs_run()
