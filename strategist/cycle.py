"""One LLM policy cycle (Celery beat every N minutes, on regime shift or breach, or by hand).

``strategist_cycle_run``:

1. gathers the context: regime, portfolio health, ladder, recent decisions and block
   reasons, shadow ROI when available, current config and envelope, hard gates, similar past
   episodes from memory;
2. redacts it, builds the prompt and stores its hash with the inputs;
3. asks the brain (breaker, daily ceilings, retries with backoff);
4. parses the answer into a ``PolicyProposal``;
5. audits it (catalog, hard gates, envelope, replay) and, if approved, applies it through
   the MCP tools' operations;
6. stores the whole cycle (reasoning playback), embeds its thought trace into memory and
   sets the strategist heartbeat.

Any brain failure (provider error, rate limit, token depletion, invalid output) changes
nothing in policy, raises an alert and marks the strategist DEGRADED; the Nurse keeps
enforcing the last good policy.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance import envelope
from governance.catalog import CATALOG, catalog_defaults
from governance.policy import policy_snapshot_build
from governance.selectors import policy_version_current
from strategist.auditor import audit_proposal
from strategist.brain import BrainFailure, brain_call, cost_usd, prompt_build
from strategist.contracts import ProposalInvalid, proposal_parse
from strategist.integration import proposal_apply_via_agent_tools
from strategist.ladder import thresholds_from_snapshot
from strategist.models import MemoryItem, StrategistCycle
from strategist.providers import ProviderError, provider_get
from strategist.providers.base import LLM_BUDGET_EXHAUSTED, LLM_QUOTA_EXHAUSTED, LLM_RATE_LIMITED

logger = logging.getLogger(__name__)

_CATALOG_FOR_LLM = ("leverage", "position_size_pct", "max_position_size_usd",
                    "stop_loss_pct", "take_profit_pct", "max_daily_loss_pct",
                    "max_portfolio_exposure_pct", "max_concurrent_positions",
                    "min_confidence_threshold", "max_symbol_exposure_usd",
                    "max_strategy_exposure_usd", "max_fleet_exposure_usd",
                    "max_orders_per_minute", "enable_longs", "enable_shorts",
                    "volatility_high_size_scale", "volatility_extreme_action",
                    "drawdown_reduce_pct", "drawdown_halt_pct", "allowed_symbols")


@dataclass(slots=True)
class CycleOutcome:
    """What ``strategist_cycle --once`` prints."""

    cycle: StrategistCycle
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        c = self.cycle
        return {
            "cycle_id": c.pk, "trigger": c.trigger, "status": c.status,
            "provider": c.provider, "model": c.model, "trace_id": c.trace_id,
            "prompt_hash": c.prompt_hash, "proposal": c.proposal, "verdict": c.verdict,
            "applied": c.applied, "applied_policy_version": c.applied_policy_version,
            "error": {"code": c.error_code, "message": c.error} if c.error_code else None,
            "alerts": c.alerts,
        }


def _shadow_roi(now: dt.datetime) -> dict[str, Any] | None:
    try:
        from nurse.shadow.selectors import shadow_summary

        # A savepoint: a missing table must not abort the caller's transaction.
        with transaction.atomic():
            summary = shadow_summary(start=now - dt.timedelta(days=7), end=now, horizon_h=24)
    except Exception:  # the Shadow ROI feature may not be deployed (or migrated) yet
        return None
    total = summary.get("total") if isinstance(summary, dict) else None
    return {"window_days": 7, "horizon_h": 24, "total": total} if total else None


def cycle_context(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the brain may see (before redaction)."""
    from strategist.memory.services import hit_as_dict, memory_search
    from strategist.selectors import (
        decisions_summary,
        ladder_recent,
        portfolio_get,
        regime_snapshot_section,
    )

    now = now or timezone.now()
    snapshot = policy_snapshot_build()
    thresholds = thresholds_from_snapshot(snapshot)
    defaults = catalog_defaults()
    global_effective = {**defaults, **(snapshot.get("scopes") or {}).get("global", {})}
    regime = regime_snapshot_section()
    portfolio = portfolio_get()
    principal = settings.STRATEGIST_PRINCIPAL
    env = envelope.envelope_policy_for(principal).as_dict()
    usage = envelope.envelope_usage(principal, now=now)
    fleet = regime.get("fleet") or {}
    query = (f"market regime {fleet.get('volatility_phase')} volatility, drawdown "
             f"{portfolio.get('drawdown', 0)}, trend {fleet.get('trend_strength')}")
    try:
        with transaction.atomic():
            episodes = [hit_as_dict(h) for h in memory_search(query=query, limit=3)]
    except Exception:
        logger.exception("memory search failed; the cycle goes on without past episodes")
        episodes = []
    return {
        "now": now.isoformat(),
        "policy_version": snapshot.get("policy_version"),
        "regime": regime,
        "portfolio": portfolio,
        "ladder": {"reduce_at": thresholds.reduce_at, "halt_at": thresholds.halt_at,
                   "recent_steps": ladder_recent()},
        "decisions": decisions_summary(hours=settings.STRATEGIST_REPLAY_HOURS, now=now),
        "shadow_roi": _shadow_roi(now),
        "trading_states": snapshot.get("states") or {},
        "config": {
            "defaults": {k: defaults[k] for k in _CATALOG_FOR_LLM if k in defaults},
            "global_effective": {k: global_effective.get(k) for k in _CATALOG_FOR_LLM},
            "scopes": snapshot.get("scopes") or {},
        },
        "hard_gates": snapshot.get("hard_gates") or {},
        "envelope": {**env, "changes_last_24h": usage.changes_today,
                     "loosened_last_24h": dict(usage.loosened_today)},
        "catalog": {
            name: {"type": CATALOG[name].type, "min": CATALOG[name].minimum,
                   "max": CATALOG[name].maximum, "unit": CATALOG[name].unit,
                   "allowed": list(CATALOG[name].allowed or []) or None,
                   "riskier": CATALOG[name].risk_direction}
            for name in _CATALOG_FOR_LLM
        },
        "similar_episodes": episodes,
    }


