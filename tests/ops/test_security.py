"""Who can do what through which door: every route and tool, enumerated, refuses strangers.

Routes come from the URL conf (a new view without auth fails here), the API's required
scopes from the operations themselves, the tools from the MCP tool list. Also: MFA for the
admin and the dashboard, login throttling, security headers, deploy checks.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_otp.oath import totp
from ninja.operation import PathView

from governance.api import api
from governance.api.registry import OPERATIONS
from governance.auth import SCOPES, Principal, api_token_create
from governance.mcp.tools import agent_operations, call_tool, input_schema, tool_list
from governance.operators import operator_upsert

ROOT = Path(__file__).resolve().parents[2]
THOUGHT = ("Observed BTCUSDT volatility doubling over the last hour while two strategies hit "
           "their stops; this change keeps exposure inside the daily loss budget for now.")

# Doors that are open to anyone, each for a reason. Anything else must refuse strangers.
PUBLIC = {
    ("api/v1/health/live", "GET"): "kubelet liveness probe",
    ("api/v1/health/ready", "GET"): "kubelet readiness probe",
    ("accounts/login/", "GET"): "the login form",
    ("accounts/login/", "POST"): "the login form (throttled, TOTP)",
    ("accounts/logout/", "POST"): "logging out needs no session",
    ("accounts/logout/", "GET"): "logging out needs no session",
    ("dashboard/assets/<str:name>", "GET"): "static JS/CSS of the dashboard",
}
SAMPLES = {"symbol": "BTCUSDT", "side": "LONG", "strategy_id": "s-1", "decision_id": "0" * 32,
           "name": "dashboard.js", "pk": "1"}
# Routes that serve nothing at all (no view behind them).
NOT_A_DOOR = {"api/v1/": "django-ninja's URL root: always 404"}
DENIED = {401, 403}


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _methods(callback: Any) -> list[str]:
    for cell in getattr(callback, "__closure__", None) or ():
        if isinstance(cell.cell_contents, PathView):
            return sorted({m for op in cell.cell_contents.operations for m in op.methods})
    return ["GET", "POST"]


def _concrete(template: str) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, _, name = match.group(1).rpartition(":")
        if converter in ("slug", "int"):
            return "1" if converter == "int" else "x"
        return SAMPLES.get(name, "x")
    return "/" + re.sub(r"<([^>]+)>", fill, template)


def site_routes() -> list[tuple[str, str, str]]:
    """(template, concrete path, method) of every Django route except the admin's own."""
    routes = []
    for template, callback in _walk(get_resolver().url_patterns):
        if template.startswith("admin/") or template.startswith("^"):
            continue
        for method in _methods(callback):
            routes.append((template, _concrete(template), method))
    return sorted(set(routes))


def test_the_enumeration_sees_every_door() -> None:
    templates = {t for t, _, _ in site_routes()}
    assert {"metrics", "api/v1/config/trading", "api/v1/decisions/<decision_id>",
            "api/v1/openapi.json", "api/v1/docs"} <= templates
    assert len(templates) >= 40
    stale = {key for key in PUBLIC if key[0] not in templates}
    assert not stale, f"PUBLIC names routes that no longer exist: {stale}"


@pytest.mark.django_db
@pytest.mark.parametrize(("template", "path", "method"), site_routes())
def test_anonymous_is_refused_on_every_route(template: str, path: str, method: str,
                                             redis_client: object) -> None:
    if (template, method) in PUBLIC:
        pytest.skip(f"public by design: {PUBLIC[(template, method)]}")
    response = Client().generic(method, path, b"{}", content_type="application/json")
    if template in NOT_A_DOOR:
        assert response.status_code == 404, NOT_A_DOOR[template]
        return
    refused = response.status_code in DENIED or response.status_code == 405 or (
        response.status_code in (302, 303) and "login" in response.get("Location", ""))
    assert refused, (method, path, response.status_code, response.content[:200])


