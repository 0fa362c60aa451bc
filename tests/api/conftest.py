"""API test helpers: tokens of every kind and clients that send them."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from django.test import Client
from django_otp.oath import totp

from governance.auth import api_token_create
from governance.operators import operator_upsert

TokenFactory = Callable[..., str]
THOUGHT = (
    "Observed BTCUSDT drawdown of 4% over the last hour with rising volatility; reducing size "
    "keeps the symbol's exposure inside the daily loss budget while the regime settles."
)


@pytest.fixture
def make_token() -> TokenFactory:
    def make(principal: str = "alice", scopes: str = "read,config:write,state:write",
             **kwargs: object) -> str:
        _, raw = api_token_create(principal=principal, scopes=scopes.split(","),
                                  created_by="test", **kwargs)  # type: ignore[arg-type]
        return raw

    return make


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def user_client(make_token: TokenFactory) -> Client:
    return Client(**bearer(make_token("alice")))


@pytest.fixture
def agent_client(make_token: TokenFactory) -> Client:
    return Client(**bearer(make_token("strategist", "agent,read,config:write,state:write")))


SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff_client() -> Client:
    """A staff session that passed the TOTP step (as the admin requires)."""
    operator_upsert(username="ops", password=PASSWORD, totp_secret_b32=SECRET, superuser=True)
    client = Client(enforce_csrf_checks=True)
    code = f"{totp(base64.b32decode(SECRET)):06d}"
    client.get("/admin/login/")
    client.post("/admin/login/?next=/admin/", {
        "username": "ops", "password": PASSWORD, "otp_token": code,
        "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    return client
