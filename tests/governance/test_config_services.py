"""Versioned configuration: patches, replaces, rollbacks, stale bases, hard gates."""

from __future__ import annotations

import pytest

from governance import services
from governance.errors import HardGateViolation, StaleVersion, ValidationFailed
from governance.models import ActorKind, AuditEvent, ConfigVersion
from governance.scopes import Scope
from governance.selectors import config_head, config_history, config_resolve

pytestmark = pytest.mark.django_db

USER = {"actor": "alice", "actor_kind": ActorKind.USER}


def test_patch_creates_immutable_version_with_before_after_and_audit() -> None:
    scope = Scope.symbol("BTCUSDT")
    v1 = services.config_patch(scope=scope, patch={"leverage": 5}, base_version=0,
                               reason="tighten BTC", trace_id="a" * 32, **USER)
    v2 = services.config_patch(scope=scope, patch={"max_position_size_usd": 500.0},
                               base_version=1, reason="smaller orders", **USER)
    assert (v1.version, v2.version) == (1, 2)
    assert v2.previous == {"leverage": 5}
    assert v2.params == {"leverage": 5, "max_position_size_usd": 500.0}
    assert v2.changes == [{"parameter": "max_position_size_usd", "before": None,
                           "after": 500.0, "change": "added"}]
    assert v2.policy_version > v1.policy_version
    assert config_head(scope=scope) == (2, {"leverage": 5, "max_position_size_usd": 500.0})
    events = list(AuditEvent.objects.filter(scope="symbol:BTCUSDT").order_by("seq"))
    assert [e.event_type for e in events] == ["config.patch", "config.patch"]
    assert events[0].trace_id == "a" * 32
    assert events[0].reason == "tighten BTC"


def test_stale_base_version_is_refused_never_overwritten() -> None:
    scope = Scope.global_()
    services.config_patch(scope=scope, patch={"leverage": 5}, base_version=0, reason="r", **USER)
    with pytest.raises(StaleVersion) as err:
        services.config_patch(scope=scope, patch={"leverage": 3}, base_version=0, reason="r",
                              **USER)
    assert err.value.code == "STALE_VERSION"
    assert err.value.details["current_version"] == 1
    assert config_head(scope=scope) == (1, {"leverage": 5})


def test_invalid_patch_reports_every_problem_and_writes_nothing() -> None:
    with pytest.raises(ValidationFailed) as err:
        services.config_patch(scope=Scope.global_(), patch={"leverage": 500, "nope": 1,
                                                            "margin_type": "weird"},
                              base_version=0, reason="r", **USER)
    codes = {e["parameter"]: e["code"] for e in err.value.details["errors"]}
    assert codes == {"leverage": "OUT_OF_RANGE", "nope": "UNKNOWN_PARAMETER",
                     "margin_type": "INVALID_VALUE"}
    assert not ConfigVersion.objects.exists()


def test_values_beyond_hard_gates_are_refused_for_every_writer() -> None:
    # The engine allows leverage up to 125; our hard gate (20 by default) is tighter.
    with pytest.raises(HardGateViolation):
        services.config_patch(scope=Scope.global_(), patch={"leverage": 21}, base_version=0,
                              reason="r", **USER)
    services.config_patch(scope=Scope.global_(), patch={"leverage": 20}, base_version=0,
                          reason="r", **USER)


def test_agent_writes_need_a_thought_trace() -> None:
    with pytest.raises(ValidationFailed) as err:
        services.config_patch(scope=Scope.global_(), patch={"leverage": 3}, base_version=0,
                              reason="r", actor="llm", actor_kind=ActorKind.AGENT,
                              thought_trace="too short")
    assert err.value.code == "THOUGHT_TRACE_REQUIRED"
    version = services.config_patch(
        scope=Scope.global_(), patch={"leverage": 3}, base_version=0, reason="r", actor="llm",
        actor_kind=ActorKind.AGENT, thought_trace="Volatility doubled over the last hour; " * 4,
    )
    event = AuditEvent.objects.get(event_type="config.patch")
    assert event.thought_trace == version.thought_trace


