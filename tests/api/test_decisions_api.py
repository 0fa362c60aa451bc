"""Decisions: list and filter, one decision, and explain (rules fired, what would pass)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from governance import services
from governance.models import ActorKind
from governance.scopes import Scope
from nurse.models import DecisionRecord

pytestmark = pytest.mark.django_db


def _decision(decision_id: str, *, outcome: str = "blocked", reasons: list[dict[str, str]],
              strategy: str = "momentum", symbol: str = "BTCUSDT", notional: float = 1500.0,
              ago_s: int = 0, **intent: Any) -> DecisionRecord:
    now = timezone.now() - dt.timedelta(seconds=ago_s)
    payload = {"strategy_id": strategy, "symbol": symbol, "action": "buy", "confidence": 0.42,
               "current_price": 50000.0, "quantity": notional / 50000.0, **intent}
    return DecisionRecord.objects.create(
        decision_id=decision_id, intent_id=f"i-{decision_id}", strategy_id=strategy,
        symbol=symbol, action="buy", quantity=notional / 50000.0, price=50000.0,
        notional=notional, outcome=outcome, reasons=reasons,
        reason_codes=[r["code"] for r in reasons], policy_version=3, received_at=now,
        decided_at=now, payload=payload, trace_id="a" * 32)


@pytest.fixture
def decisions() -> list[DecisionRecord]:
    return [
        _decision("d1", reasons=[
            {"code": "CONFIG_SIZE_ABOVE_MAX", "detail": "notional=1500 max=1000"},
            {"code": "CONFIG_CONFIDENCE_LOW", "detail": "confidence=0.42 threshold=0.5"}],
            ago_s=30),
        _decision("d2", outcome="approved", reasons=[], strategy="meanrev", symbol="ETHUSDT",
                  notional=200.0, ago_s=20),
        _decision("d3", reasons=[{"code": "EXPOSURE_SYMBOL_LIMIT",
                                  "detail": "open=4500 notional=1500 limit=5000"}], ago_s=10),
        _decision("d4", reasons=[{"code": "STATE_HALTED",
                                  "detail": "scope=symbol:BTCUSDT state=HALTED"}], notional=100),
    ]


def test_list_and_filter(user_client: Client, decisions: list[DecisionRecord]) -> None:
    everything = user_client.get("/api/v1/decisions").json()["data"]
    assert everything["total"] == 4
    assert [d["decision_id"] for d in everything["items"]] == ["d4", "d3", "d2", "d1"]
    blocked = user_client.get("/api/v1/decisions/blocked?limit=2").json()["data"]
    assert blocked["total"] == 3
    assert len(blocked["items"]) == 2
    by_code = user_client.get("/api/v1/decisions?reason_code=CONFIG_CONFIDENCE_LOW").json()
    assert [d["decision_id"] for d in by_code["data"]["items"]] == ["d1"]
    approved = user_client.get("/api/v1/decisions?outcome=approved&symbol=ethusdt").json()
    assert [d["decision_id"] for d in approved["data"]["items"]] == ["d2"]
    since = (timezone.now() - dt.timedelta(seconds=15)).isoformat().replace("+00:00", "Z")
    recent = user_client.get("/api/v1/decisions", {"since": since}).json()["data"]
    assert {d["decision_id"] for d in recent["items"]} == {"d3", "d4"}
    one = user_client.get("/api/v1/decisions/d1").json()["data"]
    assert one["reasons"][0] == {"code": "CONFIG_SIZE_ABOVE_MAX",
                                 "detail": "notional=1500 max=1000"}
    assert one["payload"]["confidence"] == 0.42
    missing = user_client.get("/api/v1/decisions/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "DECISION_NOT_FOUND"


def test_explain_size_and_confidence(user_client: Client,
                                     decisions: list[DecisionRecord]) -> None:
    data = user_client.get("/api/v1/decisions/d1/explain").json()["data"]
    assert [r["code"] for r in data["rules_fired"]] == ["CONFIG_SIZE_ABOVE_MAX",
                                                        "CONFIG_CONFIDENCE_LOW"]
    assert data["rules_fired"][0]["values"] == {"notional": "1500", "max": "1000"}
    limits = {(row["name"], row["source"]): row for row in data["limits"]}
    size = limits[("max_position_size_usd", "config:default")]
    assert size["limit"] == 1000.0
    assert size["observed"] == 1500.0
    assert size["headroom"] == -500.0
    assert size["passes"] is False
    assert limits[("max_order_notional_usd", "hard_gate")]["passes"] is True
    would = data["what_would_pass"]
    assert would["max_notional_usd"] == 1000.0
    assert would["binding_limit"] == "max_position_size_usd (config:default)"
    assert would["max_quantity"] == pytest.approx(0.02)
    assert would["min_confidence"] == 0.5
    assert data["policy"] == {"version_at_decision": 3, "version_now": 0, "changed_since": True}


def test_explain_exposure_and_state_expiry(user_client: Client,
                                           decisions: list[DecisionRecord]) -> None:
    exposure = user_client.get("/api/v1/decisions/d3/explain").json()["data"]
    symbol_cap = next(r for r in exposure["limits"] if r["name"] == "max_symbol_exposure_usd")
    assert symbol_cap["headroom"] == -1000.0  # 5000 - (4500 open + 1500)
    assert exposure["what_would_pass"]["max_notional_usd"] == 500.0
    assert exposure["what_would_pass"]["binding_limit"].startswith("max_symbol_exposure_usd")
    services.trading_state_set(scope=Scope.symbol("BTCUSDT"), state="HALTED", actor="ops",
                               actor_kind=ActorKind.USER, reason="incident",
                               expires_at=timezone.now() + dt.timedelta(minutes=10))
    halted = user_client.get("/api/v1/decisions/d4/explain").json()["data"]
    assert halted["trading_state"]["state"] == "HALTED"
    assert 590 < halted["trading_state"]["seconds_until_expiry"] <= 600
    hint = halted["what_would_pass"]["hints"][0]
    assert hint["code"] == "STATE_HALTED"
    assert 590 < hint["wait_seconds"] <= 600
    assert "trading_state" in halted["what_would_pass"]["blocked_by"]
