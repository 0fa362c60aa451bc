"""The append-only, hash-chained audit trail.

Each row's hash covers its own fields and the previous row's hash, so altering, inserting or
removing a row breaks the chain at that point; the database refuses UPDATE and DELETE.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from governance.models import ActorKind, AuditEvent

GENESIS_HASH = "0" * 64
_LOCK_KEY = 0x43494F_4155  # "CIOAU": serialises appenders on PostgreSQL


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def audit_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def audit_record(
    *,
    event_type: str,
    actor: str,
    actor_kind: str = ActorKind.SYSTEM,
    summary: str,
    scope: str = "",
    payload: dict[str, Any] | None = None,
    reason: str = "",
    thought_trace: str = "",
    trace_id: str = "",
) -> AuditEvent:
    """Append one event to the chain (inside the caller's transaction when there is one)."""
    # Round-trip through JSON so the hashed form is exactly what the database returns later.
    clean_payload = json.loads(_canonical(payload or {}))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        last = AuditEvent.objects.order_by("-seq").only("seq", "hash").first()
        event = AuditEvent(
            seq=(last.seq + 1) if last else 1,
            created_at=timezone.now(),
            event_type=event_type,
            actor=actor,
            actor_kind=str(actor_kind),
            scope=scope,
            summary=summary,
            payload=clean_payload,
            reason=reason,
            thought_trace=thought_trace,
            trace_id=trace_id,
            prev_hash=last.hash if last else GENESIS_HASH,
        )
        event.hash = audit_hash(event.prev_hash, event.chain_fields())
        event.save(force_insert=True)
    return event


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of walking the chain: how many rows were checked and the first broken one."""

    checked: int
    ok: bool
    broken_seq: int | None = None
    problem: str = ""


def audit_verify(*, batch_size: int = 2000) -> VerifyResult:
    """Recompute every hash in order; report the first row whose chain does not hold."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return VerifyResult(checked, False, event.seq, f"gap: expected seq {expected_seq}")
        if event.prev_hash != prev_hash:
            return VerifyResult(checked, False, event.seq, "prev_hash does not match")
        if audit_hash(prev_hash, event.chain_fields()) != event.hash:
            return VerifyResult(checked, False, event.seq, "row content does not match its hash")
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    return VerifyResult(checked, True)
