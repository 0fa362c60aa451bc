"""Dashboard pages and controls over HTTP: access, fixed page interface, controls and audit."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from governance import services
from governance.dashboard import panels
from governance.dashboard.selectors import live_key
from governance.models import ActorKind, AuditEvent, ConfigVersion, TradingState
from governance.scopes import Scope
from nurse.services import decision_records_store
from tests.dashboard.conftest import PASSWORD, SECRET, Operator, otp_login, totp_now

pytestmark = pytest.mark.django_db(transaction=True)


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json",
                       HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)


def _decision(outcome: str = "blocked", **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    decision_id = uuid.uuid4().hex
    return {"decision_id": decision_id, "signal_id": f"sig-{decision_id[:8]}",
            "strategy_id": "s-view", "symbol": "BTCUSDT", "action": "buy", "quantity": 0.01,
            "price": 50000.0, "notional": 500.0, "outcome": outcome,
            "reasons": [{"code": "CONFIG_SIZE_ABOVE_MAX", "detail": "notional=500 max=100"}]
            if outcome == "blocked" else [], "policy_version": 1, "latency_us": 90,
            "received_at": now, "decided_at": now, "instance": "t",
            "intent": {"strategy_id": "s-view", "signal_id": f"sig-{decision_id[:8]}",
                       "symbol": "BTCUSDT", "action": "buy"}, **extra}


# -- access ------------------------------------------------------------------------------------


def test_anonymous_users_go_to_the_login_page() -> None:
    response = Client().get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"
    assert Client().get("/dashboard/live/").status_code == 401


def test_password_without_totp_is_not_enough(operator: Operator) -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username=operator.username))
    assert client.get("/dashboard/").status_code == 302
    live = client.get("/dashboard/live/")
    assert live.status_code == 403 and live.json()["error"]["code"] == "MFA_REQUIRED"
    # And a wrong code on the login page does not log anyone in.
    fresh = Client()
    fresh.get("/accounts/login/")
    response = fresh.post("/accounts/login/", {"username": operator.username,
                                               "password": PASSWORD, "otp_token": "000000"})
    assert response.status_code == 200 and b"error" in response.content
    assert fresh.get("/dashboard/").status_code == 302


def test_create_operator_then_login_with_totp_reaches_the_dashboard(transactional_db: None
                                                                    ) -> None:
    """The fixed provisioning interface: create_operator, then /accounts/login/ + TOTP."""
    call_command("create_operator", "--username", "architect", "--password", PASSWORD,
                 "--totp-secret", SECRET)
    client = Client(enforce_csrf_checks=True)
    otp_login(client, Operator("architect", PASSWORD, SECRET))
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert b"architect" in page.content


def test_the_admin_login_also_opens_the_dashboard(operator: Operator) -> None:
    client = Client()
    client.get("/admin/login/")
    client.post("/admin/login/?next=/admin/", {
        "username": operator.username, "password": PASSWORD, "otp_token": totp_now()})
    assert client.get("/dashboard/").status_code == 200


# -- the page ----------------------------------------------------------------------------------


def test_the_page_has_the_fixed_interface(otp_client: Client) -> None:
    stored = _decision("blocked")
    approved = _decision("approved", signal_id=None, intent={"strategy_id": "s-view"})
    decision_records_store(decisions=[stored, approved])
    html = otp_client.get("/dashboard/").content.decode()
    assert 'id="decision-stream"' in html and 'id="fleet-state"' in html
    for action in ("halt", "reduce", "resume"):
        assert f'data-action="{action}"' in html
    assert 'id="control-dialog"' in html and "data-confirm" in html
    row = re.search(rf'<tr [^>]*data-decision-id="{stored["decision_id"]}"[^>]*>', html)
    assert row and f'data-signal-id="{stored["signal_id"]}"' in row.group(0)
    assert 'data-outcome="blocked"' in row.group(0)
    # No signal id in the intent: the row falls back to the decision id.
    row = re.search(rf'<tr [^>]*data-decision-id="{approved["decision_id"]}"[^>]*>', html)
    assert row and f'data-signal-id="{approved["decision_id"]}"' in row.group(0)
    assert re.search(r'id="fleet-state"[^>]*data-state="ACTIVE"', html)
    assert f'/dashboard/decisions/{stored["decision_id"]}/' in html


def test_filters_apply_to_the_stored_rows(otp_client: Client) -> None:
    blocked, approved = _decision("blocked"), _decision("approved")
    decision_records_store(decisions=[blocked, approved])
    html = otp_client.get("/dashboard/?outcome=blocked").content.decode()
    assert blocked["decision_id"] in html and approved["decision_id"] not in html
    html = otp_client.get("/dashboard/?reason_code=config_size_above_max").content.decode()
    assert blocked["decision_id"] in html and approved["decision_id"] not in html
    # Malformed filters are ignored, never an error.
    page = otp_client.get("/dashboard/?reason_code=%27;drop&outcome=maybe&symbol=" + "x" * 99)
    assert page.status_code == 200
    assert otp_client.get("/dashboard/live/?reason_code=a-b").status_code == 200


def test_panels_without_their_feature_say_not_yet_available(otp_client: Client,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    def missing() -> dict[str, Any]:
        raise ImportError("No module named 'strategist.selectors'")

    panel = panels.PANELS["reasoning"]
    monkeypatch.setitem(panels.PANELS, "reasoning", panels.Panel(
        panel.name, panel.title, panel.template, missing, panel.feature))
    html = otp_client.get("/dashboard/").content.decode()
    assert 'data-not-available="reasoning"' in html
    assert "not yet available" in html
    fragment = otp_client.get("/dashboard/panels/reasoning/").content.decode()
    assert "not yet available" in fragment
    for name in ("policy", "strategist", "alerts", "regime", "shadow", "earnings"):
        assert otp_client.get(f"/dashboard/panels/{name}/").status_code == 200
    assert otp_client.get("/dashboard/panels/nope/").status_code == 404


def test_policy_panel_shows_versions_diffs_and_who(otp_client: Client) -> None:
    services.config_patch(scope=Scope.symbol("BTCUSDT"), patch={"leverage": 3}, base_version=0,
                          actor="alice", actor_kind=ActorKind.USER, reason="calmer BTC")
    html = otp_client.get("/dashboard/panels/policy/").content.decode()
    assert "symbol:BTCUSDT" in html and "alice" in html and "calmer BTC" in html
    assert "<code>leverage</code>" in html
    assert 'data-action="rollback"' in html and 'data-version="0"' in html


# -- controls ----------------------------------------------------------------------------------


def test_halt_goes_through_the_service_and_the_audit_trail(otp_client: Client,
                                                           operator: Operator) -> None:
    response = _post(otp_client, "/dashboard/control/state/",
                     {"action": "halt", "scope": "global", "reason": "drill", "confirm": True})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["fleet"]["state"] == "HALTED"
    assert data["result"]["status"] == "applied"
    row = TradingState.objects.get(scope_kind="global")
    assert (row.state, row.set_by, row.reason) == ("HALTED", operator.username, "drill")
    event = AuditEvent.objects.filter(event_type="state.set").order_by("-seq").first()
    assert event is not None and event.actor == operator.username and event.reason == "drill"
    assert event.trace_id == response.json()["trace_id"]

    for action, state in (("reduce", "REDUCING"), ("resume", "ACTIVE")):
        response = _post(otp_client, "/dashboard/control/state/",
                         {"action": action, "scope": "symbol:ethusdt", "reason": "r",
                          "confirm": True})
        assert response.status_code == 200, response.content
        assert TradingState.objects.get(scope_kind="symbol", scope_key="ETHUSDT").state == state


def test_controls_need_confirmation_reason_csrf_and_a_valid_scope(otp_client: Client) -> None:
    url = "/dashboard/control/state/"
    no_confirm = _post(otp_client, url, {"action": "halt", "reason": "x"})
    assert no_confirm.status_code == 422
    no_reason = _post(otp_client, url, {"action": "halt", "reason": "", "confirm": True})
    assert no_reason.status_code == 422
    bad_scope = _post(otp_client, url, {"action": "halt", "scope": "symbol_side:BTCUSDT:LONG",
                                        "reason": "x", "confirm": True})
    assert bad_scope.status_code == 422
    assert bad_scope.json()["error"]["code"] == "INVALID_SCOPE"
    no_csrf = otp_client.post(url, json.dumps({"action": "halt", "reason": "x", "confirm": True}),
                              content_type="application/json")
    assert no_csrf.status_code == 403
    assert not TradingState.objects.filter(state="HALTED").exists()
    assert otp_client.get(url).status_code == 405


def test_rollback_restores_a_version_as_a_new_one(otp_client: Client, operator: Operator
                                                  ) -> None:
    scope = Scope.strategy("demo-momentum")
    services.config_patch(scope=scope, patch={"max_orders_per_minute": 20}, base_version=0,
                          actor="a", actor_kind=ActorKind.USER, reason="v1")
    services.config_patch(scope=scope, patch={"max_orders_per_minute": 40}, base_version=1,
                          actor="a", actor_kind=ActorKind.USER, reason="v2")
    response = _post(otp_client, "/dashboard/control/rollback/",
                     {"scope": "strategy:demo-momentum", "target_version": 1,
                      "reason": "v2 was too loose", "confirm": True})
    assert response.status_code == 200, response.content
    latest = ConfigVersion.objects.filter(scope_key="demo-momentum").order_by("-version").first()
    assert latest is not None and latest.version == 3 and latest.operation == "rollback"
    assert latest.rollback_to == 1 and latest.params == {"max_orders_per_minute": 20}
    assert latest.actor == operator.username
    missing = _post(otp_client, "/dashboard/control/rollback/",
                    {"scope": "strategy:demo-momentum", "target_version": 9, "reason": "x",
                     "confirm": True})
    assert missing.status_code == 404


# -- polling fallback, explain page, assets ------------------------------------------------


def test_live_polling_reads_the_database_or_the_bridge_snapshot(otp_client: Client,
                                                                redis_client: Any) -> None:
    stored = _decision("blocked")
    decision_records_store(decisions=[stored])
    body = otp_client.get("/dashboard/live/?outcome=blocked").json()
    assert body["success"] and body["data"]["source"] == "database"
    assert [r["decision_id"] for r in body["data"]["rows"]] == [stored["decision_id"]]
    assert body["data"]["state"]["state"] == "ACTIVE"

    live_row = {**stored, "decision_id": "live-1", "signal_id": "live-sig",
                "decided_at": "2999-01-01T00:00:00Z"}
    from governance.dashboard.events import decision_row

    redis_client.set(live_key(), json.dumps({
        "at": 1.0, "rows": [decision_row(live_row)], "series": [{"t": 1, "decisions": 5}],
        "rules": {"CONFIG_SIZE_ABOVE_MAX": 1},
        "state": {"state": "HALTED", "policy_version": 7, "scopes": []}, "instances": []}))
    data = otp_client.get("/dashboard/live/").json()["data"]
    assert data["source"] == "bridge" and data["state"]["state"] == "HALTED"
    assert [r["decision_id"] for r in data["rows"]][:2] == ["live-1", stored["decision_id"]]
    assert data["series"] == [{"t": 1, "decisions": 5}]
    assert settings.CIO_NAMESPACE in live_key()


def test_the_explain_view_shows_why(otp_client: Client) -> None:
    stored = _decision("blocked")
    decision_records_store(decisions=[stored])
    page = otp_client.get(f"/dashboard/decisions/{stored['decision_id']}/")
    assert page.status_code == 200
    assert b"CONFIG_SIZE_ABOVE_MAX" in page.content and b'id="explain"' in page.content
    assert otp_client.get("/dashboard/decisions/nope/").status_code == 404


def test_assets_are_served_without_a_static_server() -> None:
    client = Client()
    js = client.get("/dashboard/assets/dashboard.js")
    assert js.status_code == 200 and js["Content-Type"].startswith("text/javascript")
    assert b"WebSocket" in b"".join(js.streaming_content)
    assert client.get("/dashboard/assets/dashboard.css").status_code == 200
    assert client.get("/dashboard/assets/settings.py").status_code == 404
