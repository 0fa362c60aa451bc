"""The LLM policy cycle against a real loopback OpenAI-compatible server: only audited
proposals are applied, every failure alerts and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alerts.models import Alert
from governance.envelope import agent_envelope_upsert
from governance.models import ActorKind, ConfigVersion, PendingApproval
from governance.scopes import Scope
from governance.selectors import config_head, policy_version_current
from governance.services import config_patch
from strategist.cycle import strategist_cycle_run
from strategist.models import ProviderBreaker, StrategistCycle
from strategist.selectors import heartbeat_get
from tests.strategist.conftest import VALID_TRACE, proposal
from tests.strategist.llm_server import LLMServer, Reply

pytestmark = pytest.mark.django_db


def _alerts(kind: str) -> list[Alert]:
    return [a for a in Alert.objects.all() if a.context.get("kind") == kind]


def _global_leverage() -> Any:
    return config_head(scope=Scope.global_())[1].get("leverage")


def test_valid_proposal_is_audited_and_applied_through_the_agent_tools(llm: LLMServer,
                                                                        redis_client: Any
                                                                        ) -> None:
    llm.push(Reply(text=proposal()))
    before = policy_version_current()
    outcome = strategist_cycle_run(trigger="test")
    cycle = outcome.cycle
    assert cycle.status == StrategistCycle.Status.APPLIED, cycle.error
    assert _global_leverage() == 5
    version = ConfigVersion.objects.get(scope_kind="global", version=1)
    assert version.actor == "strategist"
    assert version.actor_kind == ActorKind.AGENT
    assert version.thought_trace == VALID_TRACE
    assert version.trace_id == cycle.trace_id
    assert cycle.applied_policy_version and cycle.applied_policy_version > before
    assert cycle.applied == [{"kind": "config", "scope": "global", "status": "applied",
                              "version": 1, "approval_id": None, "code": "",
                              "message": cycle.applied[0]["message"]}]
    assert cycle.verdict["approved"] is True
    assert cycle.verdict["envelope"][0]["direction"] == "tightening"
    assert cycle.prompt_hash and len(cycle.prompt_hash) == 64
    assert cycle.prompt_tokens == 1200 and cycle.completion_tokens == 300
    assert "regime" in cycle.inputs and "envelope" in cycle.inputs
    body = json.loads(llm.requests[0].body)
    assert body["model"] == "test-model"
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0]["role"] == "system"
    assert "PolicyProposal" in body["messages"][0]["content"]
    assert llm.requests[0].path == "/v1/chat/completions"
    assert heartbeat_get()["status"] == "OK"  # type: ignore[index]


def test_invalid_json_changes_nothing_alerts_and_degrades(llm: LLMServer,
                                                          redis_client: Any) -> None:
    llm.push(Reply(text="I would lower the leverage a bit, maybe to 5."))
    before = policy_version_current()
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.DEGRADED
    assert cycle.error_code == "LLM_INVALID_JSON"
    assert policy_version_current() == before
    assert _global_leverage() is None
    assert _alerts("llm_failure")
    assert cycle.alerts[0]["kind"] == "llm_failure"
    beat = heartbeat_get()
    assert beat is not None and beat["status"] == "DEGRADED"
    assert "LLM_INVALID_JSON" in beat["reason"]


def test_schema_violation_is_an_invalid_output(llm: LLMServer, redis_client: Any) -> None:
    llm.push(Reply(text=proposal(confidence=7, thought_trace="short")))
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.DEGRADED
    assert cycle.error_code == "LLM_SCHEMA_INVALID"
    locs = {e["loc"] for e in cycle.verdict["reasons"][0]["details"]["errors"]}
    assert "confidence" in locs


@pytest.mark.parametrize(("patch", "code"), [
    ({"max_yolo_factor": 3}, "CONFIG_INVALID"),          # hallucinated parameter
    ({"leverage": 500}, "CONFIG_INVALID"),               # outside the catalog's range
    ({"leverage": 30}, "HARD_GATE_VIOLATION"),           # inside the catalog, beyond the gate
    ({"drawdown_reduce_pct": 0.3}, "CONFIG_INVALID"),    # breaks reduce < halt (cross-field)
])
def test_auditor_refuses_hallucinated_or_unsafe_parameters(
        llm: LLMServer, redis_client: Any, patch: dict[str, Any], code: str) -> None:
    llm.push(Reply(text=proposal(patches=[{"scope": "global", "patch": patch}])))
    before = policy_version_current()
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.REFUSED
    assert cycle.error_code == code
    assert cycle.verdict["approved"] is False
    assert policy_version_current() == before
    assert not ConfigVersion.objects.exists()
    assert _alerts("strategist_refusal")
    if "max_yolo_factor" in patch:
        errors = cycle.verdict["reasons"][0]["details"]["errors"]
        assert errors[0]["code"] == "UNKNOWN_PARAMETER"


def test_loosening_beyond_the_envelope_waits_for_a_human(llm: LLMServer,
                                                         redis_client: Any) -> None:
    config_patch(scope=Scope.global_(), patch={"leverage": 4}, base_version=0, actor="ops",
                 actor_kind=ActorKind.USER, reason="manual tightening")
    agent_envelope_upsert(principal="strategist", actor="admin",
                          parameters={"leverage": {"max_step": 0.25}})
    llm.push(Reply(text=proposal(summary="restore leverage",
                                 patches=[{"scope": "global", "patch": {"leverage": 10}}])))
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.PENDING
    assert _global_leverage() == 4
    approval = PendingApproval.objects.get()
    assert approval.principal == "strategist"
    assert approval.payload["patch"] == {"leverage": 10}
    assert {v["code"] for v in approval.violations} == {"STEP_TOO_LARGE"}
    assert cycle.applied[0]["approval_id"] == approval.pk
    assert cycle.verdict["needs_approval"] is True
    assert _alerts("strategist_approval_needed")


def test_loosening_inside_the_envelope_applies(llm: LLMServer, redis_client: Any) -> None:
    config_patch(scope=Scope.global_(), patch={"leverage": 4}, base_version=0, actor="ops",
                 actor_kind=ActorKind.USER, reason="manual tightening")
    agent_envelope_upsert(principal="strategist", actor="admin",
                          parameters={"leverage": {"max_step": 0.25}})
    llm.push(Reply(text=proposal(patches=[{"scope": "global", "patch": {"leverage": 5}}])))
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.APPLIED
    assert _global_leverage() == 5


def test_server_errors_are_retried_then_applied(llm: LLMServer, redis_client: Any) -> None:
    llm.push(Reply(status=500, body={"error": {"message": "boom"}}),
             Reply(status=503, body={"error": {"message": "busy"}}),
             Reply(text=proposal()))
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.APPLIED
    assert cycle.attempts == 3
    assert len(llm.requests) == 3


def test_persistent_500s_degrade_and_alert(llm: LLMServer, redis_client: Any) -> None:
    llm.default = Reply(status=500, body={"error": {"message": "down"}})
    before = policy_version_current()
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.DEGRADED
    assert cycle.error_code == "LLM_UNAVAILABLE"
    assert cycle.attempts == 3
    assert policy_version_current() == before
    assert _alerts("llm_failure")


def test_timeouts_degrade_and_alert(llm: LLMServer, redis_client: Any, settings: Any) -> None:
    settings.STRATEGIST_LLM_TIMEOUT_S = 0.3
    settings.STRATEGIST_LLM_MAX_RETRIES = 1
    llm.default = Reply(text=proposal(), delay_s=1.0)
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.DEGRADED
    assert cycle.error_code == "LLM_TIMEOUT"
    assert cycle.attempts == 2
    assert _global_leverage() is None
    assert _alerts("llm_failure")


def test_rate_limits_are_retried_per_retry_after(llm: LLMServer, redis_client: Any) -> None:
    llm.push(Reply(status=429, headers={"retry-after": "0"},
                   body={"error": {"type": "rate_limit_error", "message": "slow down"}}),
             Reply(text=proposal()))
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.APPLIED
    assert cycle.attempts == 2


def test_persistent_rate_limit_alerts_as_rate_limit(llm: LLMServer, redis_client: Any) -> None:
    # A Retry-After beyond the backoff ceiling: give up at once instead of hammering.
    llm.default = Reply(status=429, headers={"retry-after": "3600"},
                        body={"error": {"type": "rate_limit_error", "message": "slow down"}})
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.DEGRADED
    assert cycle.error_code == "LLM_RATE_LIMITED"
    assert cycle.attempts == 1
    assert _alerts("llm_rate_limit")


def test_quota_exhaustion_is_token_depletion(llm: LLMServer, redis_client: Any) -> None:
    llm.default = Reply(status=429, body={"error": {
        "message": "You exceeded your current quota", "type": "insufficient_quota",
        "code": "insufficient_quota"}})
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.error_code == "LLM_QUOTA_EXHAUSTED"
    assert cycle.attempts == 1
    alerts = _alerts("llm_token_depletion")
    assert alerts and alerts[0].severity == "critical"


def test_daily_token_ceiling_stops_the_call(llm: LLMServer, redis_client: Any,
                                            settings: Any) -> None:
    llm.push(Reply(text=proposal(), usage=(5000, 1000)))
    assert strategist_cycle_run(trigger="test").cycle.status == StrategistCycle.Status.APPLIED
    settings.STRATEGIST_LLM_DAILY_TOKEN_LIMIT = 6500
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.DEGRADED
    assert cycle.error_code == "LLM_BUDGET_EXHAUSTED"
    assert cycle.attempts == 0
    assert len(llm.requests) == 1  # the second cycle never reached the provider
    assert _alerts("llm_token_depletion")


def test_spend_ceiling(llm: LLMServer, redis_client: Any, settings: Any) -> None:
    settings.STRATEGIST_LLM_USD_PER_1K_INPUT = 10.0
    settings.STRATEGIST_LLM_DAILY_SPEND_LIMIT_USD = 1.0
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.error_code == "LLM_BUDGET_EXHAUSTED"
    assert not llm.requests


def test_circuit_breaker_opens_after_consecutive_failures(llm: LLMServer, redis_client: Any,
                                                          settings: Any) -> None:
    settings.STRATEGIST_BREAKER_FAILURES = 2
    settings.STRATEGIST_LLM_MAX_RETRIES = 0
    llm.default = Reply(status=502, body={"error": {"message": "bad gateway"}})
    for _ in range(2):
        assert strategist_cycle_run(trigger="test").cycle.error_code == "LLM_UNAVAILABLE"
    assert ProviderBreaker.objects.get(provider="openai").open_until is not None
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.error_code == "LLM_CIRCUIT_OPEN"
    assert len(llm.requests) == 2


def test_anthropic_messages_provider(redis_client: Any, settings: Any) -> None:
    from tests.strategist.llm_server import llm_server

    with llm_server() as server:
        settings.STRATEGIST_LLM_PROVIDER = "anthropic"
        settings.STRATEGIST_LLM_BASE_URL = f"http://127.0.0.1:{server.port}"
        settings.STRATEGIST_LLM_MODEL = "claude-test"
        settings.STRATEGIST_LLM_API_KEY = "sk-ant-test-PLANTED-key-000000000000"
        server.push(Reply(status=529, body={"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}}),
            Reply(text="Here is my proposal:\n```json\n" + proposal() + "\n```"))
        cycle = strategist_cycle_run(trigger="test").cycle
        assert cycle.status == StrategistCycle.Status.APPLIED, cycle.error
        assert cycle.attempts == 2
        seen = server.requests[-1]
        assert seen.path == "/v1/messages"
        assert seen.headers["x-api-key"] == "sk-ant-test-PLANTED-key-000000000000"
        assert seen.headers["anthropic-version"] == "2023-06-01"
        body = json.loads(seen.body)
        assert body["model"] == "claude-test" and "system" in body
        assert "sk-ant-test-PLANTED" not in seen.body.decode()


def test_rules_provider_needs_no_llm(redis_client: Any) -> None:
    """The default brain: calm market, nothing to change; then a stressed one."""
    from strategist.models import RegimeStatus

    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.provider == "rules"
    assert cycle.status == StrategistCycle.Status.NO_CHANGE
    RegimeStatus.objects.create(symbol="FLEET", volatility_phase="extreme", vol_ratio=4.0,
                                move_1h=-0.2)
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.APPLIED, cycle.error
    assert config_head(scope=Scope.global_())[1] == {"leverage": 3, "position_size_pct": 0.05}
    assert cycle.replay["engine"].startswith("strategist.auditor.replay_effect")


def test_unconfigured_provider_degrades(settings: Any, redis_client: Any) -> None:
    settings.STRATEGIST_LLM_PROVIDER = "openai"
    settings.STRATEGIST_LLM_BASE_URL = ""
    cycle = strategist_cycle_run(trigger="test").cycle
    assert cycle.status == StrategistCycle.Status.DEGRADED
    assert cycle.error_code == "LLM_NOT_CONFIGURED"
