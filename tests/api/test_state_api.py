"""Trading state over the API: read, halt / reduce-only / resume per scope with expiry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from governance.models import AuditEvent, TradingState

pytestmark = pytest.mark.django_db


def _post(client: Client, path: str, body: dict[str, object]) -> object:
    return client.post(path, body, content_type="application/json")


def test_halt_reduce_resume_with_reason_and_expiry(user_client: Client) -> None:
    halt = _post(user_client, "/api/v1/trading-state/halt",
                 {"symbol": "BTCUSDT", "reason": "exchange incident", "ttl_seconds": 600})
    assert halt.status_code == 200, halt.json()  # type: ignore[attr-defined]
    state = halt.json()["data"]["state"]  # type: ignore[attr-defined]
    assert state["scope"] == "symbol:BTCUSDT"
    assert state["state"] == "HALTED"
    assert state["in_force"] is True
    assert state["expires_at"] is not None
    view = user_client.get("/api/v1/trading-state?symbol=BTCUSDT&strategy_id=m1").json()["data"]
    assert view["effective"]["state"] == "HALTED"
    assert view["effective"]["scope"] == "symbol:BTCUSDT"
    assert view["effective"]["reason"] == "exchange incident"
    other = user_client.get("/api/v1/trading-state?symbol=ETHUSDT").json()["data"]
    assert other["effective"]["state"] == "ACTIVE"
    reduce = _post(user_client, "/api/v1/trading-state/reduce-only",
                   {"scope": "strategy:m1", "reason": "drawdown"})
    assert reduce.json()["data"]["state"]["state"] == "REDUCING"  # type: ignore[attr-defined]
    resume = _post(user_client, "/api/v1/trading-state/resume",
                   {"symbol": "BTCUSDT", "reason": "incident over"})
    assert resume.json()["data"]["state"]["state"] == "ACTIVE"  # type: ignore[attr-defined]
    events = AuditEvent.objects.filter(event_type="state.set").order_by("seq")
    assert [e.payload["after"] for e in events] == ["HALTED", "REDUCING", "ACTIVE"]


def test_generic_state_route_and_expiry_rules(user_client: Client) -> None:
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    ok = _post(user_client, "/api/v1/trading-state",
               {"state": "HALTED", "reason": "maintenance", "expires_at": future})
    assert ok.status_code == 200  # type: ignore[attr-defined]
    row = TradingState.objects.get(scope_kind="global")
    assert row.expires_at is not None
    assert row.set_by == "alice"
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    late = _post(user_client, "/api/v1/trading-state",
                 {"state": "HALTED", "reason": "x", "expires_at": past})
    assert late.json()["error"]["code"] == "INVALID_EXPIRY"  # type: ignore[attr-defined]
    side = _post(user_client, "/api/v1/trading-state",
                 {"state": "HALTED", "reason": "x", "scope": "symbol_side:BTCUSDT:LONG"})
    assert side.status_code == 422  # type: ignore[attr-defined]
    both = _post(user_client, "/api/v1/trading-state",
                 {"state": "HALTED", "reason": "x", "symbol": "BTCUSDT", "strategy_id": "m"})
    assert both.json()["error"]["code"] == "INVALID_SCOPE"  # type: ignore[attr-defined]
    bad = _post(user_client, "/api/v1/trading-state", {"state": "PAUSED", "reason": "x"})
    assert bad.status_code == 422  # type: ignore[attr-defined]


def test_ladder_halt_needs_staff_rearm_for_agents(agent_client: Client) -> None:
    from governance import services
    from governance.models import ActorKind
    from governance.scopes import Scope
    from tests.api.conftest import THOUGHT

    services.trading_state_set(scope=Scope.global_(), state="HALTED", actor="ladder",
                               actor_kind=ActorKind.SYSTEM, reason="drawdown 20%",
                               requires_staff_rearm=True)
    response = _post(agent_client, "/api/v1/trading-state/resume",
                     {"reason": "looks calm", "thought_trace": THOUGHT})
    assert response.status_code == 202  # type: ignore[attr-defined]
    data = response.json()["data"]  # type: ignore[attr-defined]
    assert data["status"] == "pending_approval"
    codes = {v["code"] for v in data["approval"]["violations"]}
    assert {"REARM_REQUIRES_STAFF", "RESUME_NOT_IN_ENVELOPE"} <= codes
    assert TradingState.objects.get(scope_kind="global").state == "HALTED"