# --- the API: every operation needs its scope, and nothing else grants it ---------------


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def sample(schema: dict[str, Any], node: dict[str, Any], name: str = "") -> Any:
    """A minimal valid instance of a JSON Schema node (required fields only)."""
    node = _resolve(schema, node)
    if "default" in node and node["default"] is not None:
        return node["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if _resolve(schema, o).get("type") != "null"]
            return sample(schema, options[0], name)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type", "object")
    if kind == "object":
        props = node.get("properties", {})
        return {key: sample(schema, props[key], key) for key in node.get("required", [])}
    if kind == "array":
        return [sample(schema, node.get("items", {}), name)
                for _ in range(node.get("minItems", 0))]
    if kind in ("integer", "number"):
        return max(node.get("minimum", 1), node.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    if node.get("format") == "date-time":
        return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    if name == "thought_trace":
        return THOUGHT
    if name in SAMPLES:
        return SAMPLES[name]
    if name == "scope":
        return "global"
    return "x" * max(1, node.get("minLength", 1))


def api_operations() -> list[tuple[str, str, dict[str, Any] | None, dict[str, Any]]]:
    """(method, path, json body, query) for every API operation but the probes."""
    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    out = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if "/health/" in path:
                continue
            concrete = re.sub(r"{([^}]+)}", lambda m: SAMPLES.get(m.group(1), "x"), path)
            query = {p["name"]: sample(schema, p["schema"], p["name"])
                     for p in op.get("parameters", []) if p["in"] == "query" and p.get("required")}
            body = None
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                body = sample(schema, content["schema"])
            out.append((method.upper(), concrete, body, query))
    return sorted(out, key=lambda o: (o[1], o[0]))


def _call(client: Client, method: str, path: str, body: Any, query: dict[str, Any],
          token: str) -> Any:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return client.generic(method, f"{path}?{qs}" if qs else path,
                          b"" if body is None else __import__("json").dumps(body),
                          content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "query"), api_operations(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_wrong_scope_is_refused_on_every_api_operation(
        method: str, path: str, body: Any, query: dict[str, Any], redis_client: object,
        settings: Any) -> None:
    settings.CIO_API_WRITE_RATE_PER_MIN = 1_000_000
    client = Client()
    # An agent-only token grants no operation: the answer names the scope that is missing.
    agent_only = api_token_create(principal="a", scopes=["agent"], created_by="t")[1]
    first = _call(client, method, path, body, query, agent_only)
    assert first.status_code in DENIED, (method, path, first.status_code, first.content[:300])
    error = first.json()["error"]
    if error["code"] == "INSUFFICIENT_SCOPE":
        required = error["details"]["required"]
    else:  # the docs guard answers 401 for a caller without read
        assert path.endswith(("openapi.json", "/docs")), error
        required = "read"
    # Every other scope together still does not open it.
    others = sorted(set(SCOPES) - {required})
    token = api_token_create(principal="b", scopes=others, created_by="t")[1]
    second = _call(client, method, path, body, query, token)
    assert second.status_code in DENIED, (method, path, others, second.content[:300])


# --- MCP ------------------------------------------------------------------------------------------


def _tool_args(name: str) -> dict[str, Any]:
    op = agent_operations()[name]
    schema = input_schema(op)
    args = sample({"components": {"schemas": schema.get("$defs", {})}},
                  {k: v for k, v in schema.items() if k != "$defs"})
    if op.mutating:
        args["thought_trace"] = THOUGHT
    return args


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(t.name for t in tool_list()))
def test_every_mcp_tool_refuses_an_agent_without_its_scope(name: str,
                                                           redis_client: object) -> None:
    op = agent_operations()[name]
    bare = Principal(name="agent-x", kind="agent", scopes=frozenset({"agent"}))
    result = call_tool(name, _tool_args(name), principal=bare, trace_id="0" * 32)
    assert result.is_error
    assert result.structured_content["error"]["code"] == "INSUFFICIENT_SCOPE", (
        name, result.structured_content)
    others = frozenset(set(SCOPES) - {op.scope})
    result = call_tool(name, _tool_args(name),
                       principal=Principal(name="agent-y", kind="agent", scopes=others),
                       trace_id="0" * 32)
    assert result.structured_content["error"]["code"] == "INSUFFICIENT_SCOPE", name


def test_agent_tools_never_touch_hard_gates_users_tokens_or_secrets() -> None:
    forbidden = re.compile(r"hard_gate|user|operator|token|secret|password|credential")
    for name, op in agent_operations().items():
        if op.mutating:
            assert op.scope in {"config:write", "state:write"}, name
            assert not forbidden.search(name), name
    # Hard gates are readable by agents, writable only in the admin (superuser + TOTP).
    assert not [n for n, op in OPERATIONS.items() if "hard_gate" in n and op.mutating]


@pytest.mark.django_db(transaction=True)
async def test_mcp_endpoint_refuses_anonymous_and_non_agent_tokens(redis_client: object) -> None:
    from asgiref.sync import sync_to_async

    from cio_site.asgi import application

    _, reader = await sync_to_async(api_token_create)(principal="r", scopes=["read"],
                                                      created_by="t")
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        for tool in tool_list():
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": tool.name, "arguments": {}}}
            anonymous = await http.post("/mcp", json=call)
            assert anonymous.status_code == 401, tool.name
            wrong = await http.post("/mcp", json=call,
                                    headers={"Authorization": f"Bearer {reader}"})
            assert wrong.status_code == 403, tool.name
            assert wrong.json()["error"]["code"] == "INSUFFICIENT_SCOPE"


# --- staff: MFA, throttling ----------------------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
PASSWORD = "correct horse battery staple"


def _login(client: Client, path: str, password: str, code: str | None,
           ip: str = "10.0.0.1") -> Any:
    client.get(path, REMOTE_ADDR=ip)
    data = {"username": "ops", "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    if code is not None:
        data["otp_token"] = code
    return client.post(path, data, REMOTE_ADDR=ip)


def _code() -> str:
    return f"{totp(base64.b32decode(SECRET)):06d}"


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/admin/login/", "/accounts/login/"])
def test_password_without_totp_opens_nothing(door: str) -> None:
    operator_upsert(username="ops", password=PASSWORD, totp_secret_b32=SECRET, superuser=True)
    client = Client(enforce_csrf_checks=True)
    _login(client, door, PASSWORD, None)
    _login(client, door, PASSWORD, "000000")
    for page in ("/admin/", "/dashboard/"):
        response = client.get(page)
        assert response.status_code in (302, 403), page
        assert "login" in response.get("Location", "login")


@pytest.mark.django_db
def test_password_and_totp_open_the_admin() -> None:
    operator_upsert(username="ops", password=PASSWORD, totp_secret_b32=SECRET, superuser=True)
    client = Client(enforce_csrf_checks=True)
    _login(client, "/admin/login/?next=/admin/", PASSWORD, _code())
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["/admin/login/", "/accounts/login/"])
def test_login_is_throttled_per_username_and_address(door: str, settings: Any) -> None:
    operator_upsert(username="ops", password=PASSWORD, totp_secret_b32=SECRET, superuser=True)
    client = Client(enforce_csrf_checks=True)
    statuses = [_login(client, door, "wrong password!", _code()).status_code
                for _ in range(settings.AXES_FAILURE_LIMIT)]
    # The form again with an error, until the limit: the last failure locks the pair out.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    locked = _login(client, door, PASSWORD, _code())
    assert locked.status_code == 429
    assert client.get("/admin/").status_code == 302  # still not logged in
    # Another address is not locked out by someone else's guessing.
    other = Client(enforce_csrf_checks=True)
    _login(other, door, PASSWORD, _code(), ip="10.9.9.9")
    assert other.get("/admin/").status_code == 200


def test_password_validators_refuse_weak_passwords() -> None:
    for weak in ("password123", "12345678901234", "short"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("a long unguessable passphrase 42")


# --- headers, cookies, deploy checks --------------------------------------------------------------


@pytest.mark.django_db
def test_security_headers_on_pages_and_api() -> None:
    client = Client()
    page = client.get("/admin/login/", secure=True)
    csp = page["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "script-src 'self' 'nonce-" in csp and "unsafe-eval" not in csp
    assert page["Strict-Transport-Security"].startswith("max-age=31536000")
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    again = client.get("/admin/login/", secure=True)
    assert re.search(r"'nonce-([^']+)'", again["Content-Security-Policy"]).group(1) != \
        nonce.group(1)  # type: ignore[union-attr]
    probe = client.get("/api/v1/health/live")
    assert probe["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "Strict-Transport-Security" not in probe  # plain HTTP: never sent


def _settings_in(env: dict[str, str], expr: str) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print({expr})"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True,
                            env={**os.environ, **env, "CIO_LOG_FORMAT": "text"})
    return result.stdout.strip().splitlines()[-1]


PROD = {"DJANGO_ALLOWED_HOSTS": "cio.example.com,localhost",
        "DJANGO_SECRET_KEY": "prod-like-secret-key-" + "k" * 40, "CIO_REQUIRE_SECRET_KEY": "true",
        "CIO_TRUST_X_FORWARDED_PROTO": "true"}


def test_cookies_are_secure_when_served_under_a_real_host() -> None:
    assert _settings_in(PROD, "settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
                              "settings.SESSION_COOKIE_HTTPONLY") == "True True True"
    # Loopback-only demo (make run over http): no Secure flag, or the login would break.
    assert _settings_in({"DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"},
                        "settings.SESSION_COOKIE_SECURE") == "False"


def test_deploy_check_leaves_only_the_documented_choices() -> None:
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, **PROD, "CIO_LOG_FORMAT": "text"})
    found = set(re.findall(r"\(security\.(W\d+)\)", result.stdout + result.stderr))
    # W005 subdomains and W021 preload: per-domain decisions (docs/security.md);
    # W008 SSL redirect: the ingress redirects, the pods serve probes over plain HTTP.
    assert found <= {"W005", "W008", "W021"}, result.stdout + result.stderr
