"""Strategist in the admin: read-only audit of regime, ladder, cycles (reasoning playback)
and memory; post-mortem reviews and the peak re-arm go through the services."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from governance.errors import CioError
from strategist.models import (
    LadderStep,
    MemoryItem,
    PortfolioState,
    PostMortem,
    RegimeShift,
    RegimeStatus,
    StrategistCycle,
)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic only in stubs
    """Records written by the strategist itself: nobody edits or deletes them here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def _pretty(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>",
                       json.dumps(value, indent=2, default=str))


@admin.register(RegimeStatus)
class RegimeStatusAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "volatility_phase", "drawdown_phase", "vol_ratio", "move_1h",
                    "drawdown", "trend_strength", "last_close", "candle_at", "updated_at")


@admin.register(RegimeShift)
class RegimeShiftAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "symbol", "from_volatility", "to_volatility",
                    "from_drawdown", "to_drawdown", "policy_version")
    list_filter = ("symbol", "to_volatility")


@admin.register(LadderStep)
class LadderStepAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "step", "symbol", "drawdown", "threshold", "state_before",
                    "state_after", "reaction_ms", "policy_version", "alert_id")
    list_filter = ("step",)


@admin.register(PortfolioState)
class PortfolioStateAdmin(ReadOnlyAdmin):
    list_display = ("equity", "peak_equity", "drawdown", "exposure", "daily_pnl", "source",
                    "updated_at")
    actions = ("reset_peak",)

    @admin.action(description="Re-arm: reset the peak to the current equity")
    def reset_peak(self, request: HttpRequest, queryset: QuerySet[PortfolioState]) -> None:
        from strategist.services import portfolio_peak_reset

        row = portfolio_peak_reset(actor=request.user.get_username(),
                                   reason="staff re-arm from the admin")
        self.message_user(request, f"peak equity reset to {row.equity}", messages.SUCCESS)


@admin.register(StrategistCycle)
class StrategistCycleAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "trigger", "provider", "model", "status", "error_code",
                    "applied_policy_version", "prompt_tokens", "completion_tokens", "trace_id")
    list_filter = ("status", "provider", "trigger")
    search_fields = ("trace_id", "prompt_hash", "error")
    fields = ("started_at", "finished_at", "trigger", "provider", "model", "status",
              "error_code", "error", "trace_id", "prompt_hash", "proposal_view", "verdict_view",
              "replay_view", "applied_view", "alerts_view", "output", "inputs_view",
              "attempts", "prompt_tokens", "completion_tokens", "cost_usd")
    readonly_fields = fields

    @admin.display(description="proposal")
    def proposal_view(self, obj: StrategistCycle) -> str:
        return _pretty(obj.proposal)

    @admin.display(description="auditor verdict")
    def verdict_view(self, obj: StrategistCycle) -> str:
        return _pretty(obj.verdict)

    @admin.display(description="replay effect")
    def replay_view(self, obj: StrategistCycle) -> str:
        return _pretty(obj.replay)

    @admin.display(description="applied")
    def applied_view(self, obj: StrategistCycle) -> str:
        return _pretty(obj.applied)

    @admin.display(description="alerts")
    def alerts_view(self, obj: StrategistCycle) -> str:
        return _pretty(obj.alerts)

    @admin.display(description="inputs (redacted context)")
    def inputs_view(self, obj: StrategistCycle) -> str:
        return _pretty(obj.inputs)


@admin.register(MemoryItem)
class MemoryItemAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "title", "embedder", "dim", "ivf_list", "source_ref")
    list_filter = ("kind", "embedder")
    search_fields = ("title", "text")
    exclude = ("vector",)


@admin.register(PostMortem)
class PostMortemAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("created_at", "title", "status", "reviewed_by", "reviewed_at")
    list_filter = ("status",)
    fields = ("title", "status", "summary", "report_view", "proposed_view", "reviewed_by",
              "reviewed_at", "review_note", "created_at")
    readonly_fields = fields
    actions = ("accept", "reject")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="report")
    def report_view(self, obj: PostMortem) -> str:
        return _pretty(obj.report)

    @admin.display(description="proposed change (awaiting review)")
    def proposed_view(self, obj: PostMortem) -> str:
        return _pretty(obj.proposed_change)

    def _review(self, request: HttpRequest, queryset: QuerySet[PostMortem], accept: bool
                ) -> None:
        from strategist.postmortem import post_mortem_review

        for pm in queryset:
            try:
                post_mortem_review(post_mortem_id=pm.pk, actor=request.user.get_username(),
                                   accept=accept, note="admin action")
            except CioError as exc:
                self.message_user(request, f"{pm}: {exc.code} {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{pm}: {'accepted' if accept else 'rejected'}",
                                  messages.SUCCESS)

    @admin.action(description="Accept and apply the proposed change")
    def accept(self, request: HttpRequest, queryset: QuerySet[PostMortem]) -> None:
        self._review(request, queryset, True)

    @admin.action(description="Reject the proposed change")
    def reject(self, request: HttpRequest, queryset: QuerySet[PostMortem]) -> None:
        self._review(request, queryset, False)
