"""The deterministic protection ladder: it never waits for the LLM.

* drawdown >= reduce threshold (15% by default): the fleet goes REDUCING ("Halt & Protect":
  no new entries, stops tightened), critical alert;
* drawdown >= halt threshold (20%): HALTED, the nuclear alert, and the canary command when
  one is configured;
* volatility phase extreme: the gate scales down or blocks entries per policy
  (``volatility_extreme_action``); the step is recorded and alerted.

The thresholds are the tighter of the hard gate and the global config value. The ladder
only ever tightens: a scope it moved needs a staff re-arm (``requires_staff_rearm``).
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.errors import CioError
from governance.models import ActorKind, TradingState, TradingStateValue
from governance.scopes import Scope
from governance.selectors import config_head, policy_version_current
from governance.services import config_patch, trading_state_set
from strategist.models import LadderStep

logger = logging.getLogger(__name__)

LADDER_ACTOR = "strategist.ladder"
_RANK = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Drawdown fractions at which the fleet reduces and halts."""

    reduce_at: float = 0.15
    halt_at: float = 0.20


def thresholds_from_snapshot(snapshot: Mapping[str, Any]) -> Thresholds:
    """The tighter of the hard gates and the global config (defaults underneath)."""
    gates = snapshot.get("hard_gates") or {}
    params = {**(snapshot.get("defaults") or {}), **((snapshot.get("scopes") or {})
                                                     .get("global") or {})}

    def pick(name: str, fallback: float) -> float:
        values = [float(v) for v in (gates.get(name), params.get(name))
                  if isinstance(v, int | float) and not isinstance(v, bool) and v > 0]
        return min(values) if values else fallback

    return Thresholds(reduce_at=pick("drawdown_reduce_pct", 0.15),
                      halt_at=pick("drawdown_halt_pct", 0.20))


def ladder_decide(drawdown: float, state: str, thresholds: Thresholds) -> str | None:
    """The step to take now, or None: never a loosening, never the same step twice."""
    if drawdown >= thresholds.halt_at and _RANK.get(state, 0) < _RANK["HALTED"]:
        return LadderStep.Step.HALT
    if drawdown >= thresholds.reduce_at and _RANK.get(state, 0) < _RANK["REDUCING"]:
        return LadderStep.Step.REDUCE
    return None


def _ms(later: dt.datetime | None, earlier: dt.datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds() * 1000.0, 3)


def ladder_apply(
    *,
    step: str,
    drawdown: float,
    thresholds: Thresholds,
    equity: Decimal,
    peak_equity: Decimal,
    event_at: dt.datetime | None = None,
    received_at: dt.datetime | None = None,
    follow_up: bool = True,
) -> LadderStep | None:
    """Take one drawdown step; returns the recorded step (None if a tighter state holds).

    1. set the global trading state (SYSTEM actor, staff re-arm required); the policy is
       published to every Nurse when the transaction commits, before this returns;
    2. record the step with its reaction time (event published -> policy committed);
    3. then the slower follow-ups (``ladder_follow_up``): alert (nuclear for a halt), canary,
       tightened stops, post-mortem; the feed runs them off its critical path.
    """
    target = TradingStateValue.HALTED if step == LadderStep.Step.HALT else \
        TradingStateValue.REDUCING
    threshold = thresholds.halt_at if step == LadderStep.Step.HALT else thresholds.reduce_at
    trace_id = uuid.uuid4().hex
    reason = (f"protection ladder: drawdown {drawdown:.2%} of peak equity {peak_equity} >= "
              f"{threshold:.0%} -> {target.value}")
    with transaction.atomic():
        row = TradingState.objects.select_for_update().filter(
            scope_kind="global", scope_key="").first()
        before = row.state if row is not None and (
            row.expires_at is None or row.expires_at > timezone.now()) else "ACTIVE"
        if _RANK[before] >= _RANK[target.value]:
            return None
        trading_state_set(scope=Scope.global_(), state=target.value, actor=LADDER_ACTOR,
                          actor_kind=ActorKind.SYSTEM, reason=reason,
                          requires_staff_rearm=True, trace_id=trace_id)
    acted_at = timezone.now()  # after commit: the snapshot is in Redis and announced
    record = LadderStep.objects.create(
        step=step, drawdown=drawdown, threshold=threshold, equity=equity,
        peak_equity=peak_equity, state_before=before, state_after=target.value,
        policy_version=policy_version_current(), event_at=event_at, received_at=received_at,
        acted_at=acted_at, reaction_ms=_ms(acted_at, event_at), trace_id=trace_id,
    )
    if follow_up:
        ladder_follow_up(record)
    return record


