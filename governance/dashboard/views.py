"""Dashboard views: thin adapters over the dashboard selectors, panels and controls."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.views import LoginView, LogoutView
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from pydantic import BaseModel, Field, ValidationError

from governance.admin_site import CioOTPLoginForm
from governance.api.registry import Call, execute
from governance.api.responses import json_error_response, ok
from governance.api.schemas import DecisionIdIn
from governance.api.tracing import request_trace_id
from governance.auth import staff_principal
from governance.dashboard import selectors, services
from governance.dashboard.access import operator_required
from governance.dashboard.panels import PANELS, panel_context
from governance.errors import CioError, ValidationFailed

FILTERS = ("outcome", "strategy_id", "symbol", "reason_code")
# Panels refreshed over HTTP (the live parts arrive over the websocket).
PAGE_PANELS = ("policy", "regime", "reasoning", "shadow", "earnings")
HEADER_PANELS = ("strategist", "alerts")
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
_CODE = re.compile(r"[A-Z0-9_]+")
_MAX_LEN = {"symbol": 32, "strategy_id": 128, "reason_code": 64}


def _filters(request: HttpRequest) -> dict[str, str | None]:
    """The stream filters of the query string; anything malformed is simply ignored."""
    out: dict[str, str | None] = {}
    for name in FILTERS:
        value = (request.GET.get(name) or "").strip()[:_MAX_LEN.get(name, 64)] or None
        if value and name in ("symbol", "reason_code"):
            value = value.upper()
        if (name == "outcome" and value not in ("approved", "blocked")) or (
                name == "reason_code" and value and not _CODE.fullmatch(value)):
            value = None
        out[name] = value
    return out


def _error(request: HttpRequest, exc: CioError) -> HttpResponse:
    return json_error_response(exc.http_status, exc.code, exc.message, request_trace_id(request),
                               exc.details)


class DashboardLoginView(LoginView):
    """``/accounts/login/``: password and TOTP on one page (the admin's form), staff only."""

    template_name = "dashboard/login.html"
    authentication_form = CioOTPLoginForm

    def get_default_redirect_url(self) -> str:
        return reverse("dashboard:index")


class DashboardLogoutView(LogoutView):
    def get_default_redirect_url(self) -> str:
        return reverse("accounts:login")


@never_cache
@require_GET
@operator_required()
def index(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    active = {k: v for k, v in filters.items() if v}
    snapshot = selectors.live_snapshot_get()
    context: dict[str, Any] = {
        "fleet": selectors.fleet_state_get(),
        "instances": selectors.nurse_instances_get(),
        "rows": selectors.decisions_recent(limit=50, **active),
        "health": selectors.gate_health_from_db(),
        "series": (snapshot or {}).get("series", []),
        "filters": filters,
        "panels": [panel_context(name) for name in PAGE_PANELS],
        "header_panels": {name: panel_context(name) for name in HEADER_PANELS},
        "config": {
            "ws_path": "/ws/dashboard/", "live_url": reverse_lazy("dashboard:live"),
            "poll_s": settings.DASHBOARD_POLL_S,
            "panel_refresh_s": settings.DASHBOARD_PANEL_REFRESH_S,
            "max_rows_per_s": settings.DASHBOARD_MAX_ROWS_PER_S,
        },
    }
    return render(request, "dashboard/index.html", context)


@never_cache
@require_GET
@operator_required(json=True)
def live(request: HttpRequest) -> HttpResponse:
    """Polling fallback: the same data the websocket pushes (rows, series, state, beats)."""
    data = selectors.live_view(filters=_filters(request))
    return JsonResponse(ok(data, request_trace_id(request)), json_dumps_params={"default": str})


@never_cache
@require_GET
@operator_required()
def panel(request: HttpRequest, name: str) -> HttpResponse:
    if name not in PANELS:
        raise Http404(name)
    return render(request, "dashboard/panel.html", {"p": panel_context(name)})


class ControlIn(BaseModel):
    """Body of the state control: which action, where, and why."""

    action: Literal["halt", "reduce", "resume"]
    scope: str = Field(default="global", max_length=180)
    reason: str = Field(min_length=1, max_length=2000)
    confirm: Literal[True]


class RollbackControlIn(BaseModel):
    """Body of the rollback control."""

    scope: str = Field(default="global", max_length=180)
    target_version: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=2000)
    confirm: Literal[True]


def _body(request: HttpRequest, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(request.body or b"{}")
    except ValidationError as exc:
        raise ValidationFailed(
            "invalid control request",
            details={"errors": exc.errors(include_url=False, include_context=False)}) from exc


@never_cache
@require_POST
@operator_required(json=True)
def control_state(request: HttpRequest) -> HttpResponse:
    try:
        body = _body(request, ControlIn)
        data = services.dashboard_state_set(user=request.user, action=body.action,
                                            scope=body.scope.strip(), reason=body.reason.strip(),
                                            trace_id=request_trace_id(request))
    except CioError as exc:
        return _error(request, exc)
    return JsonResponse(ok(data, request_trace_id(request)))


@never_cache
@require_POST
@operator_required(json=True)
def control_rollback(request: HttpRequest) -> HttpResponse:
    try:
        body = _body(request, RollbackControlIn)
        data = services.dashboard_rollback(user=request.user, scope=body.scope.strip(),
                                           target_version=body.target_version,
                                           reason=body.reason.strip(),
                                           trace_id=request_trace_id(request))
    except CioError as exc:
        return _error(request, exc)
    return JsonResponse(ok(data, request_trace_id(request)))


@never_cache
@require_GET
@operator_required()
def decision(request: HttpRequest, decision_id: str) -> HttpResponse:
    """One decision and its explanation (the ``explain_decision`` operation, as the API)."""
    principal = staff_principal(request.user)
    assert principal is not None  # noqa: S101  (operator_required checked the session)
    call = Call(principal=principal, trace_id=request_trace_id(request), door="api")
    try:
        args = DecisionIdIn(decision_id=decision_id)
        detail = execute("get_decision", call, args).data.model_dump(mode="json")
        explain = execute("explain_decision", call, args).data.model_dump(mode="json")
    except (CioError, ValidationError) as exc:
        if isinstance(exc, CioError) and exc.http_status != 404:
            return _error(request, exc)
        raise Http404(decision_id) from exc
    return render(request, "dashboard/decision.html", {
        "d": detail, "explain": explain,
        "explain_json": json.dumps(explain, indent=2, default=str),
        "payload_json": json.dumps(detail.get("payload", {}), indent=2, default=str)})


@require_GET
def asset(request: HttpRequest, name: str) -> HttpResponseBase:
    """The dashboard's own JS and CSS, served by Django so the page works under plain daphne
    (no static file server in ``make run``); public, like any static file."""
    if name not in ASSETS:
        raise Http404(name)
    found = finders.find(f"dashboard/{name}")
    if not found:
        raise Http404(name)
    # FileResponse closes the file when the response is done.
    response = FileResponse(Path(str(found)).open("rb"),  # noqa: SIM115
                            content_type=ASSETS[name])
    response["Cache-Control"] = "no-cache"
    return response
