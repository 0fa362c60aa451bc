"""Dashboard reads: fleet state, Nurse instances, recent decisions, policy, the live snapshot.

The live path is the bridge's snapshot in Redis (``<ns>:dashboard:live``, refreshed every
second, expiring when the bridge stops); without it every read falls back to the database,
so the page and its polling fallback work with no bridge at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from governance.dashboard.events import decision_row
from governance.envelope import approvals_list
from governance.models import ConfigVersion, PendingApproval, TradingStateValue
from governance.selectors import policy_version_current, trading_states_all
from nurse.models import DecisionRecord

logger = logging.getLogger(__name__)

_RANK = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
LIVE_TTL_S = 30


def live_key() -> str:
    return f"{settings.CIO_NAMESPACE}:dashboard:live"


def instances_key() -> str:
    return f"{settings.CIO_NAMESPACE}:nurse:instances"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


# -- fleet trading state ---------------------------------------------------------------------


def fleet_state_view(*, version: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"state", "source", "policy_version", "scopes": [...]}``: the global state (what the
    header shows) plus every scope that is not ACTIVE, most restrictive first."""
    global_row = next((r for r in rows if r["scope"] == "global"), None)
    state = global_row["state"] if global_row else TradingStateValue.ACTIVE.value
    others = sorted((r for r in rows if r["state"] != "ACTIVE"),
                    key=lambda r: (-_RANK.get(r["state"], 2), r["scope"]))
    return {"state": state, "source": "global", "policy_version": version, "scopes": others,
            "reason": global_row.get("reason", "") if global_row else ""}


def fleet_state_get() -> dict[str, Any]:
    """The fleet state from the database (the source of truth)."""
    rows = [
        {"scope": str(scope), "state": row.state, "reason": row.reason, "set_by": row.set_by,
         "expires_at": row.expires_at.isoformat() if row.expires_at else None}
        for scope, row in trading_states_all().items()
    ]
    return fleet_state_view(version=policy_version_current(), rows=rows)


def fleet_state_from_snapshot(snapshot: Mapping[str, Any], *, now: float | None = None
                              ) -> dict[str, Any]:
    """The same view from the policy snapshot the Nurse runs (``<ns>:policy:snapshot``)."""
    now = time.time() if now is None else now
    rows = []
    for scope, row in (snapshot.get("states") or {}).items():
        expires = row.get("expires_at")
        if isinstance(expires, int | float) and expires <= now:
            continue
        rows.append({"scope": scope, "state": row.get("state", "ACTIVE"),
                     "reason": row.get("reason", ""), "set_by": row.get("set_by", ""),
                     "expires_at": (dt.datetime.fromtimestamp(expires, dt.UTC).isoformat()
                                    if isinstance(expires, int | float) else None)})
    return fleet_state_view(version=int(snapshot.get("policy_version") or 0), rows=rows)


# -- Nurse instances -------------------------------------------------------------------------


def instances_view(raw: Mapping[Any, Any], *, now: float, stale_s: float
                   ) -> list[dict[str, Any]]:
    """Heartbeats (instance -> JSON) as header rows; a silent instance is marked stale."""
    out = []
    for key, body in raw.items():
        try:
            beat = json.loads(body) if isinstance(body, bytes | str) else dict(body)
        except ValueError:
            continue
        if not isinstance(beat, dict):
            continue
        ts = float(beat.get("timestamp") or 0)
        age = max(0.0, now - ts) if ts else None
        stale = age is None or age > stale_s
        name = key.decode() if isinstance(key, bytes) else str(key)
        out.append({
            "instance": str(beat.get("instance") or name),
            "status": "STALE" if stale else str(beat.get("status", "UNKNOWN")),
            "reported_status": str(beat.get("status", "UNKNOWN")),
            "policy_version": int(beat.get("policy_version") or 0),
            "version": str(beat.get("version", "")),
            "last_seen": ts or None,
            "age_s": round(age, 1) if age is not None else None,
            "stale": stale,
            "queue_depth": int(beat.get("queue_depth") or 0),
            "decisions": beat.get("decisions") or {},
            "dependencies": beat.get("dependencies") or {},
        })
    return sorted(out, key=lambda r: r["instance"])


def nurse_instances_get(*, now: float | None = None) -> list[dict[str, Any]]:
    try:
        raw = _redis().hgetall(instances_key())
    except redis.RedisError as exc:
        logger.warning("nurse instances unreadable: %s", type(exc).__name__)
        return []
    return instances_view(raw, now=time.time() if now is None else now,
                          stale_s=settings.DASHBOARD_HEARTBEAT_STALE_S)


# -- decisions ---------------------------------------------------------------------------------


def record_row(rec: DecisionRecord) -> dict[str, Any]:
    """A stored decision in the live rows' shape."""
    payload = rec.payload if isinstance(rec.payload, dict) else {}
    return decision_row({
        "decision_id": rec.decision_id, "signal_id": payload.get("signal_id"),
        "strategy_id": rec.strategy_id, "symbol": rec.symbol, "action": rec.action,
        "quantity": rec.quantity, "notional": rec.notional, "outcome": rec.outcome,
        "reasons": rec.reasons, "latency_us": rec.latency_us,
        "policy_version": rec.policy_version,
        "decided_at": rec.decided_at.isoformat().replace("+00:00", "Z"),
    })