def ladder_volatility_step(*, symbol: str, metrics: Mapping[str, Any],
                           event_at: dt.datetime | None = None) -> LadderStep:
    """Record and alert a symbol entering the extreme volatility phase (the gate already
    scales or blocks entries from the regime in the policy snapshot)."""
    record = LadderStep.objects.create(
        step=LadderStep.Step.VOLATILITY, symbol=symbol,
        drawdown=float(metrics.get("drawdown") or 0.0), state_after="",
        policy_version=policy_version_current(), event_at=event_at, acted_at=timezone.now(),
        reaction_ms=_ms(timezone.now(), event_at), trace_id=uuid.uuid4().hex,
    )
    _alert(record, severity="warning",
           message=(f"{symbol} volatility phase is EXTREME (vol ratio "
                    f"{metrics.get('vol_ratio')}, 1h move {metrics.get('move_1h')}); entries "
                    "are scaled down or blocked per volatility_extreme_action"))
    return record


def _alert(record: LadderStep, *, message: str, severity: str | None = None) -> None:
    from alerts.watchdogs import watchdog_report

    try:
        alert = watchdog_report(
            "drawdown_ladder_step", source="strategist.ladder", message=message,
            severity=severity, trace_id=record.trace_id,
            dedup_key=f"strategist:ladder:{record.step}:{record.symbol or 'fleet'}",
            context={"step": record.step, "drawdown": record.drawdown,
                     "threshold": record.threshold, "state_after": record.state_after,
                     "reaction_ms": record.reaction_ms, "symbol": record.symbol,
                     "ladder_step_id": record.pk},
        )
    except Exception:
        logger.exception("could not raise the ladder alert for step %s", record.pk)
        return
    if alert is not None and alert.pk:
        LadderStep.objects.filter(pk=record.pk).update(alert_id=alert.pk)
        record.alert_id = alert.pk


def ladder_follow_up(record: LadderStep) -> None:
    """Alert, canary (halt) or tighter stops (reduce), then the post-mortem."""
    reason = (f"protection ladder: drawdown {record.drawdown:.2%} of peak equity "
              f"{record.peak_equity} >= {record.threshold:.0%} -> {record.state_after}")
    if record.step == LadderStep.Step.HALT:
        record.canary = canary_trigger(record)
        LadderStep.objects.filter(pk=record.pk).update(canary=record.canary)
        _alert(record, message=f"NUCLEAR: fleet HALTED. {reason}. Re-arming needs a staff "
                               "action.")
    else:
        _alert(record, message=f"Halt & Protect: fleet REDUCING. {reason}.")
        _tighten_stops(record)
    try:
        from strategist.postmortem import post_mortem_create

        post_mortem_create(ladder_step=record)
    except Exception:
        logger.exception("post-mortem of ladder step %s failed", record.pk)


def canary_trigger(record: LadderStep) -> dict[str, Any]:
    """Start the configured canary command (no shell, not awaited); {} when unset."""
    command = settings.STRATEGIST_CANARY_COMMAND
    if not command:
        return {}
    argv = shlex.split(command)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,  # noqa: S603  (operator-set argv)
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:
        logger.error("canary command failed to start: %s", exc)
        return {"started": False, "error": str(exc)[:300], "argv0": argv[0] if argv else ""}
    return {"started": True, "pid": proc.pid, "argv0": argv[0],
            "at": timezone.now().isoformat()}


def _tighten_stops(record: LadderStep) -> None:
    """"Halt & Protect": tighter stops on the global scope (engine-side stop_loss_pct)."""
    factor = settings.STRATEGIST_LADDER_STOP_FACTOR
    if factor >= 1.0:
        return
    from governance.catalog import CATALOG

    spec = CATALOG["stop_loss_pct"]
    version, params = config_head(scope=Scope.global_())
    current = float(params.get("stop_loss_pct", spec.default))
    target = max(float(spec.minimum or 0.1), round(current * factor, 4))
    if target >= current:
        return
    try:
        config_patch(scope=Scope.global_(), patch={"stop_loss_pct": target},
                     base_version=version, actor=LADDER_ACTOR, actor_kind=ActorKind.SYSTEM,
                     reason=f"protection ladder step {record.pk}: tighter stops "
                            f"({current} -> {target} %)", trace_id=record.trace_id)
    except CioError as exc:
        logger.warning("could not tighten stops: %s %s", exc.code, exc.message)
