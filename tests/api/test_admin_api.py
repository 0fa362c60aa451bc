"""Admin: staff approve or reject agent proposals; tokens are shown once; envelopes edited."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from governance import envelope
from governance.models import AgentEnvelope, ApiToken, ConfigVersion, PendingApproval
from governance.scopes import Scope
from tests.api.conftest import THOUGHT

pytestmark = pytest.mark.django_db


def _csrf(client: Client) -> str:
    return client.cookies["csrftoken"].value


def _proposal() -> PendingApproval:
    result = envelope.agent_config_patch(
        principal="strategist", scope=Scope.symbol("BTCUSDT"), patch={"leverage": 15},
        base_version=0, reason="momentum is strong", thought_trace=THOUGHT, trace_id="d" * 32)
    assert result.approval is not None
    return result.approval


def test_staff_approves_a_proposal_in_the_admin(staff_client: Client) -> None:
    approval = _proposal()
    listing = staff_client.get("/admin/governance/pendingapproval/")
    assert listing.status_code == 200
    assert b"strategist" in listing.content
    page = staff_client.get(f"/admin/governance/pendingapproval/{approval.pk}/decide/")
    assert page.status_code == 200
    assert b"rising volatility" in page.content
    assert b"PARAMETER_NOT_IN_ENVELOPE" in page.content
    done = staff_client.post(f"/admin/governance/pendingapproval/{approval.pk}/decide/",
                             {"decision": "approve", "note": "fine", "csrfmiddlewaretoken":
                              _csrf(staff_client)})
    assert done.status_code == 302
    approval.refresh_from_db()
    assert approval.status == "approved"
    assert approval.decided_by == "ops"
    version = ConfigVersion.objects.get(version=approval.result_version, scope_key="BTCUSDT")
    assert version.params == {"leverage": 15}
    assert version.trace_id == "d" * 32


def test_staff_rejects_with_a_note(staff_client: Client) -> None:
    approval = _proposal()
    staff_client.post(f"/admin/governance/pendingapproval/{approval.pk}/decide/",
                      {"decision": "reject", "note": "not today",
                       "csrfmiddlewaretoken": _csrf(staff_client)})
    approval.refresh_from_db()
    assert approval.status == "rejected"
    assert approval.decision_note == "not today"
    assert not ConfigVersion.objects.exists()


def test_token_created_in_the_admin_is_shown_once(staff_client: Client) -> None:
    page = staff_client.post("/admin/governance/apitoken/add/", {
        "principal": "llm-1", "token_scopes": ["agent", "read"], "description": "desk",
        "csrfmiddlewaretoken": _csrf(staff_client)})
    assert page.status_code == 200
    match = re.search(rb"cio_[0-9a-f]{12}_[A-Za-z0-9_\-]+", page.content)
    assert match is not None
    token = ApiToken.objects.get(principal="llm-1")
    assert token.kind == "agent"
    assert token.scopes == ["agent", "read"]
    assert match.group().decode().split("_", 2)[2] not in token.secret_hash
    listing = staff_client.get("/admin/governance/apitoken/")
    assert match.group() not in listing.content
    staff_client.post("/admin/governance/apitoken/", {
        "action": "revoke", "_selected_action": [token.pk],
        "csrfmiddlewaretoken": _csrf(staff_client)})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.revoked_by == "ops"


def test_envelope_is_edited_through_the_service(staff_client: Client) -> None:
    response = staff_client.post("/admin/governance/agentenvelope/add/", {
        "principal": "strategist", "enabled": "on", "max_changes_per_day": 5,
        "approval_ttl_s": 3600, "notes": "", "scope_kinds_csv": "symbol",
        "parameters_json": '{"leverage": {"max_step": 0.2}}',
        "csrfmiddlewaretoken": _csrf(staff_client)})
    assert response.status_code == 302
    row = AgentEnvelope.objects.get(principal="strategist")
    assert row.parameters == {"leverage": {"max_step": 0.2, "max_daily": None,
                                           "min_interval_s": 0}}
    assert row.scope_kinds == ["symbol"]
    assert row.updated_by == "ops"
