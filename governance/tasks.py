"""Celery tasks of the governance app (thin adapters over services)."""

from __future__ import annotations

from celery import shared_task

from governance.policy import policy_reconcile


@shared_task(name="governance.policy_reconcile", ignore_result=True)  # type: ignore[untyped-decorator]
def policy_reconcile_task() -> bool:
    return policy_reconcile()
