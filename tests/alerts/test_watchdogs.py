"""Watchdogs raise alerts (and resolve them when the condition clears)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from alerts import spool
from alerts.models import Alert, AlertDelivery, AlertStatus
from alerts.services import alert_spool_replay
from alerts.watchdogs import (
    REPORT_KINDS,
    check_nats,
    check_nurse_heartbeats,
    check_redis,
    nurse_instances_key,
    watchdog_report,
    watchdogs_run,
)
from governance import services as governance_services
from governance.errors import ValidationFailed
from governance.models import ActorKind
from governance.scopes import Scope
from tests.alerts.servers import HttpSink, free_port

ROOT = Path(__file__).resolve().parents[2]


def _beat(client: redis.Redis, instance: str, age: float, status: str = "running") -> None:
    client.hset(nurse_instances_key(), instance, json.dumps(
        {"last_seen": time.time() - age, "status": status, "policy_version": 7}))


@pytest.mark.django_db
def test_nurse_silence_raises_and_a_returning_nurse_resolves(redis_client: redis.Redis) -> None:
    _beat(redis_client, "nurse-a", 45)
    _beat(redis_client, "nurse-b", 3)
    _beat(redis_client, "nurse-c", 500, status="stopped")
    check_nurse_heartbeats(timezone.now())
    [alert] = Alert.objects.all()
    assert (alert.severity, alert.category, alert.source) == ("critical", "nurse_heartbeat",
                                                              "nurse:nurse-a")
    assert "silent for more than 30 s" in alert.message
    assert alert.context["policy_version"] == 7
    assert alert.context["silent_for_s"] >= 45
    check_nurse_heartbeats(timezone.now())  # still silent: folds, no new alert
    alert.refresh_from_db()
    assert alert.count == 2
    assert Alert.objects.count() == 1
    _beat(redis_client, "nurse-a", 1)
    check_nurse_heartbeats(timezone.now())
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by == "watchdog"


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(REPORT_KINDS))
def test_every_report_kind_raises_with_its_category_and_severity(kind: str) -> None:
    alert = watchdog_report(kind, source="component-x", message=f"{kind} happened",
                            context={"detail": 1})
    assert alert is not None
    assert alert.pk is not None
    spec = REPORT_KINDS[kind]
    assert (alert.category, alert.severity) == (spec.category, spec.severity)
    assert alert.context == {"kind": kind, "detail": 1}
    assert watchdog_report(kind, source="component-x", resolved=True) is None
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


@pytest.mark.django_db
def test_reports_fold_per_kind_and_source_and_callers_may_escalate() -> None:
    first = watchdog_report("gate_budget_overrun", source="nurse-a", message="p99 61 ms > 50")
    again = watchdog_report("gate_budget_overrun", source="nurse-a", message="p99 70 ms > 50")
    assert first is not None
    assert again is not None
    assert again.pk == first.pk
    other = watchdog_report("gate_budget_overrun", source="nurse-b")
    assert other is not None
    assert other.pk != first.pk
    failed = watchdog_report("canary_run", source="canary", severity="critical",
                             message="canary run 12 failed: order rejected")
    assert failed is not None
    assert failed.severity == "critical"


def test_unknown_report_kind_has_a_stable_code() -> None:
    with pytest.raises(ValidationFailed) as info:
        watchdog_report("coffee_empty", source="kitchen")
    assert info.value.code == "ALERT_UNKNOWN_KIND"


@pytest.mark.django_db
def test_redis_and_nats_loss_raise_and_recovery_resolves(settings: Any) -> None:
    good_redis, good_nats = settings.REDIS_URL, settings.NATS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.NATS_URL = f"nats://127.0.0.1:{free_port()}"
    check_redis(timezone.now())
    check_nats(timezone.now())
    by_source = {a.source: a for a in Alert.objects.filter(category="infra")}
    assert set(by_source) == {"redis", "nats"}
    assert all(a.severity == "critical" for a in by_source.values())
    assert "ConnectionError" in by_source["redis"].message
    settings.REDIS_URL, settings.NATS_URL = good_redis, good_nats
    results = watchdogs_run()
    assert results == {"database": "ok", "redis": "ok", "nats": "ok", "nurse_heartbeat": "ok",
                       "gate_budget": "ok"}
    assert set(Alert.objects.values_list("status", flat=True)) == {"resolved"}


@pytest.mark.django_db(transaction=True)
def test_policy_propagation_failure_raises_a_critical_alert(settings: Any) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # the snapshot cannot be stored
    governance_services.trading_state_set(scope=Scope.global_(), state="HALTED", actor="a",
                                          actor_kind=ActorKind.USER, reason="test")
    alert = Alert.objects.get(category="policy_propagation")
    assert alert.severity == "critical"
    assert alert.source == "governance.policy"
    assert "ConnectionError" in alert.message


@pytest.mark.django_db
def test_database_loss_spools_delivers_directly_and_is_stored_later(
    settings: Any, grafana: HttpSink, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """A separate process whose database is down runs the watchdogs and the delivery sweep."""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        "CIO_NAMESPACE": django_settings.CIO_NAMESPACE,
        "CIO_VAR_DIR": str(tmp_path),
        "GRAFANA_URL": grafana.url, "GRAFANA_API_TOKEN": "glsa_secret_token_123",
        "ALERT_NATS_SUBJECT_PREFIX": settings.ALERT_NATS_SUBJECT_PREFIX,
        "CELERY_TASK_DEFAULT_QUEUE": f"{django_settings.CIO_NAMESPACE}.alerts",
    }
    code = ("from alerts.watchdogs import watchdogs_run; from alerts.services import "
            "alert_deliver_due; import json; print(json.dumps(watchdogs_run())); "
            "print(json.dumps(alert_deliver_due(), default=str))")
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    watch, sweep = (json.loads(line) for line in out.strip().splitlines()[-2:])
    assert watch["database"] == "ok"  # the check ran and reported (to the spool)
    assert watch["nurse_heartbeat"] == "ok"
    [entry] = spool.spool_entries()
    assert entry.request.category == "infra"
    assert entry.request.source == "database"
    assert entry.direct["grafana"] == "confirmed"
    assert entry.direct["nats"] == "confirmed"
    assert "OperationalError" in grafana.to("/api/annotations")[0].json()["text"]
    assert sweep["health"]["degraded"] is True
    assert redis_client.get(f"{django_settings.CIO_NAMESPACE}:alerts:degraded") == b"1"

    # The database is back (this process): the spooled alert is stored, not re-sent.
    assert alert_spool_replay() == 1
    assert spool.spool_count() == 0
    alert = Alert.objects.get(source="database")
    assert alert.public_id == entry.public_id
    assert alert.delivered_at is not None
    grafana_row = AlertDelivery.objects.get(alert=alert, channel="grafana")
    assert grafana_row.status == "confirmed"
    assert "spool" in grafana_row.detail
    assert AlertDelivery.objects.get(alert=alert, channel="email").status == "pending"


@pytest.mark.django_db
def test_gate_budget_overruns_reported_by_the_nurse_raise_an_alert(
        redis_client: redis.Redis) -> None:
    from alerts.watchdogs import check_gate_budget

    def entry(timeouts: int) -> None:
        redis_client.hset(nurse_instances_key(), "nurse-x", json.dumps(
            {"last_seen": time.time(), "status": "GOVERNANCE_ACTIVE",
             "decisions": {"approved": 10, "timeouts": timeouts}}))

    entry(2)
    check_gate_budget(timezone.now())  # first sight: a baseline, no alert
    assert not Alert.objects.exists()
    entry(2)
    check_gate_budget(timezone.now())
    assert not Alert.objects.exists()
    entry(5)
    check_gate_budget(timezone.now())
    [alert] = Alert.objects.all()
    assert (alert.category, alert.source) == ("gate_budget", "nurse:nurse-x")
    assert alert.context["new_timeouts"] == 3
