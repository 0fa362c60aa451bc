"""Who may see the dashboard: active staff whose session passed the TOTP step (as the admin).

HTTP views read ``request.user.is_verified()`` (django-otp's middleware). Websockets do not
run that middleware, so ``scope_is_verified`` re-does its check from the session: the
session's ``otp_device_id`` must name a confirmed device of the same user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device

from governance.api.responses import json_error_response
from governance.api.tracing import request_trace_id


def user_is_operator(user: Any) -> bool:
    """Active staff with a verified second factor in this session."""
    if not (getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)
            and getattr(user, "is_staff", False)):
        return False
    is_verified = getattr(user, "is_verified", None)
    return bool(callable(is_verified) and is_verified())


def session_device_ok(user: Any, session: Mapping[str, Any] | Any) -> bool:
    """The check django-otp's middleware makes, from a session (runs queries: sync only)."""
    if not (getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)
            and getattr(user, "is_staff", False)):
        return False
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
        return False
    device = Device.from_persistent_id(OTPMiddleware._normalize_persistent_id(persistent_id))
    return device is not None and device.user_id == user.pk and bool(device.confirmed)


async def scope_is_verified(scope: Mapping[str, Any]) -> bool:
    """For websocket consumers: the scope's user and session pass ``session_device_ok``."""
    user = scope.get("user")
    session = scope.get("session")
    if user is None or session is None:
        return False
    return bool(await database_sync_to_async(session_device_ok)(user, session))


def _session_still_valid(scope: Mapping[str, Any]) -> bool:
    """Re-read the session and the user from the database (logout, expiry, lost staff flag,
    removed device, changed password all end access)."""
    session, user = scope.get("session"), scope.get("user")
    key = getattr(session, "session_key", None)
    if not key or user is None or not getattr(user, "pk", None):
        return False
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key).load()
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False
    fresh = get_user_model().objects.filter(pk=user.pk).first()
    if fresh is None:
        return False
    stored_hash = data.get(HASH_SESSION_KEY) or ""
    if not constant_time_compare(stored_hash, fresh.get_session_auth_hash()):
        return False
    return session_device_ok(fresh, data)


async def scope_still_verified(scope: Mapping[str, Any]) -> bool:
    return bool(await database_sync_to_async(_session_still_valid)(scope))


View = Callable[..., HttpResponse]


def operator_required(*, json: bool = False) -> Callable[[View], View]:
    """Guard a view: others go to the login page (HTML) or get 401/403 (JSON)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if user_is_operator(request.user):
                return view(request, *args, **kwargs)
            if json:
                anonymous = not request.user.is_authenticated
                return json_error_response(
                    401 if anonymous else 403,
                    "UNAUTHENTICATED" if anonymous else "MFA_REQUIRED",
                    "log in as staff with your TOTP code", request_trace_id(request))
            return redirect_to_login(request.get_full_path(), reverse("accounts:login"))

        return wrapper

    return decorate
