"""Alerts in the admin: review, acknowledge and resolve alerts; read the delivery ledger;
edit routing rules. Every write goes through ``alerts.services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from alerts import services
from alerts.channels import channel_names
from alerts.models import Alert, AlertDelivery, AlertRoute, DeliveryStatus
from governance.errors import CioError


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


class DeliveredFilter(admin.SimpleListFilter):
    title = "delivered"
    parameter_name = "delivered"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "confirmed by a channel"),
                ("no", "not delivered, not acknowledged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        if self.value() == "yes":
            return queryset.filter(delivered_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(delivered_at__isnull=True, acknowledged_at__isnull=True)
        return queryset


class DeliveryInline(admin.TabularInline):  # type: ignore[type-arg]  # generic only in stubs
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ("channel", "purpose", "status", "attempts", "deferrals", "last_error", "detail",
              "next_attempt_at", "confirmed_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("severity_badge", "category", "source", "short_message", "count", "status",
                    "delivered", "first_seen_at", "last_seen_at")
    list_filter = ("severity", "status", DeliveredFilter, "category")
    search_fields = ("message", "source", "dedup_key", "trace_id")
    date_hierarchy = "first_seen_at"
    actions = ("acknowledge", "resolve")
    inlines = (DeliveryInline,)
    readonly_fields = tuple(f.name for f in Alert._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="severity", ordering="rank")
    def severity_badge(self, obj: Alert) -> str:
        colour = {"critical": "#ba2121", "warning": "#b06000"}.get(obj.severity, "#205080")
        return format_html('<b style="color:{}">{}</b>', colour, obj.severity.upper())

    @admin.display(description="message")
    def short_message(self, obj: Alert) -> str:
        return obj.message[:100]

    @admin.display(description="delivered", boolean=True)
    def delivered(self, obj: Alert) -> bool:
        return obj.delivered_at is not None

    def _each(self, request: HttpRequest, queryset: QuerySet[Alert], verb: str) -> None:
        done = 0
        for alert in queryset:
            try:
                if verb == "acknowledge":
                    services.alert_acknowledge(alert_id=alert.pk, actor=_actor(request))
                else:
                    services.alert_resolve(alert_id=alert.pk, actor=_actor(request))
                done += 1
            except CioError as exc:
                self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} alert(s) {verb}d", messages.SUCCESS)

    @admin.action(description="Acknowledge (stops retrying undelivered notices)",
                  permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        self._each(request, queryset, "acknowledge")

    @admin.action(description="Resolve", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        self._each(request, queryset, "resolve")


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("alert", "channel", "purpose", "status", "attempts", "deferrals",
                    "last_error", "next_attempt_at", "confirmed_at")
    list_filter = ("status", "channel", "purpose")
    readonly_fields = tuple(f.name for f in AlertDelivery._meta.fields)
    actions = ("retry_now",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Retry now (at the next sweep)", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[AlertDelivery]) -> None:
        moved = queryset.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]
                                ).update(next_attempt_at=timezone.now())
        self.message_user(request, f"{moved} delivery(ies) due now", messages.SUCCESS)


class AlertRouteForm(forms.ModelForm):  # type: ignore[type-arg]
    channels = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = AlertRoute
        fields = ("name", "enabled", "severity", "category_pattern", "channels", "note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["channels"]
        assert isinstance(field, forms.MultipleChoiceField)  # noqa: S101  (narrowing only)
        field.choices = [(name, name) for name in channel_names()]


@admin.register(AlertRoute)
class AlertRouteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = AlertRouteForm
    list_display = ("name", "enabled", "severity", "category_pattern", "channel_list")
    list_filter = ("enabled", "severity")

    @admin.display(description="channels")
    def channel_list(self, obj: AlertRoute) -> str:
        return ", ".join(obj.channels)
