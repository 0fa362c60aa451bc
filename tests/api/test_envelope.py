"""The agent envelope: tighten at once, loosen within limits, the rest waits for a human."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from governance import envelope, services
from governance.errors import Conflict, StaleVersion, ValidationFailed
from governance.models import (
    ActorKind,
    AuditEvent,
    ConfigVersion,
    PendingApproval,
    TradingState,
)
from governance.scopes import Scope
from governance.selectors import config_head
from tests.api.conftest import THOUGHT

pytestmark = pytest.mark.django_db
AGENT = "strategist"
BTC = Scope.symbol("BTCUSDT")


def _patch(patch: dict[str, object], base: int = 0, scope: Scope = BTC,
           **kw: object) -> envelope.AgentWriteResult:
    return envelope.agent_config_patch(principal=AGENT, scope=scope, patch=patch,
                                       base_version=base, reason="adjust", thought_trace=THOUGHT,
                                       trace_id="c" * 32, **kw)  # type: ignore[arg-type]


def _allow(**params: dict[str, object]) -> None:
    envelope.agent_envelope_upsert(principal=AGENT, actor="ops", parameters=params,
                                   max_changes_per_day=10)


def test_tightening_applies_at_once_even_without_an_envelope() -> None:
    result = _patch({"leverage": 5, "max_position_size_usd": 500.0})
    assert result.status == "applied"
    assert result.version is not None
    assert {a.direction for a in result.assessments} == {"tightening"}
    assert result.version.actor_kind == ActorKind.AGENT
    assert result.version.thought_trace == THOUGHT


def test_loosening_without_an_envelope_waits_for_approval() -> None:
    result = _patch({"leverage": 15})
    assert result.status == "pending_approval"
    assert result.version is None
    approval = result.approval
    assert approval is not None
    assert approval.status == "pending"
    assert approval.payload == {"patch": {"leverage": 15}, "unset": []}
    assert {v["code"] for v in approval.violations} == {"ENVELOPE_DISABLED",
                                                        "PARAMETER_NOT_IN_ENVELOPE"}
    assert "approval #" in result.message
    assert "nothing was applied" in result.message
    assert config_head(scope=BTC) == (0, {})
    event = AuditEvent.objects.get(event_type="approval.requested")
    assert event.thought_trace == THOUGHT
    assert event.trace_id == "c" * 32


def test_loosening_within_the_envelope_applies_and_spends_the_daily_budget() -> None:
    _allow(leverage={"max_step": 0.25, "max_daily": 0.4, "min_interval_s": 0})
    first = _patch({"leverage": 12})  # +20%
    assert first.status == "applied"
    usage = envelope.envelope_usage(AGENT)
    assert usage.loosened_today["leverage"] == pytest.approx(0.2)
    assert usage.changes_today == 1
    too_big = _patch({"leverage": 16}, base=1)  # +33% > 25% step
    assert too_big.status == "pending_approval"
    codes = [v["code"] for v in too_big.approval.violations]  # type: ignore[union-attr]
    assert codes == ["STEP_TOO_LARGE", "DAILY_BUDGET_EXCEEDED"]
    budget = _patch({"leverage": 14}, base=1)  # +16.7%, 0.2 + 0.167 fits 0.4
    assert budget.status == "applied"
    over = _patch({"leverage": 15}, base=2)  # +7% but budget 0.367 + 0.07 > 0.4
    assert over.status == "pending_approval"
    assert [v["code"] for v in over.approval.violations] == ["DAILY_BUDGET_EXCEEDED"]  # type: ignore[union-attr]


def test_min_interval_and_daily_change_count() -> None:
    _allow(stop_loss_pct={"max_step": None, "max_daily": None, "min_interval_s": 3600})
    assert _patch({"stop_loss_pct": 2.5}).status == "applied"
    again = _patch({"stop_loss_pct": 3.0}, base=1)
    assert [v["code"] for v in again.approval.violations] == ["TOO_FREQUENT"]  # type: ignore[union-attr]
    envelope.agent_envelope_upsert(principal=AGENT, actor="ops", parameters={
        "stop_loss_pct": {"max_step": None}}, max_changes_per_day=1)
    capped = _patch({"stop_loss_pct": 3.0}, base=1)
    assert [v["code"] for v in capped.approval.violations] == ["DAILY_CHANGE_LIMIT"]  # type: ignore[union-attr]


def test_a_mixed_patch_applies_its_safe_part_and_files_the_rest() -> None:
    result = _patch({"leverage": 15, "max_position_size_usd": 400.0})
    assert result.status == "partially_applied"
    assert result.version is not None
    assert result.version.params == {"max_position_size_usd":
                                                                     400.0}
    assert result.approval is not None
    assert result.approval.payload == {"patch": {"leverage": 15}, "unset": []}
    assert result.approval.base_version == 1
    assert "version 1" in result.message


def test_neutral_changes_need_the_parameter_in_the_envelope() -> None:
    assert _patch({"take_profit_pct": 6.0}).status == "pending_approval"
    _allow(take_profit_pct={})
    assert _patch({"take_profit_pct": 6.0}).status == "applied"


def test_unset_that_inherits_a_looser_value_is_loosening() -> None:
    services.config_patch(scope=Scope.global_(), patch={"leverage": 20}, base_version=0,
                          actor="ops", actor_kind=ActorKind.USER, reason="global")
    assert _patch({"leverage": 5}).status == "applied"
    result = _patch({}, base=1, unset=["leverage"])
    assert result.status == "pending_approval"
    assert result.approval.payload == {"patch": {}, "unset": ["leverage"]}  # type: ignore[union-attr]


def test_agent_writes_still_need_a_thought_trace_a_fresh_base_and_valid_values() -> None:
    with pytest.raises(ValidationFailed) as err:
        envelope.agent_config_patch(principal=AGENT, scope=BTC, patch={"leverage": 5},
                                    base_version=0, reason="r", thought_trace="too short")
    assert err.value.code == "THOUGHT_TRACE_REQUIRED"
    _patch({"leverage": 5})
    with pytest.raises(StaleVersion):
        _patch({"leverage": 4}, base=0)
    with pytest.raises(ValidationFailed) as bad:
        _patch({"leverage": 999}, base=1)
    assert bad.value.code == "CONFIG_INVALID"
    assert not PendingApproval.objects.exists()


def test_approval_applies_as_the_staff_user_with_the_agents_trace() -> None:
    result = _patch({"leverage": 15})
    done = envelope.approval_approve(approval_id=result.approval.pk, actor="ops",  # type: ignore[union-attr]
                                     note="ok for today")
    assert done.status == "approved"
    assert done.result_version == 1
    version = ConfigVersion.objects.get(scope_key="BTCUSDT", version=1)
    assert version.actor == "ops"
    assert version.actor_kind == ActorKind.USER
    assert version.params == {"leverage": 15}
    assert version.thought_trace == THOUGHT
    assert version.trace_id == "c" * 32
    assert "approved proposal" in version.reason
    assert "ok for today" in version.reason
    with pytest.raises(Conflict) as again:
        envelope.approval_approve(approval_id=done.pk, actor="ops")
    assert again.value.code == "APPROVAL_NOT_PENDING"


def test_reject_expire_and_stale_approvals() -> None:
    first = _patch({"leverage": 15}).approval
    with pytest.raises(ValidationFailed):
        envelope.approval_reject(approval_id=first.pk, actor="ops", note="")  # type: ignore[union-attr]
    rejected = envelope.approval_reject(approval_id=first.pk, actor="ops", note="too risky")  # type: ignore[union-attr]
    assert rejected.status == "rejected"
    assert config_head(scope=BTC) == (0, {})
    late = _patch({"leverage": 16}).approval
    PendingApproval.objects.filter(pk=late.pk).update(  # type: ignore[union-attr]
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(Conflict) as expired:
        envelope.approval_approve(approval_id=late.pk, actor="ops")  # type: ignore[union-attr]
    assert expired.value.code == "APPROVAL_NOT_PENDING"
    assert PendingApproval.objects.get(pk=late.pk).status == "expired"  # type: ignore[union-attr]
    stale = _patch({"leverage": 17}).approval
    services.config_patch(scope=BTC, patch={"leverage": 5}, base_version=0, actor="ops",
                          actor_kind=ActorKind.USER, reason="meanwhile")
    with pytest.raises(StaleVersion):
        envelope.approval_approve(approval_id=stale.pk, actor="ops")  # type: ignore[union-attr]
    failed = PendingApproval.objects.get(pk=stale.pk)  # type: ignore[union-attr]
    assert failed.status == "failed"
    assert failed.error.startswith("STALE_VERSION")


def test_state_halts_at_once_but_resume_needs_the_envelope() -> None:
    halt = envelope.agent_trading_state_set(principal=AGENT, scope=BTC, state="HALTED",
                                            reason="spike", thought_trace=THOUGHT)
    assert halt.status == "applied"
    resume = envelope.agent_trading_state_set(principal=AGENT, scope=BTC, state="ACTIVE",
                                              reason="calm", thought_trace=THOUGHT)
    assert resume.status == "pending_approval"
    assert TradingState.objects.get(scope_key="BTCUSDT").state == "HALTED"
    envelope.approval_approve(approval_id=resume.approval.pk, actor="ops")  # type: ignore[union-attr]
    assert TradingState.objects.get(scope_key="BTCUSDT").state == "ACTIVE"
    envelope.agent_envelope_upsert(principal=AGENT, actor="ops", parameters={},
                                   may_resume=True)
    envelope.agent_trading_state_set(principal=AGENT, scope=BTC, state="REDUCING",
                                     reason="x", thought_trace=THOUGHT)
    assert envelope.agent_trading_state_set(principal=AGENT, scope=BTC, state="ACTIVE",
                                            reason="y", thought_trace=THOUGHT).status == "applied"


def test_envelope_rules_are_validated() -> None:
    with pytest.raises(ValidationFailed) as err:
        envelope.agent_envelope_upsert(principal=AGENT, actor="ops", parameters={
            "levrage": {}, "leverage": {"max_step": -1, "extra": 1}})
    assert err.value.code == "INVALID_ENVELOPE"
    assert len(err.value.details["errors"]) == 3


_NUMBERS = st.sampled_from(["leverage", "max_position_size_usd", "min_confidence_threshold",
                            "stop_loss_pct", "max_daily_trades"])


@given(name=_NUMBERS, a=st.floats(0.01, 1.0), b=st.floats(0.01, 1.0))
def test_property_tightening_is_always_within_and_loosening_needs_a_rule(
    name: str, a: float, b: float,
) -> None:
    from governance.catalog import CATALOG

    spec = CATALOG[name]
    low, high = float(spec.minimum or 0), float(spec.maximum or 1)
    cast = int if spec.type == "integer" else float
    before, after = cast(low + a * (high - low)), cast(low + b * (high - low))
    empty = envelope.EnvelopePolicy(principal="p")
    open_rule = envelope.EnvelopePolicy(principal="p", rules={name: envelope.EnvelopeRule()},
                                        max_changes_per_day=10)
    now = timezone.now()
    for policy in (empty, open_rule):
        [judged] = envelope.envelope_assess(policy, BTC, [(name, before, after)],
                                            envelope.EnvelopeUsage(), now=now)
        if judged.direction in ("tightening", "unchanged"):
            assert judged.within
        elif policy is empty:
            assert not judged.within
        else:
            assert judged.within
        if judged.direction == "loosening":
            assert judged.magnitude is not None
            assert (judged.magnitude > 0
                                                      or math.isinf(judged.magnitude))
