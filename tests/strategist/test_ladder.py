"""The deterministic protection ladder: decisions, state changes, alerts, canary, re-arm."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.models import Alert
from governance.errors import PermissionDenied
from governance.models import ActorKind, TradingState
from governance.policy import policy_snapshot_build
from governance.scopes import Scope
from governance.services import trading_state_set
from strategist.ladder import Thresholds, ladder_apply, ladder_decide, thresholds_from_snapshot
from strategist.models import LadderStep, PostMortem

T = Thresholds(reduce_at=0.15, halt_at=0.20)


def test_decisions() -> None:
    assert ladder_decide(0.10, "ACTIVE", T) is None
    assert ladder_decide(0.15, "ACTIVE", T) == "reduce"
    assert ladder_decide(0.17, "REDUCING", T) is None
    assert ladder_decide(0.20, "REDUCING", T) == "halt"
    assert ladder_decide(0.25, "ACTIVE", T) == "halt"
    assert ladder_decide(0.50, "HALTED", T) is None


@given(st.floats(min_value=0, max_value=1), st.sampled_from(["ACTIVE", "REDUCING", "HALTED"]))
def test_the_ladder_never_loosens(drawdown: float, state: str) -> None:
    step = ladder_decide(drawdown, state, T)
    rank = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
    if step is not None:
        assert rank["HALTED" if step == "halt" else "REDUCING"] > rank[state]


def test_thresholds_are_the_tighter_of_gate_and_config() -> None:
    snap = {"hard_gates": {"drawdown_reduce_pct": 0.15, "drawdown_halt_pct": 0.20},
            "defaults": {"drawdown_reduce_pct": 0.15, "drawdown_halt_pct": 0.20},
            "scopes": {"global": {"drawdown_reduce_pct": 0.10}}}
    assert thresholds_from_snapshot(snap) == Thresholds(0.10, 0.20)
    assert thresholds_from_snapshot({}) == Thresholds(0.15, 0.20)


@pytest.mark.django_db
def test_reduce_then_halt_with_alerts_canary_and_post_mortem(settings: Any, tmp_path: Path,
                                                             redis_client: Any) -> None:
    marker = tmp_path / "canary-fired"
    settings.STRATEGIST_CANARY_COMMAND = (
        f"{sys.executable} -c \"import pathlib; pathlib.Path('{marker}').write_text('x')\"")
    step = ladder_apply(step="reduce", drawdown=0.16, thresholds=T, equity=Decimal("84000"),
                        peak_equity=Decimal("100000"))
    assert step is not None and step.state_after == "REDUCING"
    row = TradingState.objects.get(scope_kind="global")
    assert row.state == "REDUCING" and row.requires_staff_rearm
    assert row.actor_kind == ActorKind.SYSTEM and row.set_by == "strategist.ladder"
    snap = policy_snapshot_build()
    assert snap["states"]["global"]["state"] == "REDUCING"
    assert snap["scopes"]["global"]["stop_loss_pct"] == 1.0  # tighter stops (2.0 * 0.5)
    reduce_alert = Alert.objects.get(pk=step.alert_id)
    assert reduce_alert.severity == "critical" and "Halt & Protect" in reduce_alert.message
    assert not marker.exists()
    # The same step twice does nothing; a tighter state is never loosened.
    assert ladder_apply(step="reduce", drawdown=0.17, thresholds=T, equity=Decimal("83000"),
                        peak_equity=Decimal("100000")) is None
    halt = ladder_apply(step="halt", drawdown=0.21, thresholds=T, equity=Decimal("79000"),
                        peak_equity=Decimal("100000"))
    assert halt is not None and halt.state_before == "REDUCING"
    assert TradingState.objects.get(scope_kind="global").state == "HALTED"
    assert "NUCLEAR" in Alert.objects.get(pk=halt.alert_id).message
    assert halt.canary["started"] is True
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    assert PostMortem.objects.count() == 2
    assert LadderStep.objects.count() == 2


@pytest.mark.django_db
def test_re_arming_needs_a_staff_user(redis_client: Any) -> None:
    ladder_apply(step="halt", drawdown=0.22, thresholds=T, equity=Decimal("78"),
                 peak_equity=Decimal("100"))
    with pytest.raises(PermissionDenied) as err:
        trading_state_set(scope=Scope.global_(), state="ACTIVE", actor="strategist",
                          actor_kind=ActorKind.AGENT, reason="recovered",
                          thought_trace="x" * 120)
    assert err.value.code == "REARM_REQUIRES_STAFF"
    with pytest.raises(PermissionDenied):
        trading_state_set(scope=Scope.global_(), state="REDUCING", actor="system",
                          actor_kind=ActorKind.SYSTEM, reason="loosen a bit")
    trading_state_set(scope=Scope.global_(), state="ACTIVE", actor="alice",
                      actor_kind=ActorKind.USER, reason="staff re-arm after review")
    assert TradingState.objects.get(scope_kind="global").state == "ACTIVE"


@pytest.mark.django_db
def test_a_staff_halt_is_not_downgraded(redis_client: Any) -> None:
    trading_state_set(scope=Scope.global_(), state="HALTED", actor="alice",
                      actor_kind=ActorKind.USER, reason="manual halt")
    assert ladder_apply(step="reduce", drawdown=0.16, thresholds=T, equity=Decimal("84"),
                        peak_equity=Decimal("100")) is None
    assert TradingState.objects.get(scope_kind="global").state == "HALTED"
