"""Celery adapters: the scheduled/event-driven policy cycle and the memory index."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task(name="strategist.cycle", ignore_result=True)  # type: ignore[untyped-decorator]  # celery has no stubs
def cycle_task(trigger: str = "schedule") -> dict[str, Any]:
    from strategist.cycle import strategist_cycle_run
    from strategist.models import StrategistCycle

    if trigger != "schedule":
        # Event-driven cycles (regime shift, breach) come in bursts: one per window is enough.
        since = timezone.now() - dt.timedelta(seconds=settings.STRATEGIST_EVENT_CYCLE_MIN_S)
        if StrategistCycle.objects.filter(started_at__gte=since).exclude(
                trigger="schedule").exists():
            return {"skipped": True, "trigger": trigger}
    return strategist_cycle_run(trigger=trigger).as_dict()


@shared_task(name="strategist.memory_reindex", ignore_result=True)  # type: ignore[untyped-decorator]  # celery has no stubs
def memory_reindex_task() -> int:
    from strategist.memory.services import memory_reindex

    return memory_reindex()
