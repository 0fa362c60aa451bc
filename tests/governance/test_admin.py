"""The admin: TOTP MFA required, resolved view, rollback confirmation, hard-gate lock."""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from django_otp.oath import totp

from governance import services
from governance.models import ActorKind, ConfigHead, ConfigVersion, HardGate
from governance.operators import operator_upsert
from governance.scopes import Scope

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
PASSWORD = "correct horse battery staple"


def _code() -> str:
    return f"{totp(base64.b32decode(SECRET)):06d}"


def _login(client: Client, username: str, token: str | None) -> None:
    data = {"username": username, "password": PASSWORD}
    if token is not None:
        data["otp_token"] = token
    client.post("/admin/login/?next=/admin/", data)


@pytest.fixture
def operator() -> str:
    operator_upsert(username="ops", password=PASSWORD, totp_secret_b32=SECRET, superuser=True)
    return "ops"


def test_password_alone_does_not_open_the_admin(client: Client, operator: str) -> None:
    _login(client, operator, None)
    assert client.get("/admin/").status_code == 302
    _login(client, operator, "000000" if _code() != "000000" else "111111")
    assert client.get("/admin/").status_code == 302
    # A session logged in without the OTP step (force_login) is not verified either.
    other = Client()
    from django.contrib.auth import get_user_model

    other.force_login(get_user_model().objects.get(username=operator))
    assert other.get("/admin/").status_code == 302


def test_password_and_totp_open_the_admin(client: Client, operator: str) -> None:
    _login(client, operator, _code())
    assert client.get("/admin/").status_code == 200


@pytest.fixture
def verified(client: Client, operator: str) -> Client:
    _login(client, operator, _code())
    return client


def test_resolved_view_and_rollback_confirmation(verified: Client) -> None:
    scope = Scope.symbol("BTCUSDT")
    services.config_patch(scope=scope, patch={"leverage": 5}, base_version=0, actor="a",
                          actor_kind=ActorKind.USER, reason="one")
    services.config_patch(scope=scope, patch={"leverage": 3}, base_version=1, actor="a",
                          actor_kind=ActorKind.USER, reason="two")
    head = ConfigHead.objects.get(scope_key="BTCUSDT")
    page = verified.get(f"/admin/governance/confighead/{head.pk}/change/").content.decode()
    assert "symbol:BTCUSDT" in page and "margin_type" in page
    v1 = ConfigVersion.objects.get(scope_key="BTCUSDT", version=1)
    confirm = verified.get(f"/admin/governance/configversion/{v1.pk}/rollback/")
    assert confirm.status_code == 200
    assert b"Yes, roll back" in confirm.content
    assert ConfigVersion.objects.count() == 2  # the GET changed nothing
    done = verified.post(f"/admin/governance/configversion/{v1.pk}/rollback/",
                         {"reason": "bad idea", "base_version": 2})
    assert done.status_code == 302
    latest = ConfigVersion.objects.get(scope_key="BTCUSDT", version=3)
    assert (latest.params, latest.rollback_to, latest.actor) == ({"leverage": 5}, 1, "ops")


def test_admin_patch_goes_through_the_service(verified: Client) -> None:
    response = verified.post("/admin/governance/confighead/add/", {
        "scope_kind": "strategy", "scope_key": "grid-7", "patch": '{"leverage": 4}',
        "unset": "", "reason": "new bot", "base_version": 0,
    })
    assert response.status_code == 302
    version = ConfigVersion.objects.get(scope_key="grid-7")
    assert (version.params, version.actor, version.reason) == ({"leverage": 4}, "ops", "new bot")


def test_hard_gate_change_requires_verified_superuser(verified: Client) -> None:
    gate = HardGate.objects.get(key="max_leverage")
    response = verified.post(f"/admin/governance/hardgate/{gate.pk}/change/",
                             {"new_value": "12", "change_reason": "tighter"})
    assert response.status_code == 302
    gate.refresh_from_db()
    assert (gate.value, gate.updated_by) == (12, "ops")
    # A staff user who is not a superuser can only read hard gates.
    operator_upsert(username="viewer", password=PASSWORD, totp_secret_b32=SECRET,
                    superuser=False)
    viewer = Client()
    _login(viewer, "viewer", _code())
    viewer.post(f"/admin/governance/hardgate/{gate.pk}/change/",
                {"new_value": "15", "change_reason": "looser"})
    gate.refresh_from_db()
    assert gate.value == 12
