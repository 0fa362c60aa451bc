"""Who may call the API: tokens (hashed, scoped, revocable, expiring), staff sessions, probes."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
import redis
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from governance.auth import api_token_authenticate, api_token_revoke
from governance.models import ApiToken, AuditEvent
from tests.api.conftest import THOUGHT, TokenFactory, bearer

pytestmark = pytest.mark.django_db


def _error(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert body["success"] is False
    assert body["data"] is None
    assert set(body) == {"success", "data", "trace_id", "error"}
    assert len(body["trace_id"]) == 32
    return body["error"]  # type: ignore[no-any-return]


def test_anonymous_requests_are_refused_except_the_probes(client: Client) -> None:
    response = client.get("/api/v1/config/trading")
    assert response.status_code == 401
    assert _error(response)["code"] == "UNAUTHENTICATED"
    assert response["WWW-Authenticate"].startswith("Bearer")
    live = client.get("/api/v1/health/live")
    assert live.status_code == 200
    assert live.json()["data"] == {"status": "ok"}
    ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json()["data"] == {"ready": True,
                                    "checks": {"db": "ok", "redis": "ok", "nats": "ok"}}


def test_docs_and_openapi_need_a_reader(client: Client, make_token: TokenFactory) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 401
    assert client.get("/api/v1/docs").status_code == 401
    token = make_token("reader", "read")
    schema = client.get("/api/v1/openapi.json", **bearer(token))
    assert schema.status_code == 200
    assert "/api/v1/config/trading/{symbol}/{side}" in schema.json()["paths"]


def test_token_is_stored_hashed_and_shown_once() -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "--principal", "bot-1", "--scopes", "read,config:write",
                 stdout=out, stderr=err)
    raw = out.getvalue().strip()
    prefix, secret = raw.split("_")[1], raw.split("_", 2)[2]
    row = ApiToken.objects.get(prefix=prefix)
    assert row.principal == "bot-1"
    assert row.kind == "user"
    assert row.scopes == ["config:write", "read"]
    assert secret not in row.secret_hash
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert "shown once" in err.getvalue()
    assert AuditEvent.objects.filter(event_type="auth.token_created").exists()
    assert api_token_authenticate(raw).name == "bot-1"


def test_agent_scope_makes_an_agent_token() -> None:
    out = io.StringIO()
    call_command("create_api_token", "--principal", "llm", "--scopes", "agent,read",
                 stdout=out, stderr=io.StringIO())
    principal = api_token_authenticate(out.getvalue().strip())
    assert principal.is_agent
    assert principal.actor_kind == "agent"


def test_unknown_scope_is_refused() -> None:
    with pytest.raises(Exception, match="INVALID_SCOPE_NAME"):
        call_command("create_api_token", "--principal", "x", "--scopes", "root",
                     stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),   # wrong secret
    lambda t: "cio_000000000000_" + t.split("_", 2)[2],   # unknown prefix
    lambda t: "garbage",
])
def test_bad_tokens_get_401(client: Client, make_token: TokenFactory, mangle: object) -> None:
    token = make_token()
    response = client.get("/api/v1/config/trading", **bearer(mangle(token)))  # type: ignore[operator]
    assert response.status_code == 401
    assert _error(response)["code"] == "UNAUTHENTICATED"


def test_revoked_and_expired_tokens_stop_working(client: Client,
                                                 make_token: TokenFactory) -> None:
    token = make_token()
    assert client.get("/api/v1/config/trading", **bearer(token)).status_code == 200
    row = ApiToken.objects.get(prefix=token.split("_")[1])
    assert row.last_used_at is not None
    api_token_revoke(token_id=row.pk, actor="ops")
    assert client.get("/api/v1/config/trading", **bearer(token)).status_code == 401
    soon = make_token("bob", expires_at=timezone.now() + dt.timedelta(seconds=1))
    ApiToken.objects.filter(principal="bob").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get("/api/v1/config/trading", **bearer(soon)).status_code == 401


def test_missing_scope_is_403(client: Client, make_token: TokenFactory) -> None:
    token = make_token("reader", "read")
    response = client.patch("/api/v1/config/trading", {"patch": {"leverage": 5},
                            "base_version": 0, "reason": "r"}, content_type="application/json",
                            **bearer(token))
    assert response.status_code == 403
    error = _error(response)
    assert error["code"] == "INSUFFICIENT_SCOPE"
    assert error["details"] == {"required": "config:write", "granted": ["read"]}


def test_verified_staff_session_reads_and_writes_with_csrf(staff_client: Client) -> None:
    assert staff_client.get("/api/v1/config/trading").status_code == 200
    body = {"patch": {"leverage": 5}, "base_version": 0, "reason": "staff tightening"}
    refused = staff_client.patch("/api/v1/config/trading", body,
                                 content_type="application/json")
    assert refused.status_code == 403
    assert _error(refused)["code"] == "CSRF_FAILED"
    ok = staff_client.patch("/api/v1/config/trading", body, content_type="application/json",
                            HTTP_X_CSRFTOKEN=staff_client.cookies["csrftoken"].value)
    assert ok.status_code == 200, ok.json()
    assert ok.json()["data"]["record"]["actor"] == "ops"


def test_session_without_totp_is_not_enough(client: Client) -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("plain", password="x" * 16, is_staff=True)
    client.force_login(user)
    assert client.get("/api/v1/config/trading").status_code == 401


def test_writes_are_rate_limited_per_principal_but_halts_pass(
    client: Client, make_token: TokenFactory, settings: object, redis_client: redis.Redis,
) -> None:
    settings.CIO_API_WRITE_RATE_PER_MIN = 2  # type: ignore[attr-defined]
    headers = bearer(make_token("busy"))
    codes = []
    for version in range(3):
        response = client.patch("/api/v1/config/trading", {
            "patch": {"leverage": 5 - version}, "base_version": version, "reason": "step"},
            content_type="application/json", **headers)
        codes.append(response.status_code)
    assert codes == [200, 200, 429]
    assert _error(response)["code"] == "RATE_LIMITED"
    assert 1 <= int(response["Retry-After"]) <= 60
    halt = client.post("/api/v1/trading-state/halt", {"reason": "storm", "thought_trace": THOUGHT},
                       content_type="application/json", **headers)
    assert halt.status_code == 200
    # Another principal has its own budget.
    other = client.patch("/api/v1/config/trading", {"patch": {"leverage": 3}, "base_version": 2,
                         "reason": "x"}, content_type="application/json",
                         **bearer(make_token("calm")))
    assert other.status_code == 200
