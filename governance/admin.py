"""Django admin: the operator UI. Every write goes through ``governance.services``."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from governance import services
from governance.catalog import CATALOG
from governance.errors import CioError
from governance.hard_gates import SPECS
from governance.models import (
    ActorKind,
    AuditEvent,
    ConfigHead,
    ConfigVersion,
    HardGate,
    TradingState,
    TradingStateValue,
)
from governance.scopes import Scope, ScopeKind
from governance.selectors import config_resolve


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _diff_table(changes: list[dict[str, Any]]) -> str:
    if not changes:
        return "no changes"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((c["parameter"], c.get("change", ""), json.dumps(c["before"]), json.dumps(c["after"]))
         for c in changes),
    )
    return format_html(
        '<table class="cio-diff"><thead><tr><th>parameter</th><th>change</th><th>before</th>'
        "<th>after</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConfigPatchForm(forms.ModelForm):  # type: ignore[type-arg]
    """Edit one scope: a JSON patch merged into its overrides, with a mandatory reason."""

    patch = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 80}), required=False,
                            help_text='JSON object, e.g. {"leverage": 5}')
    unset = forms.CharField(required=False, help_text="comma-separated parameters to remove")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))
    base_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ConfigHead
        fields = ["scope_kind", "scope_key"]

    def clean_patch(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("patch") or "{}"
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("the patch must be a JSON object")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            data["scope"] = Scope.build(data.get("scope_kind", ""), data.get("scope_key", ""))
        except CioError as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(ConfigHead)
class ConfigHeadAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ConfigPatchForm
    list_display = ("scope_label", "version", "overrides", "updated_at")
    list_filter = ("scope_kind",)
    search_fields = ("scope_key",)
    readonly_fields = ("version", "current_overrides", "resolved_view")

    @admin.display(description="scope")
    def scope_label(self, obj: ConfigHead) -> str:
        return str(Scope(ScopeKind(obj.scope_kind), obj.scope_key))

    @admin.display(description="overrides")
    def overrides(self, obj: ConfigHead) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(obj.params.items()))[:120]

    @admin.display(description="current overrides")
    def current_overrides(self, obj: ConfigHead) -> str:
        return json.dumps(obj.params, indent=2, sort_keys=True)

    @admin.display(description="resolved configuration (value and source per parameter)")
    def resolved_view(self, obj: ConfigHead) -> str:
        kind = ScopeKind(obj.scope_kind)
        symbol = side = strategy = None
        if kind is ScopeKind.SYMBOL:
            symbol = obj.scope_key
        elif kind is ScopeKind.SYMBOL_SIDE:
            symbol, side = obj.scope_key.split(":")
        elif kind is ScopeKind.STRATEGY:
            strategy = obj.scope_key
        resolved = config_resolve(symbol=symbol, side=side, strategy_id=strategy)
        rows = format_html_join(
            "",
            "<tr><td title='{}'>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (CATALOG[n].description if n in CATALOG else "", n,
                 json.dumps(resolved.params[n]), resolved.sources[n])
                for n in sorted(resolved.params)
            ),
        )
        return format_html(
            "<table><thead><tr><th>parameter</th><th>effective value</th><th>source</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return ("scope_kind", "scope_key", *self.readonly_fields)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"patch": "{}", "base_version": 0}

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.base_fields["base_version"].initial = obj.version if obj else 0
        return form

    def save_model(self, request: HttpRequest, obj: ConfigHead, form: Any, change: bool) -> None:
        data = form.cleaned_data
        scope = data["scope"] if not change else Scope(ScopeKind(obj.scope_kind), obj.scope_key)
        unset = [u.strip() for u in (data.get("unset") or "").split(",") if u.strip()]
        try:
            version = services.config_patch(
                scope=scope, patch=data["patch"], unset=unset,
                base_version=data.get("base_version") or 0, actor=_actor(request),
                actor_kind=ActorKind.USER, reason=data["reason"],
            )
        except CioError as exc:
            messages.error(request, f"{exc.code}: {exc.message} {exc.details or ''}")
            self._failed = True
            return
        self._failed = False
        messages.success(request, f"{scope} is now at version {version.version}")
        obj.pk = ConfigHead.objects.get(scope_kind=scope.kind, scope_key=scope.key).pk

    def response_add(self, request: HttpRequest, obj: ConfigHead, post_url_continue: Any = None
                     ) -> HttpResponse:
        if getattr(self, "_failed", False):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: ConfigHead) -> HttpResponse:
        if getattr(self, "_failed", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConfigVersion)
class ConfigVersionAdmin(ReadOnlyAdmin):
    list_display = ("scope_label", "version", "operation", "actor", "actor_kind", "reason_short",
                    "policy_version", "created_at")
    list_filter = ("scope_kind", "operation", "actor_kind")
    search_fields = ("scope_key", "actor", "reason", "trace_id")
    readonly_fields = ("scope_kind", "scope_key", "version", "operation", "rollback_to", "actor",
                       "actor_kind", "reason", "thought_trace", "trace_id", "policy_version",
                       "created_at", "diff", "params", "previous", "rollback_link")
    exclude = ("changes",)

    @admin.display(description="scope")
    def scope_label(self, obj: ConfigVersion) -> str:
        return str(obj.scope)

    @admin.display(description="reason")
    def reason_short(self, obj: ConfigVersion) -> str:
        return obj.reason[:80]

    @admin.display(description="diff")
    def diff(self, obj: ConfigVersion) -> str:
        return _diff_table(obj.changes)

    @admin.display(description="rollback")
    def rollback_link(self, obj: ConfigVersion) -> str:
        url = reverse("admin:governance_configversion_rollback", args=[obj.pk])
        return format_html('<a class="button" href="{}">Roll back to this version…</a>', url)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_staff)

    def get_urls(self) -> list[Any]:
        return [
            path("<int:pk>/rollback/", self.admin_site.admin_view(self.rollback_view),
                 name="governance_configversion_rollback"),
            *super().get_urls(),
        ]

    def rollback_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Confirmation page, then a rollback that creates a new version."""
        target = get_object_or_404(ConfigVersion, pk=pk)
        head = ConfigHead.objects.get(scope_kind=target.scope_kind, scope_key=target.scope_key)
        from governance.selectors import config_diff

        preview = config_diff(head.params, target.params)
        if request.method == "POST":
            reason = request.POST.get("reason", "")
            try:
                new = services.config_rollback(
                    scope=target.scope, to_version=target.version, actor=_actor(request),
                    actor_kind=ActorKind.USER, reason=reason,
                    base_version=int(request.POST.get("base_version", head.version)),
                )
            except CioError as exc:
                messages.error(request, f"{exc.code}: {exc.message}")
            else:
                messages.success(request, f"rolled back {target.scope} to v{target.version} "
                                          f"as v{new.version}")
                return HttpResponseRedirect(
                    reverse("admin:governance_configversion_change", args=[new.pk])
                )
        return render(request, "admin/governance/rollback_confirm.html", {
            **self.admin_site.each_context(request),
            "title": f"Roll back {target.scope} to version {target.version}?",
            "target": target, "head": head, "diff": _diff_table(preview),
            "opts": self.model._meta,
        })


class TradingStateForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = TradingState
        fields = ["scope_kind", "scope_key", "state", "reason", "expires_at"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("reason") or "").strip():
            raise forms.ValidationError("a reason is required")
        return data


@admin.register(TradingState)
class TradingStateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = TradingStateForm
    list_display = ("scope_label", "state", "reason", "set_by", "set_at", "expires_at",
                    "requires_staff_rearm")
    list_filter = ("state", "scope_kind")
    actions = ("halt", "reduce", "resume")

    @admin.display(description="scope")
    def scope_label(self, obj: TradingState) -> str:
        return str(Scope(ScopeKind(obj.scope_kind), obj.scope_key))

    def save_model(self, request: HttpRequest, obj: TradingState, form: Any, change: bool) -> None:
        try:
            row = services.trading_state_set(
                scope=Scope.build(obj.scope_kind, obj.scope_key), state=obj.state,
                actor=_actor(request), actor_kind=ActorKind.USER, reason=obj.reason,
                expires_at=obj.expires_at,
            )
        except CioError as exc:
            messages.error(request, f"{exc.code}: {exc.message}")
            return
        obj.pk = row.pk

    def _bulk(self, request: HttpRequest, queryset: QuerySet[TradingState], state: str) -> None:
        for row in queryset:
            services.trading_state_set(
                scope=Scope.build(row.scope_kind, row.scope_key), state=state,
                actor=_actor(request), actor_kind=ActorKind.USER,
                reason=f"admin action by {_actor(request)}",
            )
        messages.success(request, f"{queryset.count()} scope(s) set to {state}")

    @admin.action(description="HALT selected scopes")
    def halt(self, request: HttpRequest, queryset: QuerySet[TradingState]) -> None:
        self._bulk(request, queryset, TradingStateValue.HALTED)

    @admin.action(description="Set selected scopes to REDUCING (reduce-only)")
    def reduce(self, request: HttpRequest, queryset: QuerySet[TradingState]) -> None:
        self._bulk(request, queryset, TradingStateValue.REDUCING)

    @admin.action(description="RESUME selected scopes (ACTIVE)")
    def resume(self, request: HttpRequest, queryset: QuerySet[TradingState]) -> None:
        self._bulk(request, queryset, TradingStateValue.ACTIVE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HardGateForm(forms.ModelForm):  # type: ignore[type-arg]
    new_value = forms.CharField(help_text="JSON value, e.g. 10 or [\"BTCUSDT\"]")
    change_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))

    class Meta:
        model = HardGate
        fields: list[str] = []

    def clean_new_value(self) -> Any:
        try:
            return json.loads(self.cleaned_data["new_value"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from exc


@admin.register(HardGate)
class HardGateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only unless the user is a superuser whose session passed the TOTP step."""

    form = HardGateForm
    list_display = ("key", "value", "ceiling", "updated_by", "reason", "updated_at")
    readonly_fields = ("key", "value", "ceiling", "updated_by", "reason", "updated_at")

    @admin.display(description="code ceiling")
    def ceiling(self, obj: HardGate) -> str:
        spec = SPECS.get(obj.key)
        return "" if spec is None or spec.ceiling is None else f"{spec.ceiling} ({spec.direction})"

    def _may_change(self, request: HttpRequest) -> bool:
        user: Any = request.user
        return bool(user.is_superuser and getattr(user, "is_verified", lambda: False)())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_change(request)

    def save_model(self, request: HttpRequest, obj: HardGate, form: Any, change: bool) -> None:
        user: Any = request.user
        try:
            services.hard_gate_set(
                key=obj.key, value=form.cleaned_data["new_value"], actor=_actor(request),
                reason=form.cleaned_data["change_reason"], is_superuser=user.is_superuser,
                mfa_verified=user.is_verified(),
            )
        except CioError as exc:
            messages.error(request, f"{exc.code}: {exc.message} {exc.details or ''}")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "event_type", "actor", "actor_kind", "scope", "summary",
                    "trace_id")
    list_filter = ("event_type", "actor_kind", "created_at")
    search_fields = ("actor", "scope", "summary", "trace_id", "reason")
    readonly_fields = ("seq", "created_at", "event_type", "actor", "actor_kind", "scope",
                       "summary", "payload", "reason", "thought_trace", "trace_id", "prev_hash",
                       "hash")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_staff)

from governance import admin_api  # noqa: E402, F401  (tokens, envelopes, approvals, fleet sync)