def _alert_kind(code: str) -> str:
    if code == LLM_RATE_LIMITED:
        return "llm_rate_limit"
    if code in (LLM_QUOTA_EXHAUSTED, LLM_BUDGET_EXHAUSTED):
        return "llm_token_depletion"
    return "llm_failure"


def _report(kind: str, cycle: StrategistCycle, message: str, *,
            severity: str | None = None) -> dict[str, Any]:
    from alerts.watchdogs import watchdog_report

    try:
        alert = watchdog_report(kind, source=f"strategist:{cycle.provider}", message=message,
                                severity=severity, trace_id=cycle.trace_id,
                                context={"cycle_id": cycle.pk, "code": cycle.error_code,
                                         "trigger": cycle.trigger})
    except Exception:
        logger.exception("could not raise the %s alert of cycle %s", kind, cycle.pk)
        return {"kind": kind, "raised": False}
    return {"kind": kind, "raised": True, "alert_id": alert.pk if alert else None,
            "message": message[:300]}


def _degrade(cycle: StrategistCycle, code: str, message: str) -> None:
    from strategist.services import strategist_heartbeat_set

    cycle.status = StrategistCycle.Status.DEGRADED
    cycle.error_code = code
    cycle.error = message[:2000]
    cycle.alerts.append(_report(_alert_kind(code), cycle,
                                f"strategist brain failure {code}: {message}"))
    strategist_heartbeat_set(status="DEGRADED", reason=f"{code}: {message}", cycle_id=cycle.pk)


def _finish(cycle: StrategistCycle) -> CycleOutcome:
    cycle.finished_at = timezone.now()
    cycle.save()
    return CycleOutcome(cycle=cycle, alerts=list(cycle.alerts))


