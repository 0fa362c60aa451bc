"""Nurse-side writes outside the hot path: exchange filters and the decision sink."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

from nurse.models import DecisionRecord
from nurse.policy import exchange_filters_from_info

DEFAULT_EXCHANGE_INFO = Path(__file__).parent / "data" / "exchange_info_usdm.json"


def exchange_info_store(*, info: dict[str, Any]) -> int:
    """Validate an exchangeInfo body and store it where every Nurse reads it; returns #symbols."""
    filters = exchange_filters_from_info(info)
    if not filters:
        raise ValueError("exchangeInfo holds no symbols")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(f"{settings.CIO_NAMESPACE}:exchange_info", json.dumps(info))
    return len(filters)


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def decision_problem(d: Any) -> str | None:
    """Why a decision message cannot become a ``DecisionRecord`` (None when it can).

    The sink sets such a message aside instead of retrying it: a poison message must never
    hold back the decisions behind it."""
    if not isinstance(d, dict):
        return f"not an object ({type(d).__name__})"
    decision_id = d.get("decision_id")
    if not isinstance(decision_id, str) or not 0 < len(decision_id) <= 64:
        return "decision_id missing or not a short string"
    if d.get("outcome") not in ("approved", "blocked"):
        return f"outcome {d.get('outcome')!r} is not approved/blocked"
    for key in ("received_at", "decided_at"):
        value = d.get(key)
        try:
            _dt(value) if isinstance(value, str) else _dt("")
        except ValueError:
            return f"{key} {value!r} is not an ISO-8601 time"
    reasons = d.get("reasons", [])
    if not isinstance(reasons, list) or not all(
            isinstance(r, dict) and isinstance(r.get("code"), str) for r in reasons):
        return "reasons must be a list of {code, detail}"
    for key in ("strategy_id", "symbol", "action", "instance"):
        if not isinstance(d.get(key, ""), str):
            return f"{key} must be a string"
    for key in ("quantity", "price", "notional"):
        value = d.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            return f"{key} must be a number"
    return None


def decision_records_store(*, decisions: Iterable[dict[str, Any]]) -> int:
    """Insert decisions idempotently (by decision_id); returns how many were new."""
    rows = []
    for d in decisions:
        tp = d.get("traceparent") or ""
        rows.append(DecisionRecord(
            decision_id=d["decision_id"],
            intent_id=(d.get("intent_id") or d.get("signal_id") or "")[:128],
            strategy_id=d.get("strategy_id", "unknown")[:128],
            symbol=d.get("symbol", "UNKNOWN")[:32],
            action=d.get("action", "")[:8],
            quantity=d.get("quantity"),
            price=d.get("price"),
            notional=d.get("notional"),
            outcome=d["outcome"],
            reasons=d.get("reasons", []),
            reason_codes=[r["code"] for r in d.get("reasons", [])],
            policy_version=d.get("policy_version", 0),
            latency_us=d.get("latency_us", 0),
            trace_id=tp[3:35] if len(tp) >= 35 else "",
            traceparent=tp,
            instance=d.get("instance", "")[:64],
            signal_subject=d.get("signal_subject") or "",
            received_at=_dt(d["received_at"]),
            decided_at=_dt(d["decided_at"]),
            payload=d.get("intent") or {},
        ))
    before = DecisionRecord.objects.filter(
        decision_id__in=[r.decision_id for r in rows]).count()
    DecisionRecord.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows) - before
