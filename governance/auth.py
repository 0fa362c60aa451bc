"""API tokens and principals: who is calling the API or the MCP endpoint, and what it may do.

A token reads ``cio_<prefix>_<secret>``. The prefix is public and finds the row; only the
SHA-256 digest of the secret is stored, compared in constant time. The secret carries 256
random bits, so a fast hash is enough (no password-style key stretching is needed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record
from governance.errors import CioError, NotFound, PermissionDenied, ValidationFailed
from governance.models import ActorKind, ApiToken

SCOPE_READ: Final = "read"
SCOPE_CONFIG_WRITE: Final = "config:write"
SCOPE_STATE_WRITE: Final = "state:write"
SCOPE_AGENT: Final = "agent"
SCOPES: Final[dict[str, str]] = {
    SCOPE_READ: "read configuration, trading state, decisions, history and approvals",
    SCOPE_CONFIG_WRITE: "patch, replace and roll back configuration",
    SCOPE_STATE_WRITE: "halt, reduce-only and resume trading",
    SCOPE_AGENT: "act as an LLM agent: use /mcp; every write passes the agent envelope",
}
# What a verified staff session may do through the API (hard gates stay admin-only).
STAFF_SCOPES: Final = frozenset({SCOPE_READ, SCOPE_CONFIG_WRITE, SCOPE_STATE_WRITE})

_TOKEN_RE = re.compile(r"^cio_([0-9a-f]{12})_([A-Za-z0-9_\-]{20,128})$")


class Unauthenticated(CioError):
    """No credentials, or credentials that do not identify an active principal."""

    code = "UNAUTHENTICATED"
    http_status = 401


class InsufficientScope(PermissionDenied):
    """The principal is known but its token lacks the scope the operation needs."""

    code = "INSUFFICIENT_SCOPE"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a token holder, a staff session or the stdio MCP user."""

    name: str
    kind: Literal["user", "agent"]
    scopes: frozenset[str]
    via: Literal["token", "session", "stdio", "internal"] = "token"
    token_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def actor_kind(self) -> str:
        return ActorKind.AGENT if self.kind == "agent" else ActorKind.USER

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise InsufficientScope(
                f"this operation needs the {scope!r} scope",
                details={"required": scope, "granted": sorted(self.scopes)},
            )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def scopes_clean(scopes: Iterable[str]) -> list[str]:
    """Validate scope names (INVALID_SCOPE_NAME) and return them sorted and unique."""
    clean = sorted({s.strip() for s in scopes if s and s.strip()})
    unknown = [s for s in clean if s not in SCOPES]
    if unknown or not clean:
        raise ValidationFailed(
            "unknown or missing token scopes" if unknown else "a token needs at least one scope",
            code="INVALID_SCOPE_NAME",
            details={"unknown": unknown, "allowed": sorted(SCOPES)},
        )
    return clean


def api_token_create(
    *,
    principal: str,
    scopes: Iterable[str],
    created_by: str,
    expires_at: dt.datetime | None = None,
    description: str = "",
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plain text, which is never stored nor shown again.

    A token with the ``agent`` scope belongs to an agent principal: its writes always carry
    a thought trace and pass the agent envelope.
    """
    principal = principal.strip()
    if not principal or len(principal) > 150:
        raise ValidationFailed("the principal name must be 1-150 characters",
                               code="INVALID_PRINCIPAL")
    clean = scopes_clean(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expires_at must lie in the future", code="INVALID_EXPIRY")
    kind = ApiToken.Kind.AGENT if SCOPE_AGENT in clean else ApiToken.Kind.USER
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            principal=principal, kind=kind, prefix=prefix, secret_hash=_digest(secret),
            scopes=clean, description=description, created_by=created_by, expires_at=expires_at,
        )
        audit_record(
            event_type="auth.token_created",
            actor=created_by,
            actor_kind=ActorKind.USER if created_by != "cli" else ActorKind.SYSTEM,
            summary=f"API token cio_{prefix}_… for {principal} ({kind}) scopes={clean}",
            payload={"token_id": token.pk, "prefix": prefix, "principal": principal,
                     "kind": kind, "scopes": clean,
                     "expires_at": expires_at.isoformat() if expires_at else None},
        )
    return token, f"cio_{prefix}_{secret}"


def api_token_revoke(*, token_id: int, actor: str) -> ApiToken:
    """Revoke a token at once (idempotent); the next request with it is refused."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound(f"no API token {token_id}", code="TOKEN_NOT_FOUND")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.revoked_by = actor
            token.save(update_fields=["revoked_at", "revoked_by"])
            audit_record(
                event_type="auth.token_revoked",
                actor=actor,
                actor_kind=ActorKind.USER,
                summary=f"API token cio_{token.prefix}_… of {token.principal} revoked",
                payload={"token_id": token.pk, "prefix": token.prefix},
            )
    return token


def api_token_authenticate(raw: str, *, now: dt.datetime | None = None) -> Principal:
    """The principal of a bearer token; raises ``Unauthenticated`` for anything else.

    The error never says which check failed, so a guesser learns nothing.
    """
    now = now or timezone.now()
    match = _TOKEN_RE.match(raw.strip())
    token = ApiToken.objects.filter(prefix=match.group(1)).first() if match else None
    # Hash even when no row matched so both paths cost the same.
    digest = _digest(match.group(2) if match else raw)
    valid = (
        token is not None
        and hmac.compare_digest(token.secret_hash, digest)
        and token.revoked_at is None
        and (token.expires_at is None or token.expires_at > now)
    )
    if not valid or token is None:
        raise Unauthenticated("invalid, expired or revoked API token")
    touch = dt.timedelta(seconds=settings.CIO_API_TOKEN_TOUCH_S)
    if token.last_used_at is None or now - token.last_used_at > touch:
        # Coarse on purpose: one write per token per interval, not one per request.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    kind: Literal["user", "agent"] = "agent" if token.kind == ApiToken.Kind.AGENT else "user"
    return Principal(name=token.principal, kind=kind, scopes=frozenset(token.scopes),
                     via="token", token_id=token.pk)


def staff_principal(user: Any) -> Principal | None:
    """The principal of a logged-in staff user whose session passed the TOTP step."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_staff", False):
        return None
    is_verified = getattr(user, "is_verified", None)
    if not callable(is_verified) or not is_verified():
        return None
    return Principal(name=user.get_username(), kind="user", scopes=STAFF_SCOPES, via="session")
