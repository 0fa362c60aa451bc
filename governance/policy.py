"""The policy snapshot: everything the intent gate needs, built here and shipped via Redis.

1. ``policy_snapshot_build`` reads config heads, trading states, hard gates and the regime
   status into one JSON document tagged with the fleet policy version.
2. ``policy_publish`` stores it in Redis (``<ns>:policy:snapshot``) and announces it on
   ``cio.policy.updated``; every Nurse swaps its compiled copy on that event and re-reads
   Redis periodically as a safety net.
3. ``policy_reconcile`` (Celery beat) republishes when Redis lags the database, so a publish
   lost to an outage heals by itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cio_site.nats_url import nats_servers

logger = logging.getLogger(__name__)

POLICY_UPDATED_SUBJECT = "cio.policy.updated"

# Extra snapshot sections contributed by other apps (e.g. the strategist's regime status),
# registered explicitly instead of imported here.
_SECTION_PROVIDERS: dict[str, Callable[[], Any]] = {}


def register_snapshot_section(name: str, provider: Callable[[], Any]) -> None:
    _SECTION_PROVIDERS[name] = provider


def snapshot_key() -> str:
    return f"{settings.CIO_NAMESPACE}:policy:snapshot"


def version_key() -> str:
    return f"{settings.CIO_NAMESPACE}:policy:version"


def policy_snapshot_build() -> dict[str, Any]:
    """Read the whole active policy in a consistent transaction."""
    from governance.catalog import catalog_defaults
    from governance.selectors import (
        config_heads_all,
        hard_gates_current,
        policy_version_current,
        trading_states_all,
    )

    with transaction.atomic():
        version = policy_version_current()
        heads = config_heads_all()
        states = trading_states_all()
        gates = hard_gates_current()
    return {
        "policy_version": version,
        "built_at": timezone.now().isoformat(),
        "defaults": catalog_defaults(),
        "scopes": {str(scope): params for scope, (_, params) in heads.items()},
        "scope_versions": {str(scope): v for scope, (v, _) in heads.items()},
        "states": {
            str(scope): {
                "state": row.state,
                "reason": row.reason,
                "set_by": row.set_by,
                "expires_at": row.expires_at.timestamp() if row.expires_at else None,
            }
            for scope, row in states.items()
        },
        "hard_gates": gates,
        **{name: provider() for name, provider in _SECTION_PROVIDERS.items()},
    }


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


async def _nats_publish(subject: str, body: bytes) -> None:
    import nats

    # nats-py retries a refused first connect forever; bound the whole exchange instead.
    nc = await asyncio.wait_for(
        nats.connect(nats_servers(settings.NATS_URL), connect_timeout=2, max_reconnect_attempts=1,
                     allow_reconnect=False), timeout=5)
    try:
        await nc.publish(subject, body)
        await nc.flush(timeout=2)
    finally:
        await nc.close()


def nats_publish_sync(subject: str, body: bytes) -> None:
    """Publish from synchronous code, also when the calling thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_nats_publish(subject, body))
        return
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            asyncio.run(_nats_publish(subject, body))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    thread.join(timeout=10)
    if errors:
        raise errors[0]


def policy_publish(*, scopes: list[str] | None = None, trace_id: str = "") -> dict[str, Any]:
    """Build the snapshot, store it in Redis and announce it; returns the announcement."""
    snapshot = policy_snapshot_build()
    body = json.dumps(snapshot, separators=(",", ":"), default=str)
    client = _redis()
    pipe = client.pipeline(transaction=True)
    pipe.set(snapshot_key(), body)
    pipe.set(version_key(), snapshot["policy_version"])
    pipe.execute()
    event = {
        "policy_version": snapshot["policy_version"],
        "snapshot_key": snapshot_key(),
        "scopes": scopes or [],
        "at": timezone.now().isoformat(),
        "trace_id": trace_id or uuid.uuid4().hex,
    }
    nats_publish_sync(POLICY_UPDATED_SUBJECT, json.dumps(event).encode())
    return event


def _publish_safely(scopes: list[str], trace_id: str) -> None:
    try:
        policy_publish(scopes=scopes, trace_id=trace_id)
    except Exception as exc:
        # The change is committed; the reconciler republishes once Redis/NATS are back.
        logger.exception("policy propagation failed: %s", type(exc).__name__)
        _on_propagation_failure(exc)


def _on_propagation_failure(exc: Exception) -> None:
    for hook in _FAILURE_HOOKS:
        try:
            hook(exc)
        except Exception:
            logger.exception("propagation failure hook %r failed", hook)


_FAILURE_HOOKS: list[Callable[[Exception], None]] = []


def register_propagation_failure_hook(hook: Callable[[Exception], None]) -> None:
    _FAILURE_HOOKS.append(hook)


def announce_on_commit(*, policy_version: int, scopes: list[str], trace_id: str) -> None:
    transaction.on_commit(lambda: _publish_safely(scopes, trace_id))


def policy_reconcile() -> bool:
    """Republish when Redis holds an older policy than the database; True if it did."""
    from governance.selectors import policy_version_current

    current = policy_version_current()
    stored = _redis().get(version_key())
    if stored is not None and int(stored) >= current:
        return False
    policy_publish(scopes=["reconcile"])
    return True
