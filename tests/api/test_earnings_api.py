"""GET /api/v1/earnings-summary and the MCP operation answer with the earnings selector."""

from __future__ import annotations

import pytest
from django.test import Client

from nurse.earnings.selectors import earnings_summary

pytestmark = pytest.mark.django_db


def test_earnings_summary_route(user_client: Client) -> None:
    response = user_client.get("/api/v1/earnings-summary?window_hours=168")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    expected = earnings_summary(window_hours=168)
    assert set(body["data"]) == set(expected)
    bad = user_client.get("/api/v1/earnings-summary?window_hours=0")
    assert bad.status_code == 422
    assert bad.json()["success"] is False


def test_earnings_summary_needs_a_token() -> None:
    assert Client().get("/api/v1/earnings-summary").status_code == 401
