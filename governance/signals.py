"""Audit receivers: staff logins are governance events (they open sensitive actions)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from governance.audit import audit_record
from governance.models import ActorKind


@receiver(user_logged_in)
def _audit_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(
        event_type="auth.login",
        actor=user.get_username(),
        actor_kind=ActorKind.USER,
        summary=f"{user.get_username()} logged in",
        payload={"path": getattr(request, "path", "")},
    )


@receiver(user_login_failed)
def _audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        event_type="auth.login_failed",
        actor=username or "unknown",
        actor_kind=ActorKind.USER,
        summary=f"failed login for {username!r}",
        payload={"path": getattr(request, "path", "")},
    )
