"""Admin for the API & MCP models: tokens, agent envelopes, approvals, fleet sync.

Every write goes through a service (``governance.auth``, ``governance.envelope``,
``governance.fleet_sync``). Imported at the end of ``governance.admin``.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import RequestContext, Template
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from governance import fleet_sync
from governance.auth import SCOPES, api_token_create, api_token_revoke
from governance.envelope import (
    agent_envelope_upsert,
    approval_approve,
    approval_reject,
    approvals_expire,
)
from governance.errors import CioError
from governance.models import (
    AgentEnvelope,
    ApiToken,
    FleetDelivery,
    FleetEndpoint,
    PendingApproval,
)

fleet_sync.connect()


def _user(request: HttpRequest) -> Any:
    return request.user


def _actor(request: HttpRequest) -> str:
    return str(_user(request).get_username())


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(_user(request), "is_superuser", False))


def _page(request: HttpRequest, site: admin.AdminSite, title: str, body: str) -> HttpResponse:
    """A page in the admin's look without a template file (``body`` is escaped HTML)."""
    template = Template('{% extends "admin/base_site.html" %}{% block content %}'
                        "{{ body }}{% endblock %}")
    context = RequestContext(request, {**site.each_context(request), "title": title,
                                       "body": body})
    return HttpResponse(template.render(context))


