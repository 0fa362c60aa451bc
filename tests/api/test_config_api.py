"""Config routes mirroring the engine's, plus PATCH with base versions, history and rollback."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance import services
from governance.models import ActorKind, ConfigVersion
from governance.scopes import Scope
from tests.api.conftest import TokenFactory, bearer

pytestmark = pytest.mark.django_db
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _patch(client: Client, path: str, body: dict[str, Any], **extra: Any) -> Any:
    return client.patch(path, body, content_type="application/json", **extra)


def _post(client: Client, path: str, body: dict[str, Any], **extra: Any) -> Any:
    return client.post(path, body, content_type="application/json", **extra)


def test_success_envelope_carries_the_w3c_trace_id(user_client: Client) -> None:
    response = user_client.get("/api/v1/config/trading",
                               HTTP_TRACEPARENT=f"00-{TRACE}-00f067aa0ba902b7-01")
    body = response.json()
    assert set(body) == {"success", "data", "trace_id", "error"}
    assert body["success"] is True
    assert body["error"] is None
    assert body["trace_id"] == TRACE
    assert response["X-Trace-Id"] == TRACE
    data = body["data"]
    assert data["scope"] == "global"
    assert data["version"] == 0
    assert data["source"] == "resolved"
    assert data["parameters"]["leverage"] == 10
    assert data["sources"]["leverage"] == "default"


def test_schema_and_defaults(user_client: Client) -> None:
    schema = user_client.get("/api/v1/config/trading/schema").json()["data"]
    assert schema["total_parameters"] == len(schema["parameters"]) >= 37
    assert schema["parameters"]["leverage"]["risk_direction"] == "higher_is_riskier"
    assert schema["json_schema"]["properties"]["leverage"]["maximum"] == 125
    one = user_client.get("/api/v1/config/parameters/stop_loss_pct").json()["data"]
    assert list(one["parameters"]) == ["stop_loss_pct"]
    missing = user_client.get("/api/v1/config/parameters/stop_los_pct")
    assert missing.status_code == 404
    assert missing.json()["error"]["details"]["suggestions"] == ["stop_loss_pct"]
    defaults = user_client.get("/api/v1/config/trading/defaults").json()["data"]
    assert defaults["parameters"]["stop_loss_pct"] == 2.0


def test_patch_with_base_version_creates_versions_and_refuses_stale(user_client: Client) -> None:
    first = _patch(user_client, "/api/v1/config/trading/btcusdt",
                   {"patch": {"leverage": 5}, "base_version": 0, "reason": "tighten BTC"},
                   HTTP_TRACEPARENT=f"00-{TRACE}-00f067aa0ba902b7-01")
    assert first.status_code == 200, first.json()
    data = first.json()["data"]
    assert data["status"] == "applied"
    assert data["version"] == 1
    assert data["scope"] == "symbol:BTCUSDT"
    assert data["parameters"] == {"leverage": 5}
    assert data["record"]["trace_id"] == TRACE
    assert data["record"]["actor"] == "alice"
    assert data["record"]["changes"] == [{"parameter": "leverage", "before": None, "after": 5,
                                          "change": "added"}]
    stale = _patch(user_client, "/api/v1/config/trading/BTCUSDT",
                   {"patch": {"leverage": 4}, "base_version": 0, "reason": "again"})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "STALE_VERSION"
    assert stale.json()["error"]["details"]["current_version"] == 1
    resolved = user_client.get("/api/v1/config/trading/BTCUSDT/long").json()["data"]
    assert resolved["scope"] == "symbol_side:BTCUSDT:LONG"
    assert resolved["parameters"]["leverage"] == 5
    assert resolved["sources"]["leverage"] == "symbol:BTCUSDT"
    assert resolved["scope_versions"] == {"symbol_side:BTCUSDT:LONG": 0, "symbol:BTCUSDT": 1,
                                          "global": 0}


def test_invalid_values_and_hard_gates_map_to_422(user_client: Client) -> None:
    bad = _patch(user_client, "/api/v1/config/trading",
                 {"patch": {"leverage": 500, "nope": 1}, "base_version": 0, "reason": "r"})
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "CONFIG_INVALID"
    assert {e["parameter"]: e["code"] for e in error["details"]["errors"]} == {
        "leverage": "OUT_OF_RANGE", "nope": "UNKNOWN_PARAMETER"}
    gate = _patch(user_client, "/api/v1/config/trading",
                  {"patch": {"leverage": 40}, "base_version": 0, "reason": "r"})
    assert gate.status_code == 422
    assert gate.json()["error"]["code"] == "HARD_GATE_VIOLATION"
    no_reason = _patch(user_client, "/api/v1/config/trading",
                       {"patch": {"leverage": 4}, "base_version": 0, "reason": ""})
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["code"] == "VALIDATION_ERROR"
    wrong_type = _patch(user_client, "/api/v1/config/trading",
                        {"patch": {"leverage": 4}, "base_version": "x", "reason": "r"})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["error"]["details"]["errors"][0]["loc"][-1] == "base_version"


def test_engine_post_replaces_the_scope_and_validate_only_writes_nothing(
    user_client: Client,
) -> None:
    _patch(user_client, "/api/v1/config/trading/ETHUSDT",
           {"patch": {"leverage": 5, "stop_loss_pct": 1.5}, "base_version": 0, "reason": "r"})
    dry = _post(user_client, "/api/v1/config/trading/ETHUSDT",
                {"parameters": {"leverage": 3}, "changed_by": "tool", "reason": "r",
                 "validate_only": True})
    assert dry.json()["data"]["status"] == "validated"
    assert ConfigVersion.objects.count() == 1
    replaced = _post(user_client, "/api/v1/config/trading/ETHUSDT",
                     {"parameters": {"leverage": 3}, "changed_by": "fleet-tool",
                      "reason": "engine style"})
    assert replaced.status_code == 200, replaced.json()
    data = replaced.json()["data"]
    assert data["parameters"] == {"leverage": 3}
    assert data["version"] == 2
    assert data["record"]["operation"] == "replace"
    assert data["record"]["reason"] == "engine style [changed_by=fleet-tool]"
    no_reason = _post(user_client, "/api/v1/config/trading", {"parameters": {"leverage": 3},
                                                               "changed_by": "tool"})
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["code"] == "REASON_REQUIRED"


def test_strategy_scope_and_filter_routes(user_client: Client) -> None:
    put = user_client.put("/api/v1/config/filters/strategy/momentum_v2",
                          {"filters": {"min_confidence_threshold": 0.7}, "changed_by": "t",
                           "reason": "stricter"}, content_type="application/json")
    assert put.status_code == 200, put.json()
    got = user_client.get("/api/v1/config/strategy/momentum_v2").json()["data"]
    assert got["scope"] == "strategy:momentum_v2"
    assert got["version"] == 1
    assert got["parameters"]["min_confidence_threshold"] == 0.7
    filters = user_client.get("/api/v1/config/filters/strategy/momentum_v2").json()["data"]
    assert filters["filters"]["min_confidence_threshold"] == 0.7
    pair = user_client.get("/api/v1/config/filters/pair/BTCUSDT/side/SHORT").json()["data"]
    assert pair["scope"] == "symbol_side:BTCUSDT:SHORT"
    both = _patch(user_client, "/api/v1/config/trading",
                  {"patch": {"leverage": 4}, "base_version": 0, "reason": "r"})
    assert both.status_code == 200


def test_validate_reports_codes_suggestions_and_risk(user_client: Client) -> None:
    bad = _post(user_client, "/api/v1/config/validate",
                {"parameters": {"leverage": 500, "stop_loss_pctt": 2}, "symbol": "BTCUSDT"})
    data = bad.json()["data"]
    assert bad.status_code == 200
    assert data["validation_passed"] is False
    errors = {e["field"]: e for e in data["errors"]}
    assert errors["leverage"]["code"] == "OUT_OF_RANGE"
    assert errors["leverage"]["suggested_value"] == 125
    assert errors["stop_loss_pctt"]["code"] == "UNKNOWN_PARAMETER"
    assert any("stop_loss_pct" in fix for fix in data["suggested_fixes"])
    gate = _post(user_client, "/api/v1/config/validate", {"parameters": {"leverage": 30}})
    assert gate.json()["data"]["errors"][0]["code"] == "HARD_GATE_VIOLATION"
    assert gate.json()["data"]["errors"][0]["suggested_value"] == 20
    medium = _post(user_client, "/api/v1/config/validate",
                   {"parameters": {"leverage": 12}}).json()["data"]
    assert medium["validation_passed"] is True
    assert medium["estimated_impact"]["risk_level"] == "medium"
    assert medium["estimated_impact"]["loosening"] == ["leverage"]
    high = _post(user_client, "/api/v1/config/validate",
                 {"parameters": {"leverage": 20, "enable_shorts": False}}).json()["data"]
    assert high["estimated_impact"]["risk_level"] == "high"
    assert high["estimated_impact"]["tightening"] == ["enable_shorts"]
    low = _post(user_client, "/api/v1/config/validate",
                {"parameters": {"max_position_size_usd": 100.0}}).json()["data"]
    assert low["estimated_impact"]["risk_level"] == "low"
    assert low["envelope"] is None  # not an agent
    cross = _post(user_client, "/api/v1/config/validate",
                  {"parameters": {"min_position_size_usd": 500.0,
                                  "max_position_size_usd": 100.0}}).json()["data"]
    assert cross["errors"][0]["code"] == "INVALID_VALUE"


def test_history_with_diffs_and_rollbacks(user_client: Client) -> None:
    scope = Scope.symbol("SOLUSDT")
    for version, leverage in enumerate((8, 6, 4)):
        services.config_patch(scope=scope, patch={"leverage": leverage}, base_version=version,
                              actor="alice", actor_kind=ActorKind.USER, reason=f"step {version}")
    history = user_client.get("/api/v1/config/history?symbol=SOLUSDT&limit=2").json()["data"]
    assert history["count"] == 3
    assert history["current_version"] == 3
    assert [v["version"] for v in history["items"]] == [3, 2]
    assert history["items"][0]["changes"][0] == {"parameter": "leverage", "before": 6,
                                                 "after": 4, "change": "changed"}
    to_one = _post(user_client, "/api/v1/config/rollback?symbol=SOLUSDT",
                   {"target_version": 1, "changed_by": "ops", "reason": "back to 8"})
    assert to_one.status_code == 200, to_one.json()
    assert to_one.json()["data"]["parameters"] == {"leverage": 8}
    assert to_one.json()["data"]["record"]["rollback_to"] == 1
    previous = _post(user_client, "/api/v1/config/restore?symbol=SOLUSDT",
                     {"changed_by": "ops", "reason": "undo"})
    assert previous.json()["data"]["parameters"] == {"leverage": 4}
    record = ConfigVersion.objects.get(scope_key="SOLUSDT", version=2)
    by_id = _post(user_client, "/api/v1/config/rollback",
                  {"rollback_id": str(record.pk), "changed_by": "ops", "reason": "by id"})
    assert by_id.json()["data"]["parameters"] == {"leverage": 6}
    missing = _post(user_client, "/api/v1/config/rollback?symbol=SOLUSDT",
                    {"target_version": 99, "changed_by": "ops", "reason": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "VERSION_NOT_FOUND"


def test_unknown_routes_methods_and_bodies_keep_the_envelope(user_client: Client,
                                                             make_token: TokenFactory) -> None:
    missing = user_client.get("/api/v1/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = user_client.delete("/api/v1/config/trading")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    broken = user_client.patch("/api/v1/config/trading", "{not json",
                               content_type="application/json")
    assert broken.status_code in (400, 422)
    assert broken.json()["success"] is False
    invalid_scope = user_client.get("/api/v1/config/trading/B$D")
    assert invalid_scope.status_code == 422
    side = user_client.get("/api/v1/config/trading/BTCUSDT/UP")
    assert side.status_code == 422
    assert side.json()["error"]["code"] == "VALIDATION_ERROR"
    hard = Client(**bearer(make_token("r2", "read"))).get("/api/v1/hard-gates").json()["data"]
    assert {g["key"] for g in hard} >= {"max_leverage", "max_order_notional_usd"}


def test_config_health_is_engine_compatible(user_client: Client) -> None:
    data = user_client.get("/api/v1/config/health").json()["data"]
    assert data["status"] == "healthy"
    assert data["mongodb_connected"] is True
