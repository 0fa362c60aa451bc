"""Trading state per scope and the hard gates no agent or API can loosen."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance import services
from governance.errors import HardGateViolation, PermissionDenied, ValidationFailed
from governance.hard_gates import SPECS, hard_gate_check_value
from governance.models import ActorKind, AuditEvent
from governance.scopes import Scope
from governance.selectors import hard_gates_current, trading_state_effective

pytestmark = pytest.mark.django_db


def test_most_restrictive_state_wins_and_expiry_lifts_it() -> None:
    services.trading_state_set(scope=Scope.symbol("BTCUSDT"), state="REDUCING", actor="a",
                               actor_kind=ActorKind.USER, reason="vol")
    assert trading_state_effective(strategy_id="s1", symbol="BTCUSDT") == (
        "REDUCING", "symbol:BTCUSDT")
    assert trading_state_effective(strategy_id="s1", symbol="ETHUSDT") == ("ACTIVE", "global")
    soon = timezone.now() + dt.timedelta(minutes=5)
    services.trading_state_set(scope=Scope.strategy("s1"), state="HALTED", actor="a",
                               actor_kind=ActorKind.USER, reason="rogue", expires_at=soon)
    assert trading_state_effective(strategy_id="s1", symbol="BTCUSDT") == (
        "HALTED", "strategy:s1")
    later = soon + dt.timedelta(seconds=1)
    assert trading_state_effective(strategy_id="s1", symbol="BTCUSDT", now=later) == (
        "REDUCING", "symbol:BTCUSDT")
    assert AuditEvent.objects.filter(event_type="state.set").count() == 2


def test_state_validation() -> None:
    with pytest.raises(ValidationFailed):
        services.trading_state_set(scope=Scope.symbol_side("BTCUSDT", "LONG"), state="HALTED",
                                   actor="a", actor_kind=ActorKind.USER, reason="r")
    with pytest.raises(ValidationFailed):
        services.trading_state_set(scope=Scope.global_(), state="PAUSED", actor="a",
                                   actor_kind=ActorKind.USER, reason="r")
    with pytest.raises(ValidationFailed):
        services.trading_state_set(scope=Scope.global_(), state="HALTED", actor="a",
                                   actor_kind=ActorKind.USER, reason=" ")


def test_ladder_halt_needs_staff_to_rearm() -> None:
    services.trading_state_set(scope=Scope.global_(), state="HALTED", actor="ladder",
                               actor_kind=ActorKind.SYSTEM, reason="drawdown 20%",
                               requires_staff_rearm=True)
    for kind in (ActorKind.AGENT, ActorKind.SYSTEM):
        with pytest.raises(PermissionDenied):
            services.trading_state_set(scope=Scope.global_(), state="ACTIVE", actor="bot",
                                       actor_kind=kind, reason="all good",
                                       thought_trace="x" * 120)
    services.trading_state_set(scope=Scope.global_(), state="ACTIVE", actor="alice",
                               actor_kind=ActorKind.USER, reason="re-armed after review")
    assert trading_state_effective() == ("ACTIVE", "global")


def test_hard_gates_need_superuser_with_verified_mfa() -> None:
    for superuser, mfa in ((False, True), (True, False), (False, False)):
        with pytest.raises(PermissionDenied):
            services.hard_gate_set(key="max_leverage", value=10, actor="x", reason="r",
                                   is_superuser=superuser, mfa_verified=mfa)
    services.hard_gate_set(key="max_leverage", value=10, actor="root", reason="tighter",
                           is_superuser=True, mfa_verified=True)
    assert hard_gates_current()["max_leverage"] == 10
    event = AuditEvent.objects.get(event_type="hard_gate.set")
    assert (event.actor, event.reason, event.payload["before"]) == ("root", "tighter", 20)


def test_hard_gate_values_cannot_pass_the_code_ceiling() -> None:
    ceiling = SPECS["max_leverage"].ceiling
    with pytest.raises(HardGateViolation):
        services.hard_gate_set(key="max_leverage", value=(ceiling or 0) + 1, actor="root",
                               reason="r", is_superuser=True, mfa_verified=True)
    with pytest.raises(HardGateViolation):
        hard_gate_check_value("drawdown_halt_pct", 0.25)
    with pytest.raises(ValidationFailed):
        hard_gate_check_value("max_leverage", True)


def test_tightened_hard_gate_binds_config_writes() -> None:
    services.hard_gate_set(key="max_leverage", value=5, actor="root", reason="r",
                           is_superuser=True, mfa_verified=True)
    with pytest.raises(HardGateViolation) as err:
        services.config_patch(scope=Scope.global_(), patch={"leverage": 6}, base_version=0,
                              actor="alice", actor_kind=ActorKind.USER, reason="r")
    assert err.value.details["errors"][0]["hard_gate"] == "max_leverage"