def _json_block(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


# --- tokens ---------------------------------------------------------------------------------


class ApiTokenForm(forms.ModelForm):  # type: ignore[type-arg]
    token_scopes = forms.MultipleChoiceField(
        choices=[(k, f"{k}: {v}") for k, v in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple, label="scopes")

    class Meta:
        model = ApiToken
        fields = ("principal", "description", "expires_at")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Tokens are created here or by ``manage.py create_api_token``; shown once, never again."""

    form = ApiTokenForm
    list_display = ("principal", "kind", "token_id", "scopes", "created_by", "created_at",
                    "expires_at", "revoked_at", "last_used_at")
    list_filter = ("kind", "revoked_at")
    search_fields = ("principal", "prefix", "description")
    readonly_fields = ("principal", "kind", "token_id", "scopes", "description", "created_by",
                       "created_at", "expires_at", "revoked_at", "revoked_by", "last_used_at")
    actions = ("revoke",)

    @admin.display(description="token")
    def token_id(self, obj: ApiToken) -> str:
        return f"cio_{obj.prefix}_…"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["principal", "token_scopes", "description", "expires_at"]
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        token, raw = api_token_create(
            principal=form.cleaned_data["principal"], scopes=form.cleaned_data["token_scopes"],
            created_by=_actor(request), expires_at=form.cleaned_data.get("expires_at"),
            description=form.cleaned_data.get("description") or "")
        obj.pk = token.pk
        self._raw_token = raw

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: Any = None
                     ) -> HttpResponse:
        raw = getattr(self, "_raw_token", "")
        self._raw_token = ""
        body = format_html(
            "<p>Copy the token now: it is shown only once and only its hash is stored.</p>"
            '<p><code style="font-size:1.2em">{}</code></p><p><a href="{}">Back to the '
            "tokens</a></p>", raw, reverse("admin:governance_apitoken_changelist"))
        return _page(request, self.admin_site, "API token created", body)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        if not _is_superuser(request):
            messages.error(request, "only superusers revoke tokens")
            return
        for token in queryset:
            api_token_revoke(token_id=token.pk, actor=_actor(request))
        messages.success(request, f"{queryset.count()} token(s) revoked")


# --- agent envelopes ----------------------------------------------------------------------


class AgentEnvelopeForm(forms.ModelForm):  # type: ignore[type-arg]
    parameters_json = forms.CharField(
        label="parameters", widget=forms.Textarea(attrs={"rows": 10, "cols": 90}),
        help_text=AgentEnvelope._meta.get_field("parameters").help_text)
    scope_kinds_csv = forms.CharField(
        label="scope kinds", required=False,
        help_text="comma-separated: global, symbol, symbol_side, strategy (empty = all)")

    class Meta:
        model = AgentEnvelope
        fields = ("principal", "enabled", "max_changes_per_day", "may_resume", "approval_ttl_s",
                  "notes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["parameters_json"].initial = json.dumps(self.instance.parameters,
                                                                indent=2)
            self.fields["scope_kinds_csv"].initial = ", ".join(self.instance.scope_kinds)
        else:
            self.fields["parameters_json"].initial = "{}"

    def clean_parameters_json(self) -> Any:
        try:
            return json.loads(self.cleaned_data["parameters_json"] or "{}")
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from exc


@admin.register(AgentEnvelope)
class AgentEnvelopeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = AgentEnvelopeForm
    list_display = ("principal", "enabled", "limited_parameters", "max_changes_per_day",
                    "may_resume", "updated_by", "updated_at")

    @admin.display(description="parameters")
    def limited_parameters(self, obj: AgentEnvelope) -> str:
        return ", ".join(sorted(obj.parameters))[:120]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: AgentEnvelope, form: Any,
                   change: bool) -> None:
        data = form.cleaned_data
        kinds = [k.strip() for k in (data.get("scope_kinds_csv") or "").split(",") if k.strip()]
        try:
            row = agent_envelope_upsert(
                principal=data["principal"], actor=_actor(request),
                parameters=data["parameters_json"], enabled=data["enabled"],
                max_changes_per_day=data["max_changes_per_day"], may_resume=data["may_resume"],
                scope_kinds=kinds, approval_ttl_s=data["approval_ttl_s"],
                notes=data.get("notes") or "")
        except CioError as exc:
            messages.error(request, f"{exc.code}: {exc.message} {exc.details or ''}")
            return
        obj.pk = row.pk


# --- approvals ------------------------------------------------------------------------------


@admin.register(PendingApproval)
class PendingApprovalAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Staff approve or reject what agents proposed beyond their envelope."""

    list_display = ("id", "principal", "kind", "scope", "summary", "status", "created_at",
                    "expires_at", "decided_by", "decide_link")
    list_filter = ("status", "kind", "principal")
    search_fields = ("principal", "scope", "reason", "trace_id")
    readonly_fields = ("principal", "kind", "scope", "payload_view", "base_version",
                       "changes_view", "violations_view", "reason", "thought_trace", "trace_id",
                       "status", "created_at", "expires_at", "decided_by", "decided_at",
                       "decision_note", "result_version", "error", "decide_link")
    exclude = ("payload", "changes", "violations")
    actions = ("approve_selected", "reject_selected")

    @admin.display(description="change")
    def summary(self, obj: PendingApproval) -> str:
        return "; ".join(f"{c.get('parameter')}: {c.get('before')!r} -> {c.get('after')!r}"
                         for c in obj.changes)[:120]

    @admin.display(description="payload")
    def payload_view(self, obj: PendingApproval) -> str:
        return _json_block(obj.payload)

    @admin.display(description="changes outside the envelope")
    def changes_view(self, obj: PendingApproval) -> str:
        return format_html_join(
            "", "<div><b>{}</b>: {} &rarr; {} ({})</div>",
            ((c.get("parameter"), json.dumps(c.get("before")), json.dumps(c.get("after")),
              c.get("direction", "")) for c in obj.changes)) or "-"

    @admin.display(description="why")
    def violations_view(self, obj: PendingApproval) -> str:
        return format_html_join("", "<div>{}: {}</div>",
                                ((v.get("code"), v.get("message")) for v in obj.violations)) or "-"

    @admin.display(description="decide")
    def decide_link(self, obj: PendingApproval) -> str:
        if obj.status != PendingApproval.Status.PENDING:
            return "-"
        url = reverse("admin:governance_pendingapproval_decide", args=[obj.pk])
        return format_html('<a class="button" href="{}">Approve or reject…</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(getattr(_user(request), "is_staff", False))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        approvals_expire()
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[Any]:
        return [
            path("<int:pk>/decide/", self.admin_site.admin_view(self.decide_view),
                 name="governance_pendingapproval_decide"),
            *super().get_urls(),
        ]

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Show the proposal (changes, why, thought trace) and approve or reject it."""
        approval = get_object_or_404(PendingApproval, pk=pk)
        if request.method == "POST":
            note = request.POST.get("note", "")
            decision = request.POST.get("decision")
            try:
                if decision == "approve":
                    done = approval_approve(approval_id=pk, actor=_actor(request), note=note)
                    messages.success(request, f"approval #{pk} applied"
                                     + (f" as version {done.result_version}"
                                        if done.result_version else ""))
                elif decision == "reject":
                    approval_reject(approval_id=pk, actor=_actor(request), note=note)
                    messages.success(request, f"approval #{pk} rejected")
                else:
                    messages.error(request, "choose approve or reject")
            except CioError as exc:
                messages.error(request, f"{exc.code}: {exc.message}")
            return HttpResponseRedirect(
                reverse("admin:governance_pendingapproval_change", args=[pk]))
        body = format_html(
            "<p><b>{}</b> asks for a {} change on <b>{}</b> (expires {}).</p>"
            "<h3>Changes outside its envelope</h3>{}<h3>Why they are outside</h3>{}"
            "<h3>Reason</h3><p>{}</p><h3>Thought trace</h3><pre>{}</pre>"
            '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<p><textarea name="note" rows="3" cols="80" placeholder="note (required to '
            'reject)"></textarea></p><button type="submit" name="decision" value="approve" '
            'class="default">Approve and apply</button> <button type="submit" name="decision" '
            'value="reject">Reject</button></form>',
            approval.principal, approval.kind, approval.scope, approval.expires_at,
            self.changes_view(approval), self.violations_view(approval), approval.reason,
            approval.thought_trace, _csrf(request))
        return _page(request, self.admin_site, f"Approval #{pk}", body)

    @admin.action(description="Approve and apply selected")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[PendingApproval]
                         ) -> None:
        for approval in queryset:
            try:
                approval_approve(approval_id=approval.pk, actor=_actor(request),
                                 note="approved from the list")
            except CioError as exc:
                messages.error(request, f"#{approval.pk}: {exc.code}: {exc.message}")
            else:
                messages.success(request, f"#{approval.pk} approved")

    @admin.action(description="Reject selected")
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[PendingApproval]
                        ) -> None:
        for approval in queryset:
            try:
                approval_reject(approval_id=approval.pk, actor=_actor(request),
                                note=f"rejected from the list by {_actor(request)}")
            except CioError as exc:
                messages.error(request, f"#{approval.pk}: {exc.code}: {exc.message}")
            else:
                messages.success(request, f"#{approval.pk} rejected")


def _csrf(request: HttpRequest) -> str:
    from django.middleware.csrf import get_token

    return get_token(request)


# --- fleet sync -----------------------------------------------------------------------------


@admin.register(FleetEndpoint)
class FleetEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "base_url", "enabled", "last_delivery", "failed_deliveries",
                    "updated_at")
    list_filter = ("enabled",)

    @admin.display(description="last delivery")
    def last_delivery(self, obj: FleetEndpoint) -> str:
        last = obj.deliveries.order_by("-created_at").first()
        if last is None:
            return "-"
        return f"{last.scope} v{last.config_version}: {last.status}"

    @admin.display(description="failed")
    def failed_deliveries(self, obj: FleetEndpoint) -> int:
        return obj.deliveries.filter(status=FleetDelivery.Status.FAILED).count()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)


@admin.register(FleetDelivery)
class FleetDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Per-endpoint delivery status of every config version (read-only, with retry)."""

    list_display = ("created_at", "endpoint", "scope", "config_version", "status", "attempts",
                    "last_status_code", "next_attempt_at", "delivered_at")
    list_filter = ("status", "endpoint")
    search_fields = ("scope", "trace_id", "last_error")
    readonly_fields = ("endpoint", "scope", "config_version", "policy_version", "method",
                       "path", "body_view", "trace_id", "status", "attempts",
                       "next_attempt_at", "last_status_code", "last_error", "delivered_at",
                       "created_at", "updated_at")
    exclude = ("body",)
    actions = ("retry",)

    @admin.display(description="body")
    def body_view(self, obj: FleetDelivery) -> str:
        return _json_block(obj.body)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Send selected again")
    def retry(self, request: HttpRequest, queryset: QuerySet[FleetDelivery]) -> None:
        for delivery in queryset:
            fleet_sync.fleet_delivery_retry(delivery_id=delivery.pk)
        messages.success(request, f"{queryset.count()} delivery(ies) scheduled")
