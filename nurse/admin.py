"""The nurse app in the admin: read-only decision records, shadow positions and marks,
engine fills and earnings reports (every change comes from the gate, the feed or a task)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from nurse.models import (
    DecisionRecord,
    EarningsReport,
    ExecutionFill,
    ShadowMark,
    ShadowPosition,
)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic only in stubs
    """Audit data: visible to staff, changed by nobody through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DecisionRecord)
class DecisionRecordAdmin(ReadOnlyAdmin):
    list_display = ("decided_at", "outcome", "strategy_id", "symbol", "action", "quantity",
                    "price", "codes", "policy_version", "latency_us")
    list_filter = ("outcome", "action", "symbol")
    search_fields = ("decision_id", "intent_id", "strategy_id", "trace_id")
    date_hierarchy = "decided_at"

    @admin.display(description="reasons")
    def codes(self, obj: DecisionRecord) -> str:
        return ", ".join(str(c) for c in obj.reason_codes or []) or "-"


class ShadowMarkInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ShadowMark
    extra = 0
    can_delete = False
    fields = ("horizon_h", "exit_reason", "exit_price", "exit_at", "pnl", "ret", "fees",
              "source", "quality", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ShadowPosition)
class ShadowPositionAdmin(ReadOnlyAdmin):
    list_display = ("blocked_at", "strategy_id", "symbol", "side", "quantity", "intent_price",
                    "entry_price", "primary_reason", "status", "next_due_at")
    list_filter = ("status", "side", "primary_reason", "symbol")
    search_fields = ("decision__decision_id", "strategy_id")
    date_hierarchy = "blocked_at"
    inlines = (ShadowMarkInline,)


@admin.register(ExecutionFill)
class ExecutionFillAdmin(ReadOnlyAdmin):
    list_display = ("filled_at", "strategy_id", "symbol", "position_side", "action",
                    "quantity", "price", "fee", "realized_pnl", "pnl_source")
    list_filter = ("pnl_source", "reducing", "symbol")
    search_fields = ("strategy_id", "decision_id", "event_key")
    date_hierarchy = "filled_at"


@admin.register(EarningsReport)
class EarningsReportAdmin(ReadOnlyAdmin):
    list_display = ("period_end", "kind", "window_hours", "generated_at", "sent_at", "page")

    @admin.display(description="report")
    def page(self, obj: EarningsReport) -> str:
        return format_html('<a href="{}">open</a>',
                           reverse("earnings:report-detail", args=[obj.pk]))
