"""Watchdogs that raise (and resolve) alerts, run by Celery beat every ALERT_WATCHDOG_INTERVAL_S.

Built-in checks (an explicit registry, ``register_watchdog``): Nurse heartbeat silence,
Redis, NATS and database loss. Other components report their own conditions through
``watchdog_report(kind, ...)``: gate budget overruns, LLM failures, drawdown ladder steps,
canary runs, fleet sync failures, policy propagation failures.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from alerts import spool
from alerts.channels.nats import nats_connect, run_coroutine_sync
from alerts.infra import ns_key, redis_client
from alerts.models import Alert, Severity
from alerts.redact import redact
from alerts.services import alert_raise, alert_resolve_key, alert_spool_replay
from governance.errors import ValidationFailed

logger = logging.getLogger(__name__)
WATCHDOG_ACTOR = "watchdog"


@dataclass(frozen=True, slots=True)
class ReportKind:
    """A condition other components report: its alert category and default severity."""

    category: str
    severity: str


REPORT_KINDS: dict[str, ReportKind] = {
    "gate_budget_overrun": ReportKind("gate_budget", Severity.WARNING),
    "policy_propagation_failure": ReportKind("policy_propagation", Severity.CRITICAL),
    "llm_failure": ReportKind("llm", Severity.WARNING),
    "llm_rate_limit": ReportKind("llm", Severity.WARNING),
    "llm_token_depletion": ReportKind("llm", Severity.CRITICAL),
    "drawdown_ladder_step": ReportKind("drawdown_ladder", Severity.CRITICAL),
    "canary_run": ReportKind("canary", Severity.INFO),
    "fleet_sync_failure": ReportKind("fleet_sync", Severity.WARNING),
    "nurse_heartbeat_silence": ReportKind("nurse_heartbeat", Severity.CRITICAL),
    "infra_loss": ReportKind("infra", Severity.CRITICAL),
    "watchdog_error": ReportKind("watchdog", Severity.WARNING),
}


def register_report_kind(name: str, *, category: str, severity: str) -> None:
    REPORT_KINDS[name] = ReportKind(category, Severity(severity))


def watchdog_report(
    kind: str,
    *,
    source: str,
    message: str = "",
    severity: str | None = None,
    context: Mapping[str, Any] | None = None,
    dedup_key: str = "",
    trace_id: str = "",
    resolved: bool = False,
    now: dt.datetime | None = None,
) -> Alert | None:
    """Report a condition of ``kind`` seen at ``source``; ``resolved=True`` says it is over.

    Repeats fold into one alert per (kind, source) unless ``dedup_key`` says otherwise.
    Returns the alert raised, or None for a resolution."""
    spec = REPORT_KINDS.get(kind)
    if spec is None:
        raise ValidationFailed(f"unknown watchdog report kind {kind!r}",
                               code="ALERT_UNKNOWN_KIND", details={"known": sorted(REPORT_KINDS)})
    key = dedup_key or f"watchdog:{kind}:{source}"[:200]
    if resolved:
        alert_resolve_key(dedup_key=key, actor=WATCHDOG_ACTOR,
                          note=message or f"{kind} cleared at {source}", now=now)
        return None
    return alert_raise(
        severity=severity or spec.severity, category=spec.category, source=source,
        message=message or kind.replace("_", " "), dedup_key=key,
        context={"kind": kind, **dict(context or {})}, trace_id=trace_id, now=now,
    )


def policy_propagation_failed(exc: Exception) -> None:
    """governance.policy's failure hook: a committed change did not reach the fleet."""
    try:
        watchdog_report(
            "policy_propagation_failure", source="governance.policy",
            message=f"policy propagation failed ({type(exc).__name__}); "
                    "the reconciler republishes once Redis/NATS are back",
            context={"error": redact(str(exc), limit=300)},
        )
    except Exception:  # the governance write is committed; never fail it from here
        logger.exception("could not raise the policy propagation alert")


# --- built-in checks ---------------------------------------------------------------------

Check = Callable[[dt.datetime], None]
_CHECKS: dict[str, Check] = {}


def register_watchdog(name: str, check: Check) -> None:
    _CHECKS[name] = check


def nurse_instances_key() -> str:
    return ns_key("nurse", "instances")