def strategist_cycle_run(*, trigger: str = "manual", provider_name: str | None = None
                         ) -> CycleOutcome:
    """Run one cycle now (see the module docstring); never raises for a brain failure."""
    from strategist.services import strategist_heartbeat_set

    now = timezone.now()
    name = provider_name or settings.STRATEGIST_LLM_PROVIDER
    cycle = StrategistCycle.objects.create(trigger=trigger[:32], provider=name,
                                           trace_id=uuid.uuid4().hex, started_at=now)
    try:
        provider = provider_get(name)
        cycle.model = provider.model
        context = cycle_context(now=now)
        prompt = prompt_build(context)
    except ProviderError as exc:
        _degrade(cycle, exc.code, exc.message)
        return _finish(cycle)
    cycle.inputs = prompt.context
    cycle.prompt_hash = prompt.sha256
    cycle.save(update_fields=["model", "inputs", "prompt_hash"])
    try:
        result = brain_call(provider, prompt.request)
    except BrainFailure as failure:
        cycle.attempts = failure.attempts
        _degrade(cycle, failure.error.code, failure.error.message)
        return _finish(cycle)
    response = result.response
    cycle.attempts = result.attempts
    cycle.output = response.text[:100_000]
    cycle.model = response.model[:120] or cycle.model
    cycle.prompt_tokens = response.prompt_tokens
    cycle.completion_tokens = response.completion_tokens
    cycle.cost_usd = cost_usd(response.prompt_tokens, response.completion_tokens)
    try:
        proposal = proposal_parse(response.text)
    except ProposalInvalid as exc:
        cycle.verdict = {"approved": False, "reasons": [
            {"check": "schema", "code": exc.code, "message": exc.message,
             "details": exc.details}]}
        _degrade(cycle, exc.code, exc.message)
        return _finish(cycle)
    cycle.proposal = proposal.model_dump(mode="json")
    snapshot = policy_snapshot_build()
    verdict = audit_proposal(proposal, snapshot=snapshot)
    cycle.verdict = verdict.as_dict()
    cycle.replay = verdict.replay
    strategist_heartbeat_set(status="OK", reason=f"cycle {cycle.pk}", cycle_id=cycle.pk)
    if not verdict.approved:
        cycle.status = StrategistCycle.Status.REFUSED
        codes = sorted({r["code"] for r in verdict.reasons})
        cycle.error_code = (codes[0] if codes else "AUDIT_REFUSED")[:48]
        cycle.error = "; ".join(f"{r['check']}: {r['code']} {r['message']}"
                                for r in verdict.reasons)[:2000]
        cycle.alerts.append(_report("strategist_refusal", cycle,
                                    f"auditor refused the proposal: {cycle.error}"))
        _remember(cycle, proposal.summary, proposal.thought_trace, refused=True)
        return _finish(cycle)
    if proposal.is_empty:
        cycle.status = StrategistCycle.Status.NO_CHANGE
        return _finish(cycle)
    applied = proposal_apply_via_agent_tools(proposal, trace_id=cycle.trace_id)
    cycle.applied = [a.as_dict() for a in applied]
    statuses = {a.status for a in applied}
    if statuses <= {"applied"}:
        cycle.status = StrategistCycle.Status.APPLIED
    elif "applied" in statuses or "partially_applied" in statuses:
        cycle.status = StrategistCycle.Status.PARTIAL
    elif statuses <= {"pending_approval"}:
        cycle.status = StrategistCycle.Status.PENDING
    else:
        cycle.status = StrategistCycle.Status.REFUSED
    failed = [a for a in applied if a.status == "failed"]
    if failed:
        cycle.error_code = failed[0].code[:48]
        cycle.error = "; ".join(f"{a.scope}: {a.code} {a.message}" for a in failed)[:2000]
        cycle.alerts.append(_report("strategist_refusal", cycle,
                                    f"governance refused part of the proposal: {cycle.error}"))
    if any(a.status in ("pending_approval", "partially_applied") for a in applied):
        ids = [a.approval_id for a in applied if a.approval_id]
        cycle.alerts.append(_report("strategist_approval_needed", cycle,
                                    f"the strategist's proposal awaits staff approval {ids}"))
    if "applied" in statuses or "partially_applied" in statuses:
        cycle.applied_policy_version = policy_version_current()
    _remember(cycle, proposal.summary, proposal.thought_trace)
    return _finish(cycle)


def _remember(cycle: StrategistCycle, summary: str, thought_trace: str, *,
              refused: bool = False) -> None:
    from strategist.memory.services import memory_add

    try:
        memory_add(kind=MemoryItem.Kind.THOUGHT,
                   title=("refused: " if refused else "") + summary[:180],
                   text=thought_trace,
                   metadata={"cycle_id": cycle.pk, "status": cycle.status,
                             "trace_id": cycle.trace_id, "provider": cycle.provider},
                   source_ref=f"cycle:{cycle.pk}")
    except Exception:
        logger.exception("could not store the thought trace of cycle %s", cycle.pk)