def test_rollback_to_version_and_to_previous_create_new_versions() -> None:
    scope = Scope.strategy("momo-1")
    for base, lev in enumerate((5, 4, 3)):
        services.config_patch(scope=scope, patch={"leverage": lev}, base_version=base,
                              reason="step", **USER)
    back = services.config_rollback(scope=scope, to_version=1, reason="undo", **USER)
    assert (back.version, back.params, back.rollback_to, back.operation) == (
        4, {"leverage": 5}, 1, "rollback")
    prev = services.config_rollback(scope=scope, to_version=None, reason="undo undo", **USER)
    assert (prev.version, prev.params) == (5, {"leverage": 3})
    assert [v.version for v in config_history(scope=scope)] == [5, 4, 3, 2, 1]
    # History is never rewritten: version 2 still says what it said.
    assert ConfigVersion.objects.get(scope_key="momo-1", version=2).params == {"leverage": 4}


def test_rollback_with_stale_base_is_refused() -> None:
    scope = Scope.global_()
    services.config_patch(scope=scope, patch={"leverage": 5}, base_version=0, reason="r", **USER)
    services.config_patch(scope=scope, patch={"leverage": 4}, base_version=1, reason="r", **USER)
    with pytest.raises(StaleVersion):
        services.config_rollback(scope=scope, to_version=1, base_version=1, reason="r", **USER)


def test_unset_removes_an_override_and_replace_swaps_the_scope() -> None:
    scope = Scope.symbol("ETHUSDT")
    services.config_patch(scope=scope, patch={"leverage": 5, "max_daily_trades": 7},
                          base_version=0, reason="r", **USER)
    v2 = services.config_patch(scope=scope, patch={}, unset=["leverage"], base_version=1,
                               reason="r", **USER)
    assert v2.params == {"max_daily_trades": 7}
    v3 = services.config_replace(scope=scope, params={"enable_shorts": False}, base_version=2,
                                 reason="r", **USER)
    assert v3.params == {"enable_shorts": False}


def test_resolution_precedence_and_sources() -> None:
    services.config_patch(scope=Scope.global_(), patch={"leverage": 10, "max_daily_trades": 50,
                                                        "min_confidence_threshold": 0.6},
                          base_version=0, reason="r", **USER)
    services.config_patch(scope=Scope.symbol("BTCUSDT"), patch={"leverage": 8,
                                                                "max_daily_trades": 40},
                          base_version=0, reason="r", **USER)
    services.config_patch(scope=Scope.strategy("s1"), patch={"leverage": 6}, base_version=0,
                          reason="r", **USER)
    services.config_patch(scope=Scope.symbol_side("BTCUSDT", "LONG"), patch={"leverage": 4},
                          base_version=0, reason="r", **USER)
    full = config_resolve(symbol="BTCUSDT", side="LONG", strategy_id="s1")
    assert full.params["leverage"] == 4
    assert full.sources["leverage"] == "symbol_side:BTCUSDT:LONG"
    assert full.params["max_daily_trades"] == 40
    assert full.sources["max_daily_trades"] == "symbol:BTCUSDT"
    assert full.sources["min_confidence_threshold"] == "global"
    assert full.sources["margin_type"] == "default"
    short = config_resolve(symbol="BTCUSDT", side="SHORT", strategy_id="s1")
    assert (short.params["leverage"], short.sources["leverage"]) == (6, "strategy:s1")
    other = config_resolve(symbol="ETHUSDT", strategy_id="s2")
    assert (other.params["leverage"], other.sources["leverage"]) == (10, "global")


def test_scope_parsing_rejects_garbage() -> None:
    assert str(Scope.parse("symbol_side:btcusdt:long")) == "symbol_side:BTCUSDT:LONG"
    for bad in ("planet:x", "symbol:b", "symbol_side:BTCUSDT:UP", "global:x", "strategy:"):
        with pytest.raises(ValidationFailed):
            Scope.parse(bad)