def check_nurse_heartbeats(now: dt.datetime) -> None:
    """Every Nurse instance in ``<ns>:nurse:instances`` must have been seen in the last
    ``ALERT_NURSE_SILENCE_S`` seconds; instances that say ``"status": "stopped"`` are left out."""
    raw = redis_client().hgetall(nurse_instances_key())
    limit = settings.ALERT_NURSE_SILENCE_S
    for instance_b, value in raw.items():
        instance = instance_b.decode() if isinstance(instance_b, bytes) else str(instance_b)
        try:
            info = json.loads(value)
            last_seen = float(info["last_seen"])
        except (ValueError, KeyError, TypeError):
            info, last_seen = {}, 0.0
        silent_for = now.timestamp() - last_seen
        source = f"nurse:{instance}"[:128]
        if str(info.get("status", "")).lower() == "stopped" or silent_for <= limit:
            watchdog_report("nurse_heartbeat_silence", source=source, resolved=True, now=now,
                            message=f"Nurse {instance} is beating again")
            continue
        watchdog_report(
            "nurse_heartbeat_silence", source=source, now=now,
            message=f"Nurse instance {instance} has been silent for more than {limit:.0f} s",
            context={"instance": instance, "last_seen": last_seen,
                     "silent_for_s": round(silent_for, 1), "status": info.get("status"),
                     "policy_version": info.get("policy_version")},
        )


def _infra(now: dt.datetime, name: str, probe: Callable[[], None]) -> None:
    started = time.monotonic()
    try:
        probe()
    except Exception as exc:
        watchdog_report("infra_loss", source=name, now=now,
                        message=f"{name} is unreachable ({type(exc).__name__})",
                        context={"error": redact(str(exc), limit=300)})
        return
    watchdog_report("infra_loss", source=name, resolved=True, now=now,
                    message=f"{name} answers again ({(time.monotonic() - started) * 1000:.0f} ms)")


def _probe_redis() -> None:
    redis_client().ping()


def _probe_nats() -> None:
    async def probe() -> None:
        nc = await nats_connect(settings.NATS_URL)
        try:
            await nc.flush(timeout=2)
        finally:
            await nc.close()

    run_coroutine_sync(probe)


def _probe_database() -> None:
    if not connection.in_atomic_block:  # closing would end a caller's transaction
        connection.close_if_unusable_or_obsolete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_redis(now: dt.datetime) -> None:
    _infra(now, "redis", _probe_redis)


def check_nats(now: dt.datetime) -> None:
    _infra(now, "nats", _probe_nats)


def _probe_database_and_replay() -> None:
    _probe_database()
    if spool.spool_count():
        # Store what was spooled during the outage before the outage alert is resolved.
        alert_spool_replay()


def check_database(now: dt.datetime) -> None:
    _infra(now, "database", _probe_database_and_replay)


def check_gate_budget(now: dt.datetime) -> None:
    """Alert when a Nurse instance's GATE_TIMEOUT count grew since the last check.

    The gate counts overruns in memory and publishes them in its registry entry, so the
    hot path never touches the database or the alert pipeline."""
    client = redis_client()
    seen_key = ns_key("watchdog", "gate_timeouts")
    previous = {k.decode() if isinstance(k, bytes) else str(k): int(v)
                for k, v in client.hgetall(seen_key).items()}
    for instance_b, value in client.hgetall(nurse_instances_key()).items():
        instance = instance_b.decode() if isinstance(instance_b, bytes) else str(instance_b)
        try:
            info = json.loads(value)
            timeouts = int(info.get("decisions", {}).get("timeouts", 0))
        except (ValueError, TypeError, AttributeError):
            continue
        before = previous.get(instance)
        client.hset(seen_key, instance, timeouts)
        if before is not None and timeouts > before:
            watchdog_report(
                "gate_budget_overrun", source=f"nurse:{instance}"[:128], now=now,
                message=f"Nurse {instance}: {timeouts - before} intents exceeded the time "
                        "budget and were blocked (GATE_TIMEOUT)",
                context={"instance": instance, "new_timeouts": timeouts - before,
                         "total_timeouts": timeouts})


register_watchdog("database", check_database)
register_watchdog("gate_budget", check_gate_budget)
register_watchdog("redis", check_redis)
register_watchdog("nats", check_nats)
register_watchdog("nurse_heartbeat", check_nurse_heartbeats)


def watchdogs_run(*, now: dt.datetime | None = None) -> dict[str, str]:
    """Run every registered check; a check that crashes is itself reported."""
    now = now or timezone.now()
    results: dict[str, str] = {}
    for name, check in list(_CHECKS.items()):
        try:
            check(now)
            results[name] = "ok"
        except (redis.RedisError, DatabaseError) as exc:
            # The infra checks report these losses themselves; do not pile on.
            results[name] = f"skipped: {type(exc).__name__}"
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}"
            logger.warning("watchdog %s crashed: %s", name, redact(str(exc), limit=300))
            try:
                watchdog_report("watchdog_error", source=f"watchdog:{name}", now=now,
                                message=f"watchdog {name} crashed ({type(exc).__name__})")
            except Exception:
                logger.exception("could not report the crash of watchdog %s", name)
    return results
