"""Post-mortems after a drawdown breach: the "evolutionary loop", with a human in it.

``post_mortem_create`` writes a structured report - what happened (equity path, regime),
which rules fired (ladder steps, gate block reasons), what the shadow ROI says, similar past
episodes from memory - plus a proposed change that waits for a staff review in the admin.
The report is embedded into institutional memory so the next crisis finds it. Accepting a
proposal applies it through ``governance.services.config_patch`` as the reviewing user.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from django.db import transaction
from django.utils import timezone

from governance.catalog import catalog_defaults
from governance.errors import Conflict
from governance.models import ActorKind
from governance.scopes import Scope
from governance.selectors import config_head
from governance.services import config_patch
from nurse.models import DecisionRecord
from strategist.models import (
    EquityPoint,
    LadderStep,
    MemoryItem,
    PostMortem,
    RegimeShift,
    RegimeStatus,
)

_WINDOW = dt.timedelta(hours=24)


def _proposed_change() -> dict[str, Any]:
    """A conservative global change: a quarter less leverage and size, an earlier reduce."""
    defaults = catalog_defaults()
    _, current = config_head(scope=Scope.global_())
    effective = {**defaults, **current}
    patch = {
        "leverage": max(1, int(effective["leverage"] * 0.75)),
        "position_size_pct": round(max(0.001, effective["position_size_pct"] * 0.75), 4),
        "drawdown_reduce_pct": round(max(0.05, effective["drawdown_reduce_pct"] - 0.02), 4),
    }
    patch = {k: v for k, v in patch.items() if v != effective[k]}
    return {"scope": "global", "patch": patch,
            "rationale": "after a drawdown breach, cut leverage and position size by a quarter "
                         "and start reducing 2 points of drawdown earlier"}


def post_mortem_create(*, ladder_step: LadderStep, now: dt.datetime | None = None
                       ) -> PostMortem:
    """Build, store and embed the report of one drawdown breach."""
    from strategist.memory.services import hit_as_dict, memory_add, memory_search

    now = now or timezone.now()
    since = now - _WINDOW
    equity = list(EquityPoint.objects.filter(at__gte=since).order_by("at")
                  .values_list("at", "equity", "drawdown"))
    blocked = DecisionRecord.objects.filter(decided_at__gte=since,
                                            outcome=DecisionRecord.Outcome.BLOCKED)
    reasons: Counter[str] = Counter()
    for codes in blocked.values_list("reason_codes", flat=True)[:10000]:
        reasons.update(str(c) for c in codes or [])
    steps = LadderStep.objects.filter(created_at__gte=since).order_by("created_at")
    shifts = RegimeShift.objects.filter(created_at__gte=since).order_by("created_at")
    regime = {r.symbol: {"volatility_phase": r.volatility_phase,
                         "drawdown_phase": r.drawdown_phase, "move_1h": r.move_1h,
                         "drawdown": r.drawdown} for r in RegimeStatus.objects.all()}
    from strategist.cycle import _shadow_roi

    shadow = _shadow_roi(now)
    what = (f"Fleet drawdown reached {ladder_step.drawdown:.2%} of peak equity "
            f"{ladder_step.peak_equity} (equity {ladder_step.equity}); the protection ladder "
            f"moved the fleet {ladder_step.state_before} -> {ladder_step.state_after} in "
            f"{ladder_step.reaction_ms or 0:.0f} ms.")
    query = f"drawdown breach {ladder_step.step} {ladder_step.drawdown:.0%} " + " ".join(
        f"{s} {v['volatility_phase']} volatility" for s, v in regime.items())
    similar = [hit_as_dict(h) for h in memory_search(query=query, limit=3,
                                                     kinds=[MemoryItem.Kind.POST_MORTEM])]
    report = {
        "what_happened": what,
        "equity_path": [{"at": a.isoformat(), "equity": float(e), "drawdown": d}
                        for a, e, d in equity[-200:]],
        "rules_fired": {
            "ladder": [{"step": s.step, "drawdown": s.drawdown, "state_after": s.state_after,
                        "at": s.created_at.isoformat()} for s in steps],
            "gate_block_reasons": [{"code": c, "count": n} for c, n in reasons.most_common(10)],
            "regime_shifts": [{"symbol": s.symbol, "to": s.to_volatility,
                               "at": s.created_at.isoformat()} for s in shifts[:50]],
        },
        "regime": regime,
        "shadow_roi": shadow or "not available yet (Shadow ROI has no marks for the window)",
        "similar_episodes": similar,
    }
    report = json.loads(json.dumps(report, default=str))  # Decimals (shadow totals) as text
    proposed = _proposed_change()
    summary = (what + " Gate blocks in the last 24 h: " + (", ".join(
        f"{c} x{n}" for c, n in reasons.most_common(3)) or "none") + ". Regime: " + (", ".join(
        f"{s} {v['volatility_phase']}" for s, v in regime.items()) or "unknown") + ".")
    with transaction.atomic():
        pm = PostMortem.objects.create(
            ladder_step=ladder_step, title=f"Drawdown breach {ladder_step.drawdown:.1%} "
            f"({ladder_step.step}) {now:%Y-%m-%d %H:%M} UTC", report=report, summary=summary,
            proposed_change=proposed)
    item_id = memory_add(kind=MemoryItem.Kind.POST_MORTEM, title=pm.title,
                         text=summary + " Proposed: " + proposed["rationale"],
                         metadata={"post_mortem_id": pm.pk}, source_ref=f"post_mortem:{pm.pk}")
    PostMortem.objects.filter(pk=pm.pk).update(memory_item_id=item_id)
    return pm


def post_mortem_review(*, post_mortem_id: int, actor: str, accept: bool, note: str = ""
                       ) -> PostMortem:
    """A staff decision on the proposed change; accepting applies it as ``actor``."""
    with transaction.atomic():
        pm = PostMortem.objects.select_for_update().get(pk=post_mortem_id)
        if pm.status != PostMortem.Status.AWAITING:
            raise Conflict(f"post-mortem {pm.pk} is {pm.status}", code="ALREADY_REVIEWED")
        if accept and pm.proposed_change.get("patch"):
            scope = Scope.parse(pm.proposed_change.get("scope", "global"))
            version, _ = config_head(scope=scope)
            config_patch(scope=scope, patch=pm.proposed_change["patch"], base_version=version,
                         actor=actor, actor_kind=ActorKind.USER,
                         reason=f"post-mortem {pm.pk} accepted: "
                                f"{pm.proposed_change.get('rationale', '')}"[:2000])
        pm.status = PostMortem.Status.ACCEPTED if accept else PostMortem.Status.REJECTED
        pm.reviewed_by = actor
        pm.reviewed_at = timezone.now()
        pm.review_note = note
        pm.save()
    return pm