def decisions_recent(*, outcome: str | None = None, strategy_id: str | None = None,
                     symbol: str | None = None, reason_code: str | None = None,
                     limit: int = 50) -> list[dict[str, Any]]:
    """Newest stored decisions (filters as in the API), newest first."""
    from governance.api.ops.decisions import decisions_filter
    from governance.api.schemas import ListDecisionsIn

    args = ListDecisionsIn(outcome=outcome, strategy_id=strategy_id, symbol=symbol,
                           reason_code=reason_code, limit=limit)
    return [record_row(r) for r in decisions_filter(args)[: args.limit]]


def gate_health_from_db(*, minutes: int = 15, now: dt.datetime | None = None
                        ) -> dict[str, Any]:
    """Counts, block rate, latency and reason hits of stored decisions (no bridge running)."""
    now = now or timezone.now()
    qs = DecisionRecord.objects.filter(decided_at__gte=now - dt.timedelta(minutes=minutes))
    rows = list(qs.values_list("outcome", "latency_us", "reason_codes")[:20_000])
    lat = sorted(int(r[1] or 0) for r in rows)
    blocked = sum(1 for r in rows if r[0] != "approved")
    rules: Counter[str] = Counter()
    for _, _, codes in rows:
        if codes:
            rules.update(str(c) for c in codes)
    from governance.dashboard.aggregate import percentile

    return {"window_s": minutes * 60, "decisions": len(rows), "blocked": blocked,
            "block_rate": round(blocked / len(rows), 4) if rows else 0.0,
            "p50_us": percentile(lat, 0.5), "p99_us": percentile(lat, 0.99),
            "rules": dict(rules.most_common(20))}


# -- the live snapshot -------------------------------------------------------------------------


def live_snapshot_get() -> dict[str, Any] | None:
    """The bridge's latest snapshot, or None when no bridge wrote one recently."""
    try:
        raw = _redis().get(live_key())
    except redis.RedisError:
        return None
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _matches(row: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    if filters.get("outcome") and row["outcome"] != filters["outcome"]:
        return False
    if filters.get("strategy_id") and row["strategy_id"] != filters["strategy_id"]:
        return False
    if filters.get("symbol") and row["symbol"] != str(filters["symbol"]).upper():
        return False
    code = filters.get("reason_code")
    return not code or any(r["code"] == code for r in row["reasons"])


def live_view(*, filters: Mapping[str, str | None], limit: int = 50) -> dict[str, Any]:
    """What the polling fallback returns: the bridge's snapshot, or the database's view."""
    snap = live_snapshot_get()
    db_rows = decisions_recent(limit=limit, **{k: v for k, v in filters.items() if v})
    if snap is not None:
        # Live rows are sampled; stored rows are complete but arrive after the audit sink:
        # show both, newest first, once each.
        live_rows = [r for r in snap.get("rows", []) if _matches(r, filters)]
        seen: set[str] = set()
        rows = []
        for row in sorted(live_rows + db_rows, key=lambda r: r["decided_at"], reverse=True):
            if row["decision_id"] not in seen:
                seen.add(row["decision_id"])
                rows.append(row)
        return {"source": "bridge", "rows": rows[:limit], "series": snap.get("series", []),
                "rules": snap.get("rules", {}), "state": snap.get("state") or fleet_state_get(),
                "instances": nurse_instances_get(), "at": snap.get("at")}
    return {"source": "database", "rows": db_rows, "series": [],
            "health": gate_health_from_db(), "rules": {}, "state": fleet_state_get(),
            "instances": nurse_instances_get(), "at": time.time()}


# -- policy ------------------------------------------------------------------------------------


def policy_overview(*, limit: int = 10) -> dict[str, Any]:
    """Active policy version, the latest config changes with diffs, pending approvals."""
    versions = ConfigVersion.objects.order_by("-created_at", "-pk")[:limit]
    _, pending = approvals_list(status=PendingApproval.Status.PENDING, limit=limit)
    return {
        "policy_version": policy_version_current(),
        "changes": [
            {"id": v.pk, "scope": str(v.scope), "version": v.version, "operation": v.operation,
             "rollback_to": v.rollback_to, "actor": v.actor, "actor_kind": v.actor_kind,
             "reason": v.reason, "created_at": v.created_at, "policy_version": v.policy_version,
             "changes": [c for c in v.changes if isinstance(c, Mapping)],
             # Undoing a change restores the version before it (0 = no overrides).
             "undo_to": v.version - 1}
            for v in versions
        ],
        "pending": [
            {"id": a.pk, "principal": a.principal, "kind": a.kind, "scope": a.scope,
             "reason": a.reason, "changes": a.changes, "violations": a.violations,
             "created_at": a.created_at, "expires_at": a.expires_at}
            for a in pending
        ],
    }
