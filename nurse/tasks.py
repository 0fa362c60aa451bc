"""Celery tasks of the nurse app: thin adapters over the shadow and earnings services."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="nurse.shadow_tick", ignore_result=True)  # type: ignore[untyped-decorator]  # celery has no stubs
def shadow_tick_task() -> dict[str, Any]:
    """Beat, every SHADOW_TICK_INTERVAL_S: new blocked decisions -> shadows, then mark the
    due horizons. Both steps resume from the database after a restart."""
    from nurse.shadow.services import shadow_positions_mark, shadow_positions_scan

    created = shadow_positions_scan()
    stats = shadow_positions_mark()
    return {"created": created, "marked": stats.marks, "completed": stats.completed,
            "gave_up": stats.gave_up, "waiting": stats.waiting}


@shared_task(name="nurse.earnings_weekly", ignore_result=True)  # type: ignore[untyped-decorator]  # celery has no stubs
def earnings_weekly_task() -> dict[str, Any]:
    """Beat, EARNINGS_REPORT_CRON (Fridays 16:00 UTC): build the week's report and e-mail it
    through the alerts service; running twice for the same period sends once."""
    from nurse.earnings.services import earnings_report_weekly

    report = earnings_report_weekly()
    return {"report_id": report.pk, "sent": report.sent_at is not None}
