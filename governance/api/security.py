"""Ninja authenticators: bearer API tokens and verified staff sessions (with CSRF)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja.security import APIKeyCookie, HttpBearer

from governance.api.responses import json_error_response
from governance.api.tracing import request_trace_id
from governance.auth import (
    SCOPE_READ,
    Principal,
    Unauthenticated,
    api_token_authenticate,
    staff_principal,
)


class BearerToken(HttpBearer):
    """``Authorization: Bearer cio_<prefix>_<secret>``."""

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        try:
            return api_token_authenticate(token)
        except Unauthenticated:
            return None


class StaffSession(APIKeyCookie):
    """A logged-in staff user whose session passed the TOTP step (CSRF-checked writes)."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        return staff_principal(getattr(request, "user", None))


AUTH = [BearerToken(), StaffSession()]


def principal_of(request: HttpRequest) -> Principal | None:
    """The caller of a plain Django view (docs, schema): token first, then staff session."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        try:
            return api_token_authenticate(token)
        except Unauthenticated:
            return None
    return staff_principal(getattr(request, "user", None))


def docs_guard(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The OpenAPI document and the docs page need a read-scoped caller too."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        principal = principal_of(request)
        if principal is None or not principal.has(SCOPE_READ):
            return json_error_response(401, "UNAUTHENTICATED", "the API docs need a token with "
                                       "the read scope or a verified staff session",
                                       request_trace_id(request))
        return view(request, *args, **kwargs)

    return wrapped
